package enforcer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/memory"
)

// fakeClock is a settable clock for TrackerConfig.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// clockStart is on a whole second, so that a token's iat (whole seconds) equals the clock.
var clockStart = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{t: clockStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// testSecret is a 40-byte HMAC secret.
const testSecret = "sessiongate-test-secret-0123456789abcdef"

const (
	testIP = "203.0.113.7"
	// chromeMac is Chrome 120 on macOS.
	chromeMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)

var testInfo = &ClientInfo{IP: testIP, UserAgent: chromeMac}

// Test keys are made once: RSA key generation is slow under -race.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, rsaKey2, ecKey
}

// publicJWK makes the public JWK of key with kid and optional alg and use.
func publicJWK(t testing.TB, key any, kid, alg, use string) jwk.Key {
	t.Helper()
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	default:
		pub = key
	}
	j, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatalf("jwk.FromRaw: %v", err)
	}
	must(t, j.Set(jwk.KeyIDKey, kid))
	if alg != "" {
		must(t, j.Set(jwk.AlgorithmKey, alg))
	}
	if use != "" {
		must(t, j.Set(jwk.KeyUsageKey, use))
	}
	return j
}

// jwksJSON serialises keys as a JWKS document.
func jwksJSON(t testing.TB, keys ...jwk.Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		must(t, set.AddKey(k))
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatalf("marshalling JWKS: %v", err)
	}
	return data
}

