package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

const (
	testIssuer   = "https://idp.example.test"
	testAudience = "integration-app"
)

// tokenGateways are an hmac_secret gateway reading a token cookie and a jwks_file gateway
// with issuer and audience, in front of one upstream.
type tokenGateways struct {
	up *upstream
	hs *gateway
	rs *gateway
}

func startTokenGateways(t *testing.T) tokenGateways {
	t.Helper()
	up := newUpstream(t)
	jwks := writeFile(t, "jwks.json", jwksJSON(t, rsaKey, rsKid))
	return tokenGateways{
		up: up,
		hs: startGateway(t, gatewayConfig{Gate: hsGate("token_cookie sg_token"), Upstream: up.URL}),
		rs: startGateway(t, gatewayConfig{
			Gate:     "jwks_file " + jwks + "\nissuer " + testIssuer + "\naudience " + testAudience,
			Upstream: up.URL,
		}),
	}
}

// rsClaims is a valid payload for the jwks_file gateway.
func rsClaims(id identity) claims {
	return claimsFor(id).with("iss", testIssuer, "aud", []string{testAudience})
}

// TestTokenAttacks: every forged, malformed, expired or ambiguous token is refused with the
// contract's error, and nothing reaches the upstream.
func TestTokenAttacks(t *testing.T) {
	t.Parallel()
	gws := startTokenGateways(t)
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	pemPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})
	attackerJWK, err := jwk.FromRaw(&attacker.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var jkuHits atomic.Int64
	jku := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		jkuHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwksJSON(t, attacker, "attacker"))
	}))
	defer jku.Close()

	now := time.Now()
	hsID := func() identity { return identity{"alice", "acme", newID("atk")} }
	hsValid := func() claims { return claimsFor(hsID()) }
	rsValid := func() claims { return rsClaims(hsID()) }

	tests := []struct {
		name   string
		rs     bool // against the jwks_file gateway, else the hmac_secret one
		query  bool // a valid token goes in the query string
		opts   func(t *testing.T) []reqOption
		status int
		code   string
	}{
		{name: "alg none", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(unsignedToken(t, hsValid()))}
		}},
		{name: "alg none against jwks", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(unsignedToken(t, rsValid()))}
		}},
		{name: "HS256 with the wrong secret", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.HS256, []byte(hsSecret+"x"), hsValid(), nil))}
		}},
		{name: "RS256 against an hmac secret", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(rsToken(t, hsValid()))}
		}},
		{name: "HS256 keyed with the RSA public key PEM, with kid", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.HS256, pemPKIX, rsValid(), map[string]any{jws.KeyIDKey: rsKid}))}
		}},
		{name: "HS256 keyed with the RSA public key PEM, no kid", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.HS256, pemPKIX, rsValid(), nil))}
		}},
		{name: "HS256 keyed with the PKCS1 public key PEM", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.HS256, pemPKCS1, rsValid(), map[string]any{jws.KeyIDKey: rsKid}))}
		}},
		{name: "kid path traversal", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.RS256, rsaKey, rsValid(), map[string]any{jws.KeyIDKey: "../../../etc/passwd"}))}
		}},
		{name: "kid /dev/null with an empty HMAC key", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.HS256, []byte{0}, rsValid(), map[string]any{jws.KeyIDKey: "/dev/null"}))}
		}},
		{name: "unknown kid", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.RS256, rsaKey, rsValid(), map[string]any{jws.KeyIDKey: "no-such-key"}))}
		}},
		{name: "another RSA key under the known kid", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.RS256, attacker, rsValid(), map[string]any{jws.KeyIDKey: rsKid}))}
		}},
		{name: "key embedded in the jwk header", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.RS256, attacker, rsValid(), map[string]any{jws.JWKKey: attackerJWK}))}
		}},
		{name: "key set named by jku", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(sign(t, jwa.RS256, attacker, rsValid(),
				map[string]any{jws.JWKSetURLKey: jku.URL, jws.KeyIDKey: "attacker"}))}
		}},
		{name: "wrong iss", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(rsToken(t, rsValid().with("iss", "https://evil.example")))}
		}},
		{name: "no iss", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(rsToken(t, rsValid().with("iss", nil)))}
		}},
		{name: "wrong aud", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(rsToken(t, rsValid().with("aud", []string{"other-app"})))}
		}},
		{name: "no aud", rs: true, opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(rsToken(t, rsValid().with("aud", nil)))}
		}},
		{name: "expired beyond the leeway", status: http.StatusUnauthorized, code: "token_expired", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("iat", now.Add(-2*time.Hour).Unix(), "exp", now.Add(-2*time.Minute).Unix())))}
		}},
		{name: "expired beyond the leeway, jwks", rs: true, status: http.StatusUnauthorized, code: "token_expired", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(rsToken(t, rsValid().with("iat", now.Add(-2*time.Hour).Unix(), "exp", now.Add(-time.Hour).Unix())))}
		}},
		{name: "no exp", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("exp", nil)))}
		}},
		{name: "nbf beyond the leeway", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("nbf", now.Add(5*time.Minute).Unix())))}
		}},
		{name: "iat beyond the leeway", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("iat", now.Add(5*time.Minute).Unix())))}
		}},
		{name: "no sub", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("sub", nil)))}
		}},
		{name: "no tenantId", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("tenantId", nil)))}
		}},
		{name: "no sid", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("sid", nil)))}
		}},
		{name: "empty sub", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("sub", "")))}
		}},
		{name: "empty sid", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("sid", "")))}
		}},
		{name: "numeric sub", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("sub", 42)))}
		}},
		{name: "array tenantId", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("tenantId", []string{"acme"})))}
		}},
		{name: "numeric sid", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("sid", 7)))}
		}},
		{name: "object sid", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("sid", map[string]string{"id": "s1"})))}
		}},
		{name: "two segments", opts: func(t *testing.T) []reqOption {
			tok := hsToken(t, hsValid())
			return []reqOption{bearer(tok[:strings.LastIndex(tok, ".")])}
		}},
		{name: "five segments", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid()) + ".e30.e30")}
		}},
		{name: "10 KB token", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid().with("pad", strings.Repeat("a", 10<<10))))}
		}},
		{name: "garbage", opts: func(*testing.T) []reqOption {
			return []reqOption{bearer("garbage")}
		}},
		{name: "garbage in three segments", opts: func(*testing.T) []reqOption {
			return []reqOption{bearer("!!!.@@@.###")}
		}},
		{name: "tampered payload", opts: func(t *testing.T) []reqOption {
			good := strings.Split(hsToken(t, hsValid()), ".")
			evil := strings.Split(hsToken(t, hsValid().with("sub", "mallory")), ".")
			return []reqOption{bearer(good[0] + "." + evil[1] + "." + good[2])}
		}},
		{name: "two Authorization headers", opts: func(t *testing.T) []reqOption {
			tok := hsToken(t, hsValid())
			return []reqOption{bearer(tok), bearer(tok)}
		}},
		{name: "two Authorization headers, one garbage", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid())), bearer("garbage")}
		}},
		{name: "header and cookie tokens differ", opts: func(t *testing.T) []reqOption {
			return []reqOption{bearer(hsToken(t, hsValid())), cookie("sg_token", hsToken(t, hsValid()))}
		}},
		{name: "garbage cookie", opts: func(*testing.T) []reqOption {
			return []reqOption{cookie("sg_token", "garbage")}
		}},
		{name: "token in the query string only", query: true, status: http.StatusUnauthorized, code: "missing_token",
			opts: func(*testing.T) []reqOption { return nil }},
		{name: "another scheme and no cookie", status: http.StatusUnauthorized, code: "missing_token", opts: func(*testing.T) []reqOption {
			return []reqOption{header("Authorization", "Basic YWxpY2U6c2VjcmV0")}
		}},
		{name: "a cookie of another name", status: http.StatusUnauthorized, code: "missing_token", opts: func(t *testing.T) []reqOption {
			return []reqOption{cookie("token", hsToken(t, hsValid()))}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gws.hs
			if tc.rs {
				g = gws.rs
			}
			status, code := tc.status, tc.code
			if status == 0 {
				status, code = http.StatusUnauthorized, "invalid_token"
			}
			path := "/app"
			if tc.query {
				tok := hsToken(t, hsValid())
				path = "/app?access_token=" + tok + "&token=" + tok + "&jwt=" + tok
			}
			before := gws.up.count()
			r := g.do(t, path, tc.opts(t)...)
			expectRefused(t, r, gws.up, before, status, code)
		})
	}
	if n := jkuHits.Load(); n != 0 {
		t.Errorf("the gateway fetched the jku URL a token named %d times", n)
	}
}

