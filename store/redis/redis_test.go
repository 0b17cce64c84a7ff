package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/redis/redistest"
	"github.com/sessiongate/sessiongate/store/storetest"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// prefixes gives each store opened by a test its own keys on a shared server.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("sgtest%d:", prefixes.Add(1)) }

// open opens a store and closes it when the test ends.
func open(t *testing.T, url string, opts Options) *Store {
	t.Helper()
	st, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// raw is a plain client for looking at the keys a store wrote.
func raw(t *testing.T, url string) goredis.UniversalClient {
	t.Helper()
	c, err := newClient(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := Open(t.Context(), srv.URL(), Options{Prefix: newPrefix()})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestConformanceSmallScans makes every sweep run over many SCAN batches.
func TestConformanceSmallScans(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := Open(t.Context(), srv.URL(), Options{Prefix: newPrefix()})
		if err != nil {
			t.Fatal(err)
		}
		st.scanCount = 2
		return st
	})
}

func TestPersistence(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	storetest.RunPersistence(t, func(t *testing.T) store.Store {
		st, err := Open(t.Context(), srv.URL(), Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestCluster runs the suite and the multi-node tests against a 3-master Redis Cluster, where a
// script touching keys of two hash slots fails.
func TestCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			st, err := Open(t.Context(), cluster.URL(), Options{Prefix: newPrefix()})
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, cluster.URL()) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, cluster.URL()) })
	t.Run("KeyLayout", func(t *testing.T) { testKeyLayout(t, cluster.URL()) })
	t.Run("SweepCleansUp", func(t *testing.T) { testSweepCleansUp(t, cluster.URL()) })
	t.Run("TTLs", func(t *testing.T) { testTTLs(t, cluster.URL()) })
}

func TestConcurrentCreate(t *testing.T) { testConcurrentCreate(t, redistest.Start(t).URL()) }

// testConcurrentCreate creates sessions of one user from 50 goroutines through 3 clients, as
// 3 gateway nodes would: the limit holds.
func testConcurrentCreate(t *testing.T, url string) {
	prefix := newPrefix()
	var nodes []store.Store
	for range 3 {
		nodes = append(nodes, open(t, url, Options{Prefix: prefix}))
	}
	storetest.ConcurrentCreate(t, 50, nodes...)
}

func TestWatch(t *testing.T) { testWatch(t, redistest.Start(t).URL()) }

