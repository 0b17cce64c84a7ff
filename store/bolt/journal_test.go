package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/storetest"
)

// TestConformanceFoldEveryTouch runs the suite with every Touch folded into the records at once.
func TestConformanceFoldEveryTouch(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, filepath.Join(t.TempDir(), "sessions.db"))
		s.foldAfter = 1
		return s
	})
}

var j0 = storetest.FixtureTime

func touch(t *testing.T, s *Store, at time.Time, ids ...string) {
	t.Helper()
	var touches []store.Touch
	for _, id := range ids {
		touches = append(touches, store.Touch{TenantID: "t1", UserID: "u-" + id, ID: id, At: at})
	}
	if err := s.Touch(context.Background(), touches); err != nil {
		t.Fatal(err)
	}
}

// recordActivity is the last activity in the session's record, without the journal.
func recordActivity(t *testing.T, s *Store, id string) time.Time {
	t.Helper()
	var at time.Time
	err := s.db.View(func(tx *bbolt.Tx) error {
		sess, err := decodeSession(tx.Bucket(bucketSessions).Bucket([]byte("t1")).Get([]byte(id)))
		at = sess.LastActiveAt
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func journalValues(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketActivity).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func activity(t *testing.T, s *Store, id string) time.Time {
	t.Helper()
	sess, err := s.Get(context.Background(), "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	return sess.LastActiveAt
}

// Touches go to the journal, which reads see; once it holds foldAfter touches they are
// written into the records and the journal is emptied.
func TestJournalFolds(t *testing.T) {
	s := openTemp(t)
	s.foldAfter = 3
	for _, id := range []string{"a", "b", "c"} {
		storetest.Create(t, s, storetest.Session("t1", "u-"+id, id, j0), store.Policy{})
	}
	at := j0.Add(time.Minute)
	touch(t, s, at, "a")
	if got := activity(t, s, "a"); !got.Equal(at) {
		t.Errorf("journalled activity: Get says %v, want %v", got, at)
	}
	if got := recordActivity(t, s, "a"); !got.Equal(j0) {
		t.Errorf("the record changed before the fold: %v", got)
	}
	if n := journalValues(t, s); n != 1 {
		t.Errorf("journal holds %d values after one Touch, want 1", n)
	}

	touch(t, s, at, "a") // not later than the journal's: nothing to journal
	if n := journalValues(t, s); n != 1 {
		t.Errorf("journal holds %d values after a Touch that raised nothing, want 1", n)
	}

	touch(t, s, at.Add(time.Minute), "b", "c") // three touches journalled: fold
	for id, want := range map[string]time.Time{"a": at, "b": at.Add(time.Minute), "c": at.Add(time.Minute)} {
		if got := recordActivity(t, s, id); !got.Equal(want) {
			t.Errorf("%s after the fold: record says %v, want %v", id, got, want)
		}
		if got := activity(t, s, id); !got.Equal(want) {
			t.Errorf("%s after the fold: Get says %v, want %v", id, got, want)
		}
	}
	if n := journalValues(t, s); n != 0 {
		t.Errorf("journal holds %d values after the fold, want 0", n)
	}
	if len(s.act.latest) != 0 || s.act.pending != 0 {
		t.Errorf("after the fold: %d sessions and %d touches left in memory", len(s.act.latest), s.act.pending)
	}
}

// A journal of foldAfter touches of few sessions is compacted to one touch per session,
// without writing the records, and read back after a restart; once the journal holds more
// sessions than three quarters of foldAfter, it is folded.
func TestJournalCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := open(t, path)
	s.foldAfter = 4
	for _, id := range []string{"a", "b", "c", "d"} {
		storetest.Create(t, s, storetest.Session("t1", "u-"+id, id, j0), store.Policy{})
	}
	for i, id := range []string{"a", "b", "a", "b"} {
		touch(t, s, j0.Add(time.Duration(i+1)*time.Minute), id)
	}
	want := map[string]time.Time{"a": j0.Add(3 * time.Minute), "b": j0.Add(4 * time.Minute)}
	if n := journalValues(t, s); n != 1 {
		t.Errorf("journal holds %d values after compacting two sessions, want 1", n)
	}
	if s.act.pending != 2 || len(s.act.latest) != 2 {
		t.Errorf("after compacting: %d touches and %d sessions in memory, want 2 and 2", s.act.pending, len(s.act.latest))
	}
	for id, at := range want {
		if got := recordActivity(t, s, id); !got.Equal(j0) {
			t.Errorf("%s: compacting wrote its record (%v)", id, got)
		}
		if got := activity(t, s, id); !got.Equal(at) {
			t.Errorf("%s after compacting: Get says %v, want %v", id, got, at)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	s.foldAfter = 4
	for id, at := range want {
		if got := activity(t, s, id); !got.Equal(at) {
			t.Errorf("%s after compacting and a restart: Get says %v, want %v", id, got, at)
		}
	}
	if s.act.pending != 2 {
		t.Errorf("after a restart: %d touches counted, want 2", s.act.pending)
	}

	// Two more sessions bring the journal to 4 touches of 4 sessions: a fold.
	touch(t, s, j0.Add(5*time.Minute), "c")
	touch(t, s, j0.Add(6*time.Minute), "d")
	want["c"], want["d"] = j0.Add(5*time.Minute), j0.Add(6*time.Minute)
	for id, at := range want {
		if got := recordActivity(t, s, id); !got.Equal(at) {
			t.Errorf("%s after the fold: record says %v, want %v", id, got, at)
		}
	}
	if n := journalValues(t, s); n != 0 || len(s.act.latest) != 0 || s.act.pending != 0 {
		t.Errorf("after the fold: %d journal values, %d sessions and %d touches in memory, want none", n, len(s.act.latest), s.act.pending)
	}
}

// Journalled activity survives a restart, and every reader of sessions sees it: listings,
// the sweep's decisions, a creation's idle check, and the record of a session that ends.
func TestJournalIsReadEverywhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := open(t, path)
	for _, id := range []string{"a", "b", "c"} {
		storetest.Create(t, s, storetest.Session("t1", "u-"+id, id, j0), store.Policy{})
	}
	at := j0.Add(time.Hour)
	touch(t, s, at, "a", "b", "c")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	ctx := context.Background()

	if got := activity(t, s, "a"); !got.Equal(at) {
		t.Errorf("after a restart: Get says %v, want %v", got, at)
	}
	live, err := s.ListUserSessions(ctx, "t1", "u-a")
	if err != nil || len(live) != 1 || !live[0].LastActiveAt.Equal(at) {
		t.Errorf("ListUserSessions: %+v, %v", live, err)
	}
	users, err := s.ListUsers(ctx, "t1", "", 10, store.Policy{}, at)
	if err != nil || len(users) != 3 || !users[0].LastActiveAt.Equal(at) {
		t.Errorf("ListUsers: %+v, %v", users, err)
	}
	seen := map[string]time.Time{}
	_, _, err = s.Sweep(ctx, at, func(sess *store.Session) (store.SweepAction, string) {
		seen[sess.ID] = sess.LastActiveAt
		return store.SweepKeep, ""
	})
	if err != nil || !seen["b"].Equal(at) {
		t.Errorf("Sweep decided on b last active %v (err %v), want %v", seen["b"], err, at)
	}

	// b is idle under a 90-minute timeout by its record, not by its activity: a creation for
	// its user keeps it.
	idle := store.Policy{IdleTimeout: store.Timeout{Enabled: true, Duration: 90 * time.Minute}}
	res := storetest.Create(t, s, storetest.Session("t1", "u-b", "b2", j0.Add(2*time.Hour)), idle)
	if len(res.Ended) != 0 {
		t.Errorf("creation next to a journalled-active session ended %+v", res.Ended)
	}

	ended, err := s.End(ctx, "t1", "c", store.ReasonRevoked, at.Add(time.Minute))
	if err != nil || !ended.LastActiveAt.Equal(at) {
		t.Errorf("End: last active %v (err %v), want %v", ended.LastActiveAt, err, at)
	}
	if got := recordActivity(t, s, "c"); !got.Equal(at) {
		t.Errorf("the ended session's record says last active %v, want %v", got, at)
	}
	// Touch journals without reading the records: an ended session's touch, and an unknown
	// one's, are journalled, read by nobody, and forgotten by the fold, which writes neither.
	touch(t, s, at.Add(time.Hour), "c", "unknown")
	if got := activity(t, s, "c"); !got.Equal(at) {
		t.Errorf("an ended session's activity moved to %v", got)
	}
	if err := s.fold(); err != nil {
		t.Fatal(err)
	}
	if got := recordActivity(t, s, "c"); !got.Equal(at) {
		t.Errorf("after a fold, the ended session's record says last active %v, want %v", got, at)
	}
	if _, err := s.Get(ctx, "t1", "unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a fold, Get of a session never created: %v, want ErrNotFound", err)
	}
	s.act.mu.RLock()
	left := len(s.act.latest)
	s.act.mu.RUnlock()
	if left != 0 {
		t.Errorf("the fold left %d sessions' activity in memory, want none", left)
	}
}

// Reads racing touches and folds never see a session's activity go back.
func TestJournalReadsNeverGoBack(t *testing.T) {
	s := openTemp(t)
	s.foldAfter = 40
	const sessions = 20
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%02d", i)
		storetest.Create(t, s, storetest.Session("t1", "u-"+ids[i], ids[i], j0), store.Policy{})
	}
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			last := map[string]time.Time{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, id := range ids {
					sess, err := s.Get(ctx, "t1", id)
					if err != nil {
						t.Error(err)
						return
					}
					if sess.LastActiveAt.Before(last[id]) {
						t.Errorf("%s: last activity went back from %v to %v", id, last[id], sess.LastActiveAt)
						return
					}
					last[id] = sess.LastActiveAt
				}
			}
		})
	}
	// Each step touches half the sessions, from step%20 on, wrapping around.
	touched := func(step, i int) bool { return (i-step%sessions+sessions)%sessions < sessions/2 }
	for step := range 200 {
		var some []string
		for i, id := range ids {
			if touched(step, i) {
				some = append(some, id)
			}
		}
		touch(t, s, j0.Add(time.Duration(step+1)*time.Second), some...)
	}
	close(stop)
	wg.Wait()
	if err := s.fold(); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		var want time.Time
		for step := range 200 {
			if touched(step, i) {
				want = j0.Add(time.Duration(step+1) * time.Second)
			}
		}
		if got := recordActivity(t, s, id); !got.Equal(want) {
			t.Errorf("%s: record says %v after the last fold, want %v", id, got, want)
		}
	}
}
