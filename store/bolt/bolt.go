// Package bolt is a store.Store in a bbolt file: durable across restarts, for one Caddy node
// (bbolt locks the file, so only one open store can use it at a time).
package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/record"
)

// Options configure Open.
type Options struct {
	// Timeout is how long Open waits for the file lock held by another open store (another
	// process, or this one before a config reload let go of it). Default: 1s.
	Timeout time.Duration
}

// Store is a store.Store in a bbolt file. Every write is committed and fsynced before it
// returns; bbolt runs one write transaction at a time, which is what makes Create atomic.
// Concurrent writes share transactions (see committer), so a burst of new sessions costs a
// few fsyncs, not one each.
type Store struct {
	db        *bbolt.DB
	writes    *committer
	sweepSize int // sessions decided per Sweep transaction
	act       journal
	foldAfter int // journalled touches that make Touch fold them (journal.go)
}

// The file layout. Sessions and the index are nested per tenant so that any id is a valid key.
// Session records are binary (record.go); policy records are the JSON of store.Policy, so
// renaming its fields or JSON tags changes the file format.
var (
	bucketSessions = []byte("sessions") // <tenant> / <session id> -> session record
	bucketUsers    = []byte("users")    // <tenant> / <user id> / <session id> -> empty, live only
	bucketCutoffs  = []byte("cutoffs")  // <tenant> / <user id> -> cut-off (time.MarshalBinary)
	bucketPolicies = []byte("policies") // <tenant> -> policy record
	// bucketActivity is the activity journal, in journal.go.
)

// defaultSweepBatch bounds how long a Sweep holds the write lock at a time.
const defaultSweepBatch = 1000

// Open opens the store at path, creating the file (0600) and its directory (0700) if missing.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening session store %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("opening session store %s: still locked by another open store after %s: %w", path, opts.Timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening session store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketSessions, bucketUsers, bucketCutoffs, bucketPolicies, bucketActivity} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("opening session store %s: %w", path, err), db.Close())
	}
	s := &Store{db: db, writes: &committer{db: db}, sweepSize: defaultSweepBatch, foldAfter: defaultFoldAfter}
	if err := s.loadJournal(); err != nil {
		return nil, errors.Join(fmt.Errorf("opening session store %s: %w", path, err), db.Close())
	}
	return s, nil
}

