package integration

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"
)

// listSessions asks the operator API for a user's active sessions.
func listSessions(t *testing.T, g *gateway, tenant, user string) []apiSession {
	t.Helper()
	r := g.admin(t, http.MethodGet, "/sessiongate/tenants/"+tenant+"/users/"+user+"/sessions", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("listing %s/%s's sessions: got %s, want 200", tenant, user, r)
	}
	expectJSON(t, r)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatalf("the session list is not a JSON object: %s", r.Body)
	}
	if list := strings.TrimSpace(string(raw["sessions"])); !strings.HasPrefix(list, "[") {
		t.Fatalf(`the session list's "sessions" is %s, want an array: %s`, list, r.Body)
	}
	var out struct {
		Sessions []apiSession `json:"sessions"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("decoding the session list %s: %v", r.Body, err)
	}
	return out.Sessions
}

func sessionIDs(list []apiSession) []string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids
}

func expectJSON(t *testing.T, r result) {
	t.Helper()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type is %q, want application/json", r.Header.Get("Content-Type"))
	}
}

// expectAdminError checks an operator API error answer.
func expectAdminError(t *testing.T, r result, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want %d %s", r, status, code)
	}
	expectJSON(t, r)
	if e := r.errorBody(); e.Error != code || e.Message == "" {
		t.Errorf("got body %s, want error %q with a message", r.Body, code)
	}
}

// TestSessionLifecycle: sessions are created on first use and ended through the operator API;
// an ended session stays ended and a user-wide sign-out also refuses older tokens for session
// ids the gateway has not seen.
func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := startGateway(t, gatewayConfig{Gate: hsGate(), Upstream: up.URL})
	get := func(t *testing.T, c claims) result {
		t.Helper()
		return g.do(t, "/", bearer(hsToken(t, c)))
	}
	allowed := func(t *testing.T, id identity) {
		t.Helper()
		before := up.count()
		expectAllowed(t, get(t, claimsFor(id)), up, before, id)
	}
	refused := func(t *testing.T, c claims, code string) {
		t.Helper()
		before := up.count()
		expectRefused(t, get(t, c), up, before, http.StatusUnauthorized, code)
	}

	t.Run("created on first request", func(t *testing.T) {
		const ua = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
		id := identity{"alice", "acme", newID("s")}
		if list := listSessions(t, g, "acme", "alice"); len(list) != 0 {
			t.Fatalf("alice has sessions before any request: %v", sessionIDs(list))
		}
		start := time.Now()
		before := up.count()
		r := g.do(t, "/", bearer(hsToken(t, claimsFor(id))), userAgent(ua))
		expectAllowed(t, r, up, before, id)
		list := listSessions(t, g, "acme", "alice")
		if len(list) != 1 {
			t.Fatalf("alice has sessions %v, want [%s]", sessionIDs(list), id.sid)
		}
		s := list[0]
		if s.ID != id.sid || s.UserID != "alice" || s.TenantID != "acme" {
			t.Errorf("got session %+v, want id %s of acme/alice", s, id.sid)
		}
		if s.IP != "127.0.0.1" {
			t.Errorf("ip is %q, want 127.0.0.1", s.IP)
		}
		if s.UserAgent != ua {
			t.Errorf("user_agent is %q, want %q", s.UserAgent, ua)
		}
		if s.CreatedAt.Before(start.Add(-5*time.Second)) || s.CreatedAt.After(time.Now().Add(5*time.Second)) {
			t.Errorf("created_at %s is not about now", s.CreatedAt)
		}
		if s.LastActiveAt.Before(s.CreatedAt) {
			t.Errorf("last_active_at %s is before created_at %s", s.LastActiveAt, s.CreatedAt)
		}
		if s.ExpiresAt != nil {
			t.Errorf("expires_at is %s, want null without force_relogin", s.ExpiresAt)
		}
		if s.IdleExpiresAt == nil || s.IdleExpiresAt.Sub(s.LastActiveAt) != 24*time.Hour {
			t.Errorf("idle_expires_at is %v, want last_active_at + 24h", s.IdleExpiresAt)
		}
	})

	t.Run("one session revoked", func(t *testing.T) {
		victim := identity{"dora", "acme", newID("s")}
		other := identity{"dora", "acme", newID("s")}
		allowed(t, victim)
		allowed(t, other)
		r := g.admin(t, http.MethodDelete, "/sessiongate/tenants/acme/sessions/"+victim.sid, "", "")
		if r.Status != http.StatusNoContent {
			t.Fatalf("DELETE session: got %s, want 204", r)
		}
		for i := 0; i < 3; i++ {
			refused(t, claimsFor(victim), "session_revoked")
		}
		// A fresh token naming the ended session does not bring it back.
		refused(t, claimsFor(victim).with("iat", time.Now().Add(2*time.Second).Unix(), "jti", newID("j")), "session_revoked")
		allowed(t, other)
		if ids := sessionIDs(listSessions(t, g, "acme", "dora")); len(ids) != 1 || ids[0] != other.sid {
			t.Errorf("dora's sessions are %v, want [%s]", ids, other.sid)
		}
	})

	t.Run("all of a user's sessions revoked", func(t *testing.T) {
		b1 := identity{"bob", "acme", newID("s")}
		b2 := identity{"bob", "acme", newID("s")}
		carol := identity{"carol", "acme", newID("s")}
		bobElsewhere := identity{"bob", "other", newID("s")}
		for _, id := range []identity{b1, b2, carol, bobElsewhere} {
			allowed(t, id)
		}
		r := g.admin(t, http.MethodDelete, "/sessiongate/tenants/acme/users/bob/sessions", "", "")
		if r.Status != http.StatusNoContent {
			t.Fatalf("DELETE user sessions: got %s, want 204", r)
		}
		refused(t, claimsFor(b1), "session_revoked")
		refused(t, claimsFor(b2), "session_revoked")
		if list := listSessions(t, g, "acme", "bob"); len(list) != 0 {
			t.Errorf("bob still has sessions %v", sessionIDs(list))
		}
		allowed(t, carol)
		allowed(t, bobElsewhere)

		// The cut-off: an unseen session id whose token was issued before the sign-out.
		early := identity{"bob", "acme", newID("s")}
		earlyClaims := claimsFor(early).with("iat", time.Now().Add(-5*time.Second).Unix())
		refused(t, earlyClaims, "session_revoked")
		refused(t, earlyClaims, "session_revoked") // and it was not created meanwhile
		// A token issued after the sign-out (iat in the future, within the 30s leeway).
		late := identity{"bob", "acme", newID("s")}
		lateClaims := claimsFor(late).with("iat", time.Now().Add(2*time.Second).Unix())
		for i := 0; i < 2; i++ {
			before := up.count()
			expectAllowed(t, get(t, lateClaims), up, before, late)
		}
		if ids := sessionIDs(listSessions(t, g, "acme", "bob")); len(ids) != 1 || ids[0] != late.sid {
			t.Errorf("bob's sessions are %v, want [%s]", ids, late.sid)
		}
	})

	t.Run("unknown session", func(t *testing.T) {
		r := g.admin(t, http.MethodDelete, "/sessiongate/tenants/acme/sessions/"+newID("nosuch"), "", "")
		expectAdminError(t, r, http.StatusNotFound, "not_found")
		if list := listSessions(t, g, "acme", "nobody"); len(list) != 0 {
			t.Errorf("an unknown user has sessions %v", sessionIDs(list))
		}
	})

	t.Run("bad ids in the path", func(t *testing.T) {
		for _, tc := range []struct{ method, path string }{
			{http.MethodGet, "/sessiongate/tenants/a%2Fb/users/alice/sessions"},
			{http.MethodDelete, "/sessiongate/tenants/a%2Fb/users/alice/sessions"},
			{http.MethodGet, "/sessiongate/tenants/a%20b/users/alice/sessions"},
			{http.MethodGet, "/sessiongate/tenants/acme/users/a%20b/sessions"},
			{http.MethodDelete, "/sessiongate/tenants/a%20b/sessions/s1"},
			{http.MethodDelete, "/sessiongate/tenants/acme/sessions/a%2Fb"},
			{http.MethodGet, "/sessiongate/tenants/a%2Fb/policy"},
			{http.MethodPut, "/sessiongate/tenants/a%20b/policy"},
			{http.MethodDelete, "/sessiongate/tenants/a%22b/policy"},
		} {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				body := ""
				if tc.method == http.MethodPut {
					body = `{"idle_timeout":{"enabled":true,"seconds":60}}`
				}
				r := g.admin(t, tc.method, tc.path, body, "application/json")
				expectAdminError(t, r, http.StatusBadRequest, "bad_request")
			})
		}
	})
}
