package integration

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/store/redis/redistest"
)

// redisURL is a Redis the tests start: a redistest.Server or Cluster.
type redisURL interface{ URL() string }

// redisGateways starts n gateway processes sharing one real Redis (a server or a cluster).
func redisGateways(t testing.TB, srv redisURL, n int, extra ...string) []*gateway {
	t.Helper()
	gs := make([]*gateway, n)
	for i := range gs {
		gs[i] = startGateway(t, gatewayConfig{Gate: hsGate(append([]string{"store redis " + srv.URL()}, extra...)...)})
	}
	return gs
}

func wantStatus(t testing.TB, what string, r result, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.errorBody().Error != code) {
		t.Fatalf("%s: %s, want %d %s", what, r, status, code)
	}
}

// A session made on one node is used on the others; a revocation acknowledged by one node is
// enforced by every other within the contract's second. On one server and on a 3-master
// Redis Cluster.
func TestMultiNodeSharedSessionsAndRevocation(t *testing.T) {
	t.Parallel()
	t.Run("server", func(t *testing.T) { sharedSessionsAndRevocation(t, redistest.Start(t)) })
	t.Run("cluster", func(t *testing.T) { sharedSessionsAndRevocation(t, redistest.StartCluster(t, 3)) })
}

func sharedSessionsAndRevocation(t *testing.T, srv redisURL) {
	gs := redisGateways(t, srv, 3)
	tenant, user := newID("tenant"), newID("user")
	tok := mint(t, tenant, user, newID("sid"), nil)
	for i, g := range gs {
		wantStatus(t, fmt.Sprintf("node %d", i), g.do(t, "/", bearer(tok)), http.StatusOK, "")
	}
	if n := len(listSessions(t, gs[1], tenant, user)); n != 1 {
		t.Fatalf("node B lists %d sessions after requests on every node, want 1", n)
	}

	wantStatus(t, "revoke on A", gs[0].admin(t, http.MethodDelete, "/sessiongate/tenants/"+tenant+"/users/"+user+"/sessions", "", ""), http.StatusNoContent, "")
	for i, g := range gs[1:] {
		deadline := time.Now().Add(time.Second)
		for {
			r := g.do(t, "/", bearer(tok))
			if r.Status == http.StatusUnauthorized && r.errorBody().Error == "session_revoked" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d still answers %s a second after the revocation", i+1, r)
			}
		}
	}
}

// The concurrent-session limit counts sessions made through every node: 50 creations spread
// over 3 nodes leave at most max live sessions, on one server and on a cluster.
func TestMultiNodeLimit(t *testing.T) {
	t.Parallel()
	t.Run("server", func(t *testing.T) { limitAcrossNodes(t, redistest.Start(t)) })
	t.Run("cluster", func(t *testing.T) { limitAcrossNodes(t, redistest.StartCluster(t, 3)) })
}

func limitAcrossNodes(t *testing.T, srv redisURL) {
	gs := redisGateways(t, srv, 3, "max_sessions 3", "max_sessions_strategy reject_new")
	tenant, user := newID("tenant"), newID("user")
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := range 50 {
		tok := mint(t, tenant, user, newID("sid"), nil)
		g := gs[i%len(gs)]
		wg.Go(func() {
			r := g.do(t, "/", bearer(tok))
			if r.Status == http.StatusOK {
				mu.Lock()
				allowed++
				mu.Unlock()
			} else if r.Status != http.StatusForbidden || r.errorBody().Error != "session_limit_reached" {
				t.Errorf("creation: %s, want 200 or 403 session_limit_reached", r)
			}
		})
	}
	wg.Wait()
	if allowed != 3 {
		t.Errorf("%d of 50 creations through 3 nodes were allowed, want exactly 3", allowed)
	}
	if n := len(listSessions(t, gs[2], tenant, user)); n != 3 {
		t.Errorf("%d live sessions, want 3", n)
	}
}

