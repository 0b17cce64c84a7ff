// Package memory is a store.Store kept in process memory, for tests and single-node setups that
// can afford to lose every session on restart.
package memory

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/record"
)

// Store is an in-memory store.Store. One lock guards everything: Create must be atomic with the
// user's cut-off and session count, and the other operations are map look-ups.
//
// Sessions are kept as records (package record): one allocation without pointers each, which
// the garbage collector does not scan, and which writing activity patches in place.
type Store struct {
	mu      sync.RWMutex
	tenants map[string]*tenant
}

type tenant struct {
	sessions map[string][]byte    // by id, live and ended: the session's record
	live     map[string][]string  // user id -> ids of live sessions
	cutoffs  map[string]time.Time // user id -> cut-off
	policy   *store.Policy
}

// New returns an empty store.
func New() *Store {
	return &Store{tenants: map[string]*tenant{}}
}

// tenantFor returns the tenant, creating it when create is set; else it may be nil.
func (s *Store) tenantFor(id string, create bool) *tenant {
	tn := s.tenants[id]
	if tn == nil && create {
		tn = &tenant{
			sessions: map[string][]byte{},
			live:     map[string][]string{},
			cutoffs:  map[string]time.Time{},
		}
		s.tenants[id] = tn
	}
	return tn
}

// Get implements store.Store.
func (s *Store) Get(_ context.Context, tenantID, id string) (store.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if tn := s.tenantFor(tenantID, false); tn != nil {
		if rec := tn.sessions[id]; rec != nil {
			return record.Decode(rec)
		}
	}
	return store.Session{}, store.ErrNotFound
}

// Create implements store.Store.
func (s *Store) Create(_ context.Context, req store.CreateRequest) (store.CreateResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tn := s.tenantFor(req.Session.TenantID, true)
	if cur := tn.sessions[req.Session.ID]; cur != nil {
		sess, err := record.Decode(cur)
		return store.CreateResult{Session: sess}, err
	}
	user := req.Session.UserID
	// A zero IssuedAt (no iat) is before any cut-off, as it must be.
	if cutoff, ok := tn.cutoffs[user]; ok && req.IssuedAt.Before(cutoff) {
		return store.CreateResult{Refused: store.ReasonRevoked}, nil
	}

	current, err := tn.liveSessions(user)
	if err != nil {
		return store.CreateResult{}, err
	}
	var res store.CreateResult
	var live []store.Session
	for _, sess := range current {
		if reason := req.Policy.EndReasonAt(sess.CreatedAt, sess.LastActiveAt, req.Now); reason != "" {
			res.Ended = append(res.Ended, tn.end(sess, reason, req.Now))
			continue
		}
		live = append(live, sess)
	}
	if limit := req.Policy.MaxSessions; limit.Enabled && len(live) >= limit.Max {
		if limit.Strategy == store.StrategyRejectNew {
			res.Refused = store.RefusedLimit
			return res, nil
		}
		slices.SortFunc(live, oldestFirst)
		// Leave Max-1 so that the new one makes Max, even when the limit was lowered; min keeps
		// a Max below 1 (refused by config validation) from panicking.
		for _, sess := range live[:min(len(live), len(live)-limit.Max+1)] {
			res.Ended = append(res.Ended, tn.end(sess, store.ReasonEvicted, req.Now))
		}
	}

	rec := record.Encode(&req.Session)
	tn.sessions[req.Session.ID] = rec
	tn.live[user] = append(tn.live[user], req.Session.ID)
	if res.Session, err = record.Decode(rec); err != nil {
		return store.CreateResult{}, err
	}
	res.Created = true
	return res, nil
}

// End implements store.Store.
func (s *Store) End(_ context.Context, tenantID, id, reason string, now time.Time) (store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tn := s.tenantFor(tenantID, false)
	if tn == nil || tn.sessions[id] == nil {
		return store.Session{}, store.ErrNotFound
	}
	sess, err := record.Decode(tn.sessions[id])
	if err != nil || sess.Ended() {
		return sess, err
	}
	return tn.end(sess, reason, now), nil
}

// EndUser implements store.Store.
func (s *Store) EndUser(_ context.Context, tenantID, userID string, req store.EndUserRequest) ([]store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tn := s.tenantFor(tenantID, req.SetCutoff)
	if tn == nil {
		return nil, nil
	}
	if cur, ok := tn.cutoffs[userID]; req.SetCutoff && (!ok || req.Now.After(cur)) {
		tn.cutoffs[userID] = req.Now
	}
	live, err := tn.liveSessions(userID)
	if err != nil {
		return nil, err
	}
	var ended []store.Session
	for _, sess := range live {
		if sess.ID != req.KeepID {
			ended = append(ended, tn.end(sess, req.Reason, req.Now))
		}
	}
	return ended, nil
}

