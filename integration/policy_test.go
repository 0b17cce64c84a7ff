package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type timeoutJSON struct {
	Enabled bool  `json:"enabled"`
	Seconds int64 `json:"seconds"`
}

type limitJSON struct {
	Enabled  bool   `json:"enabled"`
	Max      int    `json:"max"`
	Strategy string `json:"strategy"`
}

// policyJSON is a policy object as the contract shows it.
type policyJSON struct {
	IdleTimeout  timeoutJSON `json:"idle_timeout"`
	ForceRelogin timeoutJSON `json:"force_relogin"`
	MaxSessions  limitJSON   `json:"max_sessions"`
	Source       string      `json:"source,omitempty"`
}

func decodePolicy(t *testing.T, r result) policyJSON {
	t.Helper()
	expectJSON(t, r)
	var p policyJSON
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("decoding the policy %s: %v", r.Body, err)
	}
	return p
}

func getPolicy(t *testing.T, g *gateway, tenant string) policyJSON {
	t.Helper()
	r := g.admin(t, http.MethodGet, "/sessiongate/tenants/"+tenant+"/policy", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET policy: got %s, want 200", r)
	}
	return decodePolicy(t, r)
}

func putPolicy(t *testing.T, g *gateway, tenant, body string) policyJSON {
	t.Helper()
	r := g.admin(t, http.MethodPut, "/sessiongate/tenants/"+tenant+"/policy", body, "application/json")
	if r.Status != http.StatusOK {
		t.Fatalf("PUT policy %s: got %s, want 200", body, r)
	}
	return decodePolicy(t, r)
}

var defaultPolicy = policyJSON{
	IdleTimeout:  timeoutJSON{true, 86400},
	ForceRelogin: timeoutJSON{false, 0},
	MaxSessions:  limitJSON{false, 0, "evict_oldest"},
	Source:       "default",
}

