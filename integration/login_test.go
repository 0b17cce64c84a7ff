package integration

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestLoginRedirect: with login_url, a refused browser navigation is sent to the login page
// with the original URL; API calls and other methods still get the JSON 401.
func TestLoginRedirect(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	const login = "https://login.example.test/signin?app=portal"
	g := startGateway(t, gatewayConfig{Gate: hsGate("login_url " + login), Upstream: up.URL})
	const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	const path = "/dash/board?tab=sessions&q=a%20b&next=%2Fx%3Fy%3D1"
	expired := claimsFor(identity{"alice", "acme", newID("login")}).with(
		"iat", time.Now().Add(-2*time.Hour).Unix(), "exp", time.Now().Add(-time.Hour).Unix())

	redirects := []struct {
		name string
		opts func(t *testing.T) []reqOption
	}{
		{"no token", func(*testing.T) []reqOption {
			return []reqOption{header("Accept", "text/html")}
		}},
		{"browser Accept, invalid token", func(*testing.T) []reqOption {
			return []reqOption{header("Accept", browserAccept), bearer("garbage")}
		}},
		{"browser Accept, expired token", func(t *testing.T) []reqOption {
			return []reqOption{header("Accept", browserAccept), bearer(hsToken(t, expired))}
		}},
	}
	for _, tc := range redirects {
		t.Run("302/"+tc.name, func(t *testing.T) {
			before := up.count()
			r := g.do(t, path, tc.opts(t)...)
			if r.Status != http.StatusFound {
				t.Fatalf("got %s, want 302 to the login page", r)
			}
			if n := up.count() - before; n != 0 {
				t.Errorf("the refused request reached the upstream %d times", n)
			}
			loc, err := url.Parse(r.Header.Get("Location"))
			if err != nil {
				t.Fatalf("Location %q: %v", r.Header.Get("Location"), err)
			}
			if loc.Scheme != "https" || loc.Host != "login.example.test" || loc.Path != "/signin" {
				t.Errorf("Location is %q, want the login_url %q", loc, login)
			}
			q := loc.Query()
			if got := q["app"]; len(got) != 1 || got[0] != "portal" {
				t.Errorf("login_url's own query was not kept: %q", loc)
			}
			if got, want := q["redirect_uri"], g.siteURL+path; len(got) != 1 || got[0] != want {
				t.Errorf("redirect_uri is %q, want exactly [%q] (Location %q)", got, want, loc)
			}
			for _, leaked := range []string{"tab", "q", "next"} {
				if _, ok := q[leaked]; ok {
					t.Errorf("the original query parameter %q leaked into the login URL: redirect_uri not escaped (Location %q)", leaked, loc)
				}
			}
		})
	}

	refusals := []struct {
		name string
		opts []reqOption
		code string
	}{
		{"JSON API call", []reqOption{header("Accept", "application/json")}, "missing_token"},
		{"no Accept", nil, "missing_token"},
		{"any Accept", []reqOption{header("Accept", "*/*"), bearer("garbage")}, "invalid_token"},
		{"POST from a browser", []reqOption{method(http.MethodPost), header("Accept", browserAccept)}, "missing_token"},
		{"DELETE from a browser", []reqOption{method(http.MethodDelete), header("Accept", "text/html"), bearer("garbage")}, "invalid_token"},
	}
	for _, tc := range refusals {
		t.Run("401/"+tc.name, func(t *testing.T) {
			before := up.count()
			r := g.do(t, path, tc.opts...)
			expectRefused(t, r, up, before, http.StatusUnauthorized, tc.code)
		})
	}

	t.Run("allowed browser navigation", func(t *testing.T) {
		id := identity{"alice", "acme", newID("login")}
		before := up.count()
		r := g.do(t, path, header("Accept", browserAccept), bearer(hsToken(t, claimsFor(id))))
		expectAllowed(t, r, up, before, id)
	})
}
