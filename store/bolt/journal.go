package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiongate/sessiongate/store"
)

// The activity journal. A session's record sits on a 4 KB page with a dozen others, and a
// bbolt transaction rewrites every page it changes: writing a flush's activity into the
// records of random sessions rewrites about one page per session. Touch instead appends the
// flush's activity to the journal (bucketActivity, one value per flush, on the last page) and
// keeps the latest journalled activity of each session in memory, which every read lays over
// the record. Once the journal holds foldAfter touches, Touch tidies it, one of two ways:
//
//   - When they are the touches of few sessions (at most three quarters of foldAfter: the same
//     sessions touched again and again, as a busy gateway's are), it compacts the journal:
//     the latest activity of each session is journalled anew, in values of compactChunk
//     sessions, and the values it replaces are deleted. That writes a few bytes per session,
//     sequentially, and leaves room for at least a quarter of foldAfter touches before the
//     next tidy.
//   - Else it folds the journal into the records, walking the sessions in key order in
//     transactions of foldChunk, so that sessions sharing a page share its rewrite; then it
//     empties the journal.
//
// Either way the journal then holds fewer touches than foldAfter, and memory the activity of
// at most foldAfter sessions. Open reads the journal back.
//
// A fold deletes a session's in-memory activity once the record has it. A read transaction
// that began before that record was written still needs it, so reads hold journal.mu shared
// for their whole transaction (Store.view, Store.update) and the fold deletes under the
// exclusive lock.

var bucketActivity = []byte("activity") // <sequence, 8 bytes big-endian> -> a flush's touches

const (
	// defaultFoldAfter is how many journalled touches make Touch fold them into the records.
	// A fold rewrites every page holding a session it writes, and writes each session once
	// however often it was touched, so the more touches a fold takes, the less each costs:
	// with 100,000 sessions, 8.4 us per touch at 50,000 (BenchmarkTouch, folds included),
	// 4.5 us at 200,000 and 3.5 us at 400,000. What it holds meanwhile is bounded by it: the
	// latest activity of at most that many sessions in memory (a map entry of about 60 bytes
	// each, 12 MB; after a restart also their ids, read back from the file) and the journal's
	// values on disk (about 45 bytes a touch).
	defaultFoldAfter = 200_000
	// foldChunk bounds the sessions one fold transaction writes, so that other writes (new
	// sessions) wait for a chunk, not for the whole fold.
	foldChunk = 5_000
	// compactChunk is how many sessions one value of a compacted journal holds (about 45
	// bytes each), and one compaction transaction writes.
	compactChunk = 20_000
)

type activityKey struct{ tenant, id string }

type journal struct {
	// mu guards latest and pending. Reads hold it shared for their whole transaction; Touch
	// raises entries and a fold deletes them under it exclusively.
	mu      sync.RWMutex
	latest  map[activityKey]int64 // the latest journalled activity (unix ns) not yet folded
	pending int                   // touches in the journal: what makes Touch fold

	folding sync.Mutex // one fold at a time
}

// overlay raises sess's last activity to what the journal holds for it, when sess is live.
// The caller holds mu.
func (j *journal) overlay(sess *store.Session) {
	if sess.Ended() {
		return
	}
	if at, ok := j.latest[activityKey{sess.TenantID, sess.ID}]; ok && at > sess.LastActiveAt.UnixNano() {
		sess.LastActiveAt = time.Unix(0, at).UTC()
	}
}

// journalled reports whether the journal has activity of the session at or after at. The
// caller holds mu.
func (j *journal) journalled(tenantID, id string, at time.Time) bool {
	cur, ok := j.latest[activityKey{tenantID, id}]
	return ok && cur >= at.UnixNano()
}

// add counts one journalled touch. The caller holds mu exclusively (or, opening, alone).
func (j *journal) add(k activityKey, at int64) {
	if at > j.latest[k] {
		j.latest[k] = at
	}
	j.pending++
}

// snapshot is the latest activity of each session the journal holds, as touches.
func (j *journal) snapshot() []store.Touch {
	j.mu.RLock()
	defer j.mu.RUnlock()
	snap := make([]store.Touch, 0, len(j.latest))
	for k, at := range j.latest {
		snap = append(snap, store.Touch{TenantID: k.tenant, ID: k.id, At: time.Unix(0, at)})
	}
	return snap
}

