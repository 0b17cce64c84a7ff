// Package integration tests sessiongate end to end: a Caddy binary built from this module with
// -race runs real configurations in front of a recording upstream, and the tests speak HTTP to
// it, to its admin API, and run its command line.
package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// caddyBin is the binary under test; "" in -short mode, where every test skips.
var caddyBin string

// rsaKey signs the RS256 tokens the jwks_file and jwks_url configurations accept.
var rsaKey *rsa.PrivateKey

// hsSecret is the HMAC secret of the hmac_secret configurations (longer than 32 bytes).
const hsSecret = "integration-test-secret-0123456789-abcdefghij"

const (
	startTimeout = 20 * time.Second // a Caddy process must answer on its admin endpoint by then
	stopTimeout  = 15 * time.Second // and exit by then after SIGTERM
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	var err error
	if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		fmt.Fprintln(os.Stderr, "integration: generating an RSA key:", err)
		return 1
	}
	// SESSIONGATE_TEST_CADDY runs the tests against an already built binary instead.
	if bin := os.Getenv("SESSIONGATE_TEST_CADDY"); bin != "" {
		caddyBin = bin
		return m.Run()
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: finding the module root:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "sessiongate-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-race", "-o", bin, "./cmd/caddy")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: building caddy:", err)
		return 1
	}
	caddyBin = bin
	return m.Run()
}

// moduleRoot is the directory of go.mod, from `go env GOMOD`, else "..".
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
		return filepath.Dir(gomod), nil
	}
	return filepath.Abs("..")
}

func needCaddy(t testing.TB) {
	t.Helper()
	if caddyBin == "" {
		t.Skip("integration tests need the caddy binary; skipped in -short mode")
	}
}

// freePort picks a loopback port that is free right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("picking a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// processEnv is the environment of a Caddy process or command: the test's, with HOME and the
// XDG directories moved to home so that nothing touches the user's, and no inherited Caddy or
// sessiongate settings.
func processEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "HOME", strings.HasPrefix(name, "XDG_"), strings.HasPrefix(name, "CADDY"),
			strings.HasPrefix(name, "SESSIONGATE"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"))
	return append(env, extra...)
}

// logBuffer collects a process's output; it is written by exec's copying goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail is the last n bytes of s, for logs shown on failure.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// gatewayConfig is the part of a Caddyfile a test chooses.
type gatewayConfig struct {
	// Gate is the body of the sessiongate block, one option a line.
	Gate string
	// Upstream is the reverse_proxy target; "" answers "ok" with respond.
	Upstream string
	// Site is further directives of the site block.
	Site string
	// Global is further global options.
	Global string
	// Sites is further site blocks, appended as they are.
	Sites string
}

// gateway is one Caddy process serving one site with sessiongate on it.
type gateway struct {
	t         testing.TB
	home      string
	file      string
	adminPort int
	sitePort  int
	adminURL  string
	siteURL   string
	client    *http.Client

	cmd     *exec.Cmd
	output  *logBuffer
	exited  chan struct{}
	waitErr error
	stopped bool // SIGTERM sent by stop; the exit status is then checked
	killed  bool
}

// startGateway starts Caddy on c with fresh loopback ports and stops it when the test ends.
func startGateway(t testing.TB, c gatewayConfig) *gateway {
	t.Helper()
	needCaddy(t)
	g := &gateway{t: t, home: t.TempDir(), adminPort: freePort(t), sitePort: freePort(t)}
	g.file = filepath.Join(g.home, "Caddyfile")
	g.adminURL = "http://127.0.0.1:" + strconv.Itoa(g.adminPort)
	g.siteURL = "http://127.0.0.1:" + strconv.Itoa(g.sitePort)
	g.client = &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	g.writeConfig(t, c)

	g.output = new(logBuffer)
	g.exited = make(chan struct{})
	g.cmd = exec.Command(caddyBin, "run", "--config", g.file, "--adapter", "caddyfile")
	g.cmd.Env = processEnv(g.home)
	g.cmd.Stdout, g.cmd.Stderr = g.output, g.output
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting caddy: %v", err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(g.cleanup)
	g.waitReady()
	return g
}