// waitStatus polls g with tok until it answers want, failing on any answer outside allowed
// or after the deadline.
func waitStatus(t *testing.T, g *gateway, tok string, want int, allowed []int, within time.Duration) result {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := g.do(t, "/", bearer(tok))
		if r.Status == want {
			return r
		}
		if !slices.Contains(allowed, r.Status) {
			t.Fatalf("waiting for %d: %s", want, r)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s after %s, want %d", r, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wantOutage(t *testing.T, r result) {
	t.Helper()
	if r.errorBody().Error != "store_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("during the outage: %s (Retry-After %q), want 503 store_unavailable with Retry-After", r, r.Header.Get("Retry-After"))
	}
}

// Redis down or hanging: requests fail closed with 503 and Retry-After, never 401 and never a
// pass past the 2s a node may trust its cache; back up, service resumes by itself.
func TestMultiNodeRedisOutage(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	gs := redisGateways(t, rs, 2)
	tenant, user := newID("tenant"), newID("user")
	tok := mint(t, tenant, user, newID("sid"), nil)
	for _, g := range gs {
		wantStatus(t, "before the outage", g.do(t, "/", bearer(tok)), http.StatusOK, "")
	}
	ok := []int{http.StatusOK, http.StatusServiceUnavailable}

	// Hanging: every call runs into its deadline.
	rs.Pause()
	for _, g := range gs {
		wantOutage(t, waitStatus(t, g, tok, http.StatusServiceUnavailable, ok, 10*time.Second))
		wantOutage(t, g.do(t, "/", bearer(mint(t, tenant, user, newID("sid"), nil))))
	}
	rs.Resume()
	for _, g := range gs {
		waitStatus(t, g, tok, http.StatusOK, ok, 15*time.Second)
	}

	// Down: the same, and a restart (without persistence here) brings service back.
	rs.Stop()
	for _, g := range gs {
		wantOutage(t, waitStatus(t, g, tok, http.StatusServiceUnavailable, ok, 10*time.Second))
	}
	rs.Restart()
	for _, g := range gs {
		waitStatus(t, g, tok, http.StatusOK, ok, 15*time.Second)
	}
}

// Redis down when Caddy starts: Caddy starts anyway, answers 503 until Redis is up, then
// serves by itself.
func TestRedisDownAtStart(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rs.Stop()
	g := redisGateways(t, rs, 1)[0]
	tok := mint(t, newID("tenant"), newID("user"), newID("sid"), nil)
	wantOutage(t, g.do(t, "/", bearer(tok)))
	rs.Restart()
	waitStatus(t, g, tok, http.StatusOK, []int{http.StatusServiceUnavailable}, 15*time.Second)
}

// BenchmarkRevocationAcrossNodes measures the time from the reply to an operator DELETE on
// node A to the first 401 for that session on node B, whose cache held it live.
//
//	go test -run '^$' -bench RevocationAcrossNodes -benchtime 1000x ./integration
func BenchmarkRevocationAcrossNodes(b *testing.B) {
	rs := redistest.Start(b)
	gs := redisGateways(b, rs, 2)
	a, bNode := gs[0], gs[1]
	tenant := newID("tenant")
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		user, sid := newID("user"), newID("sid")
		tok := mint(b, tenant, user, sid, nil)
		wantStatus(b, "on A", a.do(b, "/", bearer(tok)), http.StatusOK, "")
		wantStatus(b, "on B", bNode.do(b, "/", bearer(tok)), http.StatusOK, "")
		wantStatus(b, "revoke on A", a.admin(b, http.MethodDelete, "/sessiongate/tenants/"+tenant+"/sessions/"+sid, "", ""), http.StatusNoContent, "")
		acked := time.Now()
		for bNode.do(b, "/", bearer(tok)).Status != http.StatusUnauthorized {
			if time.Since(acked) > 2*time.Second {
				b.Fatalf("revocation %d not enforced on B after 2s", i)
			}
		}
		lat = append(lat, time.Since(acked))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