// writeJWKS writes a JWKS with the RSA key (kid "rsa1", no alg) and the EC P-256 key
// (kid "ec1", alg ES256) to a temporary file and returns its path.
func writeJWKS(t testing.TB) string {
	t.Helper()
	rk, _, ek := testKeys(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	data := jwksJSON(t, publicJWK(t, rk, "rsa1", "", "sig"), publicJWK(t, ek, "ec1", "ES256", ""))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// claimsAt are valid claims for a session, issued at now and expiring in an hour.
func claimsAt(now time.Time, user, tenant, sid string) map[string]any {
	return map[string]any{
		"sub": user, "tenantId": tenant, "sid": sid,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// sign signs claims (marshalled as they are) with alg and key; kid is set when not empty.
func sign(t testing.TB, alg jwa.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	must(t, hdr.Set(jws.TypeKey, "JWT"))
	if kid != "" {
		must(t, hdr.Set(jws.KeyIDKey, kid))
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatalf("signing %s token: %v", alg, err)
	}
	return string(out)
}

// jwtToken builds and signs a token the way an identity provider using jwx would.
func jwtToken(t testing.TB, alg jwa.SignatureAlgorithm, key any, kid string, now time.Time, user, tenant, sid string) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject(user).IssuedAt(now).Expiration(now.Add(time.Hour)).
		Claim("tenantId", tenant).Claim("sid", sid).Build()
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if kid != "" {
		must(t, hdr.Set(jws.KeyIDKey, kid))
	}
	out, err := jwt.Sign(tok, jwt.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func hs256(t testing.TB, claims map[string]any) string {
	t.Helper()
	return sign(t, jwa.HS256, []byte(testSecret), "", claims)
}

func b64(v any) string {
	var data []byte
	switch x := v.(type) {
	case []byte:
		data = x
	case string:
		data = []byte(x)
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// rawToken assembles a compact token from a header, claims and signature, unchecked.
func rawToken(header, claims map[string]any, sig []byte) string {
	return b64(header) + "." + b64(claims) + "." + b64(sig)
}

// tamper changes one character in the middle of the token's signature.
func tamper(token string) string {
	i := strings.LastIndexByte(token, '.') + 5
	c := byte('A')
	if token[i] == 'A' {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}

// env is an enforcer with its tracker, store and clock.
type env struct {
	t   testing.TB
	clk *fakeClock
	st  store.Store
	tr  *Tracker
	enf *Enforcer
}

// testPolicy is the default policy of test enforcers unless they set another: idle 1h, nothing
// else.
func testPolicy() store.Policy {
	return store.Policy{
		IdleTimeout: store.Timeout{Enabled: true, Duration: time.Hour},
		MaxSessions: store.SessionLimit{Strategy: store.StrategyEvictOldest},
	}
}

// newTracker starts a tracker on st with clk, closed at the end of the test.
// Unless the test sets FlushEvery, the background flusher stays idle (tests that need
// activity written call flush), so that nothing depends on real time.
func newTracker(t testing.TB, st store.Store, clk *fakeClock, tc TrackerConfig) *Tracker {
	t.Helper()
	tc.Now = clk.Now
	if tc.FlushEvery == 0 {
		tc.FlushEvery = time.Hour
	}
	tr, err := NewTracker(st, tc)
	if err != nil {
		t.Fatalf("NewTracker: %v", err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// newEnv makes an enforcer over a fresh memory store. cfg gets the test secret when it names
// no keys, and testPolicy when its default policy is zero.
func newEnv(t testing.TB, cfg Config, tc TrackerConfig) *env {
	t.Helper()
	clk := newFakeClock()
	return newEnvOn(t, cfg, tc, clk, memory.New())
}

func newEnvOn(t testing.TB, cfg Config, tc TrackerConfig, clk *fakeClock, st store.Store) *env {
	t.Helper()
	if cfg.HMACSecret == "" && cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		cfg.HMACSecret = testSecret
	}
	if cfg.DefaultPolicy == (store.Policy{}) {
		cfg.DefaultPolicy = testPolicy()
	}
	tr := newTracker(t, st, clk, tc)
	enf, err := New(cfg, tr)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(enf.Close)
	return &env{t: t, clk: clk, st: st, tr: tr, enf: enf}
}

// token mints an HS256 token for the session, issued now; mods change its claims.
func (e *env) token(user, tenant, sid string, mods ...func(map[string]any)) string {
	e.t.Helper()
	c := claimsAt(e.clk.Now(), user, tenant, sid)
	for _, m := range mods {
		m(c)
	}
	return hs256(e.t, c)
}

// longLived makes a token valid for 100 years, for tests that move the clock far.
func longLived(c map[string]any) {
	c["exp"] = time.Unix(c["iat"].(int64), 0).Add(100 * 365 * 24 * time.Hour).Unix()
}

func (e *env) check(token string) Verdict {
	e.t.Helper()
	return e.enf.Check(context.Background(), token, testInfo)
}

// expect checks token and fails the test unless the verdict's code is want ("" = allowed).
func (e *env) expect(token, want string) Verdict {
	e.t.Helper()
	v := e.check(token)
	if v.Code != want {
		e.t.Fatalf("Check: code %q (err %v), want %q", v.Code, v.Err, want)
	}
	if want == "" && v.Claims == nil {
		e.t.Fatalf("allowed verdict without claims")
	}
	return v
}

// settle makes every cache fill made so far visible (ristretto sets are asynchronous).
func (e *env) settle() {
	e.tr.sessions.Wait()
	e.tr.policies.Wait()
}

// flushAllActiveNow writes all pending activity, and checks that the store has the session
// last active now and that the tracker keeps no dropped session.
func (e *env) flushAllActiveNow(tenant, id string) {
	e.t.Helper()
	e.tr.flush(true)
	if s, err := e.get(tenant, id); err != nil || !s.LastActiveAt.Equal(e.clk.Now()) {
		e.t.Errorf("stored last activity %v (%v), want %v", s.LastActiveAt.Sub(clockStart), err, e.clk.Now().Sub(clockStart))
	}
	e.tr.mu.Lock()
	left := len(e.tr.dropped)
	e.tr.mu.Unlock()
	if left != 0 {
		e.t.Errorf("%d dropped sessions kept after the final flush", left)
	}
}

// tokenCached reports whether token is in the verifier's cache.
func (e *env) tokenCached(token string) bool { return e.cachedClaims(token) != nil }

// cachedClaims returns the claims the verifier's cache holds for token, or nil.
func (e *env) cachedClaims(token string) *Claims {
	tc := e.enf.verifier.cache.Load()
	return tc.get(tc.hash(token))
}

func (e *env) sessionCached(tenant, id string) bool {
	_, ok := e.tr.sessions.Get(sessionKey(tenant, id))
	return ok
}

func (e *env) setPolicy(tenant string, p store.Policy) {
	e.t.Helper()
	must(e.t, e.tr.SetPolicy(context.Background(), tenant, p))
}

func (e *env) get(tenant, id string) (store.Session, error) {
	return e.st.Get(context.Background(), tenant, id)
}

// on is an enabled timeout of d.
func on(d time.Duration) store.Timeout { return store.Timeout{Enabled: true, Duration: d} }

func limit(n int, strategy string) store.SessionLimit {
	return store.SessionLimit{Enabled: true, Max: n, Strategy: strategy}
}

// withTimeout runs f and fails the test when it does not return within d (a deadlock).
func withTimeout(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s (deadlock?)", what, d)
	}
}
