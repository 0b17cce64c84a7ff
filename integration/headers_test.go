package integration

import (
	"net/http"
	"testing"
)

// TestAllowedRequest: a valid token passes with the identity headers set exactly once each,
// and the upstream's answer comes back unchanged.
func TestAllowedRequest(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := startGateway(t, gatewayConfig{Gate: hsGate(), Upstream: up.URL})

	tests := []struct {
		name string
		id   identity
	}{
		{"plain ids", identity{"alice", "acme", newID("s")}},
		{"ids with every allowed punctuation", identity{"u.s_e~r:1@x+y=z|w-v", "t.e_n~a:n@t", "s.i_d~:@+=|-" + newID("x")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count()
			r := g.do(t, "/some/path?q=1", bearer(hsToken(t, claimsFor(tc.id))))
			expectAllowed(t, r, up, before, tc.id)
		})
	}
}

// TestHeaderSpoofing: identity headers sent by the client never reach the upstream, in any
// spelling, and a Connection header cannot make the proxy drop the gateway's own.
func TestHeaderSpoofing(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	// Caddy drops headers spelt with underscores unless told to keep them; the second
	// gateway keeps them, so the gateway's own stripping is what is tested there.
	plain := startGateway(t, gatewayConfig{Gate: hsGate(), Upstream: up.URL})
	keeping := startGateway(t, gatewayConfig{Gate: hsGate(), Upstream: up.URL,
		Global: "\tservers {\n\t\texpected_underscore_headers x_user_id x_tenant_id x_session_id\n\t}\n"})
	id := identity{"alice", "acme", newID("spoof")}
	valid := hsToken(t, claimsFor(id))

	spoofs := []struct {
		name string
		opts []reqOption
	}{
		{"canonical names", []reqOption{
			header("X-User-Id", "mallory"), header("X-Tenant-Id", "evil"), header("X-Session-Id", "stolen"),
		}},
		{"lower case", []reqOption{
			header("x-user-id", "mallory"), header("x-tenant-id", "evil"), header("x-session-id", "stolen"),
		}},
		{"underscores", []reqOption{
			header("X_User_Id", "mallory"), header("x_tenant_id", "evil"), header("X_SESSION_ID", "stolen"),
		}},
		{"repeated values", []reqOption{
			header("X-User-Id", "mallory", "eve"), header("X-User-Id", "trudy"),
		}},
		{"Connection names the user header", []reqOption{header("Connection", "X-User-Id")}},
		{"Connection names the tenant header after keep-alive", []reqOption{header("Connection", "keep-alive, X-Tenant-Id")}},
		{"Connection names all three, in odd spellings", []reqOption{
			header("Connection", "x-user-id, X_Tenant_Id"), header("Connection", "X-SESSION-ID"),
		}},
		{"Connection and spoofed values together", []reqOption{
			header("Connection", "X-User-Id, X-Tenant-Id, X-Session-Id"),
			header("X-User-Id", "mallory"), header("X-Tenant-Id", "evil"), header("X-Session-Id", "stolen"),
		}},
	}
	for _, gw := range []struct {
		name string
		g    *gateway
	}{{"default", plain}, {"underscore headers kept", keeping}} {
		g := gw.g
		for _, tc := range spoofs {
			t.Run(gw.name+"/allowed/"+tc.name, func(t *testing.T) {
				before := up.count()
				r := g.do(t, "/", append([]reqOption{bearer(valid)}, tc.opts...)...)
				expectAllowed(t, r, up, before, id)
			})
			t.Run(gw.name+"/refused/"+tc.name, func(t *testing.T) {
				before := up.count()
				r := g.do(t, "/", append([]reqOption{bearer("not-a-token")}, tc.opts...)...)
				expectRefused(t, r, up, before, http.StatusUnauthorized, "invalid_token")
			})
			t.Run(gw.name+"/no token/"+tc.name, func(t *testing.T) {
				before := up.count()
				r := g.do(t, "/", tc.opts...)
				expectRefused(t, r, up, before, http.StatusUnauthorized, "missing_token")
			})
		}
	}
}
