package enforcer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/memory"
)

var ctx = context.Background()

// noLimit is a session limit that is off.
var noLimit = store.SessionLimit{Strategy: store.StrategyEvictOldest}

func sessionIDs(list []store.Session) []string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids
}

func (e *env) userSessions(tenant, user string) []store.Session {
	e.t.Helper()
	list, _, err := e.tr.UserSessions(ctx, tenant, user, e.enf.DefaultPolicy())
	must(e.t, err)
	return list
}

func (e *env) wantSessions(tenant, user string, ids ...string) {
	e.t.Helper()
	if got := sessionIDs(e.userSessions(tenant, user)); !slices.Equal(got, ids) {
		e.t.Fatalf("sessions of %s/%s: %v, want %v", tenant, user, got, ids)
	}
}

func TestFirstRequestCreatesSession(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	created := e.clk.Now()
	if _, err := e.get("t1", "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session exists before its first request: %v", err)
	}
	e.expect(e.token("u1", "t1", "s1"), "")

	list := e.userSessions("t1", "u1")
	if len(list) != 1 {
		t.Fatalf("%d sessions, want 1", len(list))
	}
	s := list[0]
	want := store.Session{
		TenantID: "t1", UserID: "u1", ID: "s1", CreatedAt: created, LastActiveAt: created,
		IP: testIP, UserAgent: chromeMac,
		Device: store.Device{Browser: "Chrome 120", OS: "macOS", Type: "desktop"},
	}
	if !s.CreatedAt.Equal(want.CreatedAt) || !s.LastActiveAt.Equal(want.LastActiveAt) {
		t.Errorf("created %s last active %s, want %s", s.CreatedAt, s.LastActiveAt, created)
	}
	s.CreatedAt, s.LastActiveAt = want.CreatedAt, want.LastActiveAt
	if s.TenantID != want.TenantID || s.UserID != want.UserID || s.ID != want.ID || s.IP != want.IP ||
		s.UserAgent != want.UserAgent || s.Device != want.Device || s.Ended() || s.Location != nil {
		t.Errorf("session %+v, want %+v", s, want)
	}

	// Later requests, from elsewhere, change nothing recorded at creation.
	e.clk.Advance(time.Minute)
	v := e.enf.Check(ctx, e.token("u1", "t1", "s1"), &ClientInfo{IP: "198.51.100.1", UserAgent: "curl/8.0"})
	if !v.Allowed() {
		t.Fatalf("second request: %q", v.Code)
	}
	s2, err := e.get("t1", "s1")
	must(t, err)
	if s2.IP != testIP || s2.UserAgent != chromeMac || !s2.CreatedAt.Equal(created) {
		t.Errorf("creation data changed: %+v", s2)
	}
	// This node's activity shows in the listing before it is written.
	e.settle()
	if got := e.userSessions("t1", "u1")[0].LastActiveAt; !got.Equal(e.clk.Now()) {
		t.Errorf("listed last activity %s, want %s", got, e.clk.Now())
	}
}

func TestDeviceParsing(t *testing.T) {
	for _, tc := range []struct {
		ua   string
		want store.Device
	}{
		{chromeMac, store.Device{Browser: "Chrome 120", OS: "macOS", Type: "desktop"}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
			store.Device{Browser: "Firefox 121", OS: "Windows", Type: "desktop"}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
			store.Device{Browser: "Safari 17", OS: "iOS", Type: "mobile"}},
		{"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
			store.Device{Browser: "Safari 17", OS: "iOS", Type: "tablet"}},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			store.Device{Browser: "Googlebot 2", OS: "", Type: "bot"}},
		{"", store.Device{Type: "unknown"}},
	} {
		if got := parseDevice(tc.ua); got != tc.want {
			t.Errorf("parseDevice(%.40q) = %+v, want %+v", tc.ua, got, tc.want)
		}
	}
}

func TestUserAgentIsBounded(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	long := chromeMac + strings.Repeat("x", 4096)
	if v := e.enf.Check(ctx, e.token("u1", "t1", "s1"), &ClientInfo{IP: testIP, UserAgent: long}); !v.Allowed() {
		t.Fatal("refused")
	}
	s, err := e.get("t1", "s1")
	must(t, err)
	if len(s.UserAgent) != maxUserAgent || !strings.HasPrefix(long, s.UserAgent) {
		t.Errorf("stored user agent of %d bytes, want the first %d", len(s.UserAgent), maxUserAgent)
	}
}

// Whatever ended a session, a still-valid token (or a fresh one) never brings it back.
func TestEndedSessionsStayEnded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy store.Policy
		end    func(e *env)
		want   string
	}{
		{"revoked", testPolicy(), func(e *env) { must(e.t, e.tr.EndSession(ctx, "t1", "s1")) }, CodeSessionRevoked},
		{"signed out everywhere", testPolicy(), func(e *env) {
			if n, err := e.tr.EndUserSessions(ctx, "t1", "u1", ""); err != nil || n != 1 {
				e.t.Fatalf("EndUserSessions = %d, %v", n, err)
			}
		}, CodeSessionRevoked},
		{"evicted", store.Policy{MaxSessions: limit(1, store.StrategyEvictOldest)}, func(e *env) {
			e.clk.Advance(time.Second)
			e.expect(e.token("u1", "t1", "s2"), "")
		}, CodeSessionEvicted},
		{"idle", store.Policy{IdleTimeout: on(time.Hour), MaxSessions: noLimit}, func(e *env) {
			e.clk.Advance(time.Hour)
			e.expect(e.token("u1", "t1", "s1", longLived), CodeSessionIdle)
		}, CodeSessionIdle},
		{"expired", store.Policy{ForceRelogin: on(time.Hour), MaxSessions: noLimit}, func(e *env) {
			e.clk.Advance(time.Hour)
			e.expect(e.token("u1", "t1", "s1", longLived), CodeSessionExpired)
		}, CodeSessionExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{DefaultPolicy: tc.policy}, TrackerConfig{})
			tok := e.token("u1", "t1", "s1", longLived)
			e.expect(tok, "")
			tc.end(e)
			e.expect(tok, tc.want)
			for _, d := range []time.Duration{0, time.Minute, 24 * time.Hour, 20 * 24 * time.Hour} {
				e.clk.Advance(d)
				e.expect(tok, tc.want)
				e.expect(e.token("u1", "t1", "s1", longLived), tc.want) // a fresh token for it
			}
			s, err := e.get("t1", "s1")
			must(t, err)
			if !s.Ended() || s.EndReason != tc.want {
				t.Errorf("stored session %+v, want ended with %q", s, tc.want)
			}
			if ids := sessionIDs(e.userSessions("t1", "u1")); slices.Contains(ids, "s1") {
				t.Errorf("ended session listed: %v", ids)
			}
		})
	}
}

func TestEndSessionUnknown(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	if err := e.tr.EndSession(ctx, "t1", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EndSession of an unknown session: %v, want ErrNotFound", err)
	}
	// Ending twice keeps the first reason.
	e.expect(e.token("u1", "t1", "s1"), "")
	must(t, e.tr.EndSession(ctx, "t1", "s1"))
	must(t, e.tr.EndSession(ctx, "t1", "s1"))
	e.expect(e.token("u1", "t1", "s1"), CodeSessionRevoked)
}

