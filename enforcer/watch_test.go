package enforcer

import (
	"context"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/memory"
)

// sharedStore is a memory store seen as if another node also wrote to it: the test writes
// behind the tracker's back (st) and drives the change feed by hand.
type sharedStore struct {
	*memory.Store
	changed   func(store.Change)
	connected func(bool)
}

func (s *sharedStore) Watch(_ context.Context, changed func(store.Change), connected func(bool)) {
	s.changed, s.connected = changed, connected
}

func newSharedEnv(t *testing.T) (*env, *sharedStore) {
	st := &sharedStore{Store: memory.New()}
	e := newEnvOn(t, Config{}, TrackerConfig{}, newFakeClock(), st)
	return e, st
}

// shortenIdleElsewhere has another node set tenant t1's idle timeout to a minute and
// announce it; two minutes then pass.
func shortenIdleElsewhere(t *testing.T, e *env, st *sharedStore) {
	t.Helper()
	if err := st.PutPolicy(ctx, "t1", store.Policy{
		IdleTimeout: store.Timeout{Enabled: true, Duration: time.Minute},
		MaxSessions: store.SessionLimit{Strategy: store.StrategyEvictOldest},
	}); err != nil {
		t.Fatal(err)
	}
	st.changed(store.Change{TenantID: "t1", Policy: true})
	e.clk.Advance(2 * time.Minute)
}

func TestChangeFeedInvalidates(t *testing.T) {
	e, st := newSharedEnv(t)
	st.connected(true)
	tok := e.token("u1", "t1", "s1")
	e.expect(tok, "")
	e.settle()

	// Another node ends the session: this node's cache still says live until told.
	if _, err := st.End(ctx, "t1", "s1", store.ReasonRevoked, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	e.expect(tok, "") // cached: the write was not announced yet
	st.changed(store.Change{TenantID: "t1", SessionIDs: []string{"s1"}})
	e.expect(tok, CodeSessionRevoked)

	// A policy set elsewhere applies once announced.
	tok2 := e.token("u2", "t1", "s2")
	e.expect(tok2, "")
	e.settle()
	shortenIdleElsewhere(t, e, st)
	e.expect(tok2, CodeSessionIdle)
}

func TestChangeFeedLost(t *testing.T) {
	e, st := newSharedEnv(t)
	st.connected(true)
	tok := e.token("u1", "t1", "s1")
	e.expect(tok, "")
	e.settle()

	// The feed drops, and a revocation made meanwhile is never announced.
	st.connected(false)
	if _, err := st.End(ctx, "t1", "s1", store.ReasonRevoked, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Cached entries are trusted for less than MaxFeedGap...
	e.clk.Advance(MaxFeedGap - time.Millisecond)
	e.expect(tok, "")
	// ...then every request reads the store.
	e.clk.Advance(time.Millisecond)
	e.expect(tok, CodeSessionRevoked)

	// Back up: the cache is dropped, since changes were missed while down.
	tok2 := e.token("u2", "t1", "s2")
	e.expect(tok2, "")
	e.settle()
	st.connected(true)
	if _, err := st.End(ctx, "t1", "s2", store.ReasonRevoked, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	st.connected(false)
	st.connected(true) // a reconnect after a missed announcement
	e.expect(tok2, CodeSessionRevoked)
}

func TestChangeFeedNotYetConnected(t *testing.T) {
	e, st := newSharedEnv(t)
	tok := e.token("u1", "t1", "s1")
	e.expect(tok, "")
	e.settle()
	e.clk.Advance(MaxFeedGap)
	if _, err := st.End(ctx, "t1", "s1", store.ReasonRevoked, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Never subscribed: the cache has not been vouched for.
	e.expect(tok, CodeSessionRevoked)
}

// A token used before reaches its session, and the session its tenant's policy, without a
// cache lookup; a policy change announced by another node still applies to it at once.
func TestLinkedPolicyFollowsChanges(t *testing.T) {
	e, st := newSharedEnv(t)
	st.connected(true)
	tok := e.token("u1", "t1", "s1")
	for range 3 {
		e.expect(tok, "")
		e.settle()
	}
	c := e.cachedClaims(tok)
	if c == nil || c.live.Load() == nil || c.live.Load().policy.Load() == nil {
		t.Fatal("the cached claims do not lead to their session and its policy")
	}
	shortenIdleElsewhere(t, e, st)
	e.expect(tok, CodeSessionIdle)
}
