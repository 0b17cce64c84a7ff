package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The site API (CONTRACT section 5): self-service and tenant-admin routes under api_prefix,
// against the real Caddy binary. One gateway serves every subtest of TestSiteAPI; each subtest
// works in tenants of its own, so they run in parallel.

const (
	permReadSessions   = "fe.secure.read.sessions"
	permRevokeSessions = "fe.secure.delete.sessions"
	permReadPolicy     = "fe.secure.read.securityPolicy"
	permWritePolicy    = "fe.secure.write.securityPolicy"

	apiPrefix   = "/.sessiongate"
	tokenCookie = "sg_token"

	// Real browsers' User-Agents, and what the session's device must say of them.
	uaChromeMac    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	uaIPhoneSafari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)

var allPerms = []string{permReadSessions, permRevokeSessions, permReadPolicy, permWritePolicy}

// apiDevice, apiLocation and apiSession are the session object of the contract.
type apiDevice struct {
	Browser string `json:"browser"`
	OS      string `json:"os"`
	Type    string `json:"type"`
}

type apiLocation struct {
	Country string `json:"country"`
	City    string `json:"city"`
}

// apiSession is a session object as the contract shows it.
type apiSession struct {
	ID            string       `json:"id"`
	UserID        string       `json:"user_id"`
	TenantID      string       `json:"tenant_id"`
	CreatedAt     time.Time    `json:"created_at"`
	LastActiveAt  time.Time    `json:"last_active_at"`
	ExpiresAt     *time.Time   `json:"expires_at"`
	IdleExpiresAt *time.Time   `json:"idle_expires_at"`
	IP            string       `json:"ip"`
	UserAgent     string       `json:"user_agent"`
	Device        apiDevice    `json:"device"`
	Location      *apiLocation `json:"location"`
	Current       bool         `json:"current"`
}

// sessionKeys are the members every session object has, no more, no fewer.
var sessionKeys = []string{"id", "user_id", "tenant_id", "created_at", "last_active_at", "expires_at",
	"idle_expires_at", "ip", "user_agent", "device", "location", "current"}

type apiSessionPage struct {
	Sessions   []apiSession `json:"sessions"`
	NextCursor string       `json:"next_cursor"`
}

type apiUser struct {
	UserID         string    `json:"user_id"`
	ActiveSessions int       `json:"active_sessions"`
	LastActiveAt   time.Time `json:"last_active_at"`
}

type apiUserPage struct {
	Users      []apiUser `json:"users"`
	NextCursor string    `json:"next_cursor"`
}

type apiTimeout struct {
	Enabled bool  `json:"enabled"`
	Seconds int64 `json:"seconds"`
}

type apiLimit struct {
	Enabled  bool   `json:"enabled"`
	Max      int    `json:"max"`
	Strategy string `json:"strategy"`
}

type apiPolicy struct {
	IdleTimeout  apiTimeout `json:"idle_timeout"`
	ForceRelogin apiTimeout `json:"force_relogin"`
	MaxSessions  apiLimit   `json:"max_sessions"`
	Source       string     `json:"source,omitempty"`
}

// defaultAPIPolicy is the default policy of a gateway that sets none of its options.
var defaultAPIPolicy = apiPolicy{
	IdleTimeout:  apiTimeout{true, 86400},
	ForceRelogin: apiTimeout{false, 0},
	MaxSessions:  apiLimit{false, 0, "evict_oldest"},
	Source:       "default",
}

// mint is a valid token (issued now) for user's session sid in tenant, with perms in the
// permissions claim (left out when perms is nil).
func mint(t testing.TB, tenant, user, sid string, perms []string) string {
	t.Helper()
	return mintIssued(t, tenant, user, sid, time.Now(), perms)
}

// mintIssued is mint with a chosen iat.
func mintIssued(t testing.TB, tenant, user, sid string, iat time.Time, perms []string) string {
	t.Helper()
	c := claimsFor(identity{user: user, tenant: tenant, sid: sid}).with("iat", iat.Unix())
	if perms != nil {
		c = c.with("permissions", perms)
	}
	return hsToken(t, c)
}

// member is one session of a test: its id and token.
type member struct {
	tenant, user, sid, token string
}

// login mints a token for a new session of user and makes the gateway create it with a
// request from ua.
func login(t *testing.T, g *gateway, tenant, user, ua string, perms []string) member {
	t.Helper()
	m := member{tenant: tenant, user: user, sid: newID("sid")}
	m.token = mint(t, tenant, user, m.sid, perms)
	if ua == "" {
		ua = "sessiongate-integration/1.0"
	}
	if r := g.do(t, "/app", bearer(m.token), userAgent(ua)); r.Status != http.StatusOK {
		t.Fatalf("opening session %s of %s/%s: got %s, want 200", m.sid, tenant, user, r)
	}
	return m
}

// works reports whether m's token still passes the gateway; otherwise the refusal code.
func works(t *testing.T, g *gateway, m member) (bool, string) {
	t.Helper()
	r := g.do(t, "/app", bearer(m.token))
	if r.Status == http.StatusOK {
		return true, ""
	}
	return false, r.errorBody().Error
}

func expectWorks(t *testing.T, g *gateway, m member) {
	t.Helper()
	if ok, code := works(t, g, m); !ok {
		t.Errorf("session %s of %s/%s is refused (%s), want it still working", m.sid, m.tenant, m.user, code)
	}
}

func expectEnded(t *testing.T, g *gateway, m member, code string) {
	t.Helper()
	if ok, got := works(t, g, m); ok || got != code {
		t.Errorf("session %s of %s/%s: works=%v code %q, want refused with %q", m.sid, m.tenant, m.user, ok, got, code)
	}
}

// reqBody sends s as the request body with contentType ("" sends none).
func reqBody(contentType, s string) reqOption {
	return func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(s))
		r.ContentLength = int64(len(s))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
	}
}

func jsonBody(s string) reqOption { return reqBody("application/json", s) }

// sitePrefixes holds the api_prefix of the gateways that do not use the default.
var sitePrefixes sync.Map // *gateway → string

// sitePrefix is where g serves the site API.
func (g *gateway) sitePrefix() string {
	if p, ok := sitePrefixes.Load(g); ok {
		return p.(string)
	}
	return apiPrefix
}

// api calls the site API as token's session.
func (g *gateway) api(t *testing.T, verb, path, token string, opts ...reqOption) result {
	t.Helper()
	return g.do(t, g.sitePrefix()+path, append([]reqOption{method(verb), bearer(token)}, opts...)...)
}

// decodeInto decodes r's JSON body into v after checking status and Content-Type.
func decodeInto(t *testing.T, r result, status int, v any) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want %d", r, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type is %q, want application/json", ct)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// expectAPIError checks a JSON error answer: status, code and a message; it returns the message.
func expectAPIError(t *testing.T, r result, status int, code string) string {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want %d %s", r, status, code)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type is %q, want application/json (body %s)", ct, r.Body)
	}
	var e errorBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("the error body is not JSON: %s", r.Body)
	}
	if e.Error != code || e.Message == "" {
		t.Errorf("got %s, want error %q with a message", r.Body, code)
	}
	return e.Message
}

func expectNoContent(t *testing.T, r result) {
	t.Helper()
	if r.Status != http.StatusNoContent {
		t.Fatalf("got %s, want 204", r)
	}
	if len(r.Body) != 0 {
		t.Errorf("a 204 with a body: %q", r.Body)
	}
}

// mySessions is GET /api/me/sessions as m.
func mySessions(t *testing.T, g *gateway, m member) []apiSession {
	t.Helper()
	var page apiSessionPage
	decodeInto(t, g.api(t, http.MethodGet, "/api/me/sessions", m.token), http.StatusOK, &page)
	return page.Sessions
}

// opUserSessions lists a user's sessions through the operator API.
func opUserSessions(t *testing.T, g *gateway, tenant, user string) []apiSession {
	t.Helper()
	var page apiSessionPage
	decodeInto(t, g.admin(t, http.MethodGet, "/sessiongate/tenants/"+tenant+"/users/"+user+"/sessions", "", ""), http.StatusOK, &page)
	return page.Sessions
}