// testWatch checks that every kind of write that ends sessions or changes a policy, made
// through one node, reaches another node's watch, and that other writes announce nothing.
func testWatch(t *testing.T, url string) {
	ctx := t.Context()
	prefix := newPrefix()
	watcher, writer := open(t, url, Options{Prefix: prefix}), open(t, url, Options{Prefix: prefix})
	f := watch(t, watcher)
	f.waitState(t, true)

	for _, s := range []store.Session{
		storetest.Session("t1", "u1", "ended", t0), storetest.Session("t1", "u2", "a", t0), storetest.Session("t1", "u2", "b", t0),
		storetest.Session("t1", "u3", "evicted", t0), storetest.Session("t1", "u4", "swept", t0),
	} {
		storetest.Create(t, writer, s, store.Policy{})
	}
	if _, err := writer.End(ctx, "t1", "ended", store.ReasonRevoked, t0); err != nil {
		t.Fatal(err)
	}
	f.expect(t, store.Change{TenantID: "t1", SessionIDs: []string{"ended"}})

	if _, err := writer.EndUser(ctx, "t1", "u2", store.EndUserRequest{Reason: store.ReasonRevoked, Now: t0, SetCutoff: true}); err != nil {
		t.Fatal(err)
	}
	f.expect(t, store.Change{TenantID: "t1", SessionIDs: []string{"a", "b"}})

	evict := store.Policy{MaxSessions: store.SessionLimit{Enabled: true, Max: 1, Strategy: store.StrategyEvictOldest}}
	storetest.Create(t, writer, storetest.Session("t1", "u3", "newer", t0.Add(time.Minute)), evict)
	f.expect(t, store.Change{TenantID: "t1", SessionIDs: []string{"evicted"}})

	if err := writer.PutPolicy(ctx, "t1", evict); err != nil {
		t.Fatal(err)
	}
	f.expect(t, store.Change{TenantID: "t1", Policy: true})
	for range 2 { // deleting no policy announces nothing
		if err := writer.DeletePolicy(ctx, "t1"); err != nil {
			t.Fatal(err)
		}
	}
	f.expect(t, store.Change{TenantID: "t1", Policy: true})

	_, _, err := writer.Sweep(ctx, t0.Add(time.Hour), func(s *store.Session) (store.SweepAction, string) {
		if s.ID == "swept" {
			return store.SweepEnd, store.ReasonIdleTimeout
		}
		return store.SweepKeep, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	f.expect(t, store.Change{TenantID: "t1", SessionIDs: []string{"swept"}})

	// The watching node's own writes come back too.
	if _, err := watcher.End(ctx, "t1", "newer", store.ReasonRevoked, t0); err != nil {
		t.Fatal(err)
	}
	f.expect(t, store.Change{TenantID: "t1", SessionIDs: []string{"newer"}})
}

// TestWatchReconnects checks that connected reports a lost feed as soon as the server goes, and
// the feed again once it is back, for a server that stops and for one that hangs.
func TestWatchReconnects(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	opts := Options{Prefix: prefix, Timeout: 200 * time.Millisecond}
	watcher, writer := open(t, srv.URL(), opts), open(t, srv.URL(), opts)
	f := watch(t, watcher)
	f.waitState(t, true)

	srv.Stop()
	f.waitState(t, false)
	srv.Restart()
	f.waitState(t, true)
	storetest.Create(t, writer, storetest.Session("t1", "u1", "s1", t0), store.Policy{})
	if _, err := writer.End(t.Context(), "t1", "s1", store.ReasonRevoked, t0); err != nil {
		t.Fatal(err)
	}
	f.expect(t, store.Change{TenantID: "t1", SessionIDs: []string{"s1"}})

	// A hung server is noticed by the missing pong.
	srv.Pause()
	f.waitState(t, false)
	srv.Resume()
	f.waitState(t, true)
}

// TestWatchStops checks that a watch ends with its context and with Close.
func TestWatchStops(t *testing.T) {
	srv := redistest.Start(t)
	st, err := Open(t.Context(), srv.URL(), Options{Prefix: newPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	f := watchCtx(ctx, st)
	f.waitState(t, true)
	g := watch(t, st)
	g.waitState(t, true)
	cancel()
	withTimeout(t, 5*time.Second, "Close", func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	// Close waited for both watches to return.
	st.Watch(t.Context(), func(store.Change) { t.Error("change after Close") }, func(bool) { t.Error("state after Close") })
}

// TestOutage checks that calls fail within the store's timeout, and never with ErrNotFound,
// while the server hangs or is down, and work again once it is back.
func TestOutage(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 300 * time.Millisecond
	st := open(t, srv.URL(), Options{Prefix: newPrefix(), Timeout: timeout})
	storetest.Create(t, st, storetest.Session("t1", "u1", "s1", t0), store.Policy{})

	for _, outage := range []struct {
		name     string
		down, up func()
	}{
		{"hung", srv.Pause, srv.Resume},
		{"down", srv.Stop, srv.Restart},
	} {
		t.Run(outage.name, func(t *testing.T) {
			outage.down()
			var wg sync.WaitGroup
			for name, call := range calls(st) {
				wg.Go(func() {
					start := time.Now()
					err := call(t.Context())
					if took := time.Since(start); took > timeout+time.Second {
						t.Errorf("%s took %v, want about %v at most", name, took, timeout)
					}
					if err == nil || errors.Is(err, store.ErrNotFound) {
						t.Errorf("%s during the outage: error = %v, want a store error", name, err)
					}
				})
			}
			wg.Wait()
			outage.up()
			for name, call := range calls(st) {
				if err := call(t.Context()); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s after the outage: %v", name, err)
				}
			}
		})
	}
}

// calls makes one call of each method.
func calls(st *Store) map[string]func(context.Context) error {
	s := storetest.Session("t1", "u1", "other", t0)
	return map[string]func(context.Context) error{
		"Get": func(ctx context.Context) error { _, err := st.Get(ctx, "t1", "s1"); return err },
		"Create": func(ctx context.Context) error {
			_, err := st.Create(ctx, store.CreateRequest{Session: s, IssuedAt: t0, Now: t0})
			return err
		},
		"End": func(ctx context.Context) error {
			_, err := st.End(ctx, "t1", "s1", store.ReasonRevoked, t0)
			return err
		},
		"EndUser": func(ctx context.Context) error {
			_, err := st.EndUser(ctx, "t1", "u2", store.EndUserRequest{Reason: store.ReasonRevoked, Now: t0})
			return err
		},
		"ListUserSessions": func(ctx context.Context) error { _, err := st.ListUserSessions(ctx, "t1", "u1"); return err },
		"ListUsers": func(ctx context.Context) error {
			_, err := st.ListUsers(ctx, "t1", "", 10, store.Policy{}, t0)
			return err
		},
		"Touch": func(ctx context.Context) error {
			return st.Touch(ctx, []store.Touch{{TenantID: "t1", UserID: "u1", ID: "s1", At: t0.Add(time.Minute)}})
		},
		"GetPolicy":    func(ctx context.Context) error { _, err := st.GetPolicy(ctx, "t1"); return err },
		"PutPolicy":    func(ctx context.Context) error { return st.PutPolicy(ctx, "t1", store.Policy{}) },
		"DeletePolicy": func(ctx context.Context) error { return st.DeletePolicy(ctx, "t1") },
		"Sweep": func(ctx context.Context) error {
			_, _, err := st.Sweep(ctx, t0, func(*store.Session) (store.SweepAction, string) { return store.SweepKeep, "" })
			return err
		},
	}
}

// TestOpenWhileDown checks that a store opens while Redis is down, and works once it is up.
func TestOpenWhileDown(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	st := open(t, srv.URL(), Options{Prefix: newPrefix(), Timeout: 200 * time.Millisecond})
	if _, err := st.Get(t.Context(), "t1", "s1"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get while down: error = %v, want a store error", err)
	}
	srv.Restart()
	s := storetest.Session("t1", "u1", "s1", t0)
	storetest.Create(t, st, s, store.Policy{})
	if got, err := st.Get(t.Context(), "t1", "s1"); err != nil || got.ID != "s1" {
		t.Errorf("Get after the restart = %+v, %v", got, err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, tc := range []struct {
		url    string
		prefix string
	}{
		{"", ""},
		{"localhost:6379", ""},
		{"http://localhost:6379", ""},
		{"redis://localhost:6379/notanumber", ""},
		{"redis://localhost:6379/0?no_such_option=1", ""},
		{"redis+cluster://localhost:6379?no_such_option=1", ""},
		{"redis+sentinel://localhost:26379/0", ""}, // no master_name
		{"redis+ring://localhost:6379", ""},
		{"redis+cluster://localhost:7000/1", ""},
		{"redis://%zz", ""},
		{"redis://localhost:6379", "sg{1}:"},
	} {
		if st, err := Open(t.Context(), tc.url, Options{Prefix: tc.prefix}); err == nil {
			st.Close()
			t.Errorf("Open(%q, prefix %q) succeeded", tc.url, tc.prefix)
		}
	}
	// A password does not end up in the error.
	for _, url := range []string{"redis://user:s3cret@localhost:6379/x", "redis://user:s3cret@localhost:6379/%zz"} {
		if _, err := Open(t.Context(), url, Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) error = %v, want one without the password", url, err)
		}
	}
	for _, url := range []string{
		"redis://localhost:6379/2?dial_timeout=3s",
		"rediss://localhost:6380",
		"unix:///run/redis.sock?db=1",
		"redis+cluster://localhost:7000?addr=localhost:7001",
		"redis+sentinel://localhost:26379/0?master_name=mymaster&addr=localhost:26380",
	} {
		st, err := Open(t.Context(), url, Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", url, err)
			continue
		}
		if err := st.Close(); err != nil {
			t.Errorf("Close of %q: %v", url, err)
		}
	}
}

// TestTTLs checks what expires and when (see the package comment).
func TestTTLs(t *testing.T) { testTTLs(t, redistest.Start(t).URL()) }

func testTTLs(t *testing.T, url string) {
	ctx := t.Context()
	const tomb = 24 * time.Hour
	st := open(t, url, Options{Prefix: newPrefix(), TombstoneTTL: tomb})
	rc := raw(t, url)
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := rc.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	between := func(what string, got, lo, hi time.Duration) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s: TTL %v, want between %v and %v", what, got, lo, hi)
		}
	}

	// Without timeouts a live session does not expire; ended, it lasts a tombstone TTL.
	storetest.Create(t, st, storetest.Session("t1", "u1", "plain", t0), store.Policy{})
	if d := pttl(st.recordKey("t1", "u1", "plain")); d != -1 {
		t.Errorf("live session without timeouts: TTL %v, want none", d)
	}
	if d := pttl(st.liveKey("t1", "u1")); d != -1 {
		t.Errorf("live set of persistent sessions: TTL %v, want none", d)
	}
	if _, err := st.End(ctx, "t1", "plain", store.ReasonRevoked, t0); err != nil {
		t.Fatal(err)
	}
	between("ended session", pttl(st.recordKey("t1", "u1", "plain")), tomb-time.Minute, tomb)
	if n, _ := rc.Exists(ctx, st.liveKey("t1", "u1")).Result(); n != 0 {
		t.Error("live set left after the user's last session ended")
	}

	// With an idle timeout a live session lasts idle timeout + tombstone TTL past its last
	// touch, and so does its live set; its pointer a tombstone TTL longer.
	idle := store.Policy{IdleTimeout: store.Timeout{Enabled: true, Duration: time.Hour}}
	storetest.Create(t, st, storetest.Session("t1", "u2", "idle", t0), idle)
	between("idle session", pttl(st.recordKey("t1", "u2", "idle")), tomb+59*time.Minute, tomb+time.Hour)
	between("live set", pttl(st.liveKey("t1", "u2")), tomb+59*time.Minute, tomb+time.Hour)
	between("pointer", pttl(st.pointerKey("t1", "idle")), 2*tomb+59*time.Minute, 2*tomb+time.Hour)
	for _, key := range []string{st.recordKey("t1", "u2", "idle"), st.liveKey("t1", "u2"), st.pointerKey("t1", "idle")} {
		rc.PExpire(ctx, key, time.Minute)
	}
	if err := st.Touch(ctx, []store.Touch{{TenantID: "t1", UserID: "u2", ID: "idle", At: t0.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	// A touch extends them by a slack more (an hour here), and the touches within the slack
	// of it leave them as they are.
	idleKeys := []string{st.recordKey("t1", "u2", "idle"), st.liveKey("t1", "u2"), st.pointerKey("t1", "idle")}
	touchedTTLs := func(what string) {
		t.Helper()
		between(what+" session", pttl(idleKeys[0]), tomb+119*time.Minute, tomb+2*time.Hour)
		between(what+" live set", pttl(idleKeys[1]), tomb+119*time.Minute, tomb+2*time.Hour)
		between(what+" pointer", pttl(idleKeys[2]), 2*tomb+119*time.Minute, 2*tomb+2*time.Hour)
	}
	touchedTTLs("touched")
	for _, key := range idleKeys {
		rc.PExpire(ctx, key, time.Minute)
	}
	within := t0.Add(time.Minute + time.Hour)
	if err := st.Touch(ctx, []store.Touch{{TenantID: "t1", UserID: "u2", ID: "idle", At: within}}); err != nil {
		t.Fatal(err)
	}
	for _, key := range idleKeys {
		between("touched within the slack: "+key, pttl(key), 50*time.Second, time.Minute)
	}
	if s, err := st.Get(ctx, "t1", "idle"); err != nil || !s.LastActiveAt.Equal(within) {
		t.Errorf("touch within the slack: last activity %v (%v), want %v", s.LastActiveAt, err, within)
	}
	if err := st.Touch(ctx, []store.Touch{{TenantID: "t1", UserID: "u2", ID: "idle", At: within.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	touchedTTLs("touched past the slack")

	// A persistent session keeps its live set persistent; once it ends, the set expires with
	// the other sessions.
	storetest.Create(t, st, storetest.Session("t1", "u2", "persistent", t0), store.Policy{})
	if d := pttl(st.liveKey("t1", "u2")); d != -1 {
		t.Errorf("live set with a persistent session: TTL %v, want none", d)
	}
	if _, err := st.End(ctx, "t1", "persistent", store.ReasonRevoked, t0); err != nil {
		t.Fatal(err)
	}
	between("live set refitted", pttl(st.liveKey("t1", "u2")), tomb+118*time.Minute, tomb+2*time.Hour) // the idle session's, touched

	// A force re-login longer than the tombstone TTL keeps the tombstone that long; a session
	// with only a force re-login expires a tombstone TTL after it.
	force := store.Policy{ForceRelogin: store.Timeout{Enabled: true, Duration: 3 * tomb}}
	storetest.Create(t, st, storetest.Session("t1", "u3", "forced", t0), force)
	between("forced session", pttl(st.recordKey("t1", "u3", "forced")), 6*tomb-time.Minute, 6*tomb)
	if _, err := st.EndUser(ctx, "t1", "u3", store.EndUserRequest{Reason: store.ReasonRevoked, Now: t0, SetCutoff: true}); err != nil {
		t.Fatal(err)
	}
	between("ended forced session", pttl(st.recordKey("t1", "u3", "forced")), 3*tomb-time.Minute, 3*tomb)
	between("cut-off", pttl(st.cutoffKey("t1", "u3")), tomb-time.Minute, tomb)

	// Sessions ended by Create (idle here) and by Sweep get their tombstone TTL too.
	dead := storetest.Session("t1", "u4", "dead", t0)
	storetest.Create(t, st, dead, idle)
	storetest.Create(t, st, storetest.Session("t1", "u4", "fresh", t0.Add(2*time.Hour)), idle)
	between("session ended by Create", pttl(st.recordKey("t1", "u4", "dead")), tomb-time.Minute, tomb)
	if _, _, err := st.Sweep(ctx, t0, func(s *store.Session) (store.SweepAction, string) {
		if s.ID == "fresh" {
			return store.SweepEnd, store.ReasonExpired
		}
		return store.SweepKeep, ""
	}); err != nil {
		t.Fatal(err)
	}
	between("session ended by Sweep", pttl(st.recordKey("t1", "u4", "fresh")), tomb-time.Minute, tomb)
}

func TestKeyLayout(t *testing.T) { testKeyLayout(t, redistest.Start(t).URL()) }

// testKeyLayout checks that ids with the characters used in keys do not collide: tenant "a:b"
// with user "c" and tenant "a" with user "b:c" are different users, with the same session id.
func testKeyLayout(t *testing.T, url string) {
	ctx := t.Context()
	st := open(t, url, Options{Prefix: newPrefix()})
	if st.recordKey("a:b", "c", "s") == st.recordKey("a", "b:c", "s") || st.pointerKey("a:b", "cs") == st.pointerKey("a", "b:cs") {
		t.Fatal("keys collide")
	}
	one := storetest.Session("a:b", "c", "s", t0)
	two := storetest.Session("a", "b:c", "s", t0.Add(time.Minute))
	odd := storetest.Session("{x}", "}{", "a}b{", t0) // braces where hash tags go
	for _, s := range []store.Session{one, two, odd} {
		if res := storetest.Create(t, st, s, store.Policy{}); !res.Created {
			t.Fatalf("Create of %s/%s/%s = %+v, want Created", s.TenantID, s.UserID, s.ID, res)
		}
	}
	for _, want := range []store.Session{one, two, odd} {
		got, err := st.Get(ctx, want.TenantID, want.ID)
		if err != nil || got.UserID != want.UserID || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("Get(%s, %s) = %+v, %v; want user %s", want.TenantID, want.ID, got, err, want.UserID)
		}
		live, err := st.ListUserSessions(ctx, want.TenantID, want.UserID)
		if err != nil || len(live) != 1 || live[0].TenantID != want.TenantID {
			t.Errorf("ListUserSessions(%s, %s) = %+v, %v; want its one session", want.TenantID, want.UserID, live, err)
		}
	}
	// A cut-off of one does not reach the other.
	if _, err := st.EndUser(ctx, "a:b", "c", store.EndUserRequest{Reason: store.ReasonRevoked, Now: t0.Add(time.Hour), SetCutoff: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(ctx, "a", "s"); err != nil || got.Ended() {
		t.Errorf("the other user's session after EndUser = %+v, %v; want live", got, err)
	}
	late := storetest.Session("a", "b:c", "late", t0.Add(2*time.Hour))
	if res := storetest.Create(t, st, late, store.Policy{}); !res.Created {
		t.Errorf("Create for the other user after the cut-off = %+v, want Created", res)
	}
	users, err := st.ListUsers(ctx, "a", "", 10, store.Policy{}, t0.Add(2*time.Hour))
	if err != nil || len(users) != 1 || users[0].UserID != "b:c" || users[0].ActiveSessions != 2 {
		t.Errorf("ListUsers(a) = %+v, %v; want b:c with 2 sessions", users, err)
	}
}

func TestSweepCleansUp(t *testing.T) { testSweepCleansUp(t, redistest.Start(t).URL()) }

// testSweepCleansUp checks that Sweep drops pointers without a session and users without live
// sessions from their tenant's index, once they are old enough not to be a creation in flight.
func testSweepCleansUp(t *testing.T, url string) {
	ctx := t.Context()
	st := open(t, url, Options{Prefix: newPrefix()})
	rc := raw(t, url)
	keep := func(*store.Session) (store.SweepAction, string) { return store.SweepKeep, "" }

	// A refused creation leaves a pointer; u1 ends up with no live session.
	storetest.Create(t, st, storetest.Session("t1", "u1", "first", t0), store.Policy{})
	if _, err := st.EndUser(ctx, "t1", "u1", store.EndUserRequest{Reason: store.ReasonRevoked, Now: t0, SetCutoff: true}); err != nil {
		t.Fatal(err)
	}
	if res := storetest.CreateAt(t, st, storetest.Session("t1", "u1", "refused", t0), store.Policy{}, t0.Add(-time.Second)); res.Refused != store.ReasonRevoked {
		t.Fatalf("Create before the cut-off = %+v, want refused", res)
	}
	storetest.Create(t, st, storetest.Session("t1", "u2", "live", t0), store.Policy{})

	exists := func(key string) bool {
		t.Helper()
		n, err := rc.Exists(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	indexed := func() []string {
		t.Helper()
		users, err := rc.ZRange(ctx, st.usersKey("t1"), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return users
	}
	sweep := func() {
		t.Helper()
		if _, _, err := st.Sweep(ctx, t0, keep); err != nil {
			t.Fatal(err)
		}
	}

	// Fresh: could be creations in flight, so they stay.
	sweep()
	if !exists(st.pointerKey("t1", "refused")) || !slices.Equal(indexed(), []string{"u1", "u2"}) {
		t.Fatalf("a fresh pointer or user was dropped: pointer %v, users %v", exists(st.pointerKey("t1", "refused")), indexed())
	}

	// An hour later they go; what still has a session stays.
	old := time.Now().Add(-staleAfter - time.Minute).UnixMilli()
	for _, id := range []string{"refused", "first", "live"} {
		key := st.pointerKey("t1", id)
		v, err := rc.Get(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		p, err := parsePointer(v)
		if err != nil {
			t.Fatal(err)
		}
		p.at = old
		rc.Set(ctx, key, p.String(), goredis.KeepTTL)
	}
	rc.HSet(ctx, st.creationsKey("t1"), "u1", old, "u2", old)
	// "first" ended and expired.
	rc.Del(ctx, st.recordKey("t1", "u1", "first"))
	sweep()
	if exists(st.pointerKey("t1", "refused")) || exists(st.pointerKey("t1", "first")) || !exists(st.pointerKey("t1", "live")) {
		t.Errorf("after the sweep, pointers refused %v, first %v, live %v; want only live", exists(st.pointerKey("t1", "refused")), exists(st.pointerKey("t1", "first")), exists(st.pointerKey("t1", "live")))
	}
	if got := indexed(); !slices.Equal(got, []string{"u2"}) {
		t.Errorf("after the sweep, indexed users %v, want [u2]", got)
	}
	if n, _ := rc.HLen(ctx, st.creationsKey("t1")).Result(); n != 1 {
		t.Errorf("after the sweep, %d creation times, want 1", n)
	}
	if got, err := st.Get(ctx, "t1", "live"); err != nil || got.Ended() {
		t.Errorf("Get(live) after the sweep = %+v, %v", got, err)
	}
	// The id of a dropped pointer can be created again.
	if res := storetest.Create(t, st, storetest.Session("t1", "u3", "refused", t0), store.Policy{}); !res.Created {
		t.Errorf("Create of a dropped pointer's id = %+v, want Created", res)
	}
}

// TestSweepStopsBetweenBatches checks that a cancelled sweep stops after the batch it is in,
// keeping what that batch did.
func TestSweepStopsBetweenBatches(t *testing.T) {
	srv := redistest.Start(t)
	st := open(t, srv.URL(), Options{Prefix: newPrefix()})
	st.scanCount = 2
	const n = 20
	for i := range n {
		storetest.Create(t, st, storetest.Session("t1", fmt.Sprintf("u%d", i), fmt.Sprintf("s%d", i), t0), store.Policy{})
	}
	ctx, cancel := context.WithCancel(t.Context())
	decided := 0
	ended, purged, err := st.Sweep(ctx, t0, func(*store.Session) (store.SweepAction, string) {
		decided++
		cancel()
		return store.SweepEnd, store.ReasonIdleTimeout
	})
	if !errors.Is(err, context.Canceled) || decided == 0 || decided == n || ended != decided || purged != 0 {
		t.Errorf("cancelled Sweep: decided %d of %d, ended %d, purged %d, err %v; want some decided and ended, context.Canceled", decided, n, ended, purged, err)
	}
}

// TestScriptsReloaded checks that calls work after the server lost its script cache, as after
// a restart: single calls and pipelines fall back to EVAL.
func TestScriptsReloaded(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	st := open(t, srv.URL(), Options{Prefix: newPrefix()})
	rc := raw(t, srv.URL())
	storetest.Create(t, st, storetest.Session("t1", "u1", "s1", t0), store.Policy{})
	flush := func() {
		t.Helper()
		if err := rc.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	flush()
	if err := st.Touch(ctx, []store.Touch{{TenantID: "t1", UserID: "u1", ID: "s1", At: t0.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	flush()
	users, err := st.ListUsers(ctx, "t1", "", 10, store.Policy{}, t0)
	if err != nil || len(users) != 1 || !users[0].LastActiveAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("ListUsers = %+v, %v; want u1 last active at the touch", users, err)
	}
	flush()
	ended, _, err := st.Sweep(ctx, t0, func(*store.Session) (store.SweepAction, string) { return store.SweepEnd, store.ReasonIdleTimeout })
	if err != nil || ended != 1 {
		t.Errorf("Sweep = %d ended, %v; want 1", ended, err)
	}
	flush()
	if res := storetest.Create(t, st, storetest.Session("t1", "u1", "s2", t0), store.Policy{}); !res.Created {
		t.Errorf("Create = %+v, want Created", res)
	}
}

// TestTimeKey checks that time keys order as times do and read back exactly.
func TestTimeKey(t *testing.T) {
	times := []time.Time{
		time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC), // before year 1: formatted the slow way
		{},
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
		t0,
		t0.Add(time.Nanosecond),
		t0.Add(time.Second - time.Nanosecond),
		t0.Add(time.Second),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for i, tm := range times {
		k := timeKey(tm)
		back, err := parseTimeKey(k)
		if err != nil || !back.Equal(tm) || back.Location() != time.UTC {
			t.Errorf("parseTimeKey(timeKey(%v)) = %v, %v", tm, back, err)
		}
		if i > 0 && timeKey(times[i-1]) >= k {
			t.Errorf("timeKey(%v) = %s does not sort after timeKey(%v) = %s", tm, k, times[i-1], timeKey(times[i-1]))
		}
	}
}

// feed records what a watch reports.
type feed struct {
	changes chan store.Change
	states  chan bool
}

func watch(t *testing.T, st *Store) *feed { return watchCtx(t.Context(), st) }

func watchCtx(ctx context.Context, st *Store) *feed {
	f := &feed{changes: make(chan store.Change, 100), states: make(chan bool, 100)}
	st.Watch(ctx, func(c store.Change) { f.changes <- c }, func(up bool) { f.states <- up })
	return f
}

// waitState waits for the next state the watch reports, which must be want.
func (f *feed) waitState(t *testing.T, want bool) {
	t.Helper()
	select {
	case got := <-f.states:
		if got != want {
			t.Fatalf("connected(%v), want connected(%v)", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no connected(%v) within 10s", want)
	}
}

// expect waits for the next change, which must be want (session ids in any order).
func (f *feed) expect(t *testing.T, want store.Change) {
	t.Helper()
	select {
	case got := <-f.changes:
		slices.Sort(got.SessionIDs)
		if got.TenantID != want.TenantID || got.Policy != want.Policy || !slices.Equal(got.SessionIDs, want.SessionIDs) {
			t.Fatalf("change %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no change within 10s, want %+v", want)
	}
}

func withTimeout(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v", what, d)
	}
}