func TestForceRelogin(t *testing.T) {
	const limitD = 8 * time.Hour
	e := newEnv(t, Config{DefaultPolicy: store.Policy{
		ForceRelogin: on(limitD), MaxSessions: noLimit,
	}}, TrackerConfig{})
	created := e.clk.Now()
	tok := e.token("u1", "t1", "s1", longLived)
	e.expect(tok, "")
	// Constant activity does not extend the session.
	for e.clk.Now().Sub(created) < limitD-time.Hour {
		e.clk.Advance(time.Hour)
		e.expect(tok, "")
	}
	e.clk.Set(created.Add(limitD - time.Nanosecond))
	e.expect(tok, "")
	e.clk.Set(created.Add(limitD))
	e.expect(tok, CodeSessionExpired)
	e.expect(e.token("u1", "t1", "s1", longLived), CodeSessionExpired)
}

func TestIdleTimeout(t *testing.T) {
	const idleD = 30 * time.Minute
	e := newEnv(t, Config{DefaultPolicy: store.Policy{
		IdleTimeout: on(idleD), MaxSessions: noLimit,
	}}, TrackerConfig{})
	tok := e.token("u1", "t1", "s1", longLived)
	e.expect(tok, "")
	// Each request resets the timer: far more than the timeout passes in all.
	for range 10 {
		e.clk.Advance(idleD - time.Nanosecond)
		e.expect(tok, "")
	}
	e.clk.Advance(idleD)
	e.expect(tok, CodeSessionIdle)
	e.clk.Advance(-idleD) // even back within the window it stays ended
	e.expect(tok, CodeSessionIdle)

	// The same with the cache dropped between requests, so that activity must come from the
	// store or the pending touches.
	tok2 := e.token("u1", "t1", "s2", longLived)
	e.expect(tok2, "")
	for range 3 {
		e.clk.Advance(idleD - time.Second)
		e.tr.sessions.Purge()
		e.expect(tok2, "")
		e.tr.flush(true)
	}
	e.clk.Advance(idleD)
	e.tr.sessions.Purge()
	e.expect(tok2, CodeSessionIdle)
}

// Activity not yet written outlives the cache's copy of the session: a session dropped from
// the cache while dirty is kept by key, and a reload takes its activity, which then decides
// the idle timeout, shows in listings and reaches the store.
func TestDroppedSessionKeepsActivity(t *testing.T) {
	const idleD = time.Hour
	e := newEnv(t, Config{DefaultPolicy: store.Policy{IdleTimeout: on(idleD), MaxSessions: noLimit}},
		TrackerConfig{FlushEvery: time.Hour}) // flushes only when the test calls them
	tok := e.token("u1", "t1", "s1", longLived)
	e.expect(tok, "")
	e.clk.Advance(49 * time.Minute)
	e.expect(tok, "")
	e.tr.flush(true)
	written := e.clk.Now()
	e.clk.Advance(30 * time.Second)
	e.expect(tok, "") // dirty, and not due: its interval (a minute) has not passed since the flush
	active := e.clk.Now()
	e.tr.flush(false)
	if s, err := e.get("t1", "s1"); err != nil || !s.LastActiveAt.Equal(written) {
		t.Fatalf("setup: stored last activity %v (%v), want %v", s.LastActiveAt.Sub(clockStart), err, written.Sub(clockStart))
	}
	e.tr.sessions.Purge()
	if got := e.tr.localActivity(sessionKey("t1", "s1")); !got.Equal(active) {
		t.Errorf("after the cache dropped it: local activity %v, want %v", got.Sub(clockStart), active.Sub(clockStart))
	}
	list, _, err := e.tr.UserSessions(ctx, "t1", "u1", e.enf.DefaultPolicy())
	if err != nil || len(list) != 1 || !list[0].LastActiveAt.Equal(active) {
		t.Errorf("UserSessions after the cache dropped it: %+v, %v", list, err)
	}
	// The idle timeout after the last written activity, 30 seconds less after the last seen.
	e.clk.Set(written.Add(idleD))
	e.expect(tok, "")
	e.flushAllActiveNow("t1", "s1")
}

// Activity written by another node (to the shared store) keeps a session alive here.
func TestIdleTimeoutSeesOtherNodesActivity(t *testing.T) {
	clk := newFakeClock()
	st := memory.New()
	cfg := Config{DefaultPolicy: store.Policy{IdleTimeout: on(time.Hour), MaxSessions: noLimit}}
	a := newEnvOn(t, cfg, TrackerConfig{FlushEvery: time.Hour}, clk, st)
	b := newEnvOn(t, cfg, TrackerConfig{FlushEvery: time.Hour}, clk, st)
	tok := a.token("u1", "t1", "s1", longLived)
	a.expect(tok, "")
	a.settle()
	clk.Advance(50 * time.Minute)
	b.expect(tok, "")
	b.tr.flush(true) // b writes its activity
	clk.Advance(50 * time.Minute)
	a.expect(tok, "") // a's cached view is 100m old, the store's 50m
	clk.Advance(time.Hour)
	b.expect(tok, CodeSessionIdle)
	a.expect(tok, CodeSessionIdle)
}

func TestTimeoutsOff(t *testing.T) {
	e := newEnv(t, Config{DefaultPolicy: store.Policy{
		IdleTimeout:  store.Timeout{Enabled: false, Duration: time.Minute},
		ForceRelogin: store.Timeout{Enabled: false, Duration: time.Minute},
		MaxSessions:  noLimit,
	}}, TrackerConfig{})
	tok := e.token("u1", "t1", "s1", longLived)
	e.expect(tok, "")
	for _, d := range []time.Duration{time.Minute, time.Hour, 400 * 24 * time.Hour, 5 * 365 * 24 * time.Hour} {
		e.clk.Advance(d)
		e.expect(tok, "")
	}
	if n := len(e.userSessions("t1", "u1")); n != 1 {
		t.Errorf("%d sessions listed, want 1", n)
	}
}

func TestMaxSessionsEvictOldest(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	e.setPolicy("t1", store.Policy{IdleTimeout: on(time.Hour), MaxSessions: limit(2, store.StrategyEvictOldest)})
	toks := map[string]string{}
	for _, id := range []string{"s1", "s2"} {
		toks[id] = e.token("u1", "t1", id)
		e.expect(toks[id], "")
		e.clk.Advance(time.Second)
	}
	// s1 is the most recently active, but the oldest by creation.
	e.expect(toks["s1"], "")
	e.clk.Advance(time.Second)
	toks["s3"] = e.token("u1", "t1", "s3")
	e.expect(toks["s3"], "")

	e.expect(toks["s1"], CodeSessionEvicted)
	e.expect(toks["s2"], "")
	e.expect(toks["s3"], "")
	e.wantSessions("t1", "u1", "s3", "s2")
	// Another user of the tenant is not affected.
	e.expect(e.token("u2", "t1", "x1"), "")
	e.expect(e.token("u2", "t1", "x2"), "")
	e.wantSessions("t1", "u1", "s3", "s2")

	e.clk.Advance(time.Second)
	e.expect(e.token("u1", "t1", "s4"), "")
	e.expect(toks["s2"], CodeSessionEvicted)
	e.wantSessions("t1", "u1", "s4", "s3")
}

