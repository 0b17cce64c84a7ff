// Package storetest is the conformance suite that every store.Store implementation runs, so
// that memory, bolt and redis behave the same. Time is always passed explicitly: no test sleeps.
package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/store"
)

// t0 is the suite's clock origin; tests move time by adding to it.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Run runs the conformance suite. open must return a new, empty store for each call; the suite
// closes it when the test ends and fails when Close fails.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"GetNotFound", testGetNotFound},
		{"CreateExisting", testCreateExisting},
		{"Cutoff", testCutoff},
		{"EvictOldest", testEvictOldest},
		{"EvictOldestOverLimit", testEvictOldestOverLimit},
		{"RejectNew", testRejectNew},
		{"CreateEndsDeadSessions", testCreateEndsDeadSessions},
		{"ConcurrentCreate", testConcurrentCreate},
		{"End", testEnd},
		{"EndUser", testEndUser},
		{"ListUserSessions", testListUserSessions},
		{"ListUsers", testListUsers},
		{"Touch", testTouch},
		{"Policies", testPolicies},
		{"Sweep", testSweep},
		{"SweepMany", testSweepMany},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, openStore(t, open))
		})
	}
}

// RunPersistence checks that a store keeps its data across Close. open is called twice in the
// same test and must return a store over the same data both times (for bolt: the same path).
func RunPersistence(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	first := open(t)
	live := Session("t1", "u1", "live", t0)
	Create(t, first, live, store.Policy{})
	gone := Session("t1", "u1", "gone", t0.Add(time.Minute))
	Create(t, first, gone, store.Policy{})
	if _, err := first.End(ctx, "t1", "gone", store.ReasonRevoked, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	Create(t, first, Session("t1", "u2", "cut", t0), store.Policy{})
	cutoff := t0.Add(3 * time.Minute)
	if _, err := first.EndUser(ctx, "t1", "u2", store.EndUserRequest{Reason: store.ReasonRevoked, Now: cutoff, SetCutoff: true}); err != nil {
		t.Fatal(err)
	}
	touched := t0.Add(4 * time.Minute)
	if err := first.Touch(ctx, []store.Touch{{TenantID: "t1", UserID: "u1", ID: "live", At: touched}}); err != nil {
		t.Fatal(err)
	}
	policy := fullPolicy()
	if err := first.PutPolicy(ctx, "t1", policy); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	second := openStore(t, open)
	live.LastActiveAt = touched
	equalSession(t, get(t, second, "t1", "live"), live)
	gone.EndedAt, gone.EndReason = t0.Add(2*time.Minute), store.ReasonRevoked
	equalSession(t, get(t, second, "t1", "gone"), gone)
	equalSessions(t, list(t, second, "t1", "u1"), []store.Session{live})
	got, err := second.GetPolicy(ctx, "t1")
	if err != nil || !reflect.DeepEqual(got, policy) {
		t.Errorf("GetPolicy after reopen = %+v, %v; want %+v", got, err, policy)
	}
	late := Session("t1", "u2", "late", cutoff.Add(time.Minute))
	if res := CreateAt(t, second, late, store.Policy{}, cutoff.Add(-time.Second)); res.Refused != store.ReasonRevoked {
		t.Errorf("Create before the cut-off after reopen: Refused = %q, want %q", res.Refused, store.ReasonRevoked)
	}
	// The user's live sessions must still be counted against the limit after a reopen.
	limit := store.Policy{MaxSessions: store.SessionLimit{Enabled: true, Max: 1, Strategy: store.StrategyRejectNew}}
	if res := Create(t, second, Session("t1", "u1", "second", t0.Add(5*time.Minute)), limit); res.Refused != store.RefusedLimit {
		t.Errorf("Create over the limit after reopen: Refused = %q, want %q", res.Refused, store.RefusedLimit)
	}
}

func testCreateGetRoundTrip(t *testing.T, st store.Store) {
	full := Session("t1", "u1", "with-location", t0)
	full.LastActiveAt = t0.Add(time.Second)
	full.Location = &store.Location{Country: "FR", City: "Lyon"}
	bare := store.Session{TenantID: "t1", UserID: "u1", ID: "bare", CreatedAt: t0, LastActiveAt: t0}
	for _, want := range []store.Session{full, bare} {
		t.Run(want.ID, func(t *testing.T) {
			in := want
			if want.Location != nil {
				loc := *want.Location
				in.Location = &loc
			}
			res := Create(t, st, in, store.Policy{})
			if !res.Created || res.Refused != "" || len(res.Ended) != 0 {
				t.Fatalf("Create = %+v, want Created only", res)
			}
			equalSession(t, res.Session, want)
			// Callers may mutate what they pass and what they get back: neither is shared.
			if in.Location != nil {
				in.Location.City = "changed"
				equalSession(t, res.Session, want)
				res.Session.Location.City = "changed"
			}
			got := get(t, st, "t1", want.ID)
			equalSession(t, got, want)
			if got.Location != nil {
				got.Location.City = "changed"
				equalSession(t, get(t, st, "t1", want.ID), want)
			}
		})
	}
}

func testGetNotFound(t *testing.T, st store.Store) {
	Create(t, st, Session("t1", "u1", "s1", t0), store.Policy{})
	for _, tc := range []struct{ tenant, id string }{
		{"t1", "unknown"},
		{"t2", "s1"}, // (tenant, id) is the identity
	} {
		if _, err := st.Get(t.Context(), tc.tenant, tc.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%s, %s) error = %v, want ErrNotFound", tc.tenant, tc.id, err)
		}
	}
}

