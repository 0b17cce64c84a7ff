package enforcer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// jwksServer serves a JWKS document that tests can swap, or an error status, and counts the
// requests it gets.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64
	notify   chan struct{} // signalled after each request is answered

	mu     sync.Mutex
	doc    []byte
	status int
	// When release is set, requests signal arrived and wait for release before answering.
	arrived, release chan struct{}
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	s := &jwksServer{doc: doc, status: http.StatusOK, notify: make(chan struct{}, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		defer func() {
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}()
		s.mu.Lock()
		doc, status, arrived, release := s.doc, s.status, s.arrived, s.release
		s.mu.Unlock()
		if release != nil {
			select {
			case arrived <- struct{}{}:
			default:
			}
			<-release
		}
		if status != http.StatusOK {
			http.Error(w, "unavailable", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(doc []byte, status int) {
	s.mu.Lock()
	s.doc, s.status = doc, status
	s.mu.Unlock()
}

// waitRequests waits until the server has answered at least n requests (a refresh may be
// made in the background), failing after 10s.
func (s *jwksServer) waitRequests(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for s.requests.Load() < n {
		select {
		case <-s.notify:
		case <-timeout:
			t.Fatalf("JWKS fetched %d times, want at least %d", s.requests.Load(), n)
		}
	}
}

func (s *jwksServer) wantRequests(t *testing.T, want int64) {
	t.Helper()
	if got := s.requests.Load(); got != want {
		t.Fatalf("JWKS fetched %d times, want %d", got, want)
	}
}

// urlEnv is an enforcer whose keys come from a test JWKS server holding the RSA key "k1".
func urlEnv(t *testing.T) (*env, *jwksServer) {
	rk, _, _ := testKeys(t)
	srv := newJWKSServer(t, jwksJSON(t, publicJWK(t, rk, "k1", "", "")))
	return newEnv(t, Config{JWKSURL: srv.URL + "/jwks.json"}, TrackerConfig{}), srv
}

func (e *env) rs256(key any, kid, sid string) string {
	e.t.Helper()
	return sign(e.t, jwa.RS256, key, kid, claimsAt(e.clk.Now(), "u1", "t1", sid))
}

func TestJWKSURLInitialFetch(t *testing.T) {
	rk, _, _ := testKeys(t)
	e, srv := urlEnv(t)
	srv.wantRequests(t, 0) // nothing is fetched before the first token
	e.expect(e.rs256(rk, "k1", "s1"), "")
	srv.wantRequests(t, 1)
	for i := range 5 {
		e.expect(e.rs256(rk, "k1", fmt.Sprintf("s%d", i+2)), "")
	}
	e.expect(e.rs256(rk, "", "s9"), "")
	srv.wantRequests(t, 1)
}

func TestJWKSURLRotation(t *testing.T) {
	rk, rk2, _ := testKeys(t)
	e, srv := urlEnv(t)
	e.expect(e.rs256(rk, "k1", "s1"), "")
	srv.wantRequests(t, 1)

	// The issuer starts signing with k2 and publishes it.
	srv.serve(jwksJSON(t, publicJWK(t, rk, "k1", "", ""), publicJWK(t, rk2, "k2", "", "")), http.StatusOK)
	e.clk.Advance(11 * time.Second) // past minRefresh since the first fetch
	e.expect(e.rs256(rk2, "k2", "s2"), "")
	srv.wantRequests(t, 2)
	e.expect(e.rs256(rk2, "k2", "s3"), "")
	e.expect(e.rs256(rk, "k1", "s4"), "")
	srv.wantRequests(t, 2)

	// A key signed by k2 but naming k1 is still refused.
	e.expect(e.rs256(rk2, "k1", "s5"), CodeInvalidToken)
}

func TestJWKSURLUnknownKidBurst(t *testing.T) {
	rk, rk2, _ := testKeys(t)
	e, srv := urlEnv(t)
	e.expect(e.rs256(rk, "k1", "s1"), "")
	srv.wantRequests(t, 1)

	// Within minRefresh of the last fetch an unknown kid fetches nothing.
	e.clk.Advance(5 * time.Second)
	for i := range 10 {
		e.expect(e.rs256(rk2, fmt.Sprintf("nope%d", i), "s2"), CodeInvalidToken)
	}
	srv.wantRequests(t, 1)

	// Past it, a concurrent burst of unknown kids makes exactly one fetch.
	e.clk.Advance(10 * time.Second)
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = e.rs256(rk2, fmt.Sprintf("burst%d", i), fmt.Sprintf("b%d", i))
	}
	var wg sync.WaitGroup
	codes := make([]string, len(tokens))
	for i, tok := range tokens {
		wg.Go(func() { codes[i] = e.enf.Check(context.Background(), tok, testInfo).Code })
	}
	wg.Wait()
	for i, c := range codes {
		if c != CodeInvalidToken {
			t.Errorf("token %d: %q, want invalid_token", i, c)
		}
	}
	srv.wantRequests(t, 2)
	// Known keys keep working all along.
	e.expect(e.rs256(rk, "k1", "s3"), "")
	srv.wantRequests(t, 2)
}

// refreshAttempted moves the clock past refreshEvery and checks tokens signed by k1 (which
// must keep verifying) until the server has been asked for the set again: the refresh may run
// in the background, or join one still in flight.
func refreshAttempted(t *testing.T, e *env, srv *jwksServer, key any, tag string) {
	t.Helper()
	before := srv.requests.Load()
	for attempt := 0; srv.requests.Load() == before; attempt++ {
		if attempt == 20 {
			t.Fatalf("%s: no refresh was attempted", tag)
		}
		e.clk.Advance(16 * time.Minute)
		e.expect(e.rs256(key, "k1", fmt.Sprintf("%s-%d", tag, attempt)), "")
		select {
		case <-srv.notify:
		case <-time.After(time.Second):
		}
	}
	e.expect(e.rs256(key, "k1", tag+"-after"), "")
}

func TestJWKSURLServerErrorKeepsLastGoodSet(t *testing.T) {
	rk, rk2, _ := testKeys(t)
	e, srv := urlEnv(t)
	e.expect(e.rs256(rk, "k1", "s1"), "")

	// The periodic refresh fails: the set loaded before stays in use.
	srv.serve(nil, http.StatusInternalServerError)
	refreshAttempted(t, e, srv, rk, "500")
	// An unknown kid makes another attempt past minRefresh, fails, and is a bad token, not
	// an outage.
	for attempt := 0; ; attempt++ {
		before := srv.requests.Load()
		e.clk.Advance(11 * time.Second)
		e.expect(e.rs256(rk2, "k2", fmt.Sprintf("k2-%d", attempt)), CodeInvalidToken)
		if srv.requests.Load() > before {
			break
		}
		if attempt == 5 {
			t.Fatal("an unknown kid made no fetch")
		}
	}
	e.expect(e.rs256(rk, "k1", "s4"), "")

	// An unparsable or empty set does not replace the good one either.
	srv.serve([]byte("<html>"), http.StatusOK)
	refreshAttempted(t, e, srv, rk, "html")
	srv.serve([]byte(`{"keys":[]}`), http.StatusOK)
	refreshAttempted(t, e, srv, rk, "empty")

	// Once the server is back, its set is taken: the new key verifies, the dropped one not.
	srv.serve(jwksJSON(t, publicJWK(t, rk2, "k2", "", "")), http.StatusOK)
	for attempt := 0; ; attempt++ {
		e.clk.Advance(11 * time.Second)
		if v := e.check(e.rs256(rk2, "k2", fmt.Sprintf("back-%d", attempt))); v.Allowed() {
			break
		}
		if attempt == 5 {
			t.Fatal("the recovered server's set was never taken")
		}
	}
	e.expect(e.rs256(rk, "k1", "s6"), CodeInvalidToken)
}

func TestJWKSURLNeverLoaded(t *testing.T) {
	rk, _, _ := testKeys(t)
	for _, tc := range []struct {
		name   string
		doc    []byte
		status int
	}{
		{"500", nil, http.StatusInternalServerError},
		{"404", nil, http.StatusNotFound},
		{"garbage", []byte("not json"), http.StatusOK},
		{"empty set", []byte(`{"keys":[]}`), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, tc.doc)
			srv.serve(tc.doc, tc.status)
			e := newEnv(t, Config{JWKSURL: srv.URL}, TrackerConfig{})
			v := e.expect(e.rs256(rk, "k1", "s1"), CodeKeysUnavailable)
			if v.Err == nil {
				t.Error("keys_unavailable without an error for the logs")
			}
			// Retries are rate-limited too.
			e.expect(e.rs256(rk, "k1", "s2"), CodeKeysUnavailable)
			srv.wantRequests(t, 1)
			// A malformed token is still the client's fault, whatever the keys.
			e.expect("a.b", CodeInvalidToken)

			srv.serve(jwksJSON(t, publicJWK(t, rk, "k1", "", "")), http.StatusOK)
			e.clk.Advance(11 * time.Second)
			e.expect(e.rs256(rk, "k1", "s3"), "")
			srv.wantRequests(t, 2)
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		srv := newJWKSServer(t, nil)
		url := srv.URL
		srv.Close()
		e := newEnv(t, Config{JWKSURL: url}, TrackerConfig{})
		e.expect(e.rs256(rk, "k1", "s1"), CodeKeysUnavailable)
	})
}

// A request that gives up (its context is cancelled) while it fetches the JWKS must not stop
// everyone else's request from fetching it for minRefresh.
func TestJWKSURLCancelledFetch(t *testing.T) {
	rk, rk2, _ := testKeys(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	t.Run("first load", func(t *testing.T) {
		e, srv := urlEnv(t)
		e.enf.Check(cancelled, e.rs256(rk, "k1", "s1"), testInfo) // whatever it gets
		e.expect(e.rs256(rk, "k1", "s2"), "")
		if n := srv.requests.Load(); n > 1 {
			t.Errorf("%d fetches, want at most 1 (the cancelled one need not reach the server)", n)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		e, srv := urlEnv(t)
		e.expect(e.rs256(rk, "k1", "s1"), "")
		srv.serve(jwksJSON(t, publicJWK(t, rk, "k1", "", ""), publicJWK(t, rk2, "k2", "", "")), http.StatusOK)
		e.clk.Advance(11 * time.Second)
		e.enf.Check(cancelled, e.rs256(rk2, "k2", "s2"), testInfo) // whatever it gets
		// The new key is published: the next request with it verifies.
		e.expect(e.rs256(rk2, "k2", "s3"), "")
	})
}

// While the periodic refresh waits on a slow JWKS endpoint, tokens signed by keys already
// loaded still verify.
func TestJWKSURLSlowRefreshDoesNotBlockKnownKeys(t *testing.T) {
	rk, _, _ := testKeys(t)
	e, srv := urlEnv(t)
	e.expect(e.rs256(rk, "k1", "s1"), "")

	var wg sync.WaitGroup
	defer wg.Wait()
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release) // before wg.Wait
	srv.mu.Lock()
	srv.arrived, srv.release = arrived, release
	srv.mu.Unlock()
	e.clk.Advance(16 * time.Minute) // the set is due for refresh

	first := e.rs256(rk, "k1", "s2")
	wg.Go(func() { e.enf.Check(context.Background(), first, testInfo) })
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh was attempted")
	}
	second := e.rs256(rk, "k1", "s3")
	done := make(chan Verdict, 1)
	wg.Go(func() { done <- e.enf.Check(context.Background(), second, testInfo) })
	select {
	case v := <-done:
		if !v.Allowed() {
			t.Fatalf("known key during a refresh: %q (%v)", v.Code, v.Err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a token signed by a loaded key waited on the JWKS refresh for over 2s")
	}
}

func TestAlgorithmsFor(t *testing.T) {
	rk, _, ek := testKeys(t)
	ek384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(t, err)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	oct, err := jwk.FromRaw([]byte(testSecret))
	must(t, err)
	rsaAll := []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512}

	for _, tc := range []struct {
		name string
		key  jwk.Key
		want []jwa.SignatureAlgorithm
	}{
		{"RSA", publicJWK(t, rk, "a", "", ""), rsaAll},
		{"RSA declared RS256", publicJWK(t, rk, "a", "RS256", ""), []jwa.SignatureAlgorithm{jwa.RS256}},
		{"RSA declared HS256", publicJWK(t, rk, "a", "HS256", ""), nil},
		{"RSA declared none", publicJWK(t, rk, "a", "none", ""), nil},
		{"RSA declared ES256", publicJWK(t, rk, "a", "ES256", ""), nil},
		{"P-256", publicJWK(t, ek, "a", "", ""), []jwa.SignatureAlgorithm{jwa.ES256}},
		{"P-256 declared ES384", publicJWK(t, ek, "a", "ES384", ""), nil},
		{"P-384", publicJWK(t, ek384, "a", "", ""), []jwa.SignatureAlgorithm{jwa.ES384}},
		{"Ed25519", publicJWK(t, edPub, "a", "", ""), []jwa.SignatureAlgorithm{jwa.EdDSA}},
		{"oct", oct, []jwa.SignatureAlgorithm{jwa.HS256, jwa.HS384, jwa.HS512}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := algorithmsFor(tc.key); !slices.Equal(got, tc.want) {
				t.Errorf("algorithmsFor = %v, want %v", got, tc.want)
			}
		})
	}
}

// refreshTaken makes the request that starts a due background refresh, then waits until the
// fetched set has been taken.
func refreshTaken(t *testing.T, e *env, request func()) {
	t.Helper()
	keys := e.enf.verifier.keys.(*urlKeys)
	loaded := keys.loadedAt.Load() // before the request: the fetch may end before it returns
	request()
	withTimeout(t, 10*time.Second, "taking the refreshed set", func() {
		for keys.loadedAt.Load() == loaded {
			time.Sleep(time.Millisecond)
		}
	})
}

// Cached tokens stay cached across refreshes that bring the same set, and are verified again
// once one brings a different set: a withdrawn key stops working even for tokens seen before,
// and even when every request hits the cache (a hit starts the refresh that is due).
func TestJWKSURLRefreshReverifiesCachedTokens(t *testing.T) {
	rk, rk2, _ := testKeys(t)
	e, srv := urlEnv(t)
	tok := sign(t, jwa.RS256, rk, "k1", map[string]any{
		"sub": "u1", "tenantId": "t1", "sid": "s1", "iat": e.clk.Now().Unix(), "exp": e.clk.Now().Add(24 * time.Hour).Unix(),
	})
	e.expect(tok, "")
	e.settle()
	// Verified while the first set loaded, under no set's name: verified once more.
	v1 := e.expect(tok, "")
	e.settle()

	// Past refreshEvery, a cached request starts the refresh; the same set comes back.
	e.clk.Advance(16 * time.Minute)
	refreshTaken(t, e, func() {
		if v := e.expect(tok, ""); v.Claims != v1.Claims {
			t.Error("the token was verified again before any refresh")
		}
	})
	srv.wantRequests(t, 2)
	if v := e.expect(tok, ""); v.Claims != v1.Claims {
		t.Fatal("a refresh that brought the same set made the token verify again")
	}

	// The issuer withdraws k1.
	srv.serve(jwksJSON(t, publicJWK(t, rk2, "k2", "", "")), http.StatusOK)
	e.clk.Advance(16 * time.Minute)
	refreshTaken(t, e, func() {
		// Starts the refresh. It is most likely answered with the set in hand, but the
		// fetch may already be done: either answer is right here.
		e.check(tok)
	})
	srv.wantRequests(t, 3)
	e.expect(tok, CodeInvalidToken)
}