func TestMaxSessionsRejectNew(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	e.setPolicy("t1", store.Policy{IdleTimeout: on(time.Hour), MaxSessions: limit(2, store.StrategyRejectNew)})
	s1, s2 := e.token("u1", "t1", "s1", longLived), e.token("u1", "t1", "s2", longLived)
	e.expect(s1, "")
	e.clk.Advance(time.Second)
	e.expect(s2, "")
	s3 := e.token("u1", "t1", "s3")
	for range 3 {
		e.expect(s3, CodeSessionLimit)
	}
	if _, err := e.get("t1", "s3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused session was stored: %v", err)
	}
	e.expect(s1, "")
	e.expect(s2, "")
	e.wantSessions("t1", "u1", "s2", "s1")

	// A freed slot can be taken.
	must(t, e.tr.EndSession(ctx, "t1", "s1"))
	e.expect(s3, "")
	e.expect(e.token("u1", "t1", "s4"), CodeSessionLimit)

	// Sessions the policy has ended do not count.
	e.clk.Advance(time.Hour)
	e.expect(e.token("u1", "t1", "s5"), "")
	e.expect(s2, CodeSessionIdle)
}

func TestPolicyChanges(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := newEnv(t, Config{}, TrackerConfig{}) // default idle 1h
		tok := e.token("u1", "t1", "s1", longLived)
		e.expect(tok, "")
		e.clk.Advance(20 * time.Minute)
		e.expect(tok, "")
		e.setPolicy("t1", store.Policy{IdleTimeout: on(10 * time.Minute), MaxSessions: noLimit})
		e.clk.Advance(10 * time.Minute)
		e.expect(tok, CodeSessionIdle)
	})
	t.Run("force", func(t *testing.T) {
		e := newEnv(t, Config{}, TrackerConfig{})
		tok := e.token("u1", "t1", "s1", longLived)
		e.expect(tok, "")
		e.clk.Advance(30 * time.Minute)
		e.expect(tok, "")
		e.setPolicy("t1", store.Policy{IdleTimeout: on(time.Hour), ForceRelogin: on(15 * time.Minute),
			MaxSessions: noLimit})
		e.expect(tok, CodeSessionExpired)
	})
	t.Run("idle lengthened", func(t *testing.T) {
		e := newEnv(t, Config{}, TrackerConfig{})
		tok := e.token("u1", "t1", "s1", longLived)
		e.expect(tok, "")
		e.setPolicy("t1", store.Policy{IdleTimeout: on(3 * time.Hour), MaxSessions: noLimit})
		e.clk.Advance(2 * time.Hour)
		e.expect(tok, "")
	})
	t.Run("max at next creation", func(t *testing.T) {
		e := newEnv(t, Config{}, TrackerConfig{})
		for i := range 3 {
			e.expect(e.token("u1", "t1", fmt.Sprintf("s%d", i)), "")
			e.clk.Advance(time.Second)
		}
		e.setPolicy("t1", store.Policy{IdleTimeout: on(time.Hour), MaxSessions: limit(2, store.StrategyRejectNew)})
		for i := range 3 { // existing sessions go on
			e.expect(e.token("u1", "t1", fmt.Sprintf("s%d", i)), "")
		}
		e.expect(e.token("u1", "t1", "s3"), CodeSessionLimit)

		e.setPolicy("t1", store.Policy{IdleTimeout: on(time.Hour), MaxSessions: limit(2, store.StrategyEvictOldest)})
		e.expect(e.token("u1", "t1", "s3"), "")
		e.wantSessions("t1", "u1", "s3", "s2")
		e.expect(e.token("u1", "t1", "s0"), CodeSessionEvicted)
		e.expect(e.token("u1", "t1", "s1"), CodeSessionEvicted)
	})
	t.Run("delete falls back to defaults", func(t *testing.T) {
		e := newEnv(t, Config{}, TrackerConfig{})
		own := store.Policy{IdleTimeout: on(10 * time.Minute), MaxSessions: limit(1, store.StrategyRejectNew)}
		e.setPolicy("t1", own)
		p, isOwn, err := e.tr.Policy(ctx, "t1", e.enf.DefaultPolicy())
		must(t, err)
		if !isOwn || p != own {
			t.Fatalf("Policy = %+v, own %v; want %+v, own", p, isOwn, own)
		}
		tok := e.token("u1", "t1", "s1", longLived)
		e.expect(tok, "")
		e.expect(e.token("u1", "t1", "s2"), CodeSessionLimit)

		must(t, e.tr.DeletePolicy(ctx, "t1"))
		p, isOwn, err = e.tr.Policy(ctx, "t1", e.enf.DefaultPolicy())
		must(t, err)
		if isOwn || p != testPolicy() {
			t.Fatalf("after delete Policy = %+v, own %v; want the default", p, isOwn)
		}
		e.expect(e.token("u1", "t1", "s2"), "")
		e.clk.Advance(30 * time.Minute)
		e.expect(tok, "")
		// Deleting twice is fine; other tenants never had one.
		must(t, e.tr.DeletePolicy(ctx, "t1"))
		if _, isOwn, _ := e.tr.Policy(ctx, "t2", e.enf.DefaultPolicy()); isOwn {
			t.Error("t2 has its own policy")
		}
	})
}

func TestSignOutEverywhereCutoff(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	early := e.clk.Now()
	s1, s2 := e.token("u1", "t1", "s1"), e.token("u1", "t1", "s2")
	e.expect(s1, "")
	e.expect(s2, "")
	e.clk.Advance(time.Minute)

	n, err := e.tr.EndUserSessions(ctx, "t1", "u1", "")
	must(t, err)
	if n != 2 {
		t.Fatalf("EndUserSessions ended %d, want 2", n)
	}
	e.expect(s1, CodeSessionRevoked)
	e.expect(s2, CodeSessionRevoked)

	// A token issued before the cut-off for a session never seen: refused, nothing stored.
	oldTok := hs256(t, claimsAt(early, "u1", "t1", "s3"))
	e.expect(oldTok, CodeSessionRevoked)
	if _, err := e.get("t1", "s3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused session stored: %v", err)
	}
	// Without iat, the token's age is unknown: refused too.
	e.expect(e.token("u1", "t1", "s4", func(c map[string]any) { delete(c, "iat") }), CodeSessionRevoked)
	// Issued after: a new sign-in works.
	e.clk.Advance(time.Second)
	e.expect(e.token("u1", "t1", "s5"), "")
	e.wantSessions("t1", "u1", "s5")
	// Other users and tenants are not cut off.
	e.expect(hs256(t, claimsAt(early, "u2", "t1", "x1")), "")
	e.expect(hs256(t, claimsAt(early, "u1", "t2", "s3")), "")
}