// TestPolicy: tenant policies set through the operator API and applied to sessions.
func TestPolicy(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := startGateway(t, gatewayConfig{Gate: hsGate(), Upstream: up.URL})
	call := func(t *testing.T, id identity) result {
		t.Helper()
		return g.do(t, "/", bearer(hsToken(t, claimsFor(id))))
	}
	allowed := func(t *testing.T, id identity) {
		t.Helper()
		before := up.count()
		expectAllowed(t, call(t, id), up, before, id)
	}
	refused := func(t *testing.T, id identity, status int, code string) {
		t.Helper()
		before := up.count()
		expectRefused(t, call(t, id), up, before, status, code)
	}

	t.Run("default, set, limit, delete", func(t *testing.T) {
		const tenant = "limited"
		if got := getPolicy(t, g, tenant); got != defaultPolicy {
			t.Fatalf("default policy is %+v, want %+v", got, defaultPolicy)
		}
		want := defaultPolicy
		want.MaxSessions = limitJSON{true, 2, "reject_new"}
		want.Source = ""
		got := putPolicy(t, g, tenant, `{"max_sessions":{"enabled":true,"max":2,"strategy":"reject_new"}}`)
		if got.Source != "" && got.Source != "tenant" {
			t.Errorf("PUT answered source %q, want tenant", got.Source)
		}
		got.Source = ""
		if got != want {
			t.Errorf("PUT answered %+v, want %+v", got, want)
		}
		want.Source = "tenant"
		if got := getPolicy(t, g, tenant); got != want {
			t.Fatalf("stored policy is %+v, want %+v", got, want)
		}

		s1 := identity{"erin", tenant, newID("p")}
		s2 := identity{"erin", tenant, newID("p")}
		s3 := identity{"erin", tenant, newID("p")}
		allowed(t, s1)
		allowed(t, s2)
		refused(t, s3, http.StatusForbidden, "session_limit_reached")
		refused(t, s3, http.StatusForbidden, "session_limit_reached") // nothing was created
		allowed(t, s1)
		allowed(t, s2)
		allowed(t, identity{"frank", tenant, newID("p")}) // the limit is per user
		if ids := sessionIDs(listSessions(t, g, tenant, "erin")); len(ids) != 2 {
			t.Errorf("erin has sessions %v, want 2", ids)
		}

		putPolicy(t, g, tenant, `{"max_sessions":{"enabled":true,"max":2,"strategy":"evict_oldest"}}`)
		allowed(t, s3)
		refused(t, s1, http.StatusUnauthorized, "session_evicted")
		refused(t, s1, http.StatusUnauthorized, "session_evicted")
		allowed(t, s2)
		allowed(t, s3)
		ids := sessionIDs(listSessions(t, g, tenant, "erin"))
		if len(ids) != 2 || ids[0] != s3.sid || ids[1] != s2.sid {
			t.Errorf("erin's sessions are %v, want [%s %s] (newest first)", ids, s3.sid, s2.sid)
		}

		r := g.admin(t, http.MethodDelete, "/sessiongate/tenants/"+tenant+"/policy", "", "")
		if r.Status != http.StatusNoContent {
			t.Fatalf("DELETE policy: got %s, want 204", r)
		}
		if got := getPolicy(t, g, tenant); got != defaultPolicy {
			t.Errorf("after DELETE the policy is %+v, want the default %+v", got, defaultPolicy)
		}
		allowed(t, identity{"erin", tenant, newID("p")}) // no limit any more
	})

	t.Run("bad bodies", func(t *testing.T) {
		const tenant = "strict"
		stored := putPolicy(t, g, tenant, `{"idle_timeout":{"enabled":true,"seconds":3600},"max_sessions":{"enabled":true,"max":5,"strategy":"reject_new"}}`)
		stored.Source = "tenant"
		for _, tc := range []struct {
			name, body, field string
		}{
			{"unknown field", `{"idle_timeout":{"enabled":true,"seconds":60},"bogus_field":1}`, "bogus_field"},
			{"unknown nested field", `{"idle_timeout":{"enabled":true,"seconds":60,"minutes":1}}`, "minutes"},
			{"MAX instead of max", `{"max_sessions":{"enabled":true,"MAX":3}}`, "MAX"},
			{"Idle_Timeout instead of idle_timeout", `{"Idle_Timeout":{"enabled":false,"seconds":0}}`, "Idle_Timeout"},
			{"duplicate key", `{"max_sessions":{"enabled":true,"max":3,"max":4}}`, "max"},
			{"duplicate top-level key", `{"idle_timeout":{"enabled":true,"seconds":60},"idle_timeout":{"enabled":false,"seconds":0}}`, "idle_timeout"},
			{"seconds as a string", `{"idle_timeout":{"enabled":true,"seconds":"60"}}`, "seconds"},
			{"enabled as a string", `{"force_relogin":{"enabled":"yes","seconds":60}}`, "enabled"},
			{"fractional seconds", `{"idle_timeout":{"enabled":true,"seconds":1.5}}`, "seconds"},
			{"null max", `{"max_sessions":{"enabled":true,"max":null}}`, "max"},
			{"seconds 0 when enabled", `{"force_relogin":{"enabled":true,"seconds":0}}`, "force_relogin"},
			{"negative seconds", `{"idle_timeout":{"enabled":false,"seconds":-1}}`, "idle_timeout"},
			{"seconds over ten years", `{"idle_timeout":{"enabled":true,"seconds":315360001}}`, "idle_timeout"},
			{"max 0 when enabled", `{"max_sessions":{"enabled":true,"max":0}}`, "max"},
			{"max over 10000", `{"max_sessions":{"enabled":true,"max":10001}}`, "max"},
			{"unknown strategy", `{"max_sessions":{"enabled":true,"max":2,"strategy":"sometimes"}}`, "strategy"},
			{"trailing data", `{"idle_timeout":{"enabled":true,"seconds":60}} {"idle_timeout":{"enabled":false}}`, ""},
			{"trailing garbage", `{"idle_timeout":{"enabled":true,"seconds":60}}x`, ""},
			{"not an object", `[1,2]`, ""},
			{"not JSON", `idle_timeout=60`, ""},
			{"empty body", ``, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := g.admin(t, http.MethodPut, "/sessiongate/tenants/"+tenant+"/policy", tc.body, "application/json")
				expectAdminError(t, r, http.StatusBadRequest, "bad_request")
				if msg := r.errorBody().Message; !strings.Contains(msg, tc.field) {
					t.Errorf("the message %q does not name the field %q", msg, tc.field)
				}
				if got := getPolicy(t, g, tenant); got != stored {
					t.Errorf("a refused PUT changed the policy to %+v, want %+v", got, stored)
				}
			})
		}
	})

	t.Run("concurrent creations respect the limit", func(t *testing.T) {
		const n = 8
		for _, strategy := range []string{"reject_new", "evict_oldest"} {
			t.Run(strategy, func(t *testing.T) {
				tenant := "race-" + strategy
				putPolicy(t, g, tenant, `{"max_sessions":{"enabled":true,"max":2,"strategy":"`+strategy+`"}}`)
				ids := make([]identity, n)
				tokens := make([]string, n)
				for i := range ids {
					ids[i] = identity{"hank", tenant, newID("c")}
					tokens[i] = hsToken(t, claimsFor(ids[i]))
				}
				statuses := make([]int, n)
				var wg sync.WaitGroup
				for i := range ids {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest(http.MethodGet, g.siteURL+"/", nil)
						req.Header.Set("Authorization", "Bearer "+tokens[i])
						if resp, err := g.client.Do(req); err == nil {
							statuses[i] = resp.StatusCode
							resp.Body.Close()
						}
					}()
				}
				wg.Wait()
				ok := 0
				for _, s := range statuses {
					if s == http.StatusOK {
						ok++
					}
				}
				active := listSessions(t, g, tenant, "hank")
				if len(active) > 2 {
					t.Errorf("%d concurrent creations left %d active sessions, over the limit of 2", n, len(active))
				}
				switch strategy {
				case "reject_new":
					if ok != 2 {
						t.Errorf("reject_new let %d of %d concurrent new sessions through (statuses %v), want 2", ok, n, statuses)
					}
				case "evict_oldest":
					if ok != n {
						t.Errorf("evict_oldest let %d of %d concurrent new sessions through (statuses %v), want all", ok, n, statuses)
					}
					if len(active) != 2 {
						t.Errorf("evict_oldest left %d active sessions, want 2", len(active))
					}
				}
				// Whatever is not listed as active is refused from now on.
				live := map[string]bool{}
				for _, s := range active {
					live[s.ID] = true
				}
				for i, id := range ids {
					r := g.do(t, "/", bearer(tokens[i]))
					if live[id.sid] != (r.Status == http.StatusOK) {
						t.Errorf("session %s (listed active: %v) answered %s", id.sid, live[id.sid], r)
					}
				}
			})
		}
	})

	t.Run("idle timeout and force re-login", func(t *testing.T) {
		putPolicy(t, g, "idle", `{"idle_timeout":{"enabled":true,"seconds":1}}`)
		putPolicy(t, g, "force", `{"force_relogin":{"enabled":true,"seconds":1}}`)
		idle := identity{"gina", "idle", newID("p")}
		busy := identity{"gina", "idle", newID("p")}
		force := identity{"gina", "force", newID("p")}
		allowed(t, idle)
		allowed(t, busy)
		allowed(t, force)
		list := listSessions(t, g, "force", "gina")
		if len(list) != 1 || list[0].ExpiresAt == nil || list[0].ExpiresAt.Sub(list[0].CreatedAt) != time.Second {
			t.Errorf("the force re-login session %+v, want expires_at = created_at + 1s", list)
		}
		// The real waits of the suite: the timeouts are 1s of wall-clock time. busy is used
		// halfway, which refreshes its idle timer.
		time.Sleep(600 * time.Millisecond)
		allowed(t, busy)
		time.Sleep(600 * time.Millisecond)
		refused(t, idle, http.StatusUnauthorized, "session_idle_timeout")
		allowed(t, busy)
		refused(t, force, http.StatusUnauthorized, "session_expired")
		// Ended stays ended, with its first reason, even after the policy is relaxed.
		putPolicy(t, g, "idle", `{"idle_timeout":{"enabled":false,"seconds":1}}`)
		putPolicy(t, g, "force", `{"force_relogin":{"enabled":false,"seconds":1}}`)
		refused(t, idle, http.StatusUnauthorized, "session_idle_timeout")
		refused(t, force, http.StatusUnauthorized, "session_expired")
		// New sessions under the relaxed policies are fine.
		allowed(t, identity{"gina", "idle", newID("p")})
		allowed(t, identity{"gina", "force", newID("p")})
	})
}

