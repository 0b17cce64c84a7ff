package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Frontegg-compatible routes (CONTRACT section 5b): checked at the HTTP level, and driven by
// Frontegg's own client, @frontegg/rest-api, run by Node from integration/frontegg-client.

const (
	feSessions = "/frontegg/identity/resources/users/sessions/v1"
	feConfig   = "/frontegg/identity/resources/configurations/sessions/v1"
)

// feSessionKeys are the members of a Frontegg session; "expires" is left out when neither
// timeout applies.
var feSessionKeys = []string{"createdAt", "current", "expires", "id", "impersonated", "ipAddress", "lastActiveAt", "userAgent", "userId"}

type feSession struct {
	ID           string     `json:"id"`
	UserID       string     `json:"userId"`
	IPAddress    string     `json:"ipAddress"`
	UserAgent    string     `json:"userAgent"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastActiveAt time.Time  `json:"lastActiveAt"`
	Expires      *time.Time `json:"expires"`
	Current      bool       `json:"current"`
	Impersonated *bool      `json:"impersonated"`
}

type feTimeout struct {
	IsActive bool  `json:"isActive"`
	Timeout  int64 `json:"timeout"`
}

type feLimit struct {
	IsActive    bool `json:"isActive"`
	MaxSessions int  `json:"maxSessions"`
}

type feConfiguration struct {
	Idle       feTimeout `json:"sessionIdleTimeoutConfiguration"`
	Timeout    feTimeout `json:"sessionTimeoutConfiguration"`
	Concurrent feLimit   `json:"sessionConcurrentConfiguration"`
}

var defaultFEConfig = feConfiguration{
	Idle:       feTimeout{true, 86400},
	Timeout:    feTimeout{false, 0},
	Concurrent: feLimit{false, 0},
}

// feErrorBody is an error on the Frontegg routes: the contract's body plus Frontegg's fields.
type feErrorBody struct {
	Error     string   `json:"error"`
	Message   string   `json:"message"`
	Errors    []string `json:"errors"`
	ErrorCode string   `json:"errorCode"`
}

// fe calls a Frontegg route as token's session, with the Content-Type: application/json the
// Frontegg client sends on every call.
func (g *gateway) fe(t *testing.T, verb, path, token string, opts ...reqOption) result {
	t.Helper()
	all := []reqOption{method(verb), bearer(token), header("Content-Type", "application/json")}
	return g.do(t, g.sitePrefix()+path, append(all, opts...)...)
}

// feBody sends a JSON body (Content-Type is already set by fe).
func feBody(s string) reqOption { return reqBody("", s) }

// expectFEError checks an error on a Frontegg route; it returns the message.
func expectFEError(t *testing.T, r result, status int, code string) string {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want %d %s", r, status, code)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type is %q, want application/json (body %s)", ct, r.Body)
	}
	var e feErrorBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("the error body is not JSON: %s", r.Body)
	}
	if e.Error != code || e.Message == "" {
		t.Errorf("got %s, want error %q with a message", r.Body, code)
	}
	if e.ErrorCode != code || len(e.Errors) != 1 || e.Errors[0] != e.Message {
		t.Errorf(`got %s, want "errors": [the message] and "errorCode": %q`, r.Body, code)
	}
	return e.Message
}

func feIDs(list []feSession) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

// feMySessions is GET .../me as m, checking it is a bare array of Frontegg sessions.
func feMySessions(t *testing.T, g *gateway, m member) []feSession {
	t.Helper()
	r := g.fe(t, http.MethodGet, feSessions+"/me", m.token)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /me: got %s, want 200", r)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(r.Body), []byte("[")) {
		t.Fatalf("GET /me is not a bare array: %s", r.Body)
	}
	var list []feSession
	if err := json.Unmarshal(r.Body, &list); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
	return list
}

func feGetConfig(t *testing.T, g *gateway, m member) feConfiguration {
	t.Helper()
	var c feConfiguration
	r := g.fe(t, http.MethodGet, feConfig, m.token)
	decodeInto(t, r, http.StatusOK, &c)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"sessionConcurrentConfiguration", "sessionIdleTimeoutConfiguration", "sessionTimeoutConfiguration"}) {
		t.Errorf("the configuration has members %v", got)
	}
	return c
}

func TestFrontegg(t *testing.T) {
	t.Parallel()
	g := startSiteGateway(t)
	t.Run("Routes", func(t *testing.T) {
		t.Parallel()
		testFronteggRoutes(t, g)
	})
	t.Run("Config", func(t *testing.T) {
		t.Parallel()
		testFronteggConfig(t, g)
	})
	t.Run("Client", func(t *testing.T) {
		t.Parallel()
		testFronteggClient(t, g)
	})
}

// testFronteggRoutes: the session routes' shapes and effects.
func testFronteggRoutes(t *testing.T, g *gateway) {
	tenant, user := newID("tenant"), newID("user")
	before := time.Now().Add(-time.Second)
	s1 := login(t, g, tenant, user, uaChromeMac, nil)
	s2 := login(t, g, tenant, user, uaIPhoneSafari, nil)
	me := login(t, g, tenant, user, "", []string{"fe.secure.*"})
	otherUser := newID("user")
	v1 := login(t, g, tenant, otherUser, "", nil)
	noperm := login(t, g, tenant, newID("user"), "", nil)
	after := time.Now().Add(time.Second)

	// GET /me: a bare array of the caller's sessions in Frontegg's shape.
	r := g.fe(t, http.MethodGet, feSessions+"/me", me.token)
	list := feMySessions(t, g, me)
	if got, want := sorted(feIDs(list)), sorted([]string{s1.sid, s2.sid, me.sid}); !slices.Equal(got, want) {
		t.Fatalf("GET /me lists %v, want %v", got, want)
	}
	var raws []json.RawMessage
	_ = json.Unmarshal(r.Body, &raws)
	for i, raw := range raws {
		if got := jsonKeys(t, raw); !slices.Equal(got, feSessionKeys) {
			t.Errorf("session %d has members %v, want %v", i, got, feSessionKeys)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m)
		if string(m["impersonated"]) != "false" {
			t.Errorf("session %d: impersonated is %s, want false", i, m["impersonated"])
		}
		for _, k := range []string{"createdAt", "lastActiveAt", "expires"} {
			var s string
			if err := json.Unmarshal(m[k], &s); err != nil {
				t.Errorf("session %d: %s is %s, want a string", i, k, m[k])
			} else if _, err := time.Parse(time.RFC3339, s); err != nil {
				t.Errorf("session %d: %s %q is not RFC 3339", i, k, s)
			}
		}
	}
	uas := map[string]string{s1.sid: uaChromeMac, s2.sid: uaIPhoneSafari, me.sid: "sessiongate-integration/1.0"}
	for _, s := range list {
		if s.UserID != user || s.IPAddress != "127.0.0.1" || s.UserAgent != uas[s.ID] {
			t.Errorf("session %s: userId %q ipAddress %q userAgent %q", s.ID, s.UserID, s.IPAddress, s.UserAgent)
		}
		if s.CreatedAt.Before(before) || s.CreatedAt.After(after) || s.LastActiveAt.Before(s.CreatedAt) {
			t.Errorf("session %s: createdAt %s lastActiveAt %s", s.ID, s.CreatedAt, s.LastActiveAt)
		}
		if s.Expires == nil || !s.Expires.Equal(s.LastActiveAt.Add(24*time.Hour)) {
			t.Errorf("session %s: expires %v, want lastActiveAt + 24h (the idle end)", s.ID, s.Expires)
		}
		if s.Current != (s.ID == me.sid) {
			t.Errorf("session %s: current %v", s.ID, s.Current)
		}
		if s.Impersonated == nil || *s.Impersonated {
			t.Errorf("session %s: impersonated %v, want false", s.ID, s.Impersonated)
		}
	}

	// GET /me/current: the calling session, same shape.
	r = g.fe(t, http.MethodGet, feSessions+"/me/current", me.token)
	var cur feSession
	decodeInto(t, r, http.StatusOK, &cur)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, feSessionKeys) {
		t.Errorf("the current session has members %v, want %v", got, feSessionKeys)
	}
	if cur.ID != me.sid || !cur.Current || cur.UserID != user {
		t.Errorf("GET /me/current: %+v, want %s, current", cur, me.sid)
	}

	// expires: the earlier of the force re-login end and the idle end; left out without either.
	opSetPolicy(t, g, tenant, `{"force_relogin": {"enabled": true, "seconds": 3600}}`)
	for _, s := range feMySessions(t, g, me) {
		if s.Expires == nil || !s.Expires.Equal(s.CreatedAt.Add(time.Hour)) {
			t.Errorf("force 1h, idle 24h: session %s expires %v, want createdAt + 1h", s.ID, s.Expires)
		}
	}
	opSetPolicy(t, g, tenant, `{"idle_timeout": {"enabled": true, "seconds": 600}}`)
	for _, s := range feMySessions(t, g, me) {
		if s.Expires == nil || !s.Expires.Equal(s.LastActiveAt.Add(10*time.Minute)) {
			t.Errorf("force 1h, idle 10m: session %s expires %v, want lastActiveAt + 10m", s.ID, s.Expires)
		}
	}
	opSetPolicy(t, g, tenant, `{"idle_timeout": {"enabled": false, "seconds": 0}, "force_relogin": {"enabled": false, "seconds": 0}}`)
	r = g.fe(t, http.MethodGet, feSessions+"/me", me.token)
	raws = nil
	_ = json.Unmarshal(r.Body, &raws)
	for i, raw := range raws {
		if got, want := jsonKeys(t, raw), slices.DeleteFunc(slices.Clone(feSessionKeys), func(k string) bool { return k == "expires" }); !slices.Equal(got, want) {
			t.Errorf("without timeouts, session %d has members %v, want %v (no expires)", i, got, want)
		}
	}
	if r := g.admin(t, http.MethodDelete, "/sessiongate/tenants/"+tenant+"/policy", "", ""); r.Status != http.StatusNoContent {
		t.Fatalf("deleting the policy: %s", r)
	}

	// DELETE /me/{id}: one of the caller's; another user's or an unknown id is the same 404.
	if r := g.fe(t, http.MethodDelete, feSessions+"/me/"+s1.sid, me.token); r.Status/100 != 2 {
		t.Errorf("DELETE /me/{id}: got %s, want 2xx", r)
	}
	expectEnded(t, g, s1, "session_revoked")
	foreign := g.fe(t, http.MethodDelete, feSessions+"/me/"+v1.sid, me.token)
	unknown := g.fe(t, http.MethodDelete, feSessions+"/me/"+newID("nope"), me.token)
	expectFEError(t, foreign, http.StatusNotFound, "not_found")
	expectFEError(t, unknown, http.StatusNotFound, "not_found")
	if !bytes.Equal(foreign.Body, unknown.Body) {
		t.Errorf("another user's session answers %s, an unknown one %s", foreign.Body, unknown.Body)
	}
	expectWorks(t, g, v1)
	expectFEError(t, g.fe(t, http.MethodDelete, feSessions+"/me/a%2Fb", me.token), http.StatusBadRequest, "bad_request")

	// DELETE /me/all: all but the calling one, and the cut-off.
	if r := g.fe(t, http.MethodDelete, feSessions+"/me/all", me.token); r.Status/100 != 2 {
		t.Errorf("DELETE /me/all: got %s, want 2xx", r)
	}
	expectEnded(t, g, s2, "session_revoked")
	expectWorks(t, g, me)
	expectWorks(t, g, v1)
	if got := feIDs(feMySessions(t, g, me)); !slices.Equal(got, []string{me.sid}) {
		t.Errorf("after DELETE /me/all: %v, want only %s", got, me.sid)
	}
	old := member{tenant: tenant, user: user, sid: newID("sid")}
	old.token = mintIssued(t, tenant, user, old.sid, time.Now().Add(-10*time.Second), nil)
	expectEnded(t, g, old, "session_revoked")

	// POST /revoke {"userId"}: needs the delete permission.
	revoke := feSessions + "/revoke"
	expectFEError(t, g.fe(t, http.MethodPost, revoke, noperm.token, feBody(`{"userId": "`+otherUser+`"}`)), http.StatusForbidden, "forbidden")
	expectWorks(t, g, v1)
	for _, bad := range []string{`{"userId": 5}`, `{}`, `{"userId": ""}`, `{"userId": "a/b"}`, `not json`, `[]`} {
		msg := expectFEError(t, g.fe(t, http.MethodPost, revoke, me.token, feBody(bad)), http.StatusBadRequest, "bad_request")
		if !strings.Contains(msg, "userId") {
			t.Errorf("POST /revoke %s: message %q does not name userId", bad, msg)
		}
	}
	textPlain := func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }
	if r := g.fe(t, http.MethodPost, revoke, me.token, feBody(`{"userId": "`+otherUser+`"}`), textPlain); r.Status != http.StatusUnsupportedMediaType {
		t.Errorf("POST /revoke with text/plain: got %s, want 415", r)
	}
	expectWorks(t, g, v1)
	expectFEError(t, g.fe(t, http.MethodPost, revoke, me.token, feBody(`{"userId": "`+newID("nobody")+`"}`)), http.StatusNotFound, "not_found")
	elsewhere := login(t, g, newID("tenant"), otherUser, "", nil)
	if r := g.fe(t, http.MethodPost, revoke, me.token, feBody(`{"userId": "`+otherUser+`", "reason": "ignored"}`)); r.Status/100 != 2 {
		t.Errorf("POST /revoke: got %s, want 2xx", r)
	}
	expectEnded(t, g, v1, "session_revoked")
	expectWorks(t, g, elsewhere) // the same user id in another tenant is not touched
	oldV := member{tenant: tenant, user: otherUser, sid: newID("sid")}
	oldV.token = mintIssued(t, tenant, otherUser, oldV.sid, time.Now().Add(-10*time.Second), nil)
	expectEnded(t, g, oldV, "session_revoked")
	expectWorks(t, g, me)

	// Frontegg's paths under the prefix only: a trailing slash or another version is no route.
	for _, p := range []string{feSessions + "/me/", "/frontegg/identity/resources/users/sessions/v2/me"} {
		if r := g.fe(t, http.MethodGet, p, me.token); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: got %s, want 404", p, r)
		}
	}
}

// testFronteggConfig: GET/POST configurations/sessions/v1.
func testFronteggConfig(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	admin := login(t, g, tenant, newID("admin"), "", []string{"fe.secure.*"})
	reader := login(t, g, tenant, newID("reader"), "", []string{permReadPolicy})
	noperm := login(t, g, tenant, newID("user"), "", []string{permReadSessions, permRevokeSessions})

	if got := feGetConfig(t, g, admin); got != defaultFEConfig {
		t.Errorf("the default configuration is %+v, want %+v", got, defaultFEConfig)
	}
	if got := feGetConfig(t, g, reader); got != defaultFEConfig {
		t.Errorf("read with read_policy: %+v", got)
	}
	expectFEError(t, g.fe(t, http.MethodGet, feConfig, noperm.token), http.StatusForbidden, "forbidden")
	expectFEError(t, g.fe(t, http.MethodPost, feConfig, reader.token, feBody(`{"sessionIdleTimeoutConfiguration": {"isActive": true, "timeout": 60}}`)), http.StatusForbidden, "forbidden")
	if got := opPolicy(t, g, tenant); got != defaultAPIPolicy {
		t.Fatalf("a refused write changed the policy to %+v", got)
	}

	// The strategy is not Frontegg's to touch: set it through the site API first.
	var p apiPolicy
	decodeInto(t, g.api(t, http.MethodPut, "/api/policy", admin.token, jsonBody(`{"max_sessions": {"enabled": false, "max": 4, "strategy": "reject_new"}}`)), http.StatusOK, &p)

	post := func(body string, want feConfiguration) {
		t.Helper()
		var c feConfiguration
		decodeInto(t, g.fe(t, http.MethodPost, feConfig, admin.token, feBody(body)), http.StatusOK, &c)
		if c != want {
			t.Errorf("POST %s answered %+v, want %+v", body, c, want)
		}
		if got := feGetConfig(t, g, admin); got != want {
			t.Errorf("after POST %s: %+v, want %+v", body, got, want)
		}
	}
	want := feConfiguration{Idle: feTimeout{true, 1800}, Timeout: feTimeout{false, 0}, Concurrent: feLimit{false, 4}}
	post(`{"sessionIdleTimeoutConfiguration": {"isActive": true, "timeout": 1800}, "someFutureField": {"x": 1}}`, want)
	want.Concurrent = feLimit{true, 3}
	post(`{"sessionConcurrentConfiguration": {"isActive": true, "maxSessions": 3, "unknownPart": true}}`, want)
	want.Timeout.Timeout = 600
	post(`{"sessionTimeoutConfiguration": {"timeout": 600}}`, want)
	want.Timeout.IsActive = true
	post(`{"sessionTimeoutConfiguration": {"isActive": true}}`, want)
	post(`{}`, want)
	wantPolicy := apiPolicy{
		IdleTimeout:  apiTimeout{true, 1800},
		ForceRelogin: apiTimeout{true, 600},
		MaxSessions:  apiLimit{true, 3, "reject_new"},
		Source:       "tenant",
	}
	if got := opPolicy(t, g, tenant); got != wantPolicy {
		t.Errorf("the stored policy is %+v, want %+v (strategy untouched)", got, wantPolicy)
	}

	// Bad values: 400 with Frontegg's error fields naming the field; nothing changes.
	for _, c := range []struct{ body, field string }{
		{`{"sessionIdleTimeoutConfiguration": {"isActive": true, "timeout": 0}}`, "sessionIdleTimeoutConfiguration.timeout"},
		{`{"sessionTimeoutConfiguration": {"timeout": -5}}`, "sessionTimeoutConfiguration.timeout"},
		{`{"sessionTimeoutConfiguration": {"timeout": 315360001}}`, "sessionTimeoutConfiguration.timeout"},
		{`{"sessionConcurrentConfiguration": {"isActive": true, "maxSessions": 0}}`, "sessionConcurrentConfiguration.maxSessions"},
		{`{"sessionConcurrentConfiguration": {"maxSessions": 10001}}`, "sessionConcurrentConfiguration.maxSessions"},
		{`{"sessionIdleTimeoutConfiguration": {"timeout": "60"}}`, ""},
		{`{"sessionIdleTimeoutConfiguration": {"isActive": "yes"}}`, ""},
		{`not json`, ""},
		{`[]`, ""},
	} {
		msg := expectFEError(t, g.fe(t, http.MethodPost, feConfig, admin.token, feBody(c.body)), http.StatusBadRequest, "bad_request")
		if c.field != "" && !strings.Contains(msg, c.field) {
			t.Errorf("POST %s: message %q does not name %s", c.body, msg, c.field)
		}
		if got := opPolicy(t, g, tenant); got != wantPolicy {
			t.Fatalf("POST %s changed the policy to %+v", c.body, got)
		}
	}
	r := g.fe(t, http.MethodPost, feConfig, admin.token, feBody(`{}`), func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") })
	if r.Status != http.StatusUnsupportedMediaType {
		t.Errorf("POST with text/plain: got %s, want 415", r)
	}
	big := `{"sessionIdleTimeoutConfiguration": {"isActive": true, "timeout": 60}}` + strings.Repeat(" ", 64<<10)
	if r := g.fe(t, http.MethodPost, feConfig, admin.token, feBody(big)); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST over 64 KiB: got %s, want 413", r)
	}
	if got := opPolicy(t, g, tenant); got != wantPolicy {
		t.Fatalf("the refused writes changed the policy to %+v", got)
	}
}

// feCall is one call of index.mjs: its value, or the FronteggApiError it threw.
type feCall struct {
	OK         bool            `json:"ok"`
	Value      json.RawMessage `json:"value"`
	StatusCode int             `json:"statusCode"`
	Message    string          `json:"message"`
	ErrorCode  string          `json:"errorCode"`
	Errors     []string        `json:"errors"`
}

// fronteggClientOutput is what index.mjs prints, one member per call.
type fronteggClientOutput struct {
	ListSessions                feCall `json:"listSessions"`
	CurrentSession              feCall `json:"currentSession"`
	DeleteSession               feCall `json:"deleteSession"`
	ListAfterDelete             feCall `json:"listAfterDelete"`
	DeleteAllSessions           feCall `json:"deleteAllSessions"`
	ListAfterDeleteAll          feCall `json:"listAfterDeleteAll"`
	RevokeWithoutPermission     feCall `json:"revokeWithoutPermission"`
	Revoke                      feCall `json:"revoke"`
	ReadConfigWithoutPermission feCall `json:"readConfigWithoutPermission"`
	ReadConfig                  feCall `json:"readConfig"`
	WriteConfig                 feCall `json:"writeConfig"`
	ReadConfigAfterWrite        feCall `json:"readConfigAfterWrite"`
	WriteBadConfig              feCall `json:"writeBadConfig"`
	CurrentSessionAtEnd         feCall `json:"currentSessionAtEnd"`
}

// runFronteggClient installs the client's packages when they are not there yet and runs
// index.mjs with env, returning its output.
func runFronteggClient(t *testing.T, env ...string) fronteggClientOutput {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the Frontegg client test needs %s on PATH: %v", tool, err)
		}
	}
	dir, err := filepath.Abs("frontegg-client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@frontegg", "rest-api", "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "index.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node index.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var out fronteggClientOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("the client's output is not JSON: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("client output: %s", bytes.TrimSpace(stdout.Bytes()))
	return out
}

// testFronteggClient: Frontegg's own @frontegg/rest-api package, pointed at the gateway
// (baseUrl = origin + api_prefix), lists, ends and revokes sessions and reads and writes the
// session configuration with its own functions.
func testFronteggClient(t *testing.T, g *gateway) {
	tenant, user := newID("tenant"), newID("user")
	o1 := login(t, g, tenant, user, uaChromeMac, nil)
	o2 := login(t, g, tenant, user, uaIPhoneSafari, nil)
	me := login(t, g, tenant, user, "", []string{"fe.secure.*"})
	victim := newID("victim")
	r1 := login(t, g, tenant, victim, "", nil)
	r2 := login(t, g, tenant, victim, "", nil)
	noperm := login(t, g, tenant, newID("user"), "", nil)

	out := runFronteggClient(t,
		"SG_BASE_URL="+g.siteURL+g.sitePrefix(),
		"SG_TOKEN="+me.token,
		"SG_NOPERM_TOKEN="+noperm.token,
		"SG_DELETE_SESSION_ID="+o1.sid,
		"SG_REVOKE_USER_ID="+victim,
	)

	value := func(name string, c feCall, v any) {
		t.Helper()
		if !c.OK {
			t.Fatalf("%s threw: %d %q errorCode %q errors %q", name, c.StatusCode, c.Message, c.ErrorCode, c.Errors)
		}
		if v != nil {
			if err := json.Unmarshal(c.Value, v); err != nil {
				t.Fatalf("%s returned %s: %v", name, c.Value, err)
			}
		}
	}
	threw := func(name string, c feCall, status int, code string) {
		t.Helper()
		if c.OK {
			t.Errorf("%s succeeded (%s), want it to throw %d %s", name, c.Value, status, code)
			return
		}
		if c.StatusCode != status || c.ErrorCode != code || len(c.Errors) != 1 || c.Message != c.Errors[0] || c.Message == "" {
			t.Errorf("%s threw %d %q errorCode %q errors %q; want %d, errorCode %q and the gateway's message",
				name, c.StatusCode, c.Message, c.ErrorCode, c.Errors, status, code)
		}
	}

	// getCurrentUserSessions, getCurrentUserSession.
	var list []feSession
	value("getCurrentUserSessions", out.ListSessions, &list)
	if got, want := sorted(feIDs(list)), sorted([]string{o1.sid, o2.sid, me.sid}); !slices.Equal(got, want) {
		t.Errorf("getCurrentUserSessions: %v, want %v", got, want)
	}
	for _, s := range list {
		if s.Current != (s.ID == me.sid) || s.UserID != user || s.IPAddress != "127.0.0.1" || s.Impersonated == nil || *s.Impersonated {
			t.Errorf("getCurrentUserSessions: %+v", s)
		}
	}
	var cur feSession
	value("getCurrentUserSession", out.CurrentSession, &cur)
	if cur.ID != me.sid || !cur.Current {
		t.Errorf("getCurrentUserSession: %+v, want %s, current", cur, me.sid)
	}

	// deleteSessionForUser, deleteAllSessionsForUser.
	value("deleteSessionForUser", out.DeleteSession, nil)
	value("getCurrentUserSessions after deleteSessionForUser", out.ListAfterDelete, &list)
	if got, want := sorted(feIDs(list)), sorted([]string{o2.sid, me.sid}); !slices.Equal(got, want) {
		t.Errorf("after deleteSessionForUser: %v, want %v", got, want)
	}
	value("deleteAllSessionsForUser", out.DeleteAllSessions, nil)
	value("getCurrentUserSessions after deleteAllSessionsForUser", out.ListAfterDeleteAll, &list)
	if got := feIDs(list); !slices.Equal(got, []string{me.sid}) {
		t.Errorf("after deleteAllSessionsForUser: %v, want only %s", got, me.sid)
	}
	expectEnded(t, g, o1, "session_revoked")
	expectEnded(t, g, o2, "session_revoked")
	expectWorks(t, g, me)
	old := member{tenant: tenant, user: user, sid: newID("sid")}
	old.token = mintIssued(t, tenant, user, old.sid, time.Now().Add(-10*time.Second), nil)
	expectEnded(t, g, old, "session_revoked")

	// revokeSessionsForUser: refused without the permission, the client reading our error.
	threw("revokeSessionsForUser without permission", out.RevokeWithoutPermission, http.StatusForbidden, "forbidden")
	value("revokeSessionsForUser", out.Revoke, nil)
	expectEnded(t, g, r1, "session_revoked")
	expectEnded(t, g, r2, "session_revoked")

	// getSessionConfigurations, createOrUpdateSessionConfigrations.
	threw("getSessionConfigurations without permission", out.ReadConfigWithoutPermission, http.StatusForbidden, "forbidden")
	var cfg feConfiguration
	value("getSessionConfigurations", out.ReadConfig, &cfg)
	if cfg != defaultFEConfig {
		t.Errorf("getSessionConfigurations: %+v, want %+v", cfg, defaultFEConfig)
	}
	value("createOrUpdateSessionConfigrations", out.WriteConfig, nil)
	value("getSessionConfigurations after the write", out.ReadConfigAfterWrite, &cfg)
	written := feConfiguration{Idle: feTimeout{true, 1800}, Timeout: feTimeout{true, 7200}, Concurrent: feLimit{true, 7}}
	if cfg != written {
		t.Errorf("after createOrUpdateSessionConfigrations: %+v, want %+v", cfg, written)
	}
	want := apiPolicy{
		IdleTimeout:  apiTimeout{true, 1800},
		ForceRelogin: apiTimeout{true, 7200},
		MaxSessions:  apiLimit{true, 7, "evict_oldest"},
		Source:       "tenant",
	}
	if got := opPolicy(t, g, tenant); got != want {
		t.Errorf("the stored policy is %+v, want %+v", got, want)
	}
	threw("createOrUpdateSessionConfigrations with timeout 0", out.WriteBadConfig, http.StatusBadRequest, "bad_request")
	if !strings.Contains(out.WriteBadConfig.Message, "sessionIdleTimeoutConfiguration.timeout") {
		t.Errorf("the bad write's message %q does not name the field", out.WriteBadConfig.Message)
	}
	if got := opPolicy(t, g, tenant); got != want {
		t.Errorf("the refused write changed the policy to %+v", got)
	}
	value("getCurrentUserSession at the end", out.CurrentSessionAtEnd, &cur)
	if cur.ID != me.sid {
		t.Errorf("getCurrentUserSession at the end: %+v", cur)
	}
}