// Get implements store.Store.
func (s *Store) Get(_ context.Context, tenantID, id string) (store.Session, error) {
	var sess store.Session
	err := s.view(func(tx *bbolt.Tx) error {
		var ok bool
		var err error
		sess, ok, err = s.getSession(tx, tenantID, id)
		if err == nil && !ok {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return store.Session{}, fmt.Errorf("getting session %s/%s: %w", tenantID, id, err)
	}
	return sess, nil
}

// Create implements store.Store.
func (s *Store) Create(_ context.Context, req store.CreateRequest) (store.CreateResult, error) {
	sess := req.Session
	if sess.Location != nil { // the result must not share the caller's Location
		loc := *sess.Location
		sess.Location = &loc
	}
	var res store.CreateResult
	err := s.update(func(tx *bbolt.Tx) error {
		res = store.CreateResult{} // a write may run again
		cur, ok, err := s.getSession(tx, sess.TenantID, sess.ID)
		if err != nil || ok {
			res.Session = cur
			return err
		}
		cutoff, ok, err := getCutoff(tx, sess.TenantID, sess.UserID)
		if err != nil {
			return err
		}
		if ok && req.IssuedAt.Before(cutoff) { // a zero IssuedAt (no iat) is before any cut-off
			res.Refused = store.ReasonRevoked
			return nil
		}

		all, err := s.liveSessions(tx, sess.TenantID, sess.UserID)
		if err != nil {
			return err
		}
		var live []store.Session
		for _, other := range all {
			if reason := req.Policy.EndReasonAt(other.CreatedAt, other.LastActiveAt, req.Now); reason != "" {
				if err := endSession(tx, &other, reason, req.Now); err != nil {
					return err
				}
				res.Ended = append(res.Ended, other)
				continue
			}
			live = append(live, other)
		}
		if limit := req.Policy.MaxSessions; limit.Enabled && len(live) >= limit.Max {
			if limit.Strategy == store.StrategyRejectNew {
				res.Refused = store.RefusedLimit
				return nil // the dead sessions found above stay ended
			}
			slices.SortFunc(live, oldestFirst)
			// Leave Max-1 so that the new one makes Max, even when the limit was lowered; min
			// keeps a Max below 1 (refused by config validation) from panicking.
			for _, old := range live[:min(len(live), len(live)-limit.Max+1)] {
				if err := endSession(tx, &old, store.ReasonEvicted, req.Now); err != nil {
					return err
				}
				res.Ended = append(res.Ended, old)
			}
		}

		if err := putSession(tx, &sess); err != nil {
			return err
		}
		if err := addToIndex(tx, &sess); err != nil {
			return err
		}
		res.Session, res.Created = sess, true
		return nil
	})
	if err != nil {
		return store.CreateResult{}, fmt.Errorf("creating session %s/%s: %w", sess.TenantID, sess.ID, err)
	}
	return res, nil
}

// End implements store.Store.
func (s *Store) End(_ context.Context, tenantID, id, reason string, now time.Time) (store.Session, error) {
	var sess store.Session
	err := s.update(func(tx *bbolt.Tx) error {
		var ok bool
		var err error
		sess, ok, err = s.getSession(tx, tenantID, id)
		switch {
		case err != nil:
			return err
		case !ok:
			return store.ErrNotFound
		case sess.Ended():
			return nil
		}
		return endSession(tx, &sess, reason, now)
	})
	if err != nil {
		return store.Session{}, fmt.Errorf("ending session %s/%s: %w", tenantID, id, err)
	}
	return sess, nil
}

// EndUser implements store.Store.
func (s *Store) EndUser(_ context.Context, tenantID, userID string, req store.EndUserRequest) ([]store.Session, error) {
	var ended []store.Session
	err := s.update(func(tx *bbolt.Tx) error {
		ended = nil // a write may run again
		if req.SetCutoff {
			if err := raiseCutoff(tx, tenantID, userID, req.Now); err != nil {
				return err
			}
		}
		live, err := s.liveSessions(tx, tenantID, userID)
		if err != nil {
			return err
		}
		for _, sess := range live {
			if sess.ID == req.KeepID {
				continue
			}
			if err := endSession(tx, &sess, req.Reason, req.Now); err != nil {
				return err
			}
			ended = append(ended, sess)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ending sessions of user %s/%s: %w", tenantID, userID, err)
	}
	return ended, nil
}

// ListUserSessions implements store.Store.
func (s *Store) ListUserSessions(_ context.Context, tenantID, userID string) ([]store.Session, error) {
	var live []store.Session
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		live, err = s.liveSessions(tx, tenantID, userID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing sessions of user %s/%s: %w", tenantID, userID, err)
	}
	slices.SortFunc(live, newestFirst)
	return live, nil
}

// ListUsers implements store.Store. It walks the tenant's live index from after, reading only
// the sessions of the users it returns (and of users it skips for having none left).
func (s *Store) ListUsers(_ context.Context, tenantID, after string, limit int, p store.Policy, now time.Time) ([]store.UserSummary, error) {
	var out []store.UserSummary
	err := s.view(func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bucketUsers).Bucket([]byte(tenantID))
		if tb == nil {
			return nil
		}
		c := tb.Cursor()
		k, _ := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, _ = c.Next()
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			live, err := s.liveSessions(tx, tenantID, string(k))
			if err != nil {
				return err
			}
			sum := store.UserSummary{UserID: string(k)}
			for i := range live {
				sum.Add(&live[i], &p, now)
			}
			if sum.ActiveSessions > 0 {
				out = append(out, sum)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing users of tenant %s: %w", tenantID, err)
	}
	return out, nil
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(_ context.Context, tenantID string) (store.Policy, error) {
	var p store.Policy
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketPolicies).Get([]byte(tenantID))
		if v == nil {
			return store.ErrNotFound
		}
		return json.Unmarshal(v, &p)
	})
	if err != nil {
		return store.Policy{}, fmt.Errorf("getting policy of tenant %s: %w", tenantID, err)
	}
	return p, nil
}

// PutPolicy implements store.Store.
func (s *Store) PutPolicy(_ context.Context, tenantID string, p store.Policy) error {
	v, err := json.Marshal(p)
	if err == nil {
		err = s.update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketPolicies).Put([]byte(tenantID), v)
		})
	}
	if err != nil {
		return fmt.Errorf("putting policy of tenant %s: %w", tenantID, err)
	}
	return nil
}