// encodeTouches is the journal value of touches: their count, then each touch's tenant and
// session ids (length-prefixed) and time (unix ns).
func encodeTouches(touches []store.Touch) []byte {
	n := binary.MaxVarintLen64
	for _, t := range touches {
		n += 2*binary.MaxVarintLen64 + len(t.TenantID) + len(t.ID) + 8
	}
	v := binary.AppendUvarint(make([]byte, 0, n), uint64(len(touches)))
	for _, t := range touches {
		v = binary.AppendUvarint(v, uint64(len(t.TenantID)))
		v = append(v, t.TenantID...)
		v = binary.AppendUvarint(v, uint64(len(t.ID)))
		v = append(v, t.ID...)
		v = binary.BigEndian.AppendUint64(v, uint64(t.At.UnixNano()))
	}
	return v
}

var errJournalValue = errors.New("malformed activity journal value")

// decodeTouches calls fn with each touch of a journal value (At in unix ns).
func decodeTouches(v []byte, fn func(k activityKey, at int64)) error {
	count, n := binary.Uvarint(v)
	if n <= 0 {
		return errJournalValue
	}
	v = v[n:]
	str := func() (string, bool) {
		l, n := binary.Uvarint(v)
		if n <= 0 || uint64(len(v)-n) < l {
			return "", false
		}
		s := string(v[n : n+int(l)])
		v = v[n+int(l):]
		return s, true
	}
	for range count {
		tenant, ok1 := str()
		id, ok2 := str()
		if !ok1 || !ok2 || len(v) < 8 {
			return errJournalValue
		}
		fn(activityKey{tenant, id}, int64(binary.BigEndian.Uint64(v)))
		v = v[8:]
	}
	if len(v) != 0 {
		return errJournalValue
	}
	return nil
}

// journalCount is how many touches a journal value holds.
func journalCount(v []byte) int {
	count, n := binary.Uvarint(v)
	if n <= 0 {
		return 0
	}
	return int(count)
}

// loadJournal reads the journal into memory (Open).
func (s *Store) loadJournal() error {
	s.act.latest = map[activityKey]int64{}
	return s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketActivity).ForEach(func(k, v []byte) error {
			if err := decodeTouches(v, s.act.add); err != nil {
				return fmt.Errorf("activity journal entry %x: %w", k, err)
			}
			return nil
		})
	})
}

// view runs fn in a read transaction, holding the journal shared (see the top of this file).
func (s *Store) view(fn func(*bbolt.Tx) error) error {
	s.act.mu.RLock()
	defer s.act.mu.RUnlock()
	return s.db.View(fn)
}

// update runs fn in a grouped write transaction (committer), holding the journal shared.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	return s.writes.update(func(tx *bbolt.Tx) error {
		s.act.mu.RLock()
		defer s.act.mu.RUnlock()
		return fn(tx)
	})
}

// Touch implements store.Store. The touches that raise a session's journalled activity go
// to the journal, one value per call (one fsync); a call that brings the journal to
// foldAfter touches then folds it.
func (s *Store) Touch(_ context.Context, touches []store.Touch) error {
	err := s.writes.update(func(tx *bbolt.Tx) error {
		raised := s.raising(touches)
		if len(raised) == 0 {
			return nil
		}
		j := tx.Bucket(bucketActivity)
		seq, err := j.NextSequence()
		if err != nil {
			return err
		}
		if err := j.Put(binary.BigEndian.AppendUint64(nil, seq), encodeTouches(raised)); err != nil {
			return err
		}
		// Before the commit: a fold (whose own transactions wait for this one) must see what
		// this transaction journals. Should the commit fail, reads show activity that was
		// real but not written, and a later fold writes it.
		s.act.mu.Lock()
		for _, t := range raised {
			s.act.add(activityKey{t.TenantID, t.ID}, t.At.UnixNano())
		}
		s.act.mu.Unlock()
		return nil
	})
	if err != nil {
		return fmt.Errorf("touching %d sessions: %w", len(touches), err)
	}
	s.act.mu.RLock()
	due, few := s.act.pending >= s.foldAfter, len(s.act.latest) <= s.foldAfter*3/4
	s.act.mu.RUnlock()
	switch {
	case !due:
		return nil
	case few:
		return s.compact()
	default:
		return s.fold()
	}
}

// raising is the touches that raise a session's activity beyond what the journal holds. It
// reads no record: a touch of an ended or unknown session is journalled like any other, and
// changes nothing, since reads lay the journal only over live records (journal.overlay) and a
// fold skips ended and missing ones (touchedRecord, rawRecord), then forgets them. Reading
// each record here cost more than the rest of a journalled touch (a B+tree search through
// pages that a flush of random sessions finds cold).
func (s *Store) raising(touches []store.Touch) []store.Touch {
	s.act.mu.RLock()
	defer s.act.mu.RUnlock()
	var raised []store.Touch
	for _, t := range touches {
		if !s.act.journalled(t.TenantID, t.ID, t.At) {
			raised = append(raised, t)
		}
	}
	return raised
}

