package integration

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// boltGate is an hmac_secret gateway on the bolt file path.
func boltGate(path string, extra ...string) string {
	return hsGate(append([]string{"store bolt " + path}, extra...)...)
}

// TestBoltDurability: an acknowledged revocation survives a crash right after the reply, and
// sessions survive restarts.
func TestBoltDurability(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	db := filepath.Join(t.TempDir(), "s.db")
	cfg := gatewayConfig{Gate: boltGate(db), Upstream: up.URL}
	allowed := func(t *testing.T, g *gateway, c claims, id identity) {
		t.Helper()
		before := up.count()
		expectAllowed(t, g.do(t, "/", bearer(hsToken(t, c))), up, before, id)
	}
	refused := func(t *testing.T, g *gateway, c claims, code string) {
		t.Helper()
		before := up.count()
		expectRefused(t, g.do(t, "/", bearer(hsToken(t, c))), up, before, http.StatusUnauthorized, code)
	}

	revoked := identity{"alice", "acme", newID("d")}
	kept := identity{"alice", "acme", newID("d")}
	bob := identity{"bob", "acme", newID("d")}
	bobLater := identity{"bob", "acme", newID("d")} // unseen; its token predates bob's sign-out
	bobLaterClaims := claimsFor(bobLater).with("iat", time.Now().Add(-10*time.Second).Unix())

	g1 := startGateway(t, cfg)
	for _, id := range []identity{revoked, kept, bob} {
		allowed(t, g1, claimsFor(id), id)
	}
	if r := g1.admin(t, http.MethodDelete, "/sessiongate/tenants/acme/users/bob/sessions", "", ""); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE bob's sessions: got %s, want 204", r)
	}
	stored := putPolicy(t, g1, "acme", `{"force_relogin":{"enabled":true,"seconds":86400}}`)
	stored.Source = "tenant"
	if r := g1.admin(t, http.MethodDelete, "/sessiongate/tenants/acme/sessions/"+revoked.sid, "", ""); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE session: got %s, want 204", r)
	}
	g1.kill() // right after the acknowledgement, as a crash

	g2 := startGateway(t, cfg)
	refused(t, g2, claimsFor(revoked), "session_revoked")
	refused(t, g2, claimsFor(bob), "session_revoked")
	refused(t, g2, bobLaterClaims, "session_revoked")
	allowed(t, g2, claimsFor(kept), kept)
	if got := getPolicy(t, g2, "acme"); got != stored {
		t.Errorf("after the crash the policy is %+v, want %+v", got, stored)
	}
	g2.stop()

	g3 := startGateway(t, cfg)
	allowed(t, g3, claimsFor(kept), kept)
	refused(t, g3, claimsFor(revoked), "session_revoked")
	refused(t, g3, bobLaterClaims, "session_revoked")
	if ids := sessionIDs(listSessions(t, g3, "acme", "alice")); len(ids) != 1 || ids[0] != kept.sid {
		t.Errorf("after two restarts alice's sessions are %v, want [%s]", ids, kept.sid)
	}
}

// TestDefaultStorePath: without a store line the sessions are kept in bolt under Caddy's data
// directory, and survive a restart.
func TestDefaultStorePath(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := startGateway(t, gatewayConfig{Gate: hsGate(), Upstream: up.URL})
	id := identity{"alice", "acme", newID("def")}
	before := up.count()
	expectAllowed(t, g.do(t, "/", bearer(hsToken(t, claimsFor(id)))), up, before, id)
	path := filepath.Join(g.home, "data", "caddy", "sessiongate.db")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the default store is not at %s: %v", path, err)
	}
}