// opPolicy reads a tenant's policy through the operator API.
func opPolicy(t *testing.T, g *gateway, tenant string) apiPolicy {
	t.Helper()
	var p apiPolicy
	decodeInto(t, g.admin(t, http.MethodGet, "/sessiongate/tenants/"+tenant+"/policy", "", ""), http.StatusOK, &p)
	return p
}

// opSetPolicy sets a tenant's policy through the operator API.
func opSetPolicy(t *testing.T, g *gateway, tenant, body string) apiPolicy {
	t.Helper()
	var p apiPolicy
	decodeInto(t, g.admin(t, http.MethodPut, "/sessiongate/tenants/"+tenant+"/policy", body, "application/json"), http.StatusOK, &p)
	return p
}

func ids(list []apiSession) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

// sids are the session ids of ms, newest (last) first.
func sidsNewestFirst(ms ...member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[len(ms)-1-i] = m.sid
	}
	return out
}

// jsonKeys are the member names of the JSON object raw, sorted.
func jsonKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %s", raw)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// rawSessions are the raw session objects of a {"sessions": [...]} body.
func rawSessions(t *testing.T, body []byte) []json.RawMessage {
	t.Helper()
	var page struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("not a session list: %s", body)
	}
	return page.Sessions
}

func startSiteGateway(t *testing.T, extra ...string) *gateway {
	t.Helper()
	return startGateway(t, gatewayConfig{Gate: hsGate(append([]string{"store memory", "token_cookie " + tokenCookie}, extra...)...)})
}

func TestSiteAPI(t *testing.T) {
	t.Parallel()
	g := startSiteGateway(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *gateway)
	}{
		{"MySessions", testSiteMySessions},
		{"DeleteMySession", testSiteDeleteMySession},
		{"DeleteAllMySessions", testSiteDeleteAllMySessions},
		{"Users", testSiteUsers},
		{"RevokeUser", testSiteRevokeUser},
		{"Policy", testSitePolicy},
		{"Permissions", testSitePermissions},
		{"CrossTenant", testSiteCrossTenant},
		{"Pagination", testSitePagination},
		{"UserPagination", testSiteUserPagination},
		{"PolicyMalformed", testSitePolicyMalformed},
		{"PathParams", testSitePathParams},
		{"CSRF", testSiteCSRF},
		{"Methods", testSiteMethods},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, g)
		})
	}
}

// testSiteMySessions: GET /api/me/sessions shows every field of the caller's sessions, newest
// first, with current only on the calling one.
func testSiteMySessions(t *testing.T, g *gateway) {
	tenant, user := newID("tenant"), newID("user")
	before := time.Now().Add(-time.Second)
	mac := login(t, g, tenant, user, uaChromeMac, nil)
	phone := login(t, g, tenant, user, uaIPhoneSafari, nil)
	other := login(t, g, tenant, newID("user"), uaChromeMac, nil) // another user: not listed
	after := time.Now().Add(time.Second)

	r := g.api(t, http.MethodGet, "/api/me/sessions", phone.token)
	var page apiSessionPage
	decodeInto(t, r, http.StatusOK, &page)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"sessions"}) {
		t.Errorf("the list has members %v, want only sessions (no next_cursor on a single page)", got)
	}
	if got, want := ids(page.Sessions), sidsNewestFirst(mac, phone); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v (newest first, without %s)", got, want, other.sid)
	}
	for i, raw := range rawSessions(t, r.Body) {
		if got, want := jsonKeys(t, raw), sorted(sessionKeys); !slices.Equal(got, want) {
			t.Errorf("session %d has members %v, want %v", i, got, want)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m)
		for _, k := range []string{"expires_at", "location"} {
			if string(m[k]) != "null" {
				t.Errorf("session %d: %s is %s, want null (force_relogin off, no geoip_db)", i, k, m[k])
			}
		}
		if got := jsonKeys(t, m["device"]); !slices.Equal(got, []string{"browser", "os", "type"}) {
			t.Errorf("session %d: device has members %v, want browser, os, type", i, got)
		}
		for _, name := range []string{"created_at", "last_active_at", "idle_expires_at"} {
			var str string
			if err := json.Unmarshal(m[name], &str); err != nil {
				t.Errorf("session %d: %s is %s, want an RFC 3339 string", i, name, m[name])
			} else if _, err := time.Parse(time.RFC3339, str); err != nil {
				t.Errorf("session %d: %s %q is not RFC 3339: %v", i, name, str, err)
			}
		}
	}
	wantDevice := map[string]apiDevice{
		mac.sid:   {Browser: "Chrome 120", OS: "macOS", Type: "desktop"},
		phone.sid: {Browser: "Safari 17", OS: "iOS", Type: "mobile"},
	}
	wantUA := map[string]string{mac.sid: uaChromeMac, phone.sid: uaIPhoneSafari}
	for _, s := range page.Sessions {
		if s.UserID != user || s.TenantID != tenant {
			t.Errorf("session %s: user %q tenant %q, want %q %q", s.ID, s.UserID, s.TenantID, user, tenant)
		}
		if s.CreatedAt.Before(before) || s.CreatedAt.After(after) {
			t.Errorf("session %s: created_at %s, want between %s and %s", s.ID, s.CreatedAt, before, after)
		}
		if s.LastActiveAt.Before(s.CreatedAt) || s.LastActiveAt.After(after) {
			t.Errorf("session %s: last_active_at %s, want between created_at %s and %s", s.ID, s.LastActiveAt, s.CreatedAt, after)
		}
		if s.ExpiresAt != nil {
			t.Errorf("session %s: expires_at %s, want null with force_relogin off", s.ID, s.ExpiresAt)
		}
		if s.IdleExpiresAt == nil || !s.IdleExpiresAt.Equal(s.LastActiveAt.Add(24*time.Hour)) {
			t.Errorf("session %s: idle_expires_at %v, want last_active_at + 24h = %s", s.ID, s.IdleExpiresAt, s.LastActiveAt.Add(24*time.Hour))
		}
		if s.IP != "127.0.0.1" {
			t.Errorf("session %s: ip %q, want 127.0.0.1", s.ID, s.IP)
		}
		if s.UserAgent != wantUA[s.ID] {
			t.Errorf("session %s: user_agent %q, want %q", s.ID, s.UserAgent, wantUA[s.ID])
		}
		if s.Device != wantDevice[s.ID] {
			t.Errorf("session %s: device %+v, want %+v", s.ID, s.Device, wantDevice[s.ID])
		}
		if s.Location != nil {
			t.Errorf("session %s: location %+v, want null without geoip_db", s.ID, *s.Location)
		}
		if s.Current != (s.ID == phone.sid) {
			t.Errorf("session %s: current %v, want %v", s.ID, s.Current, s.ID == phone.sid)
		}
	}

	// From the other session, that one is current.
	for _, s := range mySessions(t, g, mac) {
		if s.Current != (s.ID == mac.sid) {
			t.Errorf("listed from %s: session %s current=%v", mac.sid, s.ID, s.Current)
		}
	}

	// With force re-login on for the tenant, expires_at is created_at + the lifetime.
	opSetPolicy(t, g, tenant, `{"force_relogin": {"enabled": true, "seconds": 3600}, "idle_timeout": {"enabled": false, "seconds": 0}}`)
	list := mySessions(t, g, mac)
	if len(list) != 2 {
		t.Fatalf("after the policy change: %d sessions, want 2", len(list))
	}
	for _, s := range list {
		if s.ExpiresAt == nil || !s.ExpiresAt.Equal(s.CreatedAt.Add(time.Hour)) {
			t.Errorf("session %s: expires_at %v, want created_at + 1h = %s", s.ID, s.ExpiresAt, s.CreatedAt.Add(time.Hour))
		}
		if s.IdleExpiresAt != nil {
			t.Errorf("session %s: idle_expires_at %s, want null with idle_timeout off", s.ID, s.IdleExpiresAt)
		}
	}
}