// DeletePolicy implements store.Store.
func (s *Store) DeletePolicy(_ context.Context, tenantID string) error {
	err := s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPolicies).Delete([]byte(tenantID))
	})
	if err != nil {
		return fmt.Errorf("deleting policy of tenant %s: %w", tenantID, err)
	}
	return nil
}

// Sweep implements store.Store. It walks the sessions in key order, s.sweepSize per write
// transaction, so that requests can write between batches; ctx is checked between batches.
func (s *Store) Sweep(ctx context.Context, now time.Time, decide func(*store.Session) (store.SweepAction, string)) (ended, purged int, err error) {
	var pos sweepPos
	for more := true; more; {
		if err := ctx.Err(); err != nil {
			return ended, purged, fmt.Errorf("sweeping sessions: %w", err)
		}
		var batchEnded, batchPurged int
		err := s.db.Update(func(tx *bbolt.Tx) error {
			s.act.mu.RLock()
			defer s.act.mu.RUnlock()
			var err error
			batchEnded, batchPurged, more, err = s.sweepBatch(tx, &pos, s.sweepSize, now, decide)
			return err
		})
		if err != nil {
			return ended, purged, fmt.Errorf("sweeping sessions: %w", err)
		}
		ended += batchEnded
		purged += batchPurged
	}
	return ended, purged, nil
}

// Close implements store.Store. It releases the file lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing session store %s: %w", s.db.Path(), err)
	}
	return nil
}

// sweepPos is the last session a sweep decided on, as (tenant, id) keys.
type sweepPos struct{ tenant, id []byte }

// sweepBatch decides on up to size sessions after pos, applies the decisions and moves pos.
// more is false once the walk has reached the end.
func (s *Store) sweepBatch(tx *bbolt.Tx, pos *sweepPos, size int, now time.Time, decide func(*store.Session) (store.SweepAction, string)) (ended, purged int, more bool, err error) {
	type todo struct {
		tenant, id string
		action     store.SweepAction
		reason     string
	}
	var todos []todo
	decided := 0
	sessions := tx.Bucket(bucketSessions)
	tenants := sessions.Cursor()
	tk, _ := tenants.First()
	if pos.tenant != nil {
		tk, _ = tenants.Seek(pos.tenant)
	}
	for ; tk != nil && decided < size; tk, _ = tenants.Next() {
		c := sessions.Bucket(tk).Cursor()
		k, v := c.First()
		if bytes.Equal(tk, pos.tenant) {
			// Resume after pos; Seek lands on the next key when pos itself was purged.
			if k, v = c.Seek(pos.id); bytes.Equal(k, pos.id) {
				k, v = c.Next()
			}
		}
		for ; k != nil && decided < size; k, v = c.Next() {
			sess, err := decodeSession(v)
			if err != nil {
				return 0, 0, false, fmt.Errorf("session %s/%s: %w", tk, k, err)
			}
			s.act.overlay(&sess)
			// Writes wait until the walk is done: bbolt cursors do not survive changes to their bucket.
			if action, reason := decide(&sess); action != store.SweepKeep {
				todos = append(todos, todo{string(tk), string(k), action, reason})
			}
			decided++
			pos.tenant, pos.id = bytes.Clone(tk), bytes.Clone(k)
		}
	}

	for _, td := range todos {
		// Read again: decide may have changed its copy, which must not be written.
		sess, _, err := s.getSession(tx, td.tenant, td.id)
		if err != nil {
			return 0, 0, false, err
		}
		switch td.action {
		case store.SweepEnd:
			if !sess.Ended() {
				if err := endSession(tx, &sess, td.reason, now); err != nil {
					return 0, 0, false, err
				}
				ended++
			}
		case store.SweepPurge:
			if err := sessions.Bucket([]byte(td.tenant)).Delete([]byte(td.id)); err != nil {
				return 0, 0, false, err
			}
			if err := dropFromIndex(tx, &sess); err != nil {
				return 0, 0, false, err
			}
			purged++
		}
	}
	return ended, purged, decided == size, nil
}

// getSession reads a session, with its journalled activity; ok is false when there is none.
// The caller holds the journal shared (view, update).
func (s *Store) getSession(tx *bbolt.Tx, tenantID, id string) (sess store.Session, ok bool, err error) {
	_, v := rawRecord(tx, tenantID, id)
	if v == nil {
		return store.Session{}, false, nil
	}
	sess, err = decodeSession(v)
	if err != nil {
		return store.Session{}, false, fmt.Errorf("session %s/%s: %w", tenantID, id, err)
	}
	s.act.overlay(&sess)
	return sess, true, nil
}

