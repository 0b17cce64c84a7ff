package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/storetest"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openTemp opens a store in a new directory and closes it when the test ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s := open(t, filepath.Join(t.TempDir(), "sessions.db"))
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "sessions.db"))
	})
}

// TestConformanceSmallSweepBatches makes every sweep resume across many transactions.
func TestConformanceSmallSweepBatches(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, filepath.Join(t.TempDir(), "sessions.db"))
		s.sweepSize = 2
		return s
	})
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	storetest.RunPersistence(t, func(t *testing.T) store.Store { return open(t, path) })
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "sessiongate")
	path := filepath.Join(dir, "sessions.db")
	if err := open(t, path).Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, info.Mode(), want)
		}
	}
}

// TestOpenLocked checks that a second Open of a file in use fails after its timeout instead of
// blocking forever, as it would during a Caddy reload without a timeout.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	first := open(t, path)

	done := make(chan error, 1)
	go func() {
		second, err := Open(path, Options{Timeout: 50 * time.Millisecond})
		if err == nil {
			err = errors.Join(errors.New("second Open succeeded"), second.Close())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, bbolt.ErrTimeout) || !strings.Contains(err.Error(), path) {
			t.Errorf("second Open: %v; want a timeout naming %s", err, path)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Open still blocked after 10s")
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := open(t, path).Close(); err != nil {
		t.Errorf("Open after Close: %v", err)
	}
}

// TestSweepStopsBetweenBatches checks that a cancelled sweep stops after the batch it is in,
// keeping what that batch did.
func TestSweepStopsBetweenBatches(t *testing.T) {
	s := openTemp(t)
	s.sweepSize = 2
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		sess := store.Session{TenantID: "t1", UserID: "u1", ID: fmt.Sprintf("s%d", i), CreatedAt: now, LastActiveAt: now}
		if _, err := s.Create(t.Context(), store.CreateRequest{Session: sess, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	decided := 0
	ended, purged, err := s.Sweep(ctx, now, func(*store.Session) (store.SweepAction, string) {
		decided++
		cancel()
		return store.SweepEnd, store.ReasonIdleTimeout
	})
	if !errors.Is(err, context.Canceled) || decided != 2 || ended != 2 || purged != 0 {
		t.Errorf("cancelled Sweep: decided %d, ended %d, purged %d, err %v; want 2, 2, 0, context.Canceled", decided, ended, purged, err)
	}
}

// TestIndexDropsEmptyUsers checks that a user whose sessions all ended leaves no index bucket
// behind, so that the file does not grow with every user ever seen.
func TestIndexDropsEmptyUsers(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sess := store.Session{TenantID: "t1", UserID: "u1", ID: "s1", CreatedAt: now, LastActiveAt: now}
	if _, err := s.Create(t.Context(), store.CreateRequest{Session: sess, Now: now}); err != nil {
		t.Fatal(err)
	}
	userBucket := func() bool {
		var found bool
		err := s.db.View(func(tx *bbolt.Tx) error {
			found = tx.Bucket(bucketUsers).Bucket([]byte("t1")).Bucket([]byte("u1")) != nil
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if !userBucket() {
		t.Fatal("no index bucket for a user with a live session")
	}
	if _, err := s.End(t.Context(), "t1", "s1", store.ReasonRevoked, now); err != nil {
		t.Fatal(err)
	}
	if userBucket() {
		t.Error("index bucket left behind after the user's last session ended")
	}
}