// testSiteDeleteMySession: DELETE /api/me/sessions/{id} ends one of the caller's sessions;
// another user's session and an unknown id answer the same 404, and the other session lives on.
func testSiteDeleteMySession(t *testing.T, g *gateway) {
	tenant, user := newID("tenant"), newID("user")
	a := login(t, g, tenant, user, "", nil)
	b := login(t, g, tenant, user, "", nil)
	other := login(t, g, tenant, newID("user"), "", nil)

	expectNoContent(t, g.api(t, http.MethodDelete, "/api/me/sessions/"+b.sid, a.token))
	expectEnded(t, g, b, "session_revoked")
	expectWorks(t, g, a)
	if got := ids(mySessions(t, g, a)); !slices.Equal(got, []string{a.sid}) {
		t.Errorf("after the delete, listed %v, want only %s", got, a.sid)
	}

	foreign := g.api(t, http.MethodDelete, "/api/me/sessions/"+other.sid, a.token)
	unknown := g.api(t, http.MethodDelete, "/api/me/sessions/"+newID("no-such-session"), a.token)
	expectAPIError(t, foreign, http.StatusNotFound, "not_found")
	expectAPIError(t, unknown, http.StatusNotFound, "not_found")
	if !bytes.Equal(foreign.Body, unknown.Body) {
		t.Errorf("another user's session answers %s but an unknown one %s; they must not differ", foreign.Body, unknown.Body)
	}
	expectWorks(t, g, other)
	if got := ids(opUserSessions(t, g, tenant, other.user)); !slices.Equal(got, []string{other.sid}) {
		t.Errorf("the other user's sessions are %v, want [%s]", got, other.sid)
	}

	// An already ended one of the caller's own is fine to end again; then the calling one.
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/me/sessions/"+a.sid, a.token))
	expectEnded(t, g, a, "session_revoked")
}

// testSiteDeleteAllMySessions: DELETE /api/me/sessions ends every session of the caller (or all
// but the calling one with keep_current=true) and sets the cut-off.
func testSiteDeleteAllMySessions(t *testing.T, g *gateway) {
	tenant, user := newID("tenant"), newID("user")
	a := login(t, g, tenant, user, "", nil)
	b := login(t, g, tenant, user, "", nil)
	c := login(t, g, tenant, user, "", nil)
	bystander := login(t, g, tenant, newID("user"), "", nil)

	for _, v := range []string{"maybe", "1", "TRUE", "yes"} {
		q := "?keep_current=" + url.QueryEscape(v)
		expectAPIError(t, g.api(t, http.MethodDelete, "/api/me/sessions"+q, a.token), http.StatusBadRequest, "bad_request")
	}
	for _, m := range []member{a, b, c} {
		expectWorks(t, g, m)
	}

	expectNoContent(t, g.api(t, http.MethodDelete, "/api/me/sessions?keep_current=true", a.token))
	expectWorks(t, g, a)
	expectEnded(t, g, b, "session_revoked")
	expectEnded(t, g, c, "session_revoked")
	expectWorks(t, g, bystander)
	if got := ids(mySessions(t, g, a)); !slices.Equal(got, []string{a.sid}) {
		t.Errorf("after keep_current=true, listed %v, want only %s", got, a.sid)
	}
	// The cut-off: a session the gateway has not seen, with a token issued before, is refused.
	old := member{tenant: tenant, user: user, sid: newID("sid")}
	old.token = mintIssued(t, tenant, user, old.sid, time.Now().Add(-10*time.Second), nil)
	expectEnded(t, g, old, "session_revoked")
	// A token issued from now on opens a session.
	fresh := login(t, g, tenant, user, "", nil)

	// keep_current=false is the same as leaving it out: everything ends, the caller's too.
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/me/sessions?keep_current=false", fresh.token))
	expectEnded(t, g, fresh, "session_revoked")
	expectEnded(t, g, a, "session_revoked")
	expectWorks(t, g, bystander)
	if got := opUserSessions(t, g, tenant, user); len(got) != 0 {
		t.Errorf("after ending all, the operator still lists %v", ids(got))
	}

	again := login(t, g, tenant, user, "", nil)
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/me/sessions", again.token))
	expectEnded(t, g, again, "session_revoked")
	older := member{tenant: tenant, user: user, sid: newID("sid")}
	older.token = mintIssued(t, tenant, user, older.sid, time.Now().Add(-5*time.Second), nil)
	expectEnded(t, g, older, "session_revoked")
	expectWorks(t, g, bystander)
}

// testSiteUsers: GET /api/users and GET /api/users/{id}/sessions for a tenant admin.
func testSiteUsers(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	admin := login(t, g, tenant, "admin-"+newID("u"), "", []string{permReadSessions})
	alice1 := login(t, g, tenant, "alice", uaChromeMac, nil)
	alice2 := login(t, g, tenant, "alice", uaIPhoneSafari, nil)
	bob := login(t, g, tenant, "bob", "", nil)
	// Another tenant's users, one of them with the same id: never listed here.
	elsewhere := newID("tenant")
	login(t, g, elsewhere, "zed", "", nil)
	foreignAlice := login(t, g, elsewhere, "alice", "", nil)
	after := time.Now().Add(time.Second)

	r := g.api(t, http.MethodGet, "/api/users", admin.token)
	var page apiUserPage
	decodeInto(t, r, http.StatusOK, &page)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"users"}) {
		t.Errorf("the list has members %v, want only users", got)
	}
	got := map[string]apiUser{}
	for _, u := range page.Users {
		if _, dup := got[u.UserID]; dup {
			t.Errorf("user %s listed twice", u.UserID)
		}
		got[u.UserID] = u
	}
	want := map[string]int{admin.user: 1, "alice": 2, "bob": 1}
	if len(got) != len(want) {
		t.Errorf("listed users %v, want %v", page.Users, want)
	}
	for id, n := range want {
		u, ok := got[id]
		if !ok {
			t.Errorf("user %s is not listed: %s", id, r.Body)
			continue
		}
		if u.ActiveSessions != n {
			t.Errorf("user %s: active_sessions %d, want %d", id, u.ActiveSessions, n)
		}
		if u.LastActiveAt.IsZero() || u.LastActiveAt.After(after) {
			t.Errorf("user %s: last_active_at %s", id, u.LastActiveAt)
		}
	}
	var rawPage struct {
		Users []json.RawMessage `json:"users"`
	}
	_ = json.Unmarshal(r.Body, &rawPage)
	for _, raw := range rawPage.Users {
		if k := jsonKeys(t, raw); !slices.Equal(k, []string{"active_sessions", "last_active_at", "user_id"}) {
			t.Errorf("a user has members %v, want user_id, active_sessions, last_active_at", k)
		}
	}
	// last_active_at is the latest activity of the user's sessions: not before the newest
	// one's creation, not after the latest activity the session list shows. (The user list
	// reads the store, whose copy of the activity may lag by the touch interval.)
	latestCreated, latestActive := time.Time{}, time.Time{}
	for _, s := range opUserSessions(t, g, tenant, "alice") {
		if s.CreatedAt.After(latestCreated) {
			latestCreated = s.CreatedAt
		}
		if s.LastActiveAt.After(latestActive) {
			latestActive = s.LastActiveAt
		}
	}
	if la := got["alice"].LastActiveAt; la.Before(latestCreated) || la.After(latestActive) {
		t.Errorf("alice's last_active_at is %s, want between her newest session's creation %s and its activity %s", la, latestCreated, latestActive)
	}

	// One user's sessions, as the admin sees them: none of them is the admin's current.
	r = g.api(t, http.MethodGet, "/api/users/alice/sessions", admin.token)
	var sessions apiSessionPage
	decodeInto(t, r, http.StatusOK, &sessions)
	if got, want := ids(sessions.Sessions), sidsNewestFirst(alice1, alice2); !slices.Equal(got, want) {
		t.Errorf("alice's sessions are %v, want %v (not the other tenant's %s)", got, want, foreignAlice.sid)
	}
	for _, s := range sessions.Sessions {
		if s.Current || s.TenantID != tenant || s.UserID != "alice" {
			t.Errorf("alice's session %+v: want current false in tenant %s", s, tenant)
		}
	}
	for i, raw := range rawSessions(t, r.Body) {
		if got, want := jsonKeys(t, raw), sorted(sessionKeys); !slices.Equal(got, want) {
			t.Errorf("session %d has members %v, want %v", i, got, want)
		}
	}
	// The admin's own sessions through this route: current is set on the calling one.
	var own apiSessionPage
	decodeInto(t, g.api(t, http.MethodGet, "/api/users/"+admin.user+"/sessions", admin.token), http.StatusOK, &own)
	if len(own.Sessions) != 1 || !own.Sessions[0].Current {
		t.Errorf("the admin's own sessions: %+v, want one, current", own.Sessions)
	}
	// A user without sessions here, and the other tenant's user, are both 404.
	expectAPIError(t, g.api(t, http.MethodGet, "/api/users/zed/sessions", admin.token), http.StatusNotFound, "not_found")
	expectAPIError(t, g.api(t, http.MethodGet, "/api/users/"+newID("nobody")+"/sessions", admin.token), http.StatusNotFound, "not_found")
	expectWorks(t, g, bob)
}