// caddyfile renders c for this gateway's ports and directories.
func (g *gateway) caddyfile(c gatewayConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin 127.0.0.1:%d\n\tstorage file_system %s\n\tskip_install_trust\n\tauto_https off\n%s}\n\n",
		g.adminPort, filepath.Join(g.home, "storage"), c.Global)
	fmt.Fprintf(&b, ":%d {\n\tbind 127.0.0.1\n", g.sitePort)
	b.WriteString("\tsessiongate {\n")
	for _, line := range strings.Split(strings.TrimSpace(c.Gate), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			b.WriteString("\t\t" + line + "\n")
		}
	}
	b.WriteString("\t}\n")
	for _, line := range strings.Split(strings.TrimSpace(c.Site), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			b.WriteString("\t" + line + "\n")
		}
	}
	if c.Upstream != "" {
		b.WriteString("\treverse_proxy " + strings.TrimPrefix(c.Upstream, "http://") + "\n")
	} else {
		b.WriteString("\trespond \"ok\"\n")
	}
	b.WriteString("}\n")
	b.WriteString(c.Sites)
	return b.String()
}

func (g *gateway) writeConfig(t testing.TB, c gatewayConfig) string {
	t.Helper()
	text := g.caddyfile(c)
	if err := os.WriteFile(g.file, []byte(text), 0o600); err != nil {
		t.Fatalf("writing the Caddyfile: %v", err)
	}
	return text
}

// waitReady waits until the admin endpoint answers and the site accepts connections.
func (g *gateway) waitReady() {
	g.t.Helper()
	deadline := time.Now().Add(startTimeout)
	probe := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-g.exited:
			g.t.Fatalf("caddy exited while starting (%v); output:\n%s", g.waitErr, tail(g.output.String(), 20000))
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("caddy did not answer on %s within %s; output:\n%s", g.adminURL, startTimeout, tail(g.output.String(), 20000))
		}
		if resp, err := probe.Get(g.adminURL + "/config/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", strings.TrimPrefix(g.siteURL, "http://"), time.Second); err == nil {
					c.Close()
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL, as a crash would, and waits for it to be gone.
func (g *gateway) kill() {
	g.t.Helper()
	g.killed = true
	g.client.CloseIdleConnections()
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		g.t.Fatalf("killing caddy: %v", err)
	}
	select {
	case <-g.exited:
	case <-time.After(stopTimeout):
		g.t.Fatalf("caddy did not die after SIGKILL")
	}
}

// stop ends the process with SIGTERM and waits for a clean exit.
func (g *gateway) stop() {
	g.t.Helper()
	select {
	case <-g.exited:
		return
	default:
	}
	g.stopped = true
	g.client.CloseIdleConnections()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		g.t.Errorf("stopping caddy: %v", err)
	}
	select {
	case <-g.exited:
	case <-time.After(stopTimeout):
		g.t.Errorf("caddy did not exit within %s of SIGTERM; killing it", stopTimeout)
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

func (g *gateway) cleanup() {
	g.stop()
	out := g.output.String()
	if g.stopped && !g.killed && g.waitErr != nil {
		g.t.Errorf("caddy exited with %v after SIGTERM", g.waitErr)
	}
	if strings.Contains(out, "WARNING: DATA RACE") {
		g.t.Errorf("the race detector reported a data race in caddy")
	}
	if strings.Contains(out, "panic:") {
		g.t.Errorf("caddy panicked")
	}
	if g.t.Failed() {
		g.t.Logf("caddy output (%s):\n%s", g.file, tail(out, 30000))
	}
}

// reload loads c into the running process through the admin API's /load, bounded in time.
func (g *gateway) reload(t testing.TB, c gatewayConfig) result {
	t.Helper()
	text := g.writeConfig(t, c)
	return g.admin(t, http.MethodPost, "/load", text, "text/caddyfile")
}

// result is a response read in full.
type result struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorBody is the JSON error body of the contract.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (r result) errorBody() errorBody {
	var e errorBody
	_ = json.Unmarshal(r.Body, &e)
	return e
}

func (r result) String() string {
	return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body))
}

// reqOption changes a request before it is sent.
type reqOption func(*http.Request)

func bearer(token string) reqOption {
	return func(r *http.Request) { r.Header.Add("Authorization", "Bearer "+token) }
}