// TestTokenAccepted: the token sources and forms the contract accepts.
func TestTokenAccepted(t *testing.T) {
	t.Parallel()
	gws := startTokenGateways(t)
	now := time.Now()
	tests := []struct {
		name string
		rs   bool
		opts func(t *testing.T, id identity) []reqOption
	}{
		{"Authorization: Bearer", false, func(t *testing.T, id identity) []reqOption {
			return []reqOption{bearer(hsToken(t, claimsFor(id)))}
		}},
		{"lower-case scheme", false, func(t *testing.T, id identity) []reqOption {
			return []reqOption{header("Authorization", "bearer "+hsToken(t, claimsFor(id)))}
		}},
		{"upper-case scheme", false, func(t *testing.T, id identity) []reqOption {
			return []reqOption{header("Authorization", "BEARER "+hsToken(t, claimsFor(id)))}
		}},
		{"cookie", false, func(t *testing.T, id identity) []reqOption {
			return []reqOption{cookie("other", "x"), cookie("sg_token", hsToken(t, claimsFor(id)))}
		}},
		{"header and cookie agree", false, func(t *testing.T, id identity) []reqOption {
			tok := hsToken(t, claimsFor(id))
			return []reqOption{bearer(tok), cookie("sg_token", tok)}
		}},
		{"another scheme and the cookie", false, func(t *testing.T, id identity) []reqOption {
			return []reqOption{header("Authorization", "Basic YWxpY2U6c2VjcmV0"), cookie("sg_token", hsToken(t, claimsFor(id)))}
		}},
		{"HS512", false, func(t *testing.T, id identity) []reqOption {
			return []reqOption{bearer(sign(t, jwa.HS512, []byte(hsSecret), claimsFor(id), nil))}
		}},
		{"expired within the leeway", false, func(t *testing.T, id identity) []reqOption {
			return []reqOption{bearer(hsToken(t, claimsFor(id).with("exp", now.Add(-10*time.Second).Unix())))}
		}},
		{"nbf and iat within the leeway", false, func(t *testing.T, id identity) []reqOption {
			return []reqOption{bearer(hsToken(t, claimsFor(id).with(
				"nbf", now.Add(10*time.Second).Unix(), "iat", now.Add(10*time.Second).Unix())))}
		}},
		{"RS256 with iss and aud", true, func(t *testing.T, id identity) []reqOption {
			return []reqOption{bearer(rsToken(t, rsClaims(id)))}
		}},
		{"RS256, aud a string", true, func(t *testing.T, id identity) []reqOption {
			return []reqOption{bearer(rsToken(t, rsClaims(id).with("aud", testAudience)))}
		}},
		{"RS256, aud among others", true, func(t *testing.T, id identity) []reqOption {
			return []reqOption{bearer(rsToken(t, rsClaims(id).with("aud", []string{"other", testAudience})))}
		}},
		{"RS256 without kid", true, func(t *testing.T, id identity) []reqOption {
			return []reqOption{bearer(sign(t, jwa.RS256, rsaKey, rsClaims(id), nil))}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gws.hs
			if tc.rs {
				g = gws.rs
			}
			id := identity{"alice", "acme", newID("ok")}
			before := gws.up.count()
			r := g.do(t, "/", tc.opts(t, id)...)
			expectAllowed(t, r, gws.up, before, id)
			// The same token again: now from the session and token caches.
			before = gws.up.count()
			r = g.do(t, "/", tc.opts(t, id)...)
			expectAllowed(t, r, gws.up, before, id)
		})
	}
}