func TestSignOutEverywhereKeepsOne(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	toks := map[string]string{}
	for _, id := range []string{"s1", "s2", "s3"} {
		toks[id] = e.token("u1", "t1", id)
		e.expect(toks[id], "")
	}
	e.expect(e.token("u2", "t1", "other"), "")
	e.clk.Advance(time.Second)
	n, err := e.tr.EndUserSessions(ctx, "t1", "u1", "s2")
	must(t, err)
	if n != 2 {
		t.Fatalf("ended %d, want 2", n)
	}
	e.expect(toks["s1"], CodeSessionRevoked)
	e.expect(toks["s2"], "")
	e.expect(toks["s3"], CodeSessionRevoked)
	e.expect(e.token("u2", "t1", "other"), "")
	e.wantSessions("t1", "u1", "s2")
}

// iat counts whole seconds: a token issued after a sign-out everywhere but in the same second
// has an iat before the cut-off's exact time, and must still open a session. One issued in an
// earlier second must not.
func TestCutoffSubSecond(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cutoff time.Duration // after clockStart (a whole second)
		iat    time.Duration
		want   string
	}{
		{"same second, after", 300 * time.Millisecond, 0, ""},
		{"cut-off on the second, iat that second", 0, 0, ""},
		{"cut-off on the second, iat a second before", 0, -time.Second, CodeSessionRevoked},
		{"cut-off mid-second, iat a second before", 500 * time.Millisecond, -time.Second, CodeSessionRevoked},
		{"next second", 999 * time.Millisecond, time.Second, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{}, TrackerConfig{})
			e.clk.Set(clockStart.Add(tc.cutoff))
			_, err := e.tr.EndUserSessions(ctx, "t1", "u1", "")
			must(t, err)
			e.clk.Set(clockStart.Add(max(tc.cutoff, tc.iat) + 100*time.Millisecond))
			e.expect(hs256(t, claimsAt(clockStart.Add(tc.iat), "u1", "t1", "s1")), tc.want)
		})
	}
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	e.setPolicy("t1", store.Policy{IdleTimeout: on(time.Hour), MaxSessions: limit(1, store.StrategyRejectNew)})
	a, b := e.token("u1", "t1", "s1"), e.token("u1", "t2", "s1")
	e.expect(a, "")
	e.expect(b, "") // same user and sid in another tenant: its own session, not over t1's limit
	e.wantSessions("t1", "u1", "s1")
	e.wantSessions("t2", "u1", "s1")
	must(t, e.tr.EndSession(ctx, "t1", "s1"))
	e.expect(a, CodeSessionRevoked)
	e.expect(b, "")
	n, err := e.tr.EndUserSessions(ctx, "t2", "u1", "")
	must(t, err)
	if n != 1 {
		t.Fatalf("ended %d in t2, want 1", n)
	}
	// t2's cut-off does not reach t1.
	e.expect(hs256(t, claimsAt(e.clk.Now().Add(-time.Minute), "u1", "t1", "s2")), "")
}

func TestSessionOfAnotherUser(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	e.expect(e.token("alice", "t1", "s1"), "")
	for range 2 { // cached and from the store
		e.expect(e.token("bob", "t1", "s1"), CodeInvalidToken)
		e.settle()
	}
	e.tr.sessions.Purge()
	e.expect(e.token("bob", "t1", "s1"), CodeInvalidToken)
	s, err := e.get("t1", "s1")
	must(t, err)
	if s.UserID != "alice" || s.Ended() {
		t.Fatalf("session %+v after bob's attempts", s)
	}
	e.wantSessions("t1", "bob")
	e.expect(e.token("alice", "t1", "s1"), "")
	// Nor can bob hold alice's ended session.
	must(t, e.tr.EndSession(ctx, "t1", "s1"))
	if v := e.check(e.token("bob", "t1", "s1")); v.Allowed() {
		t.Fatal("bob allowed on alice's ended session")
	}
}

func TestValidatePolicy(t *testing.T) {
	const maxD = MaxPolicySeconds * time.Second
	base := func(mod func(*store.Policy)) store.Policy {
		p := NewDefaultPolicy()
		mod(&p)
		return p
	}
	for _, tc := range []struct {
		name  string
		p     store.Policy
		field string // "" = valid
	}{
		{"default", NewDefaultPolicy(), ""},
		{"idle 1s", base(func(p *store.Policy) { p.IdleTimeout = on(time.Second) }), ""},
		{"idle max", base(func(p *store.Policy) { p.IdleTimeout = on(maxD) }), ""},
		{"idle 0", base(func(p *store.Policy) { p.IdleTimeout = on(0) }), "idle_timeout"},
		{"idle 999ms", base(func(p *store.Policy) { p.IdleTimeout = on(999 * time.Millisecond) }), "idle_timeout"},
		{"idle over max", base(func(p *store.Policy) { p.IdleTimeout = on(maxD + time.Second) }), "idle_timeout"},
		{"idle negative", base(func(p *store.Policy) { p.IdleTimeout = on(-time.Hour) }), "idle_timeout"},
		{"idle off with 0", base(func(p *store.Policy) { p.IdleTimeout = store.Timeout{} }), ""},
		{"idle off keeps value", base(func(p *store.Policy) { p.IdleTimeout = store.Timeout{Duration: time.Hour} }), ""},
		{"idle off negative", base(func(p *store.Policy) { p.IdleTimeout = store.Timeout{Duration: -1} }), "idle_timeout"},
		{"idle off over max", base(func(p *store.Policy) { p.IdleTimeout = store.Timeout{Duration: maxD + 1} }), "idle_timeout"},
		{"force 1s", base(func(p *store.Policy) { p.ForceRelogin = on(time.Second) }), ""},
		{"force max", base(func(p *store.Policy) { p.ForceRelogin = on(maxD) }), ""},
		{"force 0", base(func(p *store.Policy) { p.ForceRelogin = on(0) }), "force_relogin"},
		{"force over max", base(func(p *store.Policy) { p.ForceRelogin = on(maxD + time.Second) }), "force_relogin"},
		{"force off negative", base(func(p *store.Policy) { p.ForceRelogin = store.Timeout{Duration: -time.Second} }), "force_relogin"},
		{"max 1", base(func(p *store.Policy) { p.MaxSessions = limit(1, store.StrategyRejectNew) }), ""},
		{"max 10000", base(func(p *store.Policy) { p.MaxSessions = limit(MaxPolicySessions, store.StrategyEvictOldest) }), ""},
		{"max 0", base(func(p *store.Policy) { p.MaxSessions = limit(0, store.StrategyEvictOldest) }), "max_sessions"},
		{"max -1", base(func(p *store.Policy) { p.MaxSessions = limit(-1, store.StrategyEvictOldest) }), "max_sessions"},
		{"max 10001", base(func(p *store.Policy) { p.MaxSessions = limit(MaxPolicySessions+1, store.StrategyEvictOldest) }), "max_sessions"},
		{"max off keeps value", base(func(p *store.Policy) { p.MaxSessions.Max = 5 }), ""},
		{"max off negative", base(func(p *store.Policy) { p.MaxSessions.Max = -1 }), "max_sessions"},
		{"max off over", base(func(p *store.Policy) { p.MaxSessions.Max = MaxPolicySessions + 1 }), "max_sessions"},
		{"no strategy", base(func(p *store.Policy) { p.MaxSessions.Strategy = "" }), "max_sessions"},
		{"bad strategy", base(func(p *store.Policy) { p.MaxSessions.Strategy = "EVICT_OLDEST" }), "max_sessions"},
		{"reject_new", base(func(p *store.Policy) { p.MaxSessions.Strategy = store.StrategyRejectNew }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePolicy(&tc.p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("ValidatePolicy: %v", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("ValidatePolicy = %v, want a PolicyError on %s", err, tc.field)
			}
			if pe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Fatalf("error on %q (%v), want %q", pe.Field, err, tc.field)
			}
		})
	}
	if err := ValidatePolicy(new(store.Policy)); err == nil {
		t.Error("the zero policy (no strategy) is valid")
	}
}