// header adds raw header lines; the name is sent exactly as given.
func header(name string, values ...string) reqOption {
	return func(r *http.Request) { r.Header[name] = append(r.Header[name], values...) }
}

func cookie(name, value string) reqOption {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: value}) }
}

func userAgent(ua string) reqOption {
	return func(r *http.Request) { r.Header.Set("User-Agent", ua) }
}

func method(m string) reqOption {
	return func(r *http.Request) { r.Method = m }
}

// do sends a request to the site; path may carry a query.
func (g *gateway) do(t testing.TB, path string, opts ...reqOption) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.siteURL+path, nil)
	if err != nil {
		t.Fatalf("making request: %v", err)
	}
	req.Header.Set("User-Agent", "sessiongate-integration/1.0")
	for _, o := range opts {
		o(req)
	}
	return send(t, g.client, req)
}

// admin sends a request to the admin API.
func (g *gateway) admin(t testing.TB, method, path, body, contentType string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.adminURL+path, rd)
	if err != nil {
		t.Fatalf("making admin request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return send(t, g.client, req)
}

// send sends req and reads the reply. A request without a body is sent again, at most twice,
// when its connection is reset or closed before any reply. While Caddy reloads, its old and
// new listeners share the port (SO_REUSEPORT): the kernel resets a connection still queued on
// the old one when that closes, and the old server closes one it accepted late. That is
// Caddy's hand-off, not the gateway's answer (a panic, which also closes a connection, is
// caught in Caddy's output).
func send(t testing.TB, c *http.Client, req *http.Request) result {
	t.Helper()
	resp, err := c.Do(req)
	for retries := 2; err != nil && req.Body == nil && retries > 0 && handOffReset(err); retries-- {
		t.Logf("%s %s: %v; sending it again", req.Method, req.URL, err)
		time.Sleep(50 * time.Millisecond)
		resp, err = c.Do(req)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return result{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// handOffReset tells whether err is a connection reset or closed before a reply.
func handOffReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// upstream is a recording backend: it counts the requests that reach it and keeps their headers.
type upstream struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

const upstreamBody = "hello from the upstream"

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.mu.Unlock()
		w.Header().Set("X-Upstream", "reached")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, upstreamBody)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.headers)
}

func (u *upstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.headers) == 0 {
		return nil
	}
	return u.headers[len(u.headers)-1]
}

// identityNames are the identity headers, lower case with dashes.
var identityNames = []string{"x-user-id", "x-tenant-id", "x-session-id"}

// identityHeaders returns, for each identity header, every "name: value" the upstream got
// under any spelling of it (any case, underscores for dashes).
func identityHeaders(h http.Header) map[string][]string {
	out := map[string][]string{}
	for name, vals := range h {
		norm := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		for _, id := range identityNames {
			if norm == id {
				for _, v := range vals {
					out[id] = append(out[id], name+": "+v)
				}
			}
		}
	}
	return out
}

// identity is who a token says is calling.
type identity struct{ user, tenant, sid string }

// expectAllowed checks that r passed the gateway and reached u exactly once, carrying id's
// identity headers exactly once each and no client-sent spelling of them.
func expectAllowed(t testing.TB, r result, u *upstream, before int, id identity) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("got %s, want 200 from the upstream", r)
	}
	if u == nil {
		return
	}
	if got := u.count() - before; got != 1 {
		t.Fatalf("the upstream got %d requests, want 1", got)
	}
	if string(r.Body) != upstreamBody || r.Header.Get("X-Upstream") != "reached" {
		t.Errorf("the upstream's response did not pass through: header X-Upstream=%q body %q",
			r.Header.Get("X-Upstream"), r.Body)
	}
	got := identityHeaders(u.last())
	want := map[string][]string{
		"x-user-id":    {"X-User-Id: " + id.user},
		"x-tenant-id":  {"X-Tenant-Id: " + id.tenant},
		"x-session-id": {"X-Session-Id: " + id.sid},
	}
	for _, name := range identityNames {
		if strings.Join(got[name], " | ") != strings.Join(want[name], " | ") {
			t.Errorf("the upstream got %q for %s, want exactly %q", got[name], name, want[name])
		}
	}
}