// TestReloadKeepsSessions: a config reload keeps live sessions live and ended ones ended, does
// not hang on the bolt file, and lets go of a store the new config no longer uses.
func TestReloadKeepsSessions(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	g := startGateway(t, gatewayConfig{Gate: boltGate(db), Upstream: up.URL})
	allowed := func(t *testing.T, id identity) result {
		t.Helper()
		before := up.count()
		r := g.do(t, "/", bearer(hsToken(t, claimsFor(id))))
		expectAllowed(t, r, up, before, id)
		return r
	}
	refused := func(t *testing.T, id identity, code string) {
		t.Helper()
		before := up.count()
		expectRefused(t, g.do(t, "/", bearer(hsToken(t, claimsFor(id)))), up, before, http.StatusUnauthorized, code)
	}
	live := identity{"alice", "acme", newID("r")}
	ended := identity{"alice", "acme", newID("r")}
	allowed(t, live)
	allowed(t, ended)
	if r := g.admin(t, http.MethodDelete, "/sessiongate/tenants/acme/sessions/"+ended.sid, "", ""); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE session: got %s, want 204", r)
	}

	t.Run("POST /load", func(t *testing.T) {
		r := g.reload(t, gatewayConfig{
			Gate:     boltGate(db, "idle_timeout 12h"),
			Upstream: up.URL,
			Site:     "header X-Config v2",
		})
		if r.Status != http.StatusOK {
			t.Fatalf("POST /load: got %s, want 200", r)
		}
		if got := allowed(t, live).Header.Get("X-Config"); got != "v2" {
			t.Errorf("X-Config is %q: the new config is not serving", got)
		}
		refused(t, ended, "session_revoked")
		if ids := sessionIDs(listSessions(t, g, "acme", "alice")); len(ids) != 1 || ids[0] != live.sid {
			t.Errorf("after the reload alice's sessions are %v, want [%s]", ids, live.sid)
		}
		if p := getPolicy(t, g, "acme"); p.IdleTimeout.Seconds != 12*3600 {
			t.Errorf("after the reload the default idle timeout is %ds, want 43200", p.IdleTimeout.Seconds)
		}
	})

	t.Run("caddy reload", func(t *testing.T) {
		g.writeConfig(t, gatewayConfig{Gate: boltGate(db), Upstream: up.URL, Site: "header X-Config v3"})
		out, err, timedOut := runCaddy(t, 30*time.Second, processEnv(t.TempDir()),
			"reload", "--config", g.file, "--adapter", "caddyfile", "--address", "127.0.0.1:"+strconv.Itoa(g.adminPort))
		if timedOut {
			t.Fatalf("caddy reload hung:\n%s", out)
		}
		if err != nil {
			t.Fatalf("caddy reload: %v\n%s", err, out)
		}
		if got := allowed(t, live).Header.Get("X-Config"); got != "v3" {
			t.Errorf("X-Config is %q: the new config is not serving", got)
		}
		refused(t, ended, "session_revoked")
	})

	t.Run("a failed reload leaves the running config working", func(t *testing.T) {
		// The new config opens the same store, then fails to provision (it names two keys,
		// hmac_secret and jwks_file): the running config must keep its store.
		r := g.reload(t, gatewayConfig{
			Gate:     boltGate(db, "jwks_file "+filepath.Join(dir, "jwks.json")),
			Upstream: up.URL,
		})
		if r.Status < 400 {
			t.Fatalf("POST /load of a broken config: got %s, want an error", r)
		}
		allowed(t, live)
		allowed(t, identity{"alice", "acme", newID("r")}) // creating still works
		refused(t, ended, "session_revoked")
		if r := g.admin(t, http.MethodDelete, "/sessiongate/tenants/acme/sessions/"+newID("nosuch"), "", ""); r.Status != http.StatusNotFound {
			t.Errorf("operator DELETE of an unknown session after a failed reload: got %s, want 404", r)
		}
	})

	t.Run("reload onto another store releases the old file", func(t *testing.T) {
		other := filepath.Join(dir, "other.db")
		if r := g.reload(t, gatewayConfig{Gate: boltGate(other), Upstream: up.URL}); r.Status != http.StatusOK {
			t.Fatalf("POST /load: got %s, want 200", r)
		}
		// The old session is not in the new store: a new session under the same id is made.
		allowed(t, live)
		// Nothing holds the old file now, so another process can open it at once.
		check := writeFile(t, "Caddyfile", []byte("{\n\tadmin off\n}\n:0 {\n\tsessiongate {\n\t\thmac_secret "+hsSecret+
			"\n\t\tstore bolt "+db+"\n\t}\n}\n"))
		out, err, timedOut := runCaddy(t, 10*time.Second, processEnv(t.TempDir()), "validate", "--config", check, "--adapter", "caddyfile")
		if timedOut || err != nil {
			t.Errorf("validating a config on the released bolt file: err %v, timed out %v:\n%s", err, timedOut, tail(out, 4000))
		}
	})
}