func TestSweep(t *testing.T) {
	// No background flush: activity seen here stays on this node until the sweep.
	e := newEnv(t, Config{}, TrackerConfig{FlushEvery: time.Hour})
	sweep := func() (int, int) {
		t.Helper()
		var ended, purged int
		var err error
		withTimeout(t, 10*time.Second, "Sweep", func() { ended, purged, err = e.tr.Sweep(ctx) })
		must(t, err)
		return ended, purged
	}
	e.expect(e.token("u1", "t1", "s1", longLived), "")
	must(t, e.tr.EndSession(ctx, "t1", "s1"))
	e.settle() // the tenant's policy is cached (see TestSweepAfterRestart)

	// Without defaults (no config loaded yet) the sweeper does nothing.
	e.clk.Advance(TombstoneRetention + time.Hour)
	if ended, purged := sweep(); ended != 0 || purged != 0 {
		t.Fatalf("sweep without defaults ended %d purged %d", ended, purged)
	}
	e.clk.Advance(-TombstoneRetention - time.Hour)
	e.tr.SetSweepDefaults(testPolicy())

	// A tombstone is kept for TombstoneRetention, then purged.
	e.clk.Advance(TombstoneRetention - time.Nanosecond)
	if ended, purged := sweep(); ended != 0 || purged != 0 {
		t.Fatalf("sweep 1ns before retention ended %d purged %d", ended, purged)
	}
	if _, err := e.get("t1", "s1"); err != nil {
		t.Fatalf("s1 purged early: %v", err)
	}
	e.expect(e.token("u1", "t1", "s1", longLived), CodeSessionRevoked)
	e.clk.Advance(time.Nanosecond)
	if ended, purged := sweep(); ended != 0 || purged != 1 {
		t.Fatalf("sweep at retention ended %d purged %d, want 0 and 1", ended, purged)
	}
	if _, err := e.get("t1", "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("s1 after purge: %v", err)
	}

	// s2 stays active, s3 is left idle; the sweep ends s3 only.
	s2 := e.token("u1", "t1", "s2", longLived)
	e.expect(s2, "")
	e.expect(e.token("u1", "t1", "s3", longLived), "")
	e.clk.Advance(time.Hour - time.Second)
	e.expect(s2, "") // s2's activity is only on this node (not written yet)
	e.settle()
	e.clk.Advance(time.Second)
	if ended, purged := sweep(); ended != 1 || purged != 0 {
		t.Fatalf("sweep ended %d purged %d, want 1 and 0", ended, purged)
	}
	s, err := e.get("t1", "s3")
	must(t, err)
	if s.EndReason != CodeSessionIdle || !s.EndedAt.Equal(e.clk.Now()) {
		t.Errorf("s3 after sweep: %+v", s)
	}
	e.expect(e.token("u1", "t1", "s3", longLived), CodeSessionIdle)
	if s, err := e.get("t1", "s2"); err != nil || s.Ended() {
		t.Fatalf("active s2 after sweep: %+v, %v", s, err)
	}
	e.expect(s2, "")
	e.wantSessions("t1", "u1", "s2")
}

// A tenant whose force re-login is longer than TombstoneRetention keeps tombstones that long:
// a token for the session may still be valid.
func TestSweepRetentionFollowsForceRelogin(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	e.tr.SetSweepDefaults(testPolicy())
	long := 2 * TombstoneRetention
	e.setPolicy("t1", store.Policy{ForceRelogin: on(long), MaxSessions: noLimit})
	e.expect(e.token("u1", "t1", "s1", longLived), "")
	must(t, e.tr.EndSession(ctx, "t1", "s1"))
	e.settle()
	e.clk.Advance(TombstoneRetention + time.Hour)
	withTimeout(t, 10*time.Second, "Sweep", func() {
		_, purged, err := e.tr.Sweep(ctx)
		must(t, err)
		if purged != 0 {
			t.Errorf("purged %d tombstones before the tenant's force re-login passed", purged)
		}
	})
	e.clk.Advance(long)
	withTimeout(t, 10*time.Second, "Sweep", func() {
		if _, purged, err := e.tr.Sweep(ctx); err != nil || purged != 1 {
			t.Errorf("Sweep purged %d (%v), want 1", purged, err)
		}
	})
}

// A fresh tracker (a restarted node) has no policies cached when it first sweeps. (The store
// calls decide under its lock; reading a policy from the store there deadlocks.)
func TestSweepAfterRestart(t *testing.T) {
	clk := newFakeClock()
	st := memory.New()
	first := newEnvOn(t, Config{}, TrackerConfig{}, clk, st)
	first.expect(first.token("u1", "t1", "s1"), "")
	first.expect(first.token("u1", "t1", "s2"), "")
	must(t, first.tr.EndSession(ctx, "t1", "s1"))
	first.tr.flush(true)

	tr, err := NewTracker(st, TrackerConfig{Now: clk.Now})
	must(t, err)
	tr.SetSweepDefaults(testPolicy())
	clk.Advance(TombstoneRetention)
	var ended, purged int
	withTimeout(t, 5*time.Second, "Sweep on a tracker with no cached policy", func() {
		ended, purged, err = tr.Sweep(ctx)
	})
	// Only reached when Sweep returned (else the store's lock is held for good).
	tr.Close()
	must(t, err)
	if ended != 1 || purged != 1 {
		t.Fatalf("ended %d purged %d, want 1 and 1", ended, purged)
	}
}

// A node sweeping more tenants than its policy cache holds still sweeps them all.
func TestSweepManyTenants(t *testing.T) {
	clk := newFakeClock()
	st := memory.New()
	first := newEnvOn(t, Config{}, TrackerConfig{}, clk, st)
	const tenants = 5
	for i := range tenants {
		tenant := fmt.Sprintf("t%d", i)
		first.expect(hs256(t, claimsAt(clk.Now(), "u1", tenant, "ended")), "")
		first.expect(hs256(t, claimsAt(clk.Now(), "u1", tenant, "idle")), "")
		must(t, first.tr.EndSession(ctx, tenant, "ended"))
	}
	first.tr.flush(true)

	tr := newTracker(t, st, clk, TrackerConfig{PolicyCacheSize: 2})
	tr.SetSweepDefaults(testPolicy())
	clk.Advance(TombstoneRetention)
	var ended, purged int
	var err error
	withTimeout(t, 10*time.Second, "Sweep", func() { ended, purged, err = tr.Sweep(ctx) })
	must(t, err)
	if ended != tenants || purged != tenants {
		t.Fatalf("ended %d purged %d, want %d and %d", ended, purged, tenants, tenants)
	}
}