// expectRefused checks a refusal: status, JSON error body with code, WWW-Authenticate for
// 401 and Retry-After for 503; and, when u is set, that nothing reached the upstream.
func expectRefused(t testing.TB, r result, u *upstream, before, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want %d %s", r, status, code)
	}
	if u != nil {
		if got := u.count() - before; got != 0 {
			t.Errorf("the refused request reached the upstream %d times", got)
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type is %q, want application/json", r.Header.Get("Content-Type"))
	}
	var e errorBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("the body is not a JSON error: %q (%v)", r.Body, err)
	}
	if e.Error != code {
		t.Errorf(`got error %q, want %q (body %s)`, e.Error, code, r.Body)
	}
	if e.Message == "" {
		t.Errorf("the error has no message: %s", r.Body)
	}
	wa := r.Header.Values("WWW-Authenticate")
	switch {
	case status == http.StatusUnauthorized && code == "missing_token":
		if len(wa) != 1 || wa[0] != "Bearer" {
			t.Errorf("WWW-Authenticate is %q, want exactly [Bearer]", wa)
		}
	case status == http.StatusUnauthorized:
		if len(wa) != 1 || !strings.HasPrefix(wa[0], "Bearer ") || !strings.Contains(wa[0], `error="invalid_token"`) {
			t.Errorf(`WWW-Authenticate is %q, want Bearer error="invalid_token"`, wa)
		}
	case status == http.StatusServiceUnavailable:
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("a 503 without Retry-After")
		}
	}
}

// claims is a token's payload.
type claims map[string]any

var idCounter atomic.Int64

// newID is a fresh session id, unique in the test binary.
func newID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, idCounter.Add(1))
}

// claimsFor is a valid payload for id: issued now, expiring in an hour.
func claimsFor(id identity) claims {
	now := time.Now()
	return claims{
		"sub": id.user, "tenantId": id.tenant, "sid": id.sid,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// with returns a copy of c with the given claims set; a nil value deletes the claim.
func (c claims) with(kv ...any) claims {
	out := claims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// sign signs payload c as a compact JWS with alg and key, with extra protected headers.
func sign(t testing.TB, alg jwa.SignatureAlgorithm, key any, c claims, hdr map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.TypeKey, "JWT"); err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if err := h.Set(k, v); err != nil {
			t.Fatalf("setting header %s: %v", k, err)
		}
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return string(out)
}

// hsToken is an HS256 token signed with hsSecret.
func hsToken(t testing.TB, c claims) string {
	t.Helper()
	return sign(t, jwa.HS256, []byte(hsSecret), c, nil)
}

// rsKid is the kid of rsaKey in the JWKS the tests publish.
const rsKid = "integration-rsa-1"

// rsToken is an RS256 token signed with rsaKey under rsKid.
func rsToken(t testing.TB, c claims) string {
	t.Helper()
	return sign(t, jwa.RS256, rsaKey, c, map[string]any{jws.KeyIDKey: rsKid})
}

// unsignedToken is a token with alg none and an empty signature.
func unsignedToken(t testing.TB, c claims) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// jwksJSON is a JWKS holding the public half of key under kid.
func jwksJSON(t testing.TB, key *rsa.PrivateKey, kid string) []byte {
	t.Helper()
	k, err := jwk.FromRaw(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(k); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeFile writes data to name in a new temporary directory and returns its path.
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCaddy runs a caddy command with a deadline; timedOut says the deadline ended it.
func runCaddy(t testing.TB, timeout time.Duration, env []string, args ...string) (out string, err error, timedOut bool) {
	t.Helper()
	needCaddy(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, args...)
	cmd.Env = env
	cmd.WaitDelay = 2 * time.Second
	var buf logBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	out = buf.String()
	if strings.Contains(out, "WARNING: DATA RACE") {
		t.Errorf("the race detector reported a data race in `caddy %s`:\n%s", strings.Join(args, " "), tail(out, 20000))
	}
	return out, err, ctx.Err() != nil
}

// hsGate is the sessiongate block of an hmac_secret gateway with extra options.
func hsGate(extra ...string) string {
	return strings.Join(append([]string{"hmac_secret " + hsSecret}, extra...), "\n")
}