// testSiteRevokeUser: DELETE /api/users/{id}/sessions signs a user out everywhere, with the cut-off.
func testSiteRevokeUser(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	reader := login(t, g, tenant, newID("reader"), "", []string{permReadSessions})
	admin := login(t, g, tenant, newID("admin"), "", []string{permRevokeSessions, permReadSessions})
	victim := newID("victim")
	v1 := login(t, g, tenant, victim, "", nil)
	v2 := login(t, g, tenant, victim, "", nil)
	bystander := login(t, g, tenant, newID("user"), "", nil)

	expectAPIError(t, g.api(t, http.MethodDelete, "/api/users/"+victim+"/sessions", reader.token), http.StatusForbidden, "forbidden")
	expectWorks(t, g, v1)
	expectWorks(t, g, v2)

	expectNoContent(t, g.api(t, http.MethodDelete, "/api/users/"+victim+"/sessions", admin.token))
	expectEnded(t, g, v1, "session_revoked")
	expectEnded(t, g, v2, "session_revoked")
	expectWorks(t, g, bystander)
	expectWorks(t, g, admin)
	old := member{tenant: tenant, user: victim, sid: newID("sid")}
	old.token = mintIssued(t, tenant, victim, old.sid, time.Now().Add(-10*time.Second), nil)
	expectEnded(t, g, old, "session_revoked")
	login(t, g, tenant, victim, "", nil) // signing in again afterwards works

	var page apiUserPage
	decodeInto(t, g.api(t, http.MethodGet, "/api/users", admin.token), http.StatusOK, &page)
	for _, u := range page.Users {
		if u.UserID == victim && u.ActiveSessions != 1 {
			t.Errorf("after the revocation and one new sign-in, %s has %d active sessions", victim, u.ActiveSessions)
		}
	}
	// Revoking oneself: the admin's own session ends too.
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/users/"+admin.user+"/sessions", admin.token))
	expectEnded(t, g, admin, "session_revoked")
}

// testSitePolicy: GET, PUT and DELETE /api/policy, and the stored policy enforced.
func testSitePolicy(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	admin := login(t, g, tenant, newID("admin"), "", []string{permReadPolicy, permWritePolicy})

	var p apiPolicy
	r := g.api(t, http.MethodGet, "/api/policy", admin.token)
	decodeInto(t, r, http.StatusOK, &p)
	if p != defaultAPIPolicy {
		t.Errorf("the policy before any is set: %+v, want the default %+v", p, defaultAPIPolicy)
	}
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"force_relogin", "idle_timeout", "max_sessions", "source"}) {
		t.Errorf("the policy has members %v", got)
	}

	stored := apiPolicy{
		IdleTimeout:  apiTimeout{true, 7200},
		ForceRelogin: apiTimeout{true, 86400},
		MaxSessions:  apiLimit{true, 2, "reject_new"},
		Source:       "tenant",
	}
	r = g.api(t, http.MethodPut, "/api/policy", admin.token, jsonBody(`{
		"idle_timeout":  {"enabled": true, "seconds": 7200},
		"force_relogin": {"enabled": true, "seconds": 86400},
		"max_sessions":  {"enabled": true, "max": 2, "strategy": "reject_new"}}`))
	decodeInto(t, r, http.StatusOK, &p)
	if p != stored {
		t.Errorf("PUT answered %+v, want %+v", p, stored)
	}
	decodeInto(t, g.api(t, http.MethodGet, "/api/policy", admin.token), http.StatusOK, &p)
	if p != stored {
		t.Errorf("GET after PUT: %+v, want %+v", p, stored)
	}
	if op := opPolicy(t, g, tenant); op != stored {
		t.Errorf("the operator sees %+v, want %+v", op, stored)
	}

	// The limit applies at the next creation: a third session of a user is refused.
	user := newID("user")
	u1 := login(t, g, tenant, user, "", nil)
	u2 := login(t, g, tenant, user, "", nil)
	u3 := member{tenant: tenant, user: user, sid: newID("sid")}
	u3.token = mint(t, tenant, user, u3.sid, nil)
	expectRefused(t, g.do(t, "/app", bearer(u3.token)), nil, 0, http.StatusForbidden, "session_limit_reached")
	if got := len(opUserSessions(t, g, tenant, user)); got != 2 {
		t.Errorf("after a refused creation the user has %d sessions, want 2", got)
	}
	// The session objects show the tenant's timeouts.
	for _, s := range mySessions(t, g, u1) {
		if s.ExpiresAt == nil || !s.ExpiresAt.Equal(s.CreatedAt.Add(24*time.Hour)) {
			t.Errorf("session %s: expires_at %v, want created_at + 86400s", s.ID, s.ExpiresAt)
		}
		if s.IdleExpiresAt == nil || !s.IdleExpiresAt.Equal(s.LastActiveAt.Add(2*time.Hour)) {
			t.Errorf("session %s: idle_expires_at %v, want last_active_at + 7200s", s.ID, s.IdleExpiresAt)
		}
	}

	// A PUT with only a part keeps the rest: now the oldest is evicted instead.
	r = g.api(t, http.MethodPut, "/api/policy", admin.token, jsonBody(`{"max_sessions": {"strategy": "evict_oldest"}}`))
	decodeInto(t, r, http.StatusOK, &p)
	stored.MaxSessions.Strategy = "evict_oldest"
	if p != stored {
		t.Errorf("the partial PUT answered %+v, want %+v", p, stored)
	}
	expectWorks(t, g, u3)
	expectEnded(t, g, u1, "session_evicted")
	expectWorks(t, g, u2)

	// DELETE: the default applies again.
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/policy", admin.token))
	decodeInto(t, g.api(t, http.MethodGet, "/api/policy", admin.token), http.StatusOK, &p)
	if p != defaultAPIPolicy {
		t.Errorf("after DELETE: %+v, want the default", p)
	}
	if op := opPolicy(t, g, tenant); op != defaultAPIPolicy {
		t.Errorf("after DELETE the operator sees %+v", op)
	}
	u4 := login(t, g, tenant, user, "", nil) // no limit any more
	expectWorks(t, g, u2)
	expectWorks(t, g, u4)
	// Deleting again is harmless.
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/policy", admin.token))
}

// permRoute is one permission-checked site API call.
type permRoute struct {
	verb, path, body string
	perm             string
	status           int // the answer when granted
}

// permRoutes are the routes that need a permission; they are harmless when granted (the
// user they name has no session; the policy written is the default).
func permRoutes(nobody string) []permRoute {
	return []permRoute{
		{http.MethodGet, "/api/users", "", permReadSessions, http.StatusOK},
		{http.MethodGet, "/api/users/" + nobody + "/sessions", "", permReadSessions, http.StatusNotFound},
		{http.MethodDelete, "/api/users/" + nobody + "/sessions", "", permRevokeSessions, http.StatusNotFound},
		{http.MethodGet, "/api/policy", "", permReadPolicy, http.StatusOK},
		{http.MethodPut, "/api/policy", `{"idle_timeout": {"enabled": true, "seconds": 86400}}`, permWritePolicy, http.StatusOK},
		{http.MethodDelete, "/api/policy", "", permWritePolicy, http.StatusNoContent},
	}
}