// rawRecord is the session's record as stored (bbolt's memory, valid for tx) and its tenant's
// bucket; nil when there is none.
func rawRecord(tx *bbolt.Tx, tenantID, id string) (*bbolt.Bucket, []byte) {
	b := tx.Bucket(bucketSessions).Bucket([]byte(tenantID))
	if b == nil {
		return nil, nil
	}
	return b, b.Get([]byte(id))
}

// putSession writes the session record; the index is the caller's business.
func putSession(tx *bbolt.Tx, sess *store.Session) error {
	b, err := tx.Bucket(bucketSessions).CreateBucketIfNotExists([]byte(sess.TenantID))
	if err != nil {
		return err
	}
	return b.Put([]byte(sess.ID), record.Encode(sess))
}

// endSession ends a live session and takes it out of its user's index.
func endSession(tx *bbolt.Tx, sess *store.Session, reason string, now time.Time) error {
	sess.EndedAt, sess.EndReason = now, reason
	if err := putSession(tx, sess); err != nil {
		return err
	}
	return dropFromIndex(tx, sess)
}

func addToIndex(tx *bbolt.Tx, sess *store.Session) error {
	tb, err := tx.Bucket(bucketUsers).CreateBucketIfNotExists([]byte(sess.TenantID))
	if err != nil {
		return err
	}
	ub, err := tb.CreateBucketIfNotExists([]byte(sess.UserID))
	if err != nil {
		return err
	}
	return ub.Put([]byte(sess.ID), []byte{})
}

// dropFromIndex removes the session from its user's index, and the user's bucket when it
// empties so that users who come and go do not pile up.
func dropFromIndex(tx *bbolt.Tx, sess *store.Session) error {
	tb := tx.Bucket(bucketUsers).Bucket([]byte(sess.TenantID))
	if tb == nil {
		return nil
	}
	ub := tb.Bucket([]byte(sess.UserID))
	if ub == nil {
		return nil
	}
	if err := ub.Delete([]byte(sess.ID)); err != nil {
		return err
	}
	if k, _ := ub.Cursor().First(); k == nil {
		return tb.DeleteBucket([]byte(sess.UserID))
	}
	return nil
}

// liveSessions reads the user's live sessions through the index, in id order.
func (s *Store) liveSessions(tx *bbolt.Tx, tenantID, userID string) ([]store.Session, error) {
	tb := tx.Bucket(bucketUsers).Bucket([]byte(tenantID))
	if tb == nil {
		return nil, nil
	}
	ub := tb.Bucket([]byte(userID))
	if ub == nil {
		return nil, nil
	}
	var live []store.Session
	err := ub.ForEach(func(id, _ []byte) error {
		sess, ok, err := s.getSession(tx, tenantID, string(id))
		if err == nil && !ok {
			err = fmt.Errorf("index of user %s/%s names missing session %s", tenantID, userID, id)
		}
		live = append(live, sess)
		return err
	})
	return live, err
}

func getCutoff(tx *bbolt.Tx, tenantID, userID string) (cutoff time.Time, ok bool, err error) {
	tb := tx.Bucket(bucketCutoffs).Bucket([]byte(tenantID))
	if tb == nil {
		return time.Time{}, false, nil
	}
	v := tb.Get([]byte(userID))
	if v == nil {
		return time.Time{}, false, nil
	}
	if err := cutoff.UnmarshalBinary(v); err != nil {
		return time.Time{}, false, fmt.Errorf("decoding cut-off of user %s/%s: %w", tenantID, userID, err)
	}
	return cutoff, true, nil
}

// raiseCutoff sets the user's cut-off to at unless a later one is in place.
func raiseCutoff(tx *bbolt.Tx, tenantID, userID string, at time.Time) error {
	cur, ok, err := getCutoff(tx, tenantID, userID)
	if err != nil || (ok && !at.After(cur)) {
		return err
	}
	v, err := at.MarshalBinary()
	if err != nil {
		return err
	}
	tb, err := tx.Bucket(bucketCutoffs).CreateBucketIfNotExists([]byte(tenantID))
	if err != nil {
		return err
	}
	return tb.Put([]byte(userID), v)
}

// oldestFirst orders by CreatedAt, then id so that ties evict the same session every time.
func oldestFirst(a, b store.Session) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
}

func newestFirst(a, b store.Session) int {
	return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
}

var _ store.Store = (*Store)(nil)