// countingStore is the real store with its Touch writes recorded.
type countingStore struct {
	store.Store
	clk    *fakeClock
	notify chan struct{} // signalled after each Touch

	mu     sync.Mutex
	writes map[string][]time.Time // session id -> clock time of each write
	users  map[string]string      // session id -> the user its touches named
}

func newCountingStore(clk *fakeClock) *countingStore {
	return &countingStore{Store: memory.New(), clk: clk, notify: make(chan struct{}, 1), writes: map[string][]time.Time{}, users: map[string]string{}}
}

func (c *countingStore) Touch(ctx context.Context, touches []store.Touch) error {
	now := c.clk.Now()
	c.mu.Lock()
	for _, t := range touches {
		c.writes[t.ID] = append(c.writes[t.ID], now)
		c.users[t.ID] = t.UserID
	}
	c.mu.Unlock()
	err := c.Store.Touch(ctx, touches)
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return err
}

func (c *countingStore) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes[id])
}

func (c *countingStore) snapshot() map[string][]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]time.Time, len(c.writes))
	for k, v := range c.writes {
		out[k] = slices.Clone(v)
	}
	return out
}

// waitWrites blocks until each of ids has been written n times (the background flusher runs
// on real time), failing after 10s.
func (c *countingStore) waitWrites(t *testing.T, n int, ids ...string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		done := true
		for _, id := range ids {
			done = done && c.count(id) >= n
		}
		if done {
			return
		}
		select {
		case <-c.notify:
		case <-timeout:
			t.Fatalf("the background flusher did not write %v %d times: %v", ids, n, c.snapshot())
		}
	}
}

const touchInterval = 10 * time.Second

// checkStoredActivity closes the tracker and checks what the store holds.
func checkStoredActivity(t *testing.T, e *env, cs *countingStore, want map[string]time.Time) {
	t.Helper()
	e.tr.Close() // writes what is pending, though the interval has not passed
	for id, at := range want {
		s, err := cs.Get(ctx, "t1", id)
		must(t, err)
		if !s.LastActiveAt.Equal(at) {
			t.Errorf("session %s: stored last activity %s, want %s", id, s.LastActiveAt.Sub(clockStart), at.Sub(clockStart))
		}
		// The redis store finds a touched session by its user.
		cs.mu.Lock()
		user, touched := cs.users[id]
		cs.mu.Unlock()
		if touched && user != s.UserID {
			t.Errorf("session %s of user %s: touched as user %q", id, s.UserID, user)
		}
	}
}

func TestTouchCoalescing(t *testing.T) {
	t.Run("explicit flushes", func(t *testing.T) {
		// Flushing after every request: at most one write per session per interval.
		clk := newFakeClock()
		cs := newCountingStore(clk)
		e := newEnvOn(t, Config{}, TrackerConfig{TouchInterval: touchInterval, FlushEvery: time.Hour}, clk, cs)
		a, b := e.token("u1", "t1", "a", longLived), e.token("u1", "t1", "b", longLived)
		e.expect(e.token("u1", "t1", "idle", longLived), "") // created, then never used again

		const steps, step = 100, 300 * time.Millisecond // 30s of requests
		for range steps {
			clk.Advance(step)
			e.expect(a, "")
			e.expect(b, "")
			e.settle() // see TestTouchTwoCopiesOfOneSession
			e.tr.flush(false)
		}
		writes := cs.snapshot()
		for _, id := range []string{"a", "b"} {
			// Created at 0.3s: due at 10.3s (written at 10.5s), then at 20.5s (20.7s).
			w := writes[id]
			want := []time.Time{clockStart.Add(10500 * time.Millisecond), clockStart.Add(20700 * time.Millisecond)}
			if !slices.EqualFunc(w, want, time.Time.Equal) {
				t.Errorf("session %s written at %v, want %v", id, w, want)
			}
		}
		// The creating request's activity was stored by the creation: nothing to write.
		if n := len(writes["idle"]); n != 0 {
			t.Errorf("an unused session was written %d times after its creation", n)
		}
		checkStoredActivity(t, e, cs, map[string]time.Time{"a": clk.Now(), "b": clk.Now(), "idle": clockStart})
	})

	t.Run("background flusher", func(t *testing.T) {
		clk := newFakeClock()
		cs := newCountingStore(clk)
		e := newEnvOn(t, Config{}, TrackerConfig{TouchInterval: touchInterval, FlushEvery: time.Millisecond}, clk, cs)
		a, b := e.token("u1", "t1", "a", longLived), e.token("u1", "t1", "b", longLived)
		e.expect(a, "")
		e.expect(b, "")
		requests := func(d time.Duration) {
			for end := clk.Now().Add(d); clk.Now().Before(end); {
				clk.Advance(100 * time.Millisecond)
				for range 10 {
					e.expect(a, "")
					e.expect(b, "")
				}
				e.settle()
			}
		}
		requests(touchInterval - time.Second)
		if w := cs.snapshot(); len(w) != 0 {
			t.Fatalf("activity written before the touch interval passed: %v", w)
		}
		requests(time.Second)
		// The clock stands still until the flusher has written both.
		cs.waitWrites(t, 1, "a", "b")
		requests(touchInterval - time.Second)
		if na, nb := cs.count("a"), cs.count("b"); na != 1 || nb != 1 {
			t.Fatalf("%d and %d writes within one interval, want 1 each", na, nb)
		}
		requests(time.Second)
		cs.waitWrites(t, 2, "a", "b")
		checkStoredActivity(t, e, cs, map[string]time.Time{"a": clk.Now(), "b": clk.Now()})
	})
}

// Two requests for one session that miss the cache together each load their own copy of it
// (newLive); one copy ends up cached, the other dropped. Both are touched; the activity of
// later requests, on the cached copy, must still be written. (When touches went to whichever
// copy was queued first, flushing the dropped one left the cached copy's dirty flag set for
// good.)
func TestTouchTwoCopiesOfOneSession(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	tok := e.token("u1", "t1", "s1", longLived)
	e.expect(tok, "")
	e.tr.flush(true) // the creation's activity is written; nothing is pending
	e.tr.sessions.Purge()

	// What Tracker.session does for two concurrent requests that both miss the cache.
	p := testPolicy()
	key := sessionKey("t1", "s1")
	gen := e.tr.sessions.Generation()
	stored, err := e.get("t1", "s1")
	must(t, err)
	claims, err := e.enf.verifier.verify(ctx, tok, e.clk.Now())
	must(t, err)
	lsA := e.tr.newLive(&stored, claims, &p)
	lsB := e.tr.newLive(&stored, claims, &p)
	if lsA == lsB {
		t.Fatal("setup: one copy")
	}
	e.tr.sessions.Fill(key, lsA, gen)
	e.tr.sessions.Fill(key, lsB, gen)
	e.settle()
	cached, ok := e.tr.sessions.Get(key)
	if !ok || (cached != lsA && cached != lsB) {
		t.Fatal("setup: neither copy is cached")
	}
	other := lsA
	if cached == lsA {
		other = lsB
	}
	// The request holding the cached copy touches first, then the other one.
	e.clk.Advance(time.Minute)
	e.tr.touch(cached, e.clk.Now())
	e.tr.touch(other, e.clk.Now())
	e.tr.flush(true)

	// Later requests use the cached copy; their activity must reach the store.
	for range 5 {
		e.clk.Advance(time.Minute)
		e.expect(tok, "")
	}
	last := e.clk.Now()
	e.tr.flush(true)
	s, err := e.get("t1", "s1")
	must(t, err)
	if !s.LastActiveAt.Equal(last) {
		t.Fatalf("stored last activity %s, want %s: activity on the cached copy was never written",
			s.LastActiveAt.Sub(clockStart), last.Sub(clockStart))
	}
}