// TestValidateWhileRunning: `caddy validate` on a config whose bolt file the running server
// holds returns promptly, and says why when it fails.
func TestValidateWhileRunning(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "held.db")
	g := startGateway(t, gatewayConfig{Gate: boltGate(db)})
	id := identity{"alice", "acme", newID("v")}
	if r := g.do(t, "/", bearer(hsToken(t, claimsFor(id)))); r.Status != http.StatusOK {
		t.Fatalf("got %s, want 200", r)
	}
	start := time.Now()
	out, err, timedOut := runCaddy(t, 10*time.Second, processEnv(t.TempDir()), "validate", "--config", g.file, "--adapter", "caddyfile")
	if timedOut {
		t.Fatalf("caddy validate did not return within 10s while the bolt file was held:\n%s", tail(out, 4000))
	}
	t.Logf("caddy validate returned in %s (err %v)", time.Since(start).Round(time.Millisecond), err)
	if err != nil && !strings.Contains(out, db) {
		t.Errorf("caddy validate failed without naming the bolt file %s:\n%s", db, tail(out, 4000))
	}
	// The running server is unharmed.
	if r := g.do(t, "/", bearer(hsToken(t, claimsFor(id)))); r.Status != http.StatusOK {
		t.Errorf("after caddy validate: got %s, want 200", r)
	}
	if r := g.do(t, "/", bearer(hsToken(t, claimsFor(identity{"alice", "acme", newID("v")})))); r.Status != http.StatusOK {
		t.Errorf("a new session after caddy validate: got %s, want 200", r)
	}
}

// TestOperatorSeesEveryStore: with two sites on two stores, the operator routes reach the
// sessions of both.
func TestOperatorSeesEveryStore(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := t.TempDir()
	otherPort := freePort(t)
	g := startGateway(t, gatewayConfig{
		Gate:     boltGate(filepath.Join(dir, "a.db")),
		Upstream: up.URL,
		Sites: "\n:" + strconv.Itoa(otherPort) + " {\n\tbind 127.0.0.1\n\tsessiongate {\n\t\thmac_secret " + hsSecret +
			"\n\t\tstore bolt " + filepath.Join(dir, "b.db") + "\n\t}\n\treverse_proxy " + strings.TrimPrefix(up.URL, "http://") + "\n}\n",
	})
	otherURL := "http://127.0.0.1:" + strconv.Itoa(otherPort)
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(otherURL, "http://"), time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second site did not start")
		}
	}
	onA := identity{"alice", "acme", newID("a")}
	onB := identity{"alice", "acme", newID("b")}
	before := up.count()
	expectAllowed(t, g.do(t, "/", bearer(hsToken(t, claimsFor(onA)))), up, before, onA)
	req, _ := http.NewRequest(http.MethodGet, otherURL+"/", nil)
	req.Header.Set("Authorization", "Bearer "+hsToken(t, claimsFor(onB)))
	before = up.count()
	expectAllowed(t, send(t, g.client, req), up, before, onB)

	ids := sessionIDs(listSessions(t, g, "acme", "alice"))
	if len(ids) != 2 {
		t.Errorf("the operator lists alice's sessions %v, want both %s and %s", ids, onA.sid, onB.sid)
	}
	for _, id := range []identity{onA, onB} {
		if r := g.admin(t, http.MethodDelete, "/sessiongate/tenants/acme/sessions/"+id.sid, "", ""); r.Status != http.StatusNoContent {
			t.Errorf("operator DELETE of session %s: got %s, want 204", id.sid, r)
		}
	}
}