func callRoute(t *testing.T, g *gateway, rt permRoute, token string) result {
	t.Helper()
	var opts []reqOption
	if rt.body != "" {
		opts = append(opts, jsonBody(rt.body))
	}
	return g.api(t, rt.verb, rt.path, token, opts...)
}

// checkGrants calls every route with a session holding perms; granted says which permission
// names those grant.
func checkGrants(t *testing.T, g *gateway, tenant string, routes []permRoute, perms []string, granted func(string) bool) {
	t.Helper()
	m := login(t, g, tenant, newID("user"), "", perms)
	for _, rt := range routes {
		r := callRoute(t, g, rt, m.token)
		if granted(rt.perm) {
			if r.Status != rt.status {
				t.Errorf("permissions %q: %s %s got %s, want %d (granted)", perms, rt.verb, rt.path, r, rt.status)
			}
			continue
		}
		if r.Status != http.StatusForbidden || r.errorBody().Error != "forbidden" || r.errorBody().Message == "" {
			t.Errorf("permissions %q: %s %s got %s, want 403 forbidden", perms, rt.verb, rt.path, r)
		}
	}
	// The self-service routes need no permission.
	if r := g.api(t, http.MethodGet, "/api/me/sessions", m.token); r.Status != http.StatusOK {
		t.Errorf("permissions %q: GET /api/me/sessions got %s, want 200", perms, r)
	}
}

// testSitePermissions: each admin route without its permission is 403; exact names and
// wildcards grant.
func testSitePermissions(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	routes := permRoutes(newID("nobody"))
	none := func(string) bool { return false }
	all := func(string) bool { return true }
	only := func(names ...string) func(string) bool {
		return func(p string) bool { return slices.Contains(names, p) }
	}
	for _, tc := range []struct {
		perms   []string
		granted func(string) bool
	}{
		{nil, none},
		{[]string{}, none},
		{[]string{"fe.account.read", "admin", ""}, none},
		{[]string{"fe.secure.read"}, none},
		{[]string{"fe.secure.read.sessions.*"}, none},
		{[]string{"fe.secure*"}, none},
		{[]string{"fe.secure.read.session"}, none},
		{[]string{"FE.SECURE.READ.SESSIONS"}, none},
		{[]string{permReadSessions}, only(permReadSessions)},
		{[]string{permRevokeSessions}, only(permRevokeSessions)},
		{[]string{permReadPolicy}, only(permReadPolicy)},
		{[]string{permWritePolicy}, only(permWritePolicy)},
		{[]string{permReadSessions, permWritePolicy}, only(permReadSessions, permWritePolicy)},
		{allPerms, all},
		{[]string{"fe.secure.*"}, all},
		{[]string{"fe.*"}, all},
		{[]string{"fe.secure.read.*"}, only(permReadSessions, permReadPolicy)},
		{[]string{"fe.secure.write.*"}, only(permWritePolicy)},
		{[]string{"fe.secure.delete.*"}, only(permRevokeSessions)},
		{[]string{"fe.account.*", "fe.secure.read.*"}, only(permReadSessions, permReadPolicy)},
	} {
		checkGrants(t, g, tenant, routes, tc.perms, tc.granted)
	}
}

// testSiteCrossTenant: a tenant-B admin with every permission cannot see or touch tenant A:
// A's users and sessions answer 404 exactly like ones that do not exist.
func testSiteCrossTenant(t *testing.T, g *gateway) {
	tenantA, tenantB := newID("tenantA"), newID("tenantB")
	a1 := login(t, g, tenantA, "shared-user", "", nil)
	a2 := login(t, g, tenantA, "shared-user", "", nil)
	aOnly := login(t, g, tenantA, newID("a-only"), "", nil)
	policyA := opSetPolicy(t, g, tenantA, `{"idle_timeout": {"enabled": true, "seconds": 3600}, "max_sessions": {"enabled": true, "max": 50, "strategy": "reject_new"}}`)
	sessionsA := ids(opUserSessions(t, g, tenantA, "shared-user"))
	adminB := login(t, g, tenantB, newID("adminB"), "", []string{"fe.secure.*"})
	missingUser, missingSession := newID("nobody"), newID("no-such-session")

	pairs := []struct {
		name             string
		verb             string
		foreign, missing string
	}{
		{"list A's user", http.MethodGet, "/api/users/" + aOnly.user + "/sessions", "/api/users/" + missingUser + "/sessions"},
		{"revoke A's user", http.MethodDelete, "/api/users/" + aOnly.user + "/sessions", "/api/users/" + missingUser + "/sessions"},
		{"end A's session as mine", http.MethodDelete, "/api/me/sessions/" + a1.sid, "/api/me/sessions/" + missingSession},
		{"end A's other session as mine", http.MethodDelete, "/api/me/sessions/" + aOnly.sid, "/api/me/sessions/" + missingSession},
	}
	for _, p := range pairs {
		foreign := g.api(t, p.verb, p.foreign, adminB.token)
		missing := g.api(t, p.verb, p.missing, adminB.token)
		expectAPIError(t, foreign, http.StatusNotFound, "not_found")
		expectAPIError(t, missing, http.StatusNotFound, "not_found")
		if !bytes.Equal(foreign.Body, missing.Body) || foreign.Header.Get("Content-Type") != missing.Header.Get("Content-Type") {
			t.Errorf("%s: answered %s, a nonexistent one %s; they must not differ", p.name, foreign, missing)
		}
	}
	// B's user list does not show A's users.
	var users apiUserPage
	decodeInto(t, g.api(t, http.MethodGet, "/api/users", adminB.token), http.StatusOK, &users)
	for _, u := range users.Users {
		if u.UserID != adminB.user {
			t.Errorf("tenant B's list shows %s", u.UserID)
		}
	}
	// B's policy write changes B's only.
	var pb apiPolicy
	decodeInto(t, g.api(t, http.MethodPut, "/api/policy", adminB.token,
		jsonBody(`{"max_sessions": {"enabled": true, "max": 1, "strategy": "evict_oldest"}, "idle_timeout": {"enabled": false, "seconds": 0}}`)), http.StatusOK, &pb)
	if got := opPolicy(t, g, tenantA); got != policyA {
		t.Errorf("tenant A's policy became %+v after tenant B's PUT, want %+v", got, policyA)
	}
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/policy", adminB.token))
	if got := opPolicy(t, g, tenantA); got != policyA {
		t.Errorf("tenant A's policy became %+v after tenant B's DELETE, want %+v", got, policyA)
	}

	// A user of B with the same id as A's: B's admin acts on B's only.
	b1 := login(t, g, tenantB, "shared-user", "", nil)
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/users/shared-user/sessions", adminB.token))
	expectEnded(t, g, b1, "session_revoked")

	// Tenant A is untouched: the same sessions, all working, and no cut-off for its user.
	if got := ids(opUserSessions(t, g, tenantA, "shared-user")); !slices.Equal(got, sessionsA) {
		t.Errorf("tenant A's sessions are %v, want %v", got, sessionsA)
	}
	if got := ids(opUserSessions(t, g, tenantA, aOnly.user)); !slices.Equal(got, []string{aOnly.sid}) {
		t.Errorf("tenant A's %s has sessions %v, want [%s]", aOnly.user, got, aOnly.sid)
	}
	for _, m := range []member{a1, a2, aOnly} {
		expectWorks(t, g, m)
	}
	old := member{tenant: tenantA, user: "shared-user", sid: newID("sid")}
	old.token = mintIssued(t, tenantA, "shared-user", old.sid, time.Now().Add(-10*time.Second), nil)
	expectWorks(t, g, old)
}