// ListUserSessions implements store.Store.
func (s *Store) ListUserSessions(_ context.Context, tenantID, userID string) ([]store.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tn := s.tenantFor(tenantID, false)
	if tn == nil {
		return nil, nil
	}
	list, err := tn.liveSessions(userID)
	slices.SortFunc(list, newestFirst)
	return list, err
}

// ListUsers implements store.Store.
func (s *Store) ListUsers(_ context.Context, tenantID, after string, limit int, p store.Policy, now time.Time) ([]store.UserSummary, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tn := s.tenantFor(tenantID, false)
	if tn == nil {
		return nil, nil
	}
	users := make([]string, 0, len(tn.live))
	for u := range tn.live {
		if u > after {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	var out []store.UserSummary
	for _, u := range users {
		if len(out) == limit {
			break
		}
		live, err := tn.liveSessions(u)
		if err != nil {
			return nil, err
		}
		sum := store.UserSummary{UserID: u}
		for i := range live {
			sum.Add(&live[i], &p, now)
		}
		if sum.ActiveSessions > 0 {
			out = append(out, sum)
		}
	}
	return out, nil
}

// Touch implements store.Store.
func (s *Store) Touch(_ context.Context, touches []store.Touch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range touches {
		tn := s.tenantFor(t.TenantID, false)
		if tn == nil {
			continue
		}
		if rec := tn.sessions[t.ID]; rec != nil && record.Touches(rec, t.At) { // every record here is record.Encode's
			record.SetLastActive(rec, t.At)
		}
	}
	return nil
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(_ context.Context, tenantID string) (store.Policy, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if tn := s.tenantFor(tenantID, false); tn != nil && tn.policy != nil {
		return *tn.policy, nil
	}
	return store.Policy{}, store.ErrNotFound
}

// PutPolicy implements store.Store.
func (s *Store) PutPolicy(_ context.Context, tenantID string, p store.Policy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenantFor(tenantID, true).policy = &p
	return nil
}

// DeletePolicy implements store.Store.
func (s *Store) DeletePolicy(_ context.Context, tenantID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tn := s.tenantFor(tenantID, false); tn != nil {
		tn.policy = nil
	}
	return nil
}

// Sweep implements store.Store. It holds the lock for the whole walk: memory stores are small.
func (s *Store) Sweep(_ context.Context, now time.Time, decide func(*store.Session) (store.SweepAction, string)) (ended, purged int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tn := range s.tenants {
		for id, rec := range tn.sessions {
			// decide gets a copy of its own: what it changes is not stored.
			c, err := record.Decode(rec)
			if err != nil {
				return ended, purged, err
			}
			action, reason := decide(&c)
			if action == store.SweepKeep {
				continue
			}
			sess, err := record.Decode(rec)
			if err != nil {
				return ended, purged, err
			}
			switch action {
			case store.SweepEnd:
				if !sess.Ended() {
					tn.end(sess, reason, now)
					ended++
				}
			case store.SweepPurge:
				delete(tn.sessions, id)
				tn.dropLive(sess.UserID, id)
				purged++
			}
		}
	}
	return ended, purged, nil
}

// Close implements store.Store; there is nothing to release.
func (s *Store) Close() error { return nil }

// liveSessions decodes the user's live sessions.
func (tn *tenant) liveSessions(user string) ([]store.Session, error) {
	ids := tn.live[user]
	out := make([]store.Session, 0, len(ids))
	for _, id := range ids {
		sess, err := record.Decode(tn.sessions[id])
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, nil
}

// end ends a live session and returns it ended.
func (tn *tenant) end(sess store.Session, reason string, now time.Time) store.Session {
	sess.EndedAt, sess.EndReason = now, reason
	tn.sessions[sess.ID] = record.Encode(&sess)
	tn.dropLive(sess.UserID, sess.ID)
	return sess
}

// dropLive removes the session from its user's live set, and the set when it empties so that
// users who come and go do not pile up.
func (tn *tenant) dropLive(user, id string) {
	ids := tn.live[user]
	if i := slices.Index(ids, id); i >= 0 {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(tn.live, user)
		return
	}
	tn.live[user] = ids
}

// oldestFirst orders by CreatedAt, then id so that ties evict the same session every time.
func oldestFirst(a, b store.Session) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
}

func newestFirst(a, b store.Session) int {
	return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
}

var _ store.Store = (*Store)(nil)