// TestCaddyfilePolicy: the Caddyfile's policy options and claim names are the default for
// tenants without their own.
func TestCaddyfilePolicy(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := startGateway(t, gatewayConfig{Gate: hsGate(
		"force_relogin 1h",
		"idle_timeout off",
		"max_sessions 1",
		"max_sessions_strategy reject_new",
		"claim_user uid",
		"claim_tenant org",
		"claim_session session",
	), Upstream: up.URL})
	want := policyJSON{
		IdleTimeout:  timeoutJSON{false, 0},
		ForceRelogin: timeoutJSON{true, 3600},
		MaxSessions:  limitJSON{true, 1, "reject_new"},
		Source:       "default",
	}
	if got := getPolicy(t, g, "acme"); got != want {
		t.Errorf("the default policy is %+v, want %+v", got, want)
	}
	token := func(t *testing.T, id identity) string {
		now := time.Now()
		return hsToken(t, claims{"uid": id.user, "org": id.tenant, "session": id.sid,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	}
	first := identity{"ivy", "acme", newID("cf")}
	before := up.count()
	expectAllowed(t, g.do(t, "/", bearer(token(t, first))), up, before, first)
	list := listSessions(t, g, "acme", "ivy")
	if len(list) != 1 || list[0].ExpiresAt == nil || list[0].ExpiresAt.Sub(list[0].CreatedAt) != time.Hour || list[0].IdleExpiresAt != nil {
		t.Errorf("session %+v, want expires_at = created_at + 1h and no idle_expires_at", list)
	}
	before = up.count()
	expectRefused(t, g.do(t, "/", bearer(token(t, identity{"ivy", "acme", newID("cf")}))), up, before,
		http.StatusForbidden, "session_limit_reached")
	// The default claim names are not read when others are configured.
	before = up.count()
	expectRefused(t, g.do(t, "/", bearer(hsToken(t, claimsFor(identity{"jo", "acme", newID("cf")})))), up, before,
		http.StatusUnauthorized, "invalid_token")
}