func testCreateExisting(t *testing.T, st store.Store) {
	ctx := t.Context()
	first := Session("t1", "u1", "s1", t0)
	Create(t, st, first, store.Policy{})
	again := Session("t1", "u1", "s1", t0.Add(time.Minute))
	again.IP = "198.51.100.7"
	res := Create(t, st, again, store.Policy{})
	if res.Created || res.Refused != "" {
		t.Fatalf("Create of a live id = %+v, want the existing session", res)
	}
	equalSession(t, res.Session, first)

	// An ended session stays ended: its id is never created again.
	ended, err := st.End(ctx, "t1", "s1", store.ReasonRevoked, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	res = Create(t, st, again, store.Policy{})
	if res.Created || res.Refused != "" {
		t.Fatalf("Create of an ended id = %+v, want the ended session", res)
	}
	equalSession(t, res.Session, ended)
	equalSessions(t, list(t, st, "t1", "u1"), nil)

	// The same id in another tenant is another session.
	if res := Create(t, st, Session("t2", "u1", "s1", t0), store.Policy{}); !res.Created {
		t.Errorf("Create of s1 in t2 = %+v, want Created", res)
	}

	// A session kept live through a cut-off is returned, not refused.
	kept := Session("t1", "u2", "kept", t0)
	Create(t, st, kept, store.Policy{})
	cutoff := t0.Add(time.Hour)
	if _, err := st.EndUser(ctx, "t1", "u2", store.EndUserRequest{Reason: store.ReasonRevoked, Now: cutoff, KeepID: "kept", SetCutoff: true}); err != nil {
		t.Fatal(err)
	}
	res = CreateAt(t, st, kept, store.Policy{}, kept.CreatedAt)
	if res.Created || res.Refused != "" {
		t.Fatalf("Create of the kept id after a cut-off = %+v, want the existing session", res)
	}
	equalSession(t, res.Session, kept)
}

func testCutoff(t *testing.T, st store.Store) {
	ctx := t.Context()
	Create(t, st, Session("t1", "u1", "old", t0), store.Policy{})
	cutoff := t0.Add(time.Hour)
	if _, err := st.EndUser(ctx, "t1", "u1", store.EndUserRequest{Reason: store.ReasonRevoked, Now: cutoff, SetCutoff: true}); err != nil {
		t.Fatal(err)
	}
	// An earlier cut-off (a node with a late clock) does not lower the one in place.
	if _, err := st.EndUser(ctx, "t1", "u1", store.EndUserRequest{Reason: store.ReasonRevoked, Now: cutoff.Add(-time.Minute), SetCutoff: true}); err != nil {
		t.Fatal(err)
	}
	// A later EndUser without SetCutoff leaves the cut-off alone.
	if _, err := st.EndUser(ctx, "t1", "u1", store.EndUserRequest{Reason: store.ReasonRevoked, Now: cutoff.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// EndUser without SetCutoff sets none.
	Create(t, st, Session("t1", "u3", "u3-old", t0), store.Policy{})
	if _, err := st.EndUser(ctx, "t1", "u3", store.EndUserRequest{Reason: store.ReasonRevoked, Now: cutoff}); err != nil {
		t.Fatal(err)
	}

	now := cutoff.Add(2 * time.Hour)
	tests := []struct {
		name         string
		tenant, user string
		issuedAt     time.Time
		refused      bool
	}{
		{"zero iat", "t1", "u1", time.Time{}, true},
		{"iat before cut-off", "t1", "u1", cutoff.Add(-time.Nanosecond), true},
		{"iat at cut-off", "t1", "u1", cutoff, false},
		{"iat after cut-off", "t1", "u1", cutoff.Add(time.Second), false},
		{"other user", "t1", "u2", time.Time{}, false},
		{"same user in another tenant", "t2", "u1", time.Time{}, false},
		{"user ended without cut-off", "t1", "u3", time.Time{}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Session(tc.tenant, tc.user, fmt.Sprintf("new-%d", i), now)
			res := CreateAt(t, st, s, store.Policy{}, tc.issuedAt)
			if tc.refused {
				if res.Refused != store.ReasonRevoked || res.Created || !reflect.DeepEqual(res.Session, store.Session{}) {
					t.Fatalf("Create = %+v, want Refused %q and no session", res, store.ReasonRevoked)
				}
				if _, err := st.Get(ctx, s.TenantID, s.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get of the refused session: error = %v, want ErrNotFound", err)
				}
				return
			}
			if !res.Created || res.Refused != "" {
				t.Fatalf("Create = %+v, want Created", res)
			}
		})
	}
}

func testEvictOldest(t *testing.T, st store.Store) {
	policy := limitPolicy(3, store.StrategyEvictOldest)
	live := agedSessions(t, st, 3, policy)
	// Sessions of other users and tenants do not count.
	Create(t, st, Session("t1", "u2", "other-user", t0), policy)
	Create(t, st, Session("t2", "u1", "other-tenant", t0), policy)

	now := t0.Add(time.Hour)
	fresh := Session("t1", "u1", "fresh", now)
	res := Create(t, st, fresh, policy)
	if !res.Created {
		t.Fatalf("Create = %+v, want Created", res)
	}
	oldest := live[0]
	oldest.EndedAt, oldest.EndReason = now, store.ReasonEvicted
	equalSessions(t, res.Ended, []store.Session{oldest})
	equalSession(t, get(t, st, "t1", oldest.ID), oldest)
	equalSessions(t, list(t, st, "t1", "u1"), []store.Session{fresh, live[2], live[1]})
	equalSessions(t, list(t, st, "t1", "u2"), []store.Session{Session("t1", "u2", "other-user", t0)})
	equalSessions(t, list(t, st, "t2", "u1"), []store.Session{Session("t2", "u1", "other-tenant", t0)})
}

func testEvictOldestOverLimit(t *testing.T, st store.Store) {
	live := agedSessions(t, st, 5, store.Policy{})
	// The limit was lowered to 2 after the user had 5: only the newest stays next to the new one.
	now := t0.Add(time.Hour)
	fresh := Session("t1", "u1", "fresh", now)
	res := Create(t, st, fresh, limitPolicy(2, store.StrategyEvictOldest))
	if !res.Created {
		t.Fatalf("Create = %+v, want Created", res)
	}
	var evicted []store.Session
	for _, s := range live[:4] {
		s.EndedAt, s.EndReason = now, store.ReasonEvicted
		evicted = append(evicted, s)
	}
	equalSessions(t, res.Ended, evicted)
	equalSessions(t, list(t, st, "t1", "u1"), []store.Session{fresh, live[4]})
}

func testRejectNew(t *testing.T, st store.Store) {
	ctx := t.Context()
	policy := limitPolicy(3, store.StrategyRejectNew)
	live := agedSessions(t, st, 3, policy)
	res := Create(t, st, Session("t1", "u1", "rejected", t0.Add(time.Hour)), policy)
	if res.Refused != store.RefusedLimit || res.Created || len(res.Ended) != 0 || !reflect.DeepEqual(res.Session, store.Session{}) {
		t.Fatalf("Create over the limit = %+v, want Refused %q only", res, store.RefusedLimit)
	}
	if _, err := st.Get(ctx, "t1", "rejected"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of the rejected session: error = %v, want ErrNotFound", err)
	}
	equalSessions(t, list(t, st, "t1", "u1"), []store.Session{live[2], live[1], live[0]})

	// The limit is per (tenant, user).
	for _, s := range []store.Session{Session("t1", "u2", "other-user", t0), Session("t2", "u1", "other-tenant", t0)} {
		if res := Create(t, st, s, policy); !res.Created {
			t.Errorf("Create of %s/%s = %+v, want Created", s.TenantID, s.ID, res)
		}
	}
	// Once a session ends there is room again.
	if _, err := st.End(ctx, "t1", live[0].ID, store.ReasonRevoked, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if res := Create(t, st, Session("t1", "u1", "after-end", t0.Add(2*time.Hour)), policy); !res.Created {
		t.Errorf("Create after an end = %+v, want Created", res)
	}
}

func testCreateEndsDeadSessions(t *testing.T, st store.Store) {
	now := t0.Add(48 * time.Hour)
	base := store.Policy{
		IdleTimeout:  store.Timeout{Enabled: true, Duration: 30 * time.Minute},
		ForceRelogin: store.Timeout{Enabled: true, Duration: 24 * time.Hour},
	}
	// Each case also has a live session, "fresh"; the dead are ended even when the new one is
	// refused.
	tests := []struct {
		name   string
		limit  store.SessionLimit
		fresh  string // the reason fresh ends with, "" when it stays live
		refuse string
	}{
		{"no limit", store.SessionLimit{}, "", ""},
		{"reject_new with room once the dead are ended", store.SessionLimit{Enabled: true, Max: 2, Strategy: store.StrategyRejectNew}, "", ""},
		{"reject_new full", store.SessionLimit{Enabled: true, Max: 1, Strategy: store.StrategyRejectNew}, "", store.RefusedLimit},
		{"evict_oldest", store.SessionLimit{Enabled: true, Max: 1, Strategy: store.StrategyEvictOldest}, store.ReasonEvicted, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("u%d", i)
			at := func(id string, created, lastActive time.Time) store.Session {
				return withTimes(Session("t1", user, user+"-"+id, now), created, lastActive)
			}
			sessions := map[string]store.Session{
				"idle":    at("idle", now.Add(-2*time.Hour), now.Add(-30*time.Minute)),
				"expired": at("expired", now.Add(-24*time.Hour), now.Add(-time.Minute)),
				// Force re-login is checked before idleness.
				"both":  at("both", now.Add(-25*time.Hour), now.Add(-time.Hour)),
				"fresh": at("fresh", now.Add(-time.Hour), now.Add(-29*time.Minute)),
			}
			want := map[string]string{"idle": store.ReasonIdleTimeout, "expired": store.ReasonExpired, "both": store.ReasonExpired, "fresh": tc.fresh}
			for _, s := range sessions {
				CreateAt(t, st, s, store.Policy{}, s.CreatedAt)
			}
			policy := base
			policy.MaxSessions = tc.limit
			res := Create(t, st, Session("t1", user, user+"-new", now), policy)
			if res.Refused != tc.refuse || res.Created != (tc.refuse == "") {
				t.Fatalf("Create = %+v, want Refused %q", res, tc.refuse)
			}
			var wantEnded, wantLive []store.Session
			for _, id := range []string{"both", "expired", "fresh", "idle"} {
				s := sessions[id]
				if want[id] == "" {
					wantLive = append(wantLive, s)
					continue
				}
				s.EndedAt, s.EndReason = now, want[id]
				wantEnded = append(wantEnded, s)
				equalSession(t, get(t, st, "t1", s.ID), s)
			}
			equalSessions(t, sortedByID(res.Ended), wantEnded)
			if res.Created {
				wantLive = append([]store.Session{res.Session}, wantLive...)
			}
			equalSessions(t, list(t, st, "t1", user), wantLive)
		})
	}
}

func testConcurrentCreate(t *testing.T, st store.Store) {
	ConcurrentCreate(t, 20, st)
}

// ConcurrentCreate creates sessions of one user from n goroutines spread over stores (one, or
// several clients of one shared store, as gateway nodes are), at a limit of 3 with each
// strategy: the limit holds, evictions are reported once each, refusals create nothing.
func ConcurrentCreate(t *testing.T, goroutines int, stores ...store.Store) {
	const limit = 3
	for _, strategy := range []string{store.StrategyEvictOldest, store.StrategyRejectNew} {
		t.Run(strategy, func(t *testing.T) {
			policy := limitPolicy(limit, strategy)
			results := make([]store.CreateResult, goroutines)
			errs := make([]error, goroutines)
			var wg sync.WaitGroup
			for i := range goroutines {
				wg.Go(func() {
					s := Session("t1", strategy, fmt.Sprintf("%s-%02d", strategy, i), t0.Add(time.Duration(i)*time.Second))
					results[i], errs[i] = stores[i%len(stores)].Create(t.Context(), request(s, policy, s.CreatedAt))
				})
			}
			wg.Wait()
			created, refused := 0, 0
			ended := map[string]bool{}
			for i, res := range results {
				if errs[i] != nil {
					t.Fatalf("Create %d: %v", i, errs[i])
				}
				if res.Created {
					created++
				}
				if res.Refused != "" {
					refused++
				}
				for _, e := range res.Ended {
					if ended[e.ID] || e.EndReason != store.ReasonEvicted {
						t.Errorf("%s ended twice or with %q", e.ID, e.EndReason)
					}
					ended[e.ID] = true
				}
			}
			live := list(t, stores[0], "t1", strategy)
			if len(live) != limit {
				t.Errorf("%d live sessions, want %d", len(live), limit)
			}
			wantCreated, wantEnded := goroutines, goroutines-limit
			if strategy == store.StrategyRejectNew {
				wantCreated, wantEnded = limit, 0
			}
			if created != wantCreated || refused != goroutines-wantCreated || len(ended) != wantEnded {
				t.Errorf("created %d, refused %d, ended %d; want %d, %d, %d", created, refused, len(ended), wantCreated, goroutines-wantCreated, wantEnded)
			}
		})
	}
}

func testEnd(t *testing.T, st store.Store) {
	ctx := t.Context()
	s := Session("t1", "u1", "s1", t0)
	Create(t, st, s, store.Policy{})
	other := Session("t1", "u1", "s2", t0.Add(time.Minute))
	Create(t, st, other, store.Policy{})

	endedAt := t0.Add(time.Hour)
	got, err := st.End(ctx, "t1", "s1", store.ReasonRevoked, endedAt)
	if err != nil {
		t.Fatal(err)
	}
	s.EndedAt, s.EndReason = endedAt, store.ReasonRevoked
	equalSession(t, got, s)
	equalSession(t, get(t, st, "t1", "s1"), s) // the tombstone stays
	equalSessions(t, list(t, st, "t1", "u1"), []store.Session{other})

	// Ending again keeps the first reason and time.
	got, err = st.End(ctx, "t1", "s1", store.ReasonIdleTimeout, endedAt.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	equalSession(t, got, s)
	equalSession(t, get(t, st, "t1", "s1"), s)

	for _, tc := range []struct{ tenant, id string }{{"t1", "unknown"}, {"t2", "s1"}} {
		if _, err := st.End(ctx, tc.tenant, tc.id, store.ReasonRevoked, endedAt); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("End(%s, %s) error = %v, want ErrNotFound", tc.tenant, tc.id, err)
		}
	}
}

func testEndUser(t *testing.T, st store.Store) {
	ctx := t.Context()
	a := Session("t1", "u1", "a", t0)
	b := Session("t1", "u1", "b", t0.Add(time.Minute))
	c := Session("t1", "u1", "c", t0.Add(2*time.Minute))
	already := Session("t1", "u1", "already", t0)
	otherUser := Session("t1", "u2", "d", t0)
	otherTenant := Session("t2", "u1", "e", t0)
	for _, s := range []store.Session{a, b, c, already, otherUser, otherTenant} {
		Create(t, st, s, store.Policy{})
	}
	if _, err := st.End(ctx, "t1", "already", store.ReasonEvicted, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	now := t0.Add(time.Hour)
	ended, err := st.EndUser(ctx, "t1", "u1", store.EndUserRequest{Reason: store.ReasonRevoked, Now: now, KeepID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	a.EndedAt, a.EndReason = now, store.ReasonRevoked
	c.EndedAt, c.EndReason = now, store.ReasonRevoked
	equalSessions(t, sortedByID(ended), []store.Session{a, c})
	equalSession(t, get(t, st, "t1", "a"), a)
	already.EndedAt, already.EndReason = t0.Add(time.Minute), store.ReasonEvicted
	equalSession(t, get(t, st, "t1", "already"), already)
	equalSessions(t, list(t, st, "t1", "u1"), []store.Session{b})
	equalSessions(t, list(t, st, "t1", "u2"), []store.Session{otherUser})
	equalSessions(t, list(t, st, "t2", "u1"), []store.Session{otherTenant})

	// Without KeepID every live session ends; a user without sessions is not an error.
	ended, err = st.EndUser(ctx, "t1", "u1", store.EndUserRequest{Reason: store.ReasonRevoked, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	b.EndedAt, b.EndReason = now, store.ReasonRevoked
	equalSessions(t, ended, []store.Session{b})
	if ended, err := st.EndUser(ctx, "t1", "nobody", store.EndUserRequest{Reason: store.ReasonRevoked, Now: now}); err != nil || len(ended) != 0 {
		t.Errorf("EndUser of a user without sessions = %v, %v; want none, nil", ended, err)
	}
}

func testListUserSessions(t *testing.T, st store.Store) {
	ctx := t.Context()
	old := Session("t1", "u1", "old", t0)
	mid := Session("t1", "u1", "mid", t0.Add(time.Minute))
	newest := Session("t1", "u1", "newest", t0.Add(2*time.Minute))
	for _, s := range []store.Session{mid, newest, old, Session("t1", "u1", "ended", t0.Add(3*time.Minute)), Session("t2", "u1", "elsewhere", t0)} {
		Create(t, st, s, store.Policy{})
	}
	if _, err := st.End(ctx, "t1", "ended", store.ReasonRevoked, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	equalSessions(t, list(t, st, "t1", "u1"), []store.Session{newest, mid, old})
	equalSessions(t, list(t, st, "t1", "nobody"), nil)
	equalSessions(t, list(t, st, "t3", "u1"), nil)
}

func testTouch(t *testing.T, st store.Store) {
	ctx := t.Context()
	a := Session("t1", "u1", "a", t0)
	ended := Session("t1", "u1", "ended", t0)
	Create(t, st, a, store.Policy{})
	Create(t, st, ended, store.Policy{})
	ended, err := st.End(ctx, "t1", "ended", store.ReasonRevoked, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	err = st.Touch(ctx, []store.Touch{
		{TenantID: "t1", UserID: "u1", ID: "a", At: t0.Add(5 * time.Minute)},
		{TenantID: "t1", UserID: "u1", ID: "a", At: t0.Add(3 * time.Minute)}, // earlier: ignored
		{TenantID: "t1", UserID: "u1", ID: "unknown", At: t0.Add(5 * time.Minute)},
		{TenantID: "t2", UserID: "u1", ID: "a", At: t0.Add(5 * time.Minute)},
		{TenantID: "t1", UserID: "u1", ID: "ended", At: t0.Add(10 * time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.LastActiveAt = t0.Add(5 * time.Minute)
	equalSession(t, get(t, st, "t1", "a"), a)
	equalSession(t, get(t, st, "t1", "ended"), ended)
	if _, err := st.Get(ctx, "t1", "unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a touch created a session: Get error = %v, want ErrNotFound", err)
	}

	if err := st.Touch(ctx, []store.Touch{{TenantID: "t1", UserID: "u1", ID: "a", At: t0.Add(4 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	equalSession(t, get(t, st, "t1", "a"), a)

	var batch []store.Touch
	for i := range 100 {
		id := fmt.Sprintf("b%03d", i)
		Create(t, st, Session("t1", "u2", id, t0), store.Policy{})
		batch = append(batch, store.Touch{TenantID: "t1", UserID: "u2", ID: id, At: t0.Add(time.Duration(i+1) * time.Second)})
	}
	if err := st.Touch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range batch {
		if got := get(t, st, "t1", tc.ID).LastActiveAt; !got.Equal(tc.At) {
			t.Errorf("%s: LastActiveAt = %v, want %v", tc.ID, got, tc.At)
		}
	}
}

func testPolicies(t *testing.T, st store.Store) {
	ctx := t.Context()
	if _, err := st.GetPolicy(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPolicy of a tenant without one: error = %v, want ErrNotFound", err)
	}
	full := fullPolicy()
	// Disabled timeouts keep their durations, so that switching them on again restores them.
	disabled := store.Policy{
		IdleTimeout:  store.Timeout{Duration: 45 * time.Minute},
		ForceRelogin: store.Timeout{Duration: 7 * 24 * time.Hour},
		MaxSessions:  store.SessionLimit{Max: 5, Strategy: store.StrategyEvictOldest},
	}
	for _, p := range []store.Policy{full, disabled} {
		if err := st.PutPolicy(ctx, "t1", p); err != nil {
			t.Fatal(err)
		}
		if got, err := st.GetPolicy(ctx, "t1"); err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("GetPolicy = %+v, %v; want %+v", got, err, p)
		}
	}
	if _, err := st.GetPolicy(ctx, "t2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPolicy of another tenant: error = %v, want ErrNotFound", err)
	}
	if err := st.PutPolicy(ctx, "t2", full); err != nil {
		t.Fatal(err)
	}
	if err := st.DeletePolicy(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetPolicy(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPolicy after DeletePolicy: error = %v, want ErrNotFound", err)
	}
	if got, err := st.GetPolicy(ctx, "t2"); err != nil || !reflect.DeepEqual(got, full) {
		t.Errorf("GetPolicy of the other tenant = %+v, %v; want %+v", got, err, full)
	}
	for _, tenant := range []string{"t1", "never"} {
		if err := st.DeletePolicy(ctx, tenant); err != nil {
			t.Errorf("DeletePolicy(%s) of no policy: %v", tenant, err)
		}
	}
}

func testSweep(t *testing.T, st store.Store) {
	ctx := t.Context()
	type key struct{ tenant, id string }
	sessions := map[key]store.Session{}
	for _, s := range []store.Session{
		Session("t1", "u1", "keep", t0),
		Session("t1", "u1", "end", t0.Add(time.Minute)),
		Session("t1", "u1", "purge-live", t0.Add(2*time.Minute)),
		Session("t1", "u1", "tomb", t0.Add(3*time.Minute)),
		Session("t1", "u1", "tomb-keep", t0.Add(4*time.Minute)),
		Session("t2", "u1", "end", t0),
	} {
		Create(t, st, s, store.Policy{})
		sessions[key{s.TenantID, s.ID}] = s
	}
	for _, id := range []string{"tomb", "tomb-keep"} {
		ended, err := st.End(ctx, "t1", id, store.ReasonRevoked, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		sessions[key{"t1", id}] = ended
	}

	type decision struct {
		action store.SweepAction
		reason string
	}
	decisions := map[key]decision{
		{"t1", "keep"}:       {store.SweepKeep, ""},
		{"t1", "end"}:        {store.SweepEnd, store.ReasonIdleTimeout},
		{"t1", "purge-live"}: {store.SweepPurge, ""},
		{"t1", "tomb"}:       {store.SweepPurge, ""},
		{"t1", "tomb-keep"}:  {store.SweepEnd, store.ReasonExpired}, // ended already: ignored
		{"t2", "end"}:        {store.SweepEnd, store.ReasonExpired},
	}
	seen := map[key]store.Session{}
	now := t0.Add(2 * time.Hour)
	ended, purged, err := st.Sweep(ctx, now, func(s *store.Session) (store.SweepAction, string) {
		k := key{s.TenantID, s.ID}
		seen[k] = *s
		return decisions[k].action, decisions[k].reason
	})
	if err != nil {
		t.Fatal(err)
	}
	if ended != 2 || purged != 2 {
		t.Errorf("Sweep = %d ended, %d purged; want 2, 2", ended, purged)
	}
	if len(seen) != len(sessions) {
		t.Errorf("decide saw %d sessions, want %d", len(seen), len(sessions))
	}
	for k, want := range sessions {
		equalSession(t, seen[k], want)
		switch d := decisions[k]; {
		case d.action == store.SweepPurge:
			if _, err := st.Get(ctx, k.tenant, k.id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(%s, %s) after purge: error = %v, want ErrNotFound", k.tenant, k.id, err)
			}
		case d.action == store.SweepEnd && !want.Ended():
			want.EndedAt, want.EndReason = now, d.reason
			fallthrough
		default:
			equalSession(t, get(t, st, k.tenant, k.id), want)
		}
	}
	equalSessions(t, list(t, st, "t1", "u1"), []store.Session{sessions[key{"t1", "keep"}]})
	equalSessions(t, list(t, st, "t2", "u1"), nil)

	// A purged id is unknown again, so it can be created again; the purged live session no
	// longer counts against the limit.
	if res := Create(t, st, Session("t1", "u1", "tomb", now), limitPolicy(2, store.StrategyRejectNew)); !res.Created {
		t.Errorf("Create of purged tomb under a limit of 2 = %+v, want Created", res)
	}
	if res := Create(t, st, Session("t1", "u1", "purge-live", now), store.Policy{}); !res.Created {
		t.Errorf("Create of purged purge-live = %+v, want Created", res)
	}
}

func testSweepMany(t *testing.T, st store.Store) {
	ctx := t.Context()
	const n = 30
	now := t0.Add(time.Hour)
	wantEnded, wantPurged := 0, 0
	remaining := map[string]bool{} // tenant/id -> ended after the sweep
	for i := range n {
		s := Session(fmt.Sprintf("t%d", i%3), fmt.Sprintf("u%d", i%2), fmt.Sprintf("s%02d", i), t0)
		Create(t, st, s, store.Policy{})
		k := s.TenantID + "/" + s.ID
		switch {
		case i%5 == 0:
			if _, err := st.End(ctx, s.TenantID, s.ID, store.ReasonRevoked, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			wantPurged++
		case i%3 == 1:
			wantEnded++
			remaining[k] = true
		default:
			remaining[k] = false
		}
	}
	// Purge the tombstones, end one live session in three: writes interleave with the walk.
	ended, purged, err := st.Sweep(ctx, now, func(s *store.Session) (store.SweepAction, string) {
		if s.Ended() {
			return store.SweepPurge, ""
		}
		if ended, ok := remaining[s.TenantID+"/"+s.ID]; ok && ended {
			return store.SweepEnd, store.ReasonIdleTimeout
		}
		return store.SweepKeep, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if ended != wantEnded || purged != wantPurged {
		t.Errorf("Sweep = %d ended, %d purged; want %d, %d", ended, purged, wantEnded, wantPurged)
	}

	seen := map[string]bool{}
	ended, purged, err = st.Sweep(ctx, now, func(s *store.Session) (store.SweepAction, string) {
		k := s.TenantID + "/" + s.ID
		if seen[k] {
			t.Errorf("decide called twice for %s", k)
		}
		seen[k] = s.Ended()
		if s.Ended() && (!s.EndedAt.Equal(now) || s.EndReason != store.ReasonIdleTimeout) {
			t.Errorf("%s ended at %v with %q, want %v with %q", k, s.EndedAt, s.EndReason, now, store.ReasonIdleTimeout)
		}
		return store.SweepKeep, ""
	})
	if err != nil || ended != 0 || purged != 0 {
		t.Errorf("keeping Sweep = %d, %d, %v; want 0, 0, nil", ended, purged, err)
	}
	if !reflect.DeepEqual(seen, remaining) {
		t.Errorf("after the sweep, sessions (id: ended) = %v, want %v", seen, remaining)
	}
}

// openStore opens a store and closes it, checking the error, when the test ends.
func openStore(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	t.Helper()
	st := open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// agedSessions creates n sessions of t1/u1, oldest first, one minute apart. Neither their ids
// nor the order of creation follow their age, so that a store must sort by CreatedAt.
func agedSessions(t *testing.T, st store.Store, n int, policy store.Policy) []store.Session {
	t.Helper()
	live := make([]store.Session, n)
	for i := range n {
		live[i] = Session("t1", "u1", fmt.Sprintf("s%d", n-i), t0.Add(time.Duration(i)*time.Minute))
	}
	for _, i := range []int{1, 0} {
		for j := i; j < n; j += 2 {
			Create(t, st, live[j], policy)
		}
	}
	return live
}

// session returns a live session created and last active at at, with every optional field set
// but Location.
func testListUsers(t *testing.T, st store.Store) {
	ctx := t.Context()
	idle := store.Policy{IdleTimeout: store.Timeout{Enabled: true, Duration: time.Hour}}
	// u1: two live sessions; u2: one live, one ended; u3: only an idle-dead one;
	// u4: one live; another tenant's user must never show.
	Create(t, st, Session("t1", "u1", "a", t0), store.Policy{})
	Create(t, st, Session("t1", "u1", "b", t0.Add(10*time.Minute)), store.Policy{})
	Create(t, st, Session("t1", "u2", "c", t0.Add(20*time.Minute)), store.Policy{})
	Create(t, st, Session("t1", "u2", "d", t0.Add(30*time.Minute)), store.Policy{})
	if _, err := st.End(ctx, "t1", "d", store.ReasonRevoked, t0.Add(31*time.Minute)); err != nil {
		t.Fatal(err)
	}
	Create(t, st, Session("t1", "u3", "e", t0.Add(-2*time.Hour)), store.Policy{})
	Create(t, st, Session("t1", "u4", "f", t0.Add(40*time.Minute)), store.Policy{})
	Create(t, st, Session("t2", "u0", "g", t0), store.Policy{})
	now := t0.Add(50 * time.Minute)

	page := func(after string, limit int) []store.UserSummary {
		t.Helper()
		got, err := st.ListUsers(ctx, "t1", after, limit, idle, now)
		if err != nil {
			t.Fatalf("ListUsers(after %q): %v", after, err)
		}
		return got
	}
	want := []store.UserSummary{
		{UserID: "u1", ActiveSessions: 2, LastActiveAt: t0.Add(10 * time.Minute)},
		{UserID: "u2", ActiveSessions: 1, LastActiveAt: t0.Add(20 * time.Minute)},
		{UserID: "u4", ActiveSessions: 1, LastActiveAt: t0.Add(40 * time.Minute)},
	}
	if got := page("", 10); !reflect.DeepEqual(got, want) {
		t.Errorf("all users:\n got %+v\nwant %+v", got, want)
	}
	if got := page("", 2); !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("first page of 2:\n got %+v\nwant %+v", got, want[:2])
	}
	if got := page("u2", 2); !reflect.DeepEqual(got, want[2:]) {
		t.Errorf("page after u2:\n got %+v\nwant %+v", got, want[2:])
	}
	if got := page("u4", 2); len(got) != 0 {
		t.Errorf("page after the last user: %+v, want none", got)
	}
	if got, err := st.ListUsers(ctx, "nobody", "", 10, idle, now); err != nil || len(got) != 0 {
		t.Errorf("unknown tenant: %+v, %v; want none", got, err)
	}
}

// FixtureTime is the time FullSession starts from: UTC with nanoseconds, so that a store that
// loses either shows in a round trip.
var FixtureTime = time.Date(2026, 11, 27, 10, 30, 15, 123456789, time.UTC)

// FullSession is an ended session with every field set (a long User-Agent, a non-ASCII
// location), for tests of how a store encodes sessions: created at FixtureTime, last active a
// minute later, ended an hour later.
func FullSession() store.Session {
	at := FixtureTime
	return store.Session{
		TenantID: "acme", UserID: "alice", ID: "s1",
		CreatedAt: at, LastActiveAt: at.Add(time.Minute), EndedAt: at.Add(time.Hour),
		IP: "2001:db8::1", UserAgent: strings.Repeat("Mozilla/5.0 ", 40),
		Device:    store.Device{Browser: "Firefox", OS: "Linux", Type: "desktop"},
		Location:  &store.Location{Country: "Österreich", City: "Wien"},
		EndReason: store.ReasonRevoked,
	}
}

// Session is a live session of user in tenant, created and last active at at.
func Session(tenant, user, id string, at time.Time) store.Session {
	return store.Session{
		TenantID:     tenant,
		UserID:       user,
		ID:           id,
		CreatedAt:    at,
		LastActiveAt: at,
		IP:           "192.0.2.10",
		UserAgent:    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		Device:       store.Device{Browser: "Firefox", OS: "Linux", Type: "desktop"},
	}
}

func withTimes(s store.Session, created, lastActive time.Time) store.Session {
	s.CreatedAt, s.LastActiveAt = created, lastActive
	return s
}

func limitPolicy(limit int, strategy string) store.Policy {
	return store.Policy{MaxSessions: store.SessionLimit{Enabled: true, Max: limit, Strategy: strategy}}
}

func fullPolicy() store.Policy {
	return store.Policy{
		IdleTimeout:  store.Timeout{Enabled: true, Duration: 30 * time.Minute},
		ForceRelogin: store.Timeout{Enabled: true, Duration: 12 * time.Hour},
		MaxSessions:  store.SessionLimit{Enabled: true, Max: 3, Strategy: store.StrategyRejectNew},
	}
}

// request asks to create s at its CreatedAt under policy, for a token issued at issuedAt.
func request(s store.Session, policy store.Policy, issuedAt time.Time) store.CreateRequest {
	return store.CreateRequest{Session: s, Policy: policy, IssuedAt: issuedAt, Now: s.CreatedAt}
}

// Create creates s with a token issued when s was created, failing the test on an error.
func Create(t *testing.T, st store.Store, s store.Session, policy store.Policy) store.CreateResult {
	t.Helper()
	return CreateAt(t, st, s, policy, s.CreatedAt)
}

// CreateAt creates s with a token issued at issuedAt, failing the test on an error.
func CreateAt(t *testing.T, st store.Store, s store.Session, policy store.Policy, issuedAt time.Time) store.CreateResult {
	t.Helper()
	res, err := st.Create(t.Context(), request(s, policy, issuedAt))
	if err != nil {
		t.Fatalf("Create(%s, %s): %v", s.TenantID, s.ID, err)
	}
	return res
}

func get(t *testing.T, st store.Store, tenant, id string) store.Session {
	t.Helper()
	s, err := st.Get(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", tenant, id, err)
	}
	return s
}

func list(t *testing.T, st store.Store, tenant, user string) []store.Session {
	t.Helper()
	ss, err := st.ListUserSessions(t.Context(), tenant, user)
	if err != nil {
		t.Fatalf("ListUserSessions(%s, %s): %v", tenant, user, err)
	}
	return ss
}

func sortedByID(ss []store.Session) []store.Session {
	return slices.SortedFunc(slices.Values(ss), func(a, b store.Session) int { return cmp.Compare(a.ID, b.ID) })
}

// normalize drops what a store may legitimately not keep of a time: the monotonic reading and
// the *time.Location (an encoded UTC time comes back as the same instant).
func normalize(s store.Session) store.Session {
	for _, tm := range []*time.Time{&s.CreatedAt, &s.LastActiveAt, &s.EndedAt} {
		*tm = tm.UTC()
	}
	return s
}

func equalSession(t *testing.T, got, want store.Session) {
	t.Helper()
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Errorf("session %s/%s:\n got %+v\nwant %+v", want.TenantID, want.ID, got, want)
	}
}

// equalSessions compares in order; nil and empty are the same.
func equalSessions(t *testing.T, got, want []store.Session) {
	t.Helper()
	ids := func(ss []store.Session) []string {
		var ids []string
		for _, s := range ss {
			ids = append(ids, s.TenantID+"/"+s.ID)
		}
		return ids
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("sessions = %v, want %v", ids(got), ids(want))
		return
	}
	for i := range want {
		equalSession(t, got[i], want[i])
	}
}

// ProcessCPU is this process's CPU time so far (user and system, every thread): benchmarks
// of the stores report it per operation, since their wall time includes waiting on fsync or
// on a server.
func ProcessCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
