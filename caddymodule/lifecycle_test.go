package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/standard"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"go.uber.org/goleak"

	"github.com/sessiongate/sessiongate/store/bolt"
)

const testSecret = "lifecycle-test-secret-0123456789abcdef"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lifecycleConfig(port int, dbPath, idle string) []byte {
	return []byte(fmt.Sprintf(`{
	"admin": {"disabled": true},
	"logging": {"logs": {"default": {"level": "ERROR"}}},
	"apps": {"http": {"servers": {"s": {
		"listen": ["127.0.0.1:%d"],
		"automatic_https": {"disable": true},
		"routes": [{"handle": [
			{"handler": "sessiongate", "hmac_secret": %q, "idle_timeout": %q,
			 "store": {"type": "bolt", "path": %q}},
			{"handler": "static_response", "body": "ok {http.request.header.X-User-Id}"}
		]}]
	}}}}
}`, port, testSecret, idle, dbPath))
}

func testToken(t *testing.T, sid string) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject("alice").Claim("tenantId", "acme").Claim("sid", sid).
		IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour)).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// get sends a GET on a new connection. Right after a reload, Caddy's old listener may still
// share the port with the new one (SO_REUSEPORT) for a moment: the kernel resets a connection
// queued on it when it closes, and the old server closes one it accepted late. That is Caddy's
// hand-off, not the reload's outcome, so such a request is sent again, at most twice.
func get(t *testing.T, port int, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	for retries := 2; err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)) && retries > 0; retries-- {
		t.Logf("%v; sending it again", err)
		time.Sleep(50 * time.Millisecond)
		resp, err = client.Do(req)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Reloads share the bolt handle and the caches, sessions survive them, and stopping Caddy
// closes the file and leaves no goroutine of ours behind.
func TestReloadSharesStateAndStopReleasesIt(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	baseline := goleak.IgnoreCurrent()
	port := freePort(t)
	db := filepath.Join(t.TempDir(), "s.db")
	if err := caddy.Load(lifecycleConfig(port, db, "24h"), true); err != nil {
		t.Fatal(err)
	}
	tok := testToken(t, "s1")
	if code := get(t, port, tok); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	first := liveEnforcers()[0].Tracker()

	for _, idle := range []string{"12h", "6h"} {
		if err := caddy.Load(lifecycleConfig(port, db, idle), true); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if es := liveEnforcers(); len(es) != 1 || es[0].Tracker() != first {
			t.Fatal("reload made a new tracker instead of sharing the pooled one")
		}
		if code := get(t, port, tok); code != http.StatusOK {
			t.Fatalf("after reload: %d", code)
		}
	}
	if err := liveEnforcers()[0].Tracker().EndSession(t.Context(), "acme", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if len(liveEnforcers()) != 0 {
		t.Error("an enforcer is still registered after Stop")
	}
	// The file is closed: it opens at once, and the revocation is in it.
	st, err := bolt.Open(db, bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("bolt file still held after Stop: %v", err)
	}
	s, err := st.Get(t.Context(), "acme", "s1")
	if err != nil || !s.Ended() {
		t.Errorf("session after Stop: %+v, %v; want ended", s, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, baseline,
		// Caddy's storage lock refresher outlives Stop by design.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
	)
}