// The same through Check only: after the session cache is purged (as when invalidations may
// have been missed), a burst of concurrent requests for one session reloads it; the activity
// of later requests must still reach the store. (The interleaving that loses it is likely, not
// certain, in each round.)
func TestConcurrentReloadActivityWritten(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	lost := 0
	for range rounds {
		// Small caches: they are cheap to make.
		e := newEnv(t, Config{TokenCacheSize: 100}, TrackerConfig{SessionCacheSize: 100, PolicyCacheSize: 100})
		tok := e.token("u1", "t1", "s1", longLived)
		e.expect(tok, "")
		e.settle()
		e.tr.flush(true)
		e.clk.Advance(time.Minute)
		e.tr.sessions.Purge()

		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 16 {
			wg.Go(func() {
				<-start
				if v := e.enf.Check(ctx, tok, testInfo); !v.Allowed() {
					t.Errorf("burst request: %q", v.Code)
				}
			})
		}
		close(start)
		wg.Wait()
		e.settle()
		e.tr.flush(true)
		for range 3 {
			e.clk.Advance(time.Minute)
			e.expect(tok, "")
		}
		last := e.clk.Now()
		e.tr.flush(true)
		s, err := e.get("t1", "s1")
		must(t, err)
		if !s.LastActiveAt.Equal(last) {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("in %d of %d rounds later activity never reached the store", lost, rounds)
	}
}

// The default touch interval follows the idle timeout.
func TestTouchIntervalDefault(t *testing.T) {
	tr := newTracker(t, memory.New(), newFakeClock(), TrackerConfig{})
	for _, tc := range []struct {
		p    store.Policy
		want time.Duration
	}{
		{store.Policy{IdleTimeout: on(24 * time.Hour)}, time.Minute},
		{store.Policy{IdleTimeout: on(5 * time.Minute)}, 30 * time.Second},
		{store.Policy{IdleTimeout: on(5 * time.Second)}, time.Second},
		{store.Policy{}, time.Minute},
	} {
		if got := tr.intervalFor(&tc.p); got != tc.want {
			t.Errorf("intervalFor(idle %v) = %s, want %s", tc.p.IdleTimeout, got, tc.want)
		}
	}
}

func TestConcurrentCreationLimit(t *testing.T) {
	for _, strategy := range []string{store.StrategyRejectNew, store.StrategyEvictOldest} {
		t.Run(strategy, func(t *testing.T) {
			e := newEnv(t, Config{}, TrackerConfig{})
			e.setPolicy("t1", store.Policy{IdleTimeout: on(time.Hour), MaxSessions: limit(3, strategy)})
			const n = 20
			tokens := make([]string, n)
			for i := range tokens {
				tokens[i] = e.token("u1", "t1", fmt.Sprintf("s%02d", i))
			}
			codes := make([]string, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					codes[i] = e.enf.Check(ctx, tokens[i], testInfo).Code
				})
			}
			close(start)
			wg.Wait()
			allowed, limited := 0, 0
			for i, c := range codes {
				switch c {
				case "":
					allowed++
				case CodeSessionLimit:
					limited++
				default:
					t.Errorf("request %d: %q", i, c)
				}
			}
			live := e.userSessions("t1", "u1")
			if len(live) != 3 {
				t.Errorf("%d live sessions, want 3", len(live))
			}
			if strategy == store.StrategyRejectNew && (allowed != 3 || limited != n-3) {
				t.Errorf("%d allowed, %d refused; want 3 and %d", allowed, limited, n-3)
			}
			if strategy == store.StrategyEvictOldest && allowed != n {
				t.Errorf("%d allowed, want all %d", allowed, n)
			}
			// The live ones still pass; with reject_new they are the ones that were allowed.
			for _, s := range live {
				i := slices.Index(tokens, e.token("u1", "t1", s.ID))
				if strategy == store.StrategyRejectNew && codes[i] != "" {
					t.Errorf("session %s is live but its creation was refused", s.ID)
				}
				e.expect(tokens[i], "")
			}
		})
	}
}

// A session loaded just before it is revoked must not be served from the cache afterwards, even
// when the cache applies the load's fill late (ristretto applies new entries asynchronously, in
// order; the invalidation must not leave a window where the late fill is visible).
func TestRevocationBeatsQueuedFill(t *testing.T) {
	// Each round is likely, not certain, to catch the window.
	for round := range 10 {
		e := newEnv(t, Config{}, TrackerConfig{})
		sid := fmt.Sprintf("s%d", round)
		tok := e.token("u1", "t1", sid, longLived)
		e.expect(tok, "")
		e.settle()
		e.tr.sessions.Purge()
		e.settle()

		// A request reloads the session; its fill is queued behind many other sessions'
		// fills, and a few more queue behind it.
		p := testPolicy()
		stored, err := e.get("t1", sid)
		must(t, err)
		gen := e.tr.sessions.Generation()
		claims, err := e.enf.verifier.verify(ctx, tok, e.clk.Now())
		must(t, err)
		ls := e.tr.newLive(&stored, claims, &p)
		filler := &liveSession{key: sessionKey("t1", "x"), userID: "x"}
		for i := range 26000 {
			e.tr.sessions.Fill(fmt.Sprintf("t1\x00other%d", i), filler, gen)
		}
		e.tr.sessions.Fill(sessionKey("t1", sid), ls, gen)
		for i := range 4000 {
			e.tr.sessions.Fill(fmt.Sprintf("t1\x00more%d", i), filler, gen)
		}
		must(t, e.tr.EndSession(ctx, "t1", sid))
		for i := range 20000 {
			if v := e.check(tok); v.Code != CodeSessionRevoked {
				t.Fatalf("round %d: check %d after EndSession returned: %q", round, i, v.Code)
			}
		}
		e.settle()
		e.expect(tok, CodeSessionRevoked)
	}
}

// Many requests on one session from many goroutines, while it is ended: no race, and once
// EndSession returned every request is refused.
func TestConcurrentRequestsAndRevocation(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{FlushEvery: time.Millisecond, TouchInterval: time.Second})
	tok := e.token("u1", "t1", "s1", longLived)
	e.expect(tok, "")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	stopped := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopped() // before the enforcer is closed
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v := e.enf.Check(ctx, tok, testInfo); v.Code != "" && v.Code != CodeSessionRevoked {
					t.Errorf("concurrent check: %q", v.Code)
					return
				}
				e.clk.Advance(time.Millisecond)
			}
		})
	}
	for range 50 {
		e.expect(tok, "")
	}
	must(t, e.tr.EndSession(ctx, "t1", "s1"))
	for i := range 50 {
		if v := e.check(tok); v.Code != CodeSessionRevoked {
			t.Fatalf("check %d after EndSession returned: %q, want %q", i, v.Code, CodeSessionRevoked)
		}
	}
	stopped()
	e.expect(tok, CodeSessionRevoked)
}

