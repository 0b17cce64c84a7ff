package bolt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiongate/sessiongate/store"
)

// lastTxID is the id of the last committed write transaction.
func lastTxID(t *testing.T, s *Store) int {
	t.Helper()
	tx, err := s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	return tx.ID()
}

// queued waits until n writes wait behind the leader.
func queued(t *testing.T, c *committer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.queue)
		c.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdLeader starts a write that keeps the committer busy until release is called.
func holdLeader(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, proceed := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		done <- s.writes.update(func(tx *bbolt.Tx) error {
			if first {
				first = false
				close(entered)
				<-proceed
			}
			return tx.Bucket(bucketPolicies).Put([]byte("held"), []byte("{}"))
		})
	}()
	<-entered
	return func() {
		close(proceed)
		if err := <-done; err != nil {
			t.Errorf("the held write: %v", err)
		}
	}
}

// TestConcurrentCreatesShareTransactions checks that a burst of creations is committed in
// fewer transactions than creations, and that every creation is stored.
func TestConcurrentCreatesShareTransactions(t *testing.T) {
	s := openTemp(t)
	const n = 64
	release := holdLeader(t, s)
	before := lastTxID(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			now := time.Now()
			_, err := s.Create(context.Background(), store.CreateRequest{
				Session: store.Session{TenantID: "t", UserID: fmt.Sprintf("u%d", i%8), ID: fmt.Sprintf("s%d", i), CreatedAt: now, LastActiveAt: now},
				Policy:  store.Policy{MaxSessions: store.SessionLimit{Strategy: store.StrategyEvictOldest}},
				Now:     now,
			})
			errs <- err
		})
	}
	queued(t, s.writes, n)
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The held write, then the 64 creations in one group.
	if got := lastTxID(t, s) - before; got != 2 {
		t.Errorf("%d write transactions for 1 + %d writes, want 2", got, n)
	}
	for i := range n {
		if _, err := s.Get(context.Background(), "t", fmt.Sprintf("s%d", i)); err != nil {
			t.Errorf("session s%d: %v", i, err)
		}
	}
}

// TestFailedWriteLeavesItsGroupAlone checks that a write that fails, or panics, gets its own
// error, that what it wrote before failing is rolled back, and that the writes grouped with
// it are committed.
func TestFailedWriteLeavesItsGroupAlone(t *testing.T) {
	s := openTemp(t)
	release := holdLeader(t, s)
	put := func(key string) func(*bbolt.Tx) error {
		return func(tx *bbolt.Tx) error { return tx.Bucket(bucketPolicies).Put([]byte(key), []byte("{}")) }
	}
	boom := errors.New("boom")
	writes := []func(*bbolt.Tx) error{
		put("a"),
		func(tx *bbolt.Tx) error {
			if err := put("failed")(tx); err != nil {
				return err
			}
			return boom
		},
		put("b"),
		func(tx *bbolt.Tx) error {
			if err := put("panicked")(tx); err != nil {
				return err
			}
			panic("bad write")
		},
		put("c"),
	}
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, fn := range writes {
		wg.Go(func() { errs[i] = s.writes.update(fn) })
		queued(t, s.writes, i+1) // in this order
	}
	release()
	wg.Wait()

	if !errors.Is(errs[1], boom) {
		t.Errorf("failing write: %v, want its own error", errs[1])
	}
	if errs[3] == nil || !strings.Contains(errs[3].Error(), "bad write") {
		t.Errorf("panicking write: %v, want an error naming the panic", errs[3])
	}
	for _, i := range []int{0, 2, 4} {
		if errs[i] != nil {
			t.Errorf("write %d: %v", i, errs[i])
		}
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPolicies)
		for key, want := range map[string]bool{"a": true, "b": true, "c": true, "held": true, "failed": false, "panicked": false} {
			if got := b.Get([]byte(key)) != nil; got != want {
				t.Errorf("key %q stored: %v, want %v", key, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