// fold writes the journalled activity into the records and empties the journal of what it
// wrote. Touches journalled meanwhile stay for the next fold.
func (s *Store) fold() error {
	if !s.act.folding.TryLock() {
		return nil // a fold or a compaction is at it
	}
	defer s.act.folding.Unlock()

	upTo, err := s.journalUpTo()
	if err != nil {
		return fmt.Errorf("folding session activity: %w", err)
	}
	snap := s.act.snapshot()
	slices.SortFunc(snap, func(a, b store.Touch) int {
		return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.ID, b.ID))
	})

	// Records that cannot be read keep what they hold, and the fold goes on: one bad record
	// must not stop every other session's activity from reaching the records.
	var unreadable []error
	for chunk := range slices.Chunk(snap, foldChunk) {
		var bad []error
		err := s.writes.update(func(tx *bbolt.Tx) error {
			bad = bad[:0] // the committer may run this again
			for _, t := range chunk {
				b, v := rawRecord(tx, t.TenantID, t.ID)
				if v == nil {
					continue // purged since, or never created
				}
				rec, changed, err := touchedRecord(v, t.At)
				if err != nil {
					bad = append(bad, fmt.Errorf("session %s/%s: %w", t.TenantID, t.ID, err))
					continue
				}
				if changed {
					if err := b.Put([]byte(t.ID), rec); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("folding session activity: %w", err)
		}
		unreadable = append(unreadable, bad...)
		// The records have it now; activity raised since stays.
		s.act.mu.Lock()
		for _, t := range chunk {
			k := activityKey{t.TenantID, t.ID}
			if s.act.latest[k] == t.At.UnixNano() {
				delete(s.act.latest, k)
			}
		}
		s.act.mu.Unlock()
	}

	if err := s.dropJournal(upTo); err != nil {
		return fmt.Errorf("folding session activity: %w", err)
	}
	if len(unreadable) > 0 {
		return fmt.Errorf("folding session activity: %d session record(s) cannot be read and were left as they are; the first: %w",
			len(unreadable), unreadable[0])
	}
	return nil
}

// journalUpTo is the journal's last sequence: every value up to it was committed after its
// touches reached latest, so a snapshot of latest taken next holds them (or later activity of
// the same sessions).
func (s *Store) journalUpTo() (upTo uint64, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		upTo = tx.Bucket(bucketActivity).Sequence()
		return nil
	})
	return upTo, err
}

// dropJournal deletes the journal's values up to sequence upTo, whose touches are written
// elsewhere now, and counts the touches left.
func (s *Store) dropJournal(upTo uint64) error {
	err := s.writes.update(func(tx *bbolt.Tx) error {
		j := tx.Bucket(bucketActivity)
		var done [][]byte
		left := 0
		err := j.ForEach(func(k, v []byte) error {
			if binary.BigEndian.Uint64(k) <= upTo {
				done = append(done, bytes.Clone(k))
			} else {
				left += journalCount(v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range done {
			if err := j.Delete(k); err != nil {
				return err
			}
		}
		s.act.mu.Lock()
		s.act.pending = left
		s.act.mu.Unlock()
		return nil
	})
	if err != nil {
		return fmt.Errorf("emptying the journal: %w", err)
	}
	return nil
}

// compact journals the latest activity of each session anew, after what the journal holds,
// and then deletes what it held: the journal is left with one touch per session (and the
// touches journalled meanwhile). The records are not written.
func (s *Store) compact() error {
	if !s.act.folding.TryLock() {
		return nil // a fold or a compaction is at it
	}
	defer s.act.folding.Unlock()

	upTo, err := s.journalUpTo()
	if err != nil {
		return fmt.Errorf("compacting the activity journal: %w", err)
	}
	for chunk := range slices.Chunk(s.act.snapshot(), compactChunk) {
		v := encodeTouches(chunk)
		err := s.writes.update(func(tx *bbolt.Tx) error {
			j := tx.Bucket(bucketActivity)
			seq, err := j.NextSequence()
			if err != nil {
				return err
			}
			return j.Put(binary.BigEndian.AppendUint64(nil, seq), v)
		})
		if err != nil {
			return fmt.Errorf("compacting the activity journal: %w", err)
		}
	}
	if err := s.dropJournal(upTo); err != nil {
		return fmt.Errorf("compacting the activity journal: %w", err)
	}
	return nil
}