// Closing an enforcer and its tracker (a config being unloaded) while requests are still being
// checked must not crash or hang those requests: after Close the caches may refuse work.
func TestCloseWithRequestsInFlight(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	const workers, each = 8, 1500
	tokens := make([]string, workers*each) // all distinct: every check fills the caches
	for i := range tokens {
		tokens[i] = e.token(fmt.Sprintf("u%d", i%100), "t1", fmt.Sprintf("s%d", i))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var panics []any
	var progress atomic.Int64
	for g := range workers {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					panics = append(panics, r)
					mu.Unlock()
				}
			}()
			for i := range each {
				e.enf.Check(ctx, tokens[g*each+i], testInfo)
				progress.Add(1)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for progress.Load() < workers*each/4 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	e.enf.Close()
	e.tr.Close()
	withTimeout(t, 30*time.Second, "requests in flight at Close", wg.Wait)
	if len(panics) > 0 {
		t.Fatalf("%d requests panicked when the enforcer and tracker were closed, e.g. %v", len(panics), panics[0])
	}
}

// gatedStore holds every Get until released, and counts reads and creations.
type gatedStore struct {
	store.Store
	entered chan struct{} // receives at each Get
	release chan struct{}
	gets    atomic.Int32
	creates atomic.Int32
}

func (g *gatedStore) Get(ctx context.Context, tenantID, id string) (store.Session, error) {
	g.gets.Add(1)
	g.entered <- struct{}{}
	<-g.release
	return g.Store.Get(ctx, tenantID, id)
}

func (g *gatedStore) Create(ctx context.Context, req store.CreateRequest) (store.CreateResult, error) {
	g.creates.Add(1)
	return g.Store.Create(ctx, req)
}

// Concurrent first requests of a new session (a page's parallel calls with a fresh token)
// share one store read and one creation, and all pass.
func TestConcurrentFirstRequestsShareOneLoad(t *testing.T) {
	gs := &gatedStore{Store: memory.New(), entered: make(chan struct{}, 100), release: make(chan struct{})}
	e := newEnvOn(t, Config{}, TrackerConfig{}, newFakeClock(), gs)
	tok := e.token("u1", "t1", "s1")
	const n = 20
	codes := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { codes <- e.check(tok).Code })
	}
	<-gs.entered
	time.Sleep(50 * time.Millisecond) // the others reach the load meanwhile
	close(gs.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != "" {
			t.Errorf("a first request was refused: %q", code)
		}
	}
	// Requests that came after the load can read the store, but find the session.
	if got := gs.creates.Load(); got != 1 {
		t.Errorf("%d creations for one new session, want 1 (%d reads)", got, gs.gets.Load())
	}
}

// The hot path (cached token, cached live session, allowed) allocates nothing: an allocation
// there costs every request of every user. (Speed is in BenchmarkCheckHot.)
func TestHotPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations; make test runs this test without it")
	}
	e := newEnv(t, Config{}, TrackerConfig{})
	tok := e.token("u1", "t1", "s1", longLived)
	for i := 0; !e.tokenCached(tok) || !e.sessionCached("t1", "s1"); i++ {
		e.expect(tok, "")
		e.settle()
		if i == 100 {
			t.Fatal("the token and session never became cached")
		}
	}
	if n := testing.AllocsPerRun(1000, func() { e.check(tok) }); n != 0 {
		t.Errorf("%v allocations per allowed request on the hot path, want 0", n)
	}
}

// A burst of first requests on a new session (a page firing its calls with a fresh token)
// leaves the token's claims linked to the cached session and policy: its later requests
// look nothing up in the caches.
func TestFirstRequestBurstLinksSession(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	for s := range 20 {
		tok := e.token("u1", "t1", fmt.Sprintf("s%02d", s))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 32 {
			wg.Go(func() {
				<-start
				if v := e.check(tok); !v.Allowed() {
					t.Errorf("burst request: %q (%v)", v.Code, v.Err)
				}
			})
		}
		close(start)
		wg.Wait()
		e.settle()
		e.expect(tok, "") // links what the burst left unlinked (concurrent policy fills replace each other)
		if ls, tp := linked(e.cachedClaims(tok)); ls == nil || tp == nil {
			t.Fatalf("session s%02d: after its burst, claims lead to session %p and policy %p; want both", s, ls, tp)
		}
	}
}

// A session's first request links its claims to the session and policy it has just cached,
// whether it created the session or loaded it, so that its second request looks up neither.
// While the caches are not trusted (the change feed is down), nothing is linked.
func TestFirstRequestLinks(t *testing.T) {
	e, st := newSharedEnv(t)
	st.connected(true)
	tok := e.token("u1", "t1", "s1")
	e.expect(tok, "") // creates the session, loads the tenant's policy
	if ls, tp := linked(e.cachedClaims(tok)); ls == nil || tp == nil {
		t.Fatalf("after the request that created it: claims lead to session %p and policy %p; want both", ls, tp)
	}
	e.tr.sessions.Invalidate(sessionKey("t1", "s1"))
	e.tr.policies.Invalidate("t1")
	if ls, tp := linked(e.cachedClaims(tok)); ls != nil || tp != nil {
		t.Fatalf("after the caches dropped them: claims lead to session %p and policy %p; want neither", ls, tp)
	}
	e.expect(tok, "") // loads both from the store
	if ls, tp := linked(e.cachedClaims(tok)); ls == nil || tp == nil {
		t.Fatalf("after the request that loaded it: claims lead to session %p and policy %p; want both", ls, tp)
	}

	st.connected(false)
	e.clk.Advance(MaxFeedGap + time.Second)
	tok2 := e.token("u2", "t2", "s2")
	e.expect(tok2, "")
	if ls := e.cachedClaims(tok2).live.Load(); ls != nil {
		t.Fatalf("with the change feed down: claims linked to session %p", ls)
	}
}

// A session the cache dropped while its activity was unwritten, and that a request then loads
// again, is cached as a new copy: its claims link to it, its activity is written, and the
// dropped copy is let go once written.
func TestRefilledDroppedSessionLinks(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{FlushEvery: time.Hour}) // flushes only when the test calls them
	tok := e.token("u1", "t1", "s1", longLived)
	e.expect(tok, "")
	e.tr.flush(true)
	e.clk.Advance(10 * time.Second)
	e.expect(tok, "") // dirty: not written yet
	// The cache drops it, dirty.
	e.tr.sessions.Invalidate(sessionKey("t1", "s1"))
	e.settle()
	e.clk.Advance(time.Second)
	e.expect(tok, "") // loads it again
	e.settle()
	e.expect(tok, "") // follows the link the load made
	ls, tp := linked(e.cachedClaims(tok))
	if ls == nil || tp == nil {
		t.Fatalf("after a refill: claims lead to session %p and policy %p; want both", ls, tp)
	}
	e.flushAllActiveNow("t1", "s1")
}