// pageThrough follows next_cursor from path (which already has ?limit=) until it is absent,
// calling get for each page; it returns every page's items.
func pageThrough[T any](t *testing.T, path string, get func(string) result, items func([]byte) ([]T, string)) ([][]T, []T) {
	t.Helper()
	var pages [][]T
	var all []T
	next := path
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatalf("more than 20 pages from %s", path)
		}
		r := get(next)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: got %s, want 200", next, r)
		}
		list, cursor := items(r.Body)
		var raw map[string]json.RawMessage
		_ = json.Unmarshal(r.Body, &raw)
		if _, has := raw["next_cursor"]; has != (cursor != "") {
			t.Errorf("GET %s: next_cursor present=%v but %q (an absent cursor must be left out)", next, has, cursor)
		}
		pages = append(pages, list)
		all = append(all, list...)
		if cursor == "" {
			return pages, all
		}
		next = path + "&cursor=" + url.QueryEscape(cursor)
	}
}

func sessionItems(t *testing.T) func([]byte) ([]apiSession, string) {
	return func(b []byte) ([]apiSession, string) {
		var p apiSessionPage
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		return p.Sessions, p.NextCursor
	}
}

func userItems(t *testing.T) func([]byte) ([]apiUser, string) {
	return func(b []byte) ([]apiUser, string) {
		var p apiUserPage
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		return p.Users, p.NextCursor
	}
}

func pageSizes[T any](pages [][]T) []int {
	out := make([]int, len(pages))
	for i, p := range pages {
		out[i] = len(p)
	}
	return out
}

// testSitePagination: session lists page with limit and next_cursor, each session exactly once,
// newest first; bad limits and cursors are 400.
func testSitePagination(t *testing.T, g *gateway) {
	tenant, user := newID("tenant"), newID("user")
	var ms []member
	for i := 0; i < 5; i++ {
		ms = append(ms, login(t, g, tenant, user, "", nil))
	}
	admin := login(t, g, tenant, newID("admin"), "", []string{permReadSessions})
	want := sidsNewestFirst(ms...)
	me := ms[2]

	siteGet := func(token string) func(string) result {
		return func(p string) result { return g.api(t, http.MethodGet, p, token) }
	}
	opGet := func(p string) result { return g.admin(t, http.MethodGet, p, "", "") }
	for _, src := range []struct {
		name string
		path string
		get  func(string) result
	}{
		{"me", "/api/me/sessions?limit=2", siteGet(me.token)},
		{"admin", "/api/users/" + user + "/sessions?limit=2", siteGet(admin.token)},
		{"operator", "/sessiongate/tenants/" + tenant + "/users/" + user + "/sessions?limit=2", opGet},
	} {
		pages, all := pageThrough(t, src.path, src.get, sessionItems(t))
		if got := pageSizes(pages); !slices.Equal(got, []int{2, 2, 1}) {
			t.Errorf("%s: page sizes %v, want [2 2 1]", src.name, got)
		}
		if got := ids(all); !slices.Equal(got, want) {
			t.Errorf("%s: paged through %v, want %v (each once, newest first)", src.name, got, want)
		}
		for _, s := range all {
			if s.Current != (src.name != "operator" && src.name != "admin" && s.ID == me.sid) {
				t.Errorf("%s: session %s current=%v", src.name, s.ID, s.Current)
			}
		}
		// limit=1 and limit=5 and limit=1000 too.
		for limit, sizes := range map[int][]int{1: {1, 1, 1, 1, 1}, 5: {5}, 1000: {5}} {
			p := strings.Replace(src.path, "limit=2", "limit="+strconv.Itoa(limit), 1)
			pages, all := pageThrough(t, p, src.get, sessionItems(t))
			if got := pageSizes(pages); !slices.Equal(got, sizes) {
				t.Errorf("%s limit=%d: page sizes %v, want %v", src.name, limit, got, sizes)
			}
			if got := ids(all); !slices.Equal(got, want) {
				t.Errorf("%s limit=%d: paged through %v, want %v", src.name, limit, got, want)
			}
		}
		base := strings.TrimSuffix(src.path, "?limit=2")
		for _, q := range []string{"limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=2.5", "limit=", "cursor=garbage!!", "cursor=" + b64("no-separator"), "cursor=" + b64("123|bad/id"), "cursor=" + b64("notanumber|"+user)} {
			r := src.get(base + "?" + q)
			if q == "limit=" {
				// An empty limit is the default page.
				if r.Status != http.StatusOK {
					t.Errorf("%s ?%s: got %s, want 200", src.name, q, r)
				}
				continue
			}
			msg := expectAPIError(t, r, http.StatusBadRequest, "bad_request")
			field := strings.SplitN(q, "=", 2)[0]
			if !strings.Contains(msg, field) {
				t.Errorf("%s ?%s: message %q does not name %s", src.name, q, msg, field)
			}
		}
	}
}

// b64 is s in unpadded base64url, the alphabet cursors use.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// testSiteUserPagination: GET /api/users pages the same way, every user exactly once; the
// operator's GET /sessiongate/tenants/{t}/users has the same shape.
func testSiteUserPagination(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	var users []string
	var admin member
	for i := 0; i < 5; i++ {
		var perms []string
		if i == 3 {
			perms = []string{permReadSessions}
		}
		m := login(t, g, tenant, newID("pager"), "", perms)
		if i == 3 {
			admin = m
		}
		if i == 1 {
			login(t, g, tenant, m.user, "", nil) // a second session
		}
		users = append(users, m.user)
	}
	login(t, g, newID("tenant"), newID("outsider"), "", nil)

	for _, src := range []struct {
		name, path string
		get        func(string) result
	}{
		{"site", "/api/users?limit=2", func(p string) result { return g.api(t, http.MethodGet, p, admin.token) }},
		{"operator", "/sessiongate/tenants/" + tenant + "/users?limit=2", func(p string) result { return g.admin(t, http.MethodGet, p, "", "") }},
	} {
		pages, all := pageThrough(t, src.path, src.get, userItems(t))
		if got := pageSizes(pages); !slices.Equal(got, []int{2, 2, 1}) {
			t.Errorf("%s: page sizes %v, want [2 2 1]", src.name, got)
		}
		var got []string
		for _, u := range all {
			got = append(got, u.UserID)
			want := 1
			if u.UserID == users[1] {
				want = 2
			}
			if u.ActiveSessions != want {
				t.Errorf("%s: %s has active_sessions %d, want %d", src.name, u.UserID, u.ActiveSessions, want)
			}
		}
		if !slices.Equal(sorted(got), sorted(users)) {
			t.Errorf("%s: paged through users %v, want each of %v once", src.name, got, users)
		}
		// Without a limit: one page, the same users in the same order.
		single, allAtOnce := pageThrough(t, strings.TrimSuffix(src.path, "?limit=2")+"?limit=1000", src.get, userItems(t))
		if len(single) != 1 {
			t.Errorf("%s: limit=1000 gave %d pages", src.name, len(single))
		}
		var once []string
		for _, u := range allAtOnce {
			once = append(once, u.UserID)
		}
		if !slices.Equal(once, got) {
			t.Errorf("%s: one page lists %v, the paged walk %v; the order must be the same", src.name, once, got)
		}
		base := strings.TrimSuffix(src.path, "?limit=2")
		for _, q := range []string{"limit=0", "limit=1001", "limit=abc", "cursor=garbage!!", "cursor=" + b64("a/b"), "cursor=" + b64("")} {
			if q == "cursor=" {
				continue // an empty cursor is the first page
			}
			r := src.get(base + "?" + q)
			msg := expectAPIError(t, r, http.StatusBadRequest, "bad_request")
			if field := strings.SplitN(q, "=", 2)[0]; !strings.Contains(msg, field) {
				t.Errorf("%s ?%s: message %q does not name %s", src.name, q, msg, field)
			}
		}
	}
	// The operator route exists with the same shape as the site's.
	r := g.admin(t, http.MethodGet, "/sessiongate/tenants/"+tenant+"/users", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("operator users: %s", r)
	}
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"users"}) {
		t.Errorf("the operator's user list has members %v, want users", got)
	}
}