// jwksServer serves rsaKey's JWKS, or 500 while failing is set, and counts requests.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	failing bool
	hits    int
}

func newJWKSServer(t *testing.T, failing bool) *jwksServer {
	t.Helper()
	s := &jwksServer{failing: failing}
	body := jwksJSON(t, rsaKey, rsKid)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.hits++
		failing := s.failing
		s.mu.Unlock()
		if failing {
			http.Error(w, "identity provider down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setFailing(f bool) {
	s.mu.Lock()
	s.failing = f
	s.mu.Unlock()
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// TestJWKSURL: keys fetched from a URL. A key set that could never be loaded is an outage
// (503 with Retry-After), not the client's fault; once loaded, a failing refresh keeps the
// last good set.
func TestJWKSURL(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)

	t.Run("down from the start", func(t *testing.T) {
		keys := newJWKSServer(t, true)
		g := startGateway(t, gatewayConfig{Gate: "jwks_url " + keys.URL, Upstream: up.URL})
		for i := 0; i < 2; i++ {
			before := up.count()
			r := g.do(t, "/", bearer(rsToken(t, claimsFor(identity{"alice", "acme", newID("jw")}))))
			expectRefused(t, r, up, before, http.StatusServiceUnavailable, "keys_unavailable")
		}
		if keys.count() == 0 {
			t.Errorf("the gateway never asked the JWKS URL")
		}
		// A malformed token is still the client's fault.
		before := up.count()
		r := g.do(t, "/", bearer("garbage"))
		expectRefused(t, r, up, before, http.StatusUnauthorized, "invalid_token")
	})

	t.Run("up, then down", func(t *testing.T) {
		keys := newJWKSServer(t, false)
		g := startGateway(t, gatewayConfig{Gate: "jwks_url " + keys.URL, Upstream: up.URL})
		id := identity{"alice", "acme", newID("jw")}
		before := up.count()
		expectAllowed(t, g.do(t, "/", bearer(rsToken(t, claimsFor(id)))), up, before, id)

		before = up.count()
		r := g.do(t, "/", bearer(sign(t, jwa.HS256, []byte(hsSecret), claimsFor(id), nil)))
		expectRefused(t, r, up, before, http.StatusUnauthorized, "invalid_token")

		keys.setFailing(true)
		// A token not seen before, so its signature is checked against the kept key set.
		id2 := identity{"alice", "acme", newID("jw")}
		before = up.count()
		expectAllowed(t, g.do(t, "/", bearer(rsToken(t, claimsFor(id2)))), up, before, id2)
		// An unknown kid while the URL fails is still an invalid token, not an outage.
		before = up.count()
		r = g.do(t, "/", bearer(sign(t, jwa.RS256, rsaKey, claimsFor(id2), map[string]any{jws.KeyIDKey: "rotated"})))
		expectRefused(t, r, up, before, http.StatusUnauthorized, "invalid_token")
	})
}