// testSitePolicyMalformed: PUT /api/policy refuses malformed bodies with 400 (413, 415) naming
// the field, and the stored policy stays as it was.
func testSitePolicyMalformed(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	admin := login(t, g, tenant, newID("admin"), "", []string{"fe.secure.*"})
	var stored apiPolicy
	decodeInto(t, g.api(t, http.MethodPut, "/api/policy", admin.token, jsonBody(`{
		"idle_timeout":  {"enabled": true, "seconds": 1234},
		"force_relogin": {"enabled": true, "seconds": 5678},
		"max_sessions":  {"enabled": true, "max": 9, "strategy": "reject_new"}}`)), http.StatusOK, &stored)

	const tenYears = 10 * 365 * 24 * 3600
	big := `{"idle_timeout": {"enabled": true, "seconds": 60}}` + strings.Repeat(" ", 64<<10)
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		field                   string // the message must name it; "" for faults of the whole body
	}{
		{"unknown field", `{"idle_timeout": {"enabled": true, "seconds": 60}, "bogus": 1}`, "", 400, "bogus"},
		{"unknown nested field", `{"idle_timeout": {"enabled": true, "seconds": 60, "minutes": 1}}`, "", 400, "minutes"},
		{"case-folded duplicate MAX", `{"max_sessions": {"enabled": true, "max": 3, "MAX": 5, "strategy": "evict_oldest"}}`, "", 400, "MAX"},
		{"case-folded top-level name", `{"Idle_Timeout": {"enabled": true, "seconds": 60}}`, "", 400, "Idle_Timeout"},
		{"duplicate key", `{"idle_timeout": {"enabled": true, "seconds": 60}, "idle_timeout": {"enabled": true, "seconds": 90}}`, "", 400, "idle_timeout"},
		{"duplicate nested key", `{"max_sessions": {"max": 3, "max": 4}}`, "", 400, "max"},
		{"seconds as a string", `{"idle_timeout": {"enabled": true, "seconds": "60"}}`, "", 400, "seconds"},
		{"seconds fractional", `{"idle_timeout": {"enabled": true, "seconds": 1.5}}`, "", 400, "seconds"},
		{"seconds null", `{"idle_timeout": {"enabled": true, "seconds": null}}`, "", 400, "seconds"},
		{"enabled as a string", `{"force_relogin": {"enabled": "yes", "seconds": 60}}`, "", 400, "enabled"},
		{"max as a string", `{"max_sessions": {"enabled": true, "max": "3"}}`, "", 400, "max"},
		{"part not an object", `{"idle_timeout": 60}`, "", 400, "idle_timeout"},
		{"part null", `{"idle_timeout": null}`, "", 400, "idle_timeout"},
		{"seconds 0 when enabled", `{"force_relogin": {"enabled": true, "seconds": 0}}`, "", 400, "seconds"},
		{"seconds negative", `{"idle_timeout": {"enabled": false, "seconds": -1}}`, "", 400, "seconds"},
		{"seconds over 10 years", `{"idle_timeout": {"enabled": true, "seconds": ` + strconv.Itoa(tenYears+1) + `}}`, "", 400, "seconds"},
		{"seconds overflowing", `{"idle_timeout": {"enabled": true, "seconds": 99999999999999999999}}`, "", 400, "seconds"},
		{"max 0 when enabled", `{"max_sessions": {"enabled": true, "max": 0}}`, "", 400, "max"},
		{"max 10001", `{"max_sessions": {"enabled": true, "max": 10001}}`, "", 400, "max"},
		{"bad strategy", `{"max_sessions": {"strategy": "random"}}`, "", 400, "strategy"},
		{"strategy in capitals", `{"max_sessions": {"strategy": "EVICT_OLDEST"}}`, "", 400, "strategy"},
		{"trailing object", `{"idle_timeout": {"enabled": true, "seconds": 60}} {}`, "", 400, ""},
		{"trailing garbage", `{"idle_timeout": {"enabled": true, "seconds": 60}}x`, "", 400, ""},
		{"not an object (array)", `[]`, "", 400, ""},
		{"not an object (string)", `"policy"`, "", 400, ""},
		{"not an object (null)", `null`, "", 400, ""},
		{"truncated", `{"idle_timeout": {"enabled": true`, "", 400, ""},
		{"empty body", ``, "", 400, ""},
		{"over 64 KiB", big, "", 413, ""},
		{"text/plain", `{"idle_timeout": {"enabled": true, "seconds": 60}}`, "text/plain", 415, ""},
		{"form", `idle_timeout=60`, "application/x-www-form-urlencoded", 415, ""},
	} {
		ct := tc.contentType
		if ct == "" {
			ct = "application/json"
		}
		r := g.api(t, http.MethodPut, "/api/policy", admin.token, reqBody(ct, tc.body))
		if r.Status != tc.status {
			t.Errorf("%s: got %s, want %d", tc.name, r, tc.status)
		} else if e := r.errorBody(); e.Error != "bad_request" || e.Message == "" {
			t.Errorf("%s: body %s, want error bad_request with a message", tc.name, r.Body)
		} else if tc.field != "" && !strings.Contains(e.Message, tc.field) {
			t.Errorf("%s: message %q does not name the field %q", tc.name, e.Message, tc.field)
		}
		if got := opPolicy(t, g, tenant); got != stored {
			t.Fatalf("%s: the stored policy became %+v, want it unchanged %+v", tc.name, got, stored)
		}
	}
	// A body without Content-Type, and application/json with a charset, are read.
	var p apiPolicy
	decodeInto(t, g.api(t, http.MethodPut, "/api/policy", admin.token, reqBody("application/json; charset=utf-8", `{"idle_timeout": {"enabled": true, "seconds": 1234}}`)), http.StatusOK, &p)
	if p != stored {
		t.Errorf("an unchanged PUT answered %+v, want %+v", p, stored)
	}
}

// testSitePathParams: ids in paths that are not ids are 400.
func testSitePathParams(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	admin := login(t, g, tenant, newID("admin"), "", allPerms)
	for _, bad := range []string{"a%2Fb", "a%20b", "%C3%A9t%C3%A9", "a%3Cb%3E", "a%22b", "a%25b", "a%3Fb", "a%23b", "a%00b", strings.Repeat("x", 257)} {
		for _, c := range []struct{ verb, path string }{
			{http.MethodGet, "/api/users/" + bad + "/sessions"},
			{http.MethodDelete, "/api/users/" + bad + "/sessions"},
			{http.MethodDelete, "/api/me/sessions/" + bad},
		} {
			r := g.api(t, c.verb, c.path, admin.token)
			if r.Status != http.StatusBadRequest || r.errorBody().Error != "bad_request" {
				t.Errorf("%s %s: got %s, want 400 bad_request", c.verb, c.path, r)
			}
		}
	}
	// The longest id, and one of every allowed character, are ids (so 404, not 400).
	for _, ok := range []string{strings.Repeat("x", 256), "a.b_c~d:e@f+g=h|i-j"} {
		p := "/api/users/" + url.PathEscape(ok) + "/sessions"
		expectAPIError(t, g.api(t, http.MethodGet, p, admin.token), http.StatusNotFound, "not_found")
	}
	expectWorks(t, g, admin)
}

// testSiteCSRF: a state-changing request authenticated by the cookie is refused when it is
// cross-origin; Bearer-authenticated and safe requests are not.
func testSiteCSRF(t *testing.T, g *gateway) {
	tenant, user := newID("tenant"), newID("user")
	me := login(t, g, tenant, user, "", allPerms)
	victim := login(t, g, tenant, user, "", nil)
	policy := opSetPolicy(t, g, tenant, `{"idle_timeout": {"enabled": true, "seconds": 4321}}`)
	viaCookie := func(verb, path string, opts ...reqOption) result {
		return g.do(t, g.sitePrefix()+path, append([]reqOption{method(verb), cookie(tokenCookie, me.token)}, opts...)...)
	}
	crossSite := header("Sec-Fetch-Site", "cross-site")
	evilOrigin := header("Origin", "http://evil.example")
	putBody := jsonBody(`{"idle_timeout": {"enabled": true, "seconds": 60}}`)

	for _, c := range []struct {
		name string
		verb string
		path string
		opts []reqOption
	}{
		{"DELETE one session, cross-site", http.MethodDelete, "/api/me/sessions/" + victim.sid, []reqOption{crossSite}},
		{"DELETE all sessions, cross-site", http.MethodDelete, "/api/me/sessions?keep_current=true", []reqOption{crossSite}},
		{"DELETE a user's sessions, same-site", http.MethodDelete, "/api/users/" + user + "/sessions", []reqOption{header("Sec-Fetch-Site", "same-site")}},
		{"PUT policy, cross-site", http.MethodPut, "/api/policy", []reqOption{crossSite, putBody}},
		{"DELETE policy, cross-site", http.MethodDelete, "/api/policy", []reqOption{crossSite}},
		{"PUT policy, evil Origin", http.MethodPut, "/api/policy", []reqOption{evilOrigin, putBody}},
		{"DELETE one session, evil Origin", http.MethodDelete, "/api/me/sessions/" + victim.sid, []reqOption{evilOrigin}},
		{"Frontegg revoke, cross-site", http.MethodPost, "/frontegg/identity/resources/users/sessions/v1/revoke", []reqOption{crossSite, jsonBody(`{"userId": "` + user + `"}`)}},
		{"Frontegg config, evil Origin", http.MethodPost, "/frontegg/identity/resources/configurations/sessions/v1", []reqOption{evilOrigin, jsonBody(`{"sessionIdleTimeoutConfiguration": {"isActive": true, "timeout": 60}}`)}},
	} {
		r := viaCookie(c.verb, c.path, c.opts...)
		if r.Status != http.StatusForbidden || r.errorBody().Error != "csrf_check_failed" || r.errorBody().Message == "" {
			t.Errorf("%s: got %s, want 403 csrf_check_failed", c.name, r)
		}
	}
	// Nothing changed.
	expectWorks(t, g, victim)
	expectWorks(t, g, me)
	if got := opPolicy(t, g, tenant); got != policy {
		t.Errorf("the policy became %+v after refused writes, want %+v", got, policy)
	}

	// Safe methods by cookie from anywhere are fine.
	if r := viaCookie(http.MethodGet, "/api/me/sessions", crossSite, evilOrigin); r.Status != http.StatusOK {
		t.Errorf("a cross-site cookie GET: got %s, want 200", r)
	}
	if r := viaCookie(http.MethodGet, "/api/policy", crossSite); r.Status != http.StatusOK {
		t.Errorf("a cross-site cookie GET of the policy: got %s, want 200", r)
	}
	// Same-origin by cookie is allowed.
	var p apiPolicy
	decodeInto(t, viaCookie(http.MethodPut, "/api/policy", header("Sec-Fetch-Site", "same-origin"), jsonBody(`{"idle_timeout": {"enabled": true, "seconds": 5000}}`)), http.StatusOK, &p)
	if p.IdleTimeout != (apiTimeout{true, 5000}) {
		t.Errorf("the same-origin PUT stored %+v", p)
	}
	decodeInto(t, viaCookie(http.MethodPut, "/api/policy", header("Origin", g.siteURL), jsonBody(`{"idle_timeout": {"enabled": true, "seconds": 5001}}`)), http.StatusOK, &p)
	if p.IdleTimeout != (apiTimeout{true, 5001}) {
		t.Errorf("the PUT from the site's own Origin stored %+v", p)
	}
	// Bearer-authenticated cross-site writes are allowed: a browser cannot be made to send them.
	victim2 := login(t, g, tenant, user, "", nil)
	expectNoContent(t, g.api(t, http.MethodDelete, "/api/me/sessions/"+victim2.sid, me.token, crossSite, evilOrigin))
	expectEnded(t, g, victim2, "session_revoked")
	// Cookie, same-origin: allowed.
	expectNoContent(t, viaCookie(http.MethodDelete, "/api/me/sessions/"+victim.sid, header("Sec-Fetch-Site", "same-origin")))
	expectEnded(t, g, victim, "session_revoked")
	expectWorks(t, g, me)
}

// testSiteMethods: a method a route does not have is 405 with Allow; an unknown route is 404.
func testSiteMethods(t *testing.T, g *gateway) {
	tenant := newID("tenant")
	m := login(t, g, tenant, newID("user"), "", allPerms)
	for _, c := range []struct{ verb, path, allow string }{
		{http.MethodPost, "/api/me/sessions", "GET, DELETE"},
		{http.MethodGet, "/api/me/sessions/" + m.sid, "DELETE"},
		{http.MethodPost, "/api/users", "GET"},
		{http.MethodPatch, "/api/policy", "GET, PUT, DELETE"},
	} {
		r := g.api(t, c.verb, c.path, m.token)
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: got %s Allow %q, want 405 Allow %q", c.verb, c.path, r, r.Header.Get("Allow"), c.allow)
		}
	}
	expectAPIError(t, g.api(t, http.MethodGet, "/api/nothing-here", m.token), http.StatusNotFound, "not_found")
	// The API is behind the gateway: without a token it is 401 like anything else.
	expectRefused(t, g.do(t, g.sitePrefix()+"/api/me/sessions"), nil, 0, http.StatusUnauthorized, "missing_token")
}

// TestSitePermissionNames: `permission <role> <name>` renames what the API checks; wildcards
// work with the new names and the old names no longer grant a renamed role. The gateway also
// moves the API with api_prefix.
func TestSitePermissionNames(t *testing.T) {
	t.Parallel()
	const prefix = "/.auth/v1"
	g := startSiteGateway(t, "permission read_sessions my.read", "permission write_policy acme.policy.write", "api_prefix "+prefix)
	sitePrefixes.Store(g, prefix)
	t.Cleanup(func() { sitePrefixes.Delete(g) })
	tenant := newID("tenant")

	// The API is under the new prefix only; the default one, and look-alikes, go to the site.
	m := login(t, g, tenant, newID("user"), "", nil)
	var page apiSessionPage
	decodeInto(t, g.api(t, http.MethodGet, "/api/me/sessions", m.token), http.StatusOK, &page)
	if got := ids(page.Sessions); !slices.Equal(got, []string{m.sid}) {
		t.Errorf("%s/api/me/sessions lists %v, want [%s]", prefix, got, m.sid)
	}
	for _, p := range []string{apiPrefix + "/api/me/sessions", prefix + "x/api/me/sessions", "/.auth/api/me/sessions"} {
		if r := g.do(t, p, bearer(m.token)); r.Status != http.StatusOK || string(r.Body) != "ok" {
			t.Errorf("GET %s: got %s, want the site's own 200 ok", p, r)
		}
	}
	routes := permRoutes(newID("nobody"))
	for i := range routes {
		switch routes[i].perm {
		case permReadSessions:
			routes[i].perm = "my.read"
		case permWritePolicy:
			routes[i].perm = "acme.policy.write"
		}
	}
	only := func(names ...string) func(string) bool {
		return func(p string) bool { return slices.Contains(names, p) }
	}
	for _, tc := range []struct {
		perms   []string
		granted func(string) bool
	}{
		{[]string{"my.read"}, only("my.read")},
		{[]string{"my.*"}, only("my.read")},
		{[]string{permReadSessions}, only()},
		{[]string{"acme.policy.write"}, only("acme.policy.write")},
		{[]string{"acme.*"}, only("acme.policy.write")},
		{[]string{permWritePolicy}, only()},
		{[]string{permRevokeSessions}, only(permRevokeSessions)}, // not renamed: the default holds
		{[]string{permReadPolicy}, only(permReadPolicy)},
		{[]string{"fe.secure.*"}, only(permRevokeSessions, permReadPolicy)},
		{[]string{"fe.*", "my.read", "acme.policy.write"}, func(string) bool { return true }},
	} {
		checkGrants(t, g, tenant, routes, tc.perms, tc.granted)
	}
}
