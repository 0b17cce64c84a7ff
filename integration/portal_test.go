package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The admin portal (CONTRACT section 5, GET {api_prefix}/portal/): its HTTP answers, and the page
// itself driven in headless Chromium against a real gateway. The page authenticates with the
// token_cookie cookie and calls the site API same-origin; every outcome is checked both in the
// DOM and through the site API.

// portalTimeout bounds each browser test, from the browser's start to its last check.
const portalTimeout = 60 * time.Second

// uaMarkup is a User-Agent carrying markup: the page must show it, if at all, as text.
const uaMarkup = `Mozilla/5.0 (X11; Linux x86_64) <img src=x onerror="window.__xss=1"> AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36`

// portalPath is where g serves the portal page.
func (g *gateway) portalPath() string { return g.sitePrefix() + "/portal/" }

// TestPortalHTTP checks the portal's plain HTTP answers: the page and its script with their
// security headers, the refusal without a token and the redirect to the trailing slash.
func TestPortalHTTP(t *testing.T) {
	g := startSiteGateway(t)
	me := login(t, g, newID("tenant"), newID("user"), "", nil)
	viaCookie := cookie(tokenCookie, me.token)

	r := g.do(t, g.portalPath(), viaCookie)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s with the token cookie: got %s, want 200", g.portalPath(), r)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "text/html" {
		t.Errorf("the page's Content-Type is %q, want text/html", r.Header.Get("Content-Type"))
	}
	csp := strings.Join(r.Header.Values("Content-Security-Policy"), ", ")
	if !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy is %q, want it to contain default-src 'self'", csp)
	}
	if !framingForbidden(r.Header) {
		t.Errorf("the page may be framed: X-Frame-Options %q, Content-Security-Policy %q; want DENY/SAMEORIGIN or frame-ancestors 'none'/'self'",
			r.Header.Get("X-Frame-Options"), csp)
	}
	if !strings.Contains(strings.ToLower(string(r.Body)), "<html") {
		t.Errorf("the page is not an HTML document: %.200q", r.Body)
	}

	r = g.do(t, g.portalPath()+"app.js", viaCookie)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %sapp.js: got %s, want 200", g.portalPath(), r)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil ||
		(mt != "text/javascript" && mt != "application/javascript") {
		t.Errorf("app.js has Content-Type %q, want a JavaScript type", r.Header.Get("Content-Type"))
	}
	if len(r.Body) == 0 {
		t.Errorf("app.js is empty")
	}

	// Without a token the page is refused like any request: 401 missing_token, in JSON.
	expectRefused(t, g.do(t, g.portalPath()), nil, 0, http.StatusUnauthorized, "missing_token")

	// Without the trailing slash: a redirect to it (the page's relative links need it).
	r = g.do(t, strings.TrimSuffix(g.portalPath(), "/"), viaCookie)
	if r.Status < 300 || r.Status > 399 {
		t.Fatalf("GET %s: got %s, want a redirect to %s", strings.TrimSuffix(g.portalPath(), "/"), r, g.portalPath())
	}
	base, _ := url.Parse(g.siteURL + strings.TrimSuffix(g.portalPath(), "/"))
	loc, err := base.Parse(r.Header.Get("Location"))
	if err != nil || loc.Host != base.Host || loc.Path != g.portalPath() {
		t.Errorf("the redirect goes to %q, want %s", r.Header.Get("Location"), g.portalPath())
	}
}

// framingForbidden reports whether h forbids other sites to frame the page.
func framingForbidden(h http.Header) bool {
	switch strings.ToUpper(strings.TrimSpace(h.Get("X-Frame-Options"))) {
	case "DENY", "SAMEORIGIN":
		return true
	}
	for _, csp := range h.Values("Content-Security-Policy") {
		for _, dir := range strings.Split(csp, ";") {
			f := strings.Fields(dir)
			sameOriginOnly := func(srcs []string) bool {
				return !slices.ContainsFunc(srcs, func(s string) bool { return s != "'none'" && s != "'self'" })
			}
			if len(f) >= 2 && strings.EqualFold(f[0], "frame-ancestors") && sameOriginOnly(f[1:]) {
				return true
			}
		}
	}
	return false
}

// TestPortalMySessions: a user with three sessions sees them all, newest first, the browser's
// own marked current; ends one with its row's button, then the others with #end-others.
func TestPortalMySessions(t *testing.T) {
	g := startSiteGateway(t)
	tenant, user := newID("tenant"), newID("user")
	older := login(t, g, tenant, user, uaMarkup, nil)
	other := login(t, g, tenant, user, uaIPhoneSafari, nil)
	// The browser's session: opened by the browser's own first request.
	me := member{tenant: tenant, user: user, sid: newID("sid")}
	me.token = mint(t, tenant, user, me.sid, nil)

	p := openPortal(t, g, me.token)
	p.expectShown("#view-sessions", true)
	p.expectErrorHidden()

	api := mySessions(t, g, me)
	if got, want := sorted(ids(api)), sorted([]string{me.sid, other.sid, older.sid}); !slices.Equal(got, want) {
		t.Fatalf("the API lists sessions %v, want %v", got, want)
	}
	rows := p.rows("#my-sessions tr[data-session-id]")
	if got, want := rowIDs(rows), ids(api); !slices.Equal(got, want) {
		t.Fatalf("#my-sessions shows %v, want the API's newest-first %v", got, want)
	}
	for i, row := range rows {
		s := api[i]
		if row.Current != (s.ID == me.sid) {
			t.Errorf("row %s: class current is %v, want %v (the browser's session is %s)", s.ID, row.Current, s.ID == me.sid, me.sid)
		}
		if !row.EndButton {
			t.Errorf("row %s has no button.end-session", s.ID)
		}
		for what, want := range map[string]string{"browser": s.Device.Browser, "OS": s.Device.OS, "IP": s.IP} {
			if want != "" && !strings.Contains(row.Text, want) {
				t.Errorf("row %s does not show the %s %q: %q", s.ID, what, want, row.Text)
			}
		}
	}
	if p.eval(`!!document.querySelector("#my-sessions img") || window.__xss !== undefined`) == "true" {
		t.Errorf("markup of a User-Agent became elements in #my-sessions: the page must set text with textContent")
	}

	// One session, with its row's button.
	mark := p.mark()
	p.click(fmt.Sprintf(`#my-sessions tr[data-session-id=%q] button.end-session`, other.sid))
	p.expectStatus(p.waitRequest(mark, http.MethodDelete, g.sitePrefix()+"/api/me/sessions/"+other.sid), http.StatusNoContent)
	p.expectConfirmed("ending one session")
	p.waitUntil("the ended session's row is gone",
		fmt.Sprintf(`document.querySelectorAll("#my-sessions tr[data-session-id]").length === 2 && !document.querySelector(%s)`,
			jsString(fmt.Sprintf(`#my-sessions tr[data-session-id=%q]`, other.sid))))
	expectEnded(t, g, other, "session_revoked")
	expectWorks(t, g, older)

	// Every other session, with #end-others.
	mark = p.mark()
	p.click("#end-others")
	p.expectStatus(p.waitRequest(mark, http.MethodDelete, g.sitePrefix()+"/api/me/sessions?keep_current=true"), http.StatusNoContent)
	p.expectConfirmed("ending the other sessions")
	p.waitUntil("one row is left", `document.querySelectorAll("#my-sessions tr[data-session-id]").length === 1`)
	rows = p.rows("#my-sessions tr[data-session-id]")
	if len(rows) != 1 || rows[0].ID != me.sid || !rows[0].Current {
		t.Errorf("after #end-others the rows are %+v, want only %s, current", rows, me.sid)
	}
	expectEnded(t, g, older, "session_revoked")
	expectWorks(t, g, me)
	if got := ids(mySessions(t, g, me)); !slices.Equal(got, []string{me.sid}) {
		t.Errorf("after #end-others the API lists %v, want only %s", got, me.sid)
	}
	p.expectErrorHidden()
}

// TestPortalAdminUsers: a tenant admin lists the users of its tenant (and of no other), opens
// one user's sessions and signs that user out everywhere.
func TestPortalAdminUsers(t *testing.T) {
	g := startSiteGateway(t)
	tenant := newID("tenant")
	admin := login(t, g, tenant, newID("admin"), "", allPerms)
	victim := newID("victim")
	v1 := login(t, g, tenant, victim, uaChromeMac, nil)
	v2 := login(t, g, tenant, victim, uaIPhoneSafari, nil)
	bystander := login(t, g, tenant, newID("user"), "", nil)
	foreign := login(t, g, newID("tenant"), newID("foreign"), "", nil)

	p := openPortal(t, g, admin.token)
	p.expectErrorHidden()
	for _, tab := range []string{"#tab-sessions", "#tab-users", "#tab-settings"} {
		if p.hiddenAttr(tab) {
			t.Errorf("%s is hidden for an admin with %v", tab, allPerms)
		}
	}
	p.click("#tab-users")
	p.waitShown("#view-users")
	p.expectShown("#view-sessions", false)
	p.expectShown("#view-settings", false)

	p.waitUntil("the users are listed", fmt.Sprintf(`!!document.querySelector(%s)`, jsString(userRow(victim))))
	var page apiUserPage
	decodeInto(t, g.api(t, http.MethodGet, "/api/users", admin.token), http.StatusOK, &page)
	want := map[string]int{}
	for _, u := range page.Users {
		want[u.UserID] = u.ActiveSessions
	}
	if len(want) != 3 || want[victim] != 2 || want[bystander.user] != 1 || want[admin.user] != 1 {
		t.Fatalf("the API lists users %+v, want %s (2), %s (1), %s (1)", page.Users, victim, bystander.user, admin.user)
	}
	rows := p.rows("#users tr[data-user-id]")
	var shown []string
	for _, row := range rows {
		shown = append(shown, row.User)
		if n, ok := want[row.User]; ok && !showsCount(row.Cells, n) {
			t.Errorf("the row of %s shows %q, want a cell with its active session count %d", row.User, row.Cells, n)
		}
		if !row.ShowButton {
			t.Errorf("the row of %s has no button.show-user", row.User)
		}
	}
	if got, want := sorted(shown), sorted([]string{victim, bystander.user, admin.user}); !slices.Equal(got, want) {
		t.Errorf("#users lists %v, want %v (and never %s of another tenant)", got, want, foreign.user)
	}
	if slices.Contains(shown, foreign.user) {
		t.Errorf("#users lists %s, a user of another tenant", foreign.user)
	}
	p.expectShown("#users-more", false)

	// The victim's sessions, then the victim signed out everywhere.
	p.click(userRow(victim) + " button.show-user")
	p.waitUntil("the victim's sessions are listed",
		`document.querySelectorAll("#user-sessions tr[data-session-id]").length === 2`)
	var sessions apiSessionPage
	decodeInto(t, g.api(t, http.MethodGet, "/api/users/"+victim+"/sessions", admin.token), http.StatusOK, &sessions)
	srows := p.rows("#user-sessions tr[data-session-id]")
	if got, want := rowIDs(srows), ids(sessions.Sessions); !slices.Equal(got, want) || !slices.Equal(sorted(got), sorted([]string{v1.sid, v2.sid})) {
		t.Errorf("#user-sessions shows %v, want the API's %v (%s and %s)", got, want, v1.sid, v2.sid)
	}
	for i, row := range srows {
		if i < len(sessions.Sessions) && !strings.Contains(row.Text, sessions.Sessions[i].IP) {
			t.Errorf("the row of session %s does not show its IP %s: %q", row.ID, sessions.Sessions[i].IP, row.Text)
		}
	}
	p.waitShown("#end-user-sessions")
	mark := p.mark()
	p.click("#end-user-sessions")
	p.expectStatus(p.waitRequest(mark, http.MethodDelete, g.sitePrefix()+"/api/users/"+victim+"/sessions"), http.StatusNoContent)
	p.expectConfirmed("signing a user out everywhere")
	expectEnded(t, g, v1, "session_revoked")
	expectEnded(t, g, v2, "session_revoked")
	expectWorks(t, g, bystander)
	expectWorks(t, g, admin)
	expectWorks(t, g, foreign)
	// The page then stops listing the ended sessions, without an error: the sign-out worked.
	ended := fmt.Sprintf(`!document.querySelector(%s) && !document.querySelector(%s)`,
		jsString(fmt.Sprintf(`#user-sessions tr[data-session-id=%q]`, v1.sid)),
		jsString(fmt.Sprintf(`#user-sessions tr[data-session-id=%q]`, v2.sid)))
	p.waitUntil("the ended sessions leave #user-sessions, or an error shows",
		fmt.Sprintf(`(%s) || %s("#error")`, ended, jsShown))
	if p.shown("#error") {
		t.Errorf("after the sign-out succeeded (204), #error shows %s: the page must treat the user's now empty session list (GET .../sessions answers 404 not_found when the user has none) as no sessions, not as a failure",
			p.eval(`document.querySelector("#error").textContent`))
	}
	if p.eval(ended) != "true" {
		t.Errorf("#user-sessions still lists the ended sessions %s and %s: %+v", v1.sid, v2.sid, p.rows("#user-sessions tr[data-session-id]"))
	}
}

// TestPortalUsersMore: a tenant with more users than one page of the page's listing: #users-more
// brings the next pages until every user is listed, once, and then hides.
func TestPortalUsersMore(t *testing.T) {
	g := startSiteGateway(t)
	tenant := newID("tenant")
	admin := login(t, g, tenant, newID("admin"), "", []string{permReadSessions})
	want := []string{admin.user}
	for range 120 {
		want = append(want, login(t, g, tenant, newID("user"), "", nil).user)
	}
	var page apiUserPage
	decodeInto(t, g.api(t, http.MethodGet, "/api/users?limit=1000", admin.token), http.StatusOK, &page)
	if len(page.Users) != len(want) {
		t.Fatalf("the API lists %d users, want %d", len(page.Users), len(want))
	}

	p := openPortal(t, g, admin.token)
	p.expectErrorHidden()
	if !p.hiddenAttr("#tab-settings") {
		t.Errorf("#tab-settings is shown to an admin without %s", permReadPolicy)
	}
	p.click("#tab-users")
	p.waitShown("#view-users")
	const count = `document.querySelectorAll("#users tr[data-user-id]").length`
	p.waitUntil("the first users are listed", count+" > 0")
	pages := 1
	for p.shown("#users-more") {
		before := p.eval(count)
		if before == fmt.Sprint(len(want)) {
			t.Fatalf("#users-more is shown with all %d users listed", len(want))
		}
		p.click("#users-more")
		p.waitUntil("the next users are listed", fmt.Sprintf("%s > %s", count, before))
		if pages++; pages > len(want) {
			t.Fatalf("#users-more keeps showing after %d pages", pages)
		}
	}
	var shown []string
	for _, r := range p.rows("#users tr[data-user-id]") {
		shown = append(shown, r.User)
	}
	if got := sorted(shown); !slices.Equal(got, sorted(want)) {
		t.Errorf("after %d pages #users lists %d users, want each of the %d once", pages, len(got), len(want))
	}
	if pages == 1 {
		t.Logf("the page listed all %d users in one page; #users-more was never needed", len(want))
	}
	p.expectErrorHidden()
}

// TestPortalPolicySettings: a tenant admin sets the tenant's policy in the settings form and
// resets it to the default.
func TestPortalPolicySettings(t *testing.T) {
	g := startSiteGateway(t)
	tenant := newID("tenant")
	admin := login(t, g, tenant, newID("admin"), "", allPerms)

	p := openPortal(t, g, admin.token)
	p.expectErrorHidden()
	p.click("#tab-settings")
	p.waitShown("#view-settings")
	p.expectShown("#view-sessions", false)
	p.waitUntil(`the policy source reads "default"`, textIs("#policy-source", "default"))
	p.expectForm("the default policy", true, 86400, false, 0, false)

	p.setChecked("#idle-enabled", true)
	p.setField("#idle-value", "2")
	p.setField("#idle-unit", "hours")
	p.setChecked("#max-enabled", true)
	p.setField("#max-value", "3")
	p.setField("#max-strategy", "reject_new")
	mark := p.mark()
	p.click("#policy-save")
	p.expectStatus(p.waitRequest(mark, http.MethodPut, g.sitePrefix()+"/api/policy"), http.StatusOK)
	p.waitUntil(`the policy source reads "tenant"`, textIs("#policy-source", "tenant"))
	p.waitUntil("#policy-status says what happened", `document.querySelector("#policy-status").textContent.trim() !== ""`)

	want := apiPolicy{
		IdleTimeout:  apiTimeout{true, 7200},
		ForceRelogin: apiTimeout{false, 0},
		MaxSessions:  apiLimit{true, 3, "reject_new"},
		Source:       "tenant",
	}
	var got apiPolicy
	decodeInto(t, g.api(t, http.MethodGet, "/api/policy", admin.token), http.StatusOK, &got)
	if got != want {
		t.Errorf("after #policy-save the API has %+v, want %+v", got, want)
	}
	if op := opPolicy(t, g, tenant); op != want {
		t.Errorf("after #policy-save the operator sees %+v, want %+v", op, want)
	}
	p.expectForm("the stored policy", true, 7200, true, 3, false)
	if v := p.eval(`document.querySelector("#max-strategy").value`); v != `"reject_new"` {
		t.Errorf("#max-strategy shows %s after the save, want reject_new", v)
	}

	statusBefore := p.eval(`document.querySelector("#policy-status").textContent`)
	mark = p.mark()
	p.click("#policy-reset")
	p.expectStatus(p.waitRequest(mark, http.MethodDelete, g.sitePrefix()+"/api/policy"), http.StatusNoContent)
	p.waitUntil(`the policy source reads "default" again`, textIs("#policy-source", "default"))
	p.waitUntil("#policy-status reports the reset",
		fmt.Sprintf(`document.querySelector("#policy-status").textContent.trim() !== "" && document.querySelector("#policy-status").textContent !== %s`, statusBefore))
	decodeInto(t, g.api(t, http.MethodGet, "/api/policy", admin.token), http.StatusOK, &got)
	if got != defaultAPIPolicy {
		t.Errorf("after #policy-reset the API has %+v, want the default %+v", got, defaultAPIPolicy)
	}
	p.expectForm("the default policy after the reset", true, 86400, false, 0, false)
	p.expectErrorHidden()
}

// TestPortalPlainUser: a user without permissions sees only its own sessions, and signs out
// everywhere.
func TestPortalPlainUser(t *testing.T) {
	g := startSiteGateway(t)
	tenant, user := newID("tenant"), newID("user")
	me := login(t, g, tenant, user, "", nil)
	other := login(t, g, tenant, user, "", nil)

	mark := 0
	p := openPortal(t, g, me.token)
	// The page learnt its permissions from the API's 403s.
	p.expectStatus(p.waitRequest(mark, http.MethodGet, g.sitePrefix()+"/api/users"), http.StatusForbidden)
	p.expectStatus(p.waitRequest(mark, http.MethodGet, g.sitePrefix()+"/api/policy"), http.StatusForbidden)
	for tab, hidden := range map[string]bool{"#tab-sessions": false, "#tab-users": true, "#tab-settings": true} {
		if got := p.hiddenAttr(tab); got != hidden {
			t.Errorf("%s: hidden is %v, want %v for a user without permissions", tab, got, hidden)
		}
	}
	p.expectShown("#tab-users", false)
	p.expectShown("#tab-settings", false)
	p.expectShown("#view-sessions", true)
	p.expectShown("#view-users", false)
	p.expectShown("#view-settings", false)
	rows := p.rows("#my-sessions tr[data-session-id]")
	if len(rows) != 2 || rows[0].ID != other.sid || rows[1].ID != me.sid || !rows[1].Current || rows[0].Current {
		t.Errorf("#my-sessions shows %+v, want %s then %s, current", rows, other.sid, me.sid)
	}

	// Signing out everywhere, this session too.
	mark = p.mark()
	p.click("#end-all")
	p.expectStatus(p.waitRequest(mark, http.MethodDelete, g.sitePrefix()+"/api/me/sessions"), http.StatusNoContent)
	p.expectConfirmed("signing out everywhere")
	expectEnded(t, g, me, "session_revoked")
	expectEnded(t, g, other, "session_revoked")
	// The page says so instead of reloading a list its own ended session may not read.
	p.waitUntil("the list is emptied", `document.querySelectorAll("#my-sessions tr[data-session-id]").length === 0 && document.querySelector("#end-all").disabled`)
	p.expectErrorHidden()
}

// TestPortalShowsAPIErrors: a refusal by the API is shown in #error with its code.
func TestPortalShowsAPIErrors(t *testing.T) {
	g := startSiteGateway(t)
	tenant := newID("tenant")
	me := login(t, g, tenant, newID("admin"), "", allPerms)
	other := login(t, g, tenant, me.user, "", nil)

	p := openPortal(t, g, me.token)
	p.expectErrorHidden()
	// The operator ends the browser's session behind the page's back.
	expectNoContent(t, g.admin(t, http.MethodDelete, "/sessiongate/tenants/"+tenant+"/sessions/"+me.sid, "", ""))
	mark := p.mark()
	p.click("#end-others")
	p.expectStatus(p.waitRequest(mark, http.MethodDelete, g.sitePrefix()+"/api/me/sessions?keep_current=true"), http.StatusUnauthorized)
	p.waitShown("#error")
	p.waitUntil("#error names the API's error code", `document.querySelector("#error").textContent.includes("session_revoked")`)
	expectWorks(t, g, other)
}

// portal is the portal page open in a headless Chromium.
type portal struct {
	t   *testing.T
	g   *gateway
	ctx context.Context // the browser tab, ending portalTimeout after the start

	mu       sync.Mutex
	requests []*netRequest // in the order the page sent them
	byID     map[network.RequestID]*netRequest
	changed  chan struct{} // closed and replaced on every network event
	console  []string
}

// netRequest is one request of the page, as the browser reports it.
type netRequest struct {
	method, url string
	status      int64
	done        bool   // finished or failed
	failure     string // why it failed
}

func (r *netRequest) String() string {
	s := fmt.Sprintf("%s %s → %d", r.method, r.url, r.status)
	if r.failure != "" {
		s += " (" + r.failure + ")"
	}
	return s
}

// browserPath is Chromium's path; without one the test skips, unless SESSIONGATE_REQUIRE_BROWSER
// is set (as `make test` does), when it fails.
func browserPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	if os.Getenv("SESSIONGATE_REQUIRE_BROWSER") == "" {
		t.Skipf("the portal tests need Chromium (Debian package chromium): %v", err)
	}
	t.Fatalf("SESSIONGATE_REQUIRE_BROWSER is set and Chromium is missing: %v", err)
	return ""
}

// openPortal starts Chromium with token in the token_cookie cookie of the gateway's host,
// opens the portal and waits until the page has finished its first loads; window.confirm then
// answers yes and counts its calls in window.__confirms.
func openPortal(t *testing.T, g *gateway, token string) *portal {
	t.Helper()
	path := browserPath(t)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]), chromedp.ExecPath(path), chromedp.NoSandbox)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	// The browser lives as long as browserCtx; the test's steps run under the deadline.
	if err := chromedp.Do(browserCtx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	ctx, cancelSteps := context.WithTimeout(browserCtx, portalTimeout)
	p := &portal{t: t, g: g, ctx: ctx, byID: map[network.RequestID]*netRequest{}, changed: make(chan struct{})}

	var consoleDone sync.WaitGroup
	messages := chromedp.Console(browserCtx)
	consoleDone.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, fmt.Sprintf("%s: %s", m.Type, m.Text))
			p.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			p.mu.Lock()
			var b strings.Builder
			for _, r := range p.requests {
				b.WriteString("\n\t" + r.String())
			}
			t.Logf("the page's requests:%s", b.String())
			t.Logf("the page's console:\n\t%s", strings.Join(p.console, "\n\t"))
			p.mu.Unlock()
		}
		cancelSteps()
		cancelBrowser()
		cancelAlloc()
		consoleDone.Wait()
	})
	if err := chromedp.Listen(browserCtx, p.record); err != nil {
		t.Fatalf("listening to the page's network events: %v", err)
	}

	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: tokenCookie, Value: token, URL: g.siteURL + "/", Path: "/", HTTPOnly: new(true),
	})
	if err != nil {
		t.Fatalf("setting the %s cookie: %v", tokenCookie, err)
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(g.siteURL+g.portalPath()))
	if err != nil {
		t.Fatalf("opening %s: %v", g.portalPath(), err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("opening %s: status %d, want 200", g.portalPath(), resp.Status)
	}
	p.wait(`body[data-ready="true"] (the page's first loads)`, chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	p.run("overriding window.confirm", chromedp.Evaluate[chromedp.Void](
		`window.__confirms = 0; window.confirm = () => { window.__confirms++; return true; }`))
	return p
}

// record keeps the page's network events; it runs on the browser's reading goroutine.
func (p *portal) record(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request == nil {
			return
		}
		r := &netRequest{method: ev.Request.Method, url: ev.Request.URL}
		p.byID[ev.RequestID] = r
		p.requests = append(p.requests, r)
	case *network.EventResponseReceived:
		if r := p.byID[ev.RequestID]; r != nil && ev.Response != nil {
			r.status = ev.Response.Status
		}
	case *network.EventLoadingFinished:
		if r := p.byID[ev.RequestID]; r != nil {
			r.done = true
		}
	case *network.EventLoadingFailed:
		if r := p.byID[ev.RequestID]; r != nil {
			r.done, r.failure = true, ev.ErrorText
		}
	default:
		return
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// mark is where waitRequest starts looking: requests sent from now on.
func (p *portal) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// waitRequest waits until a request the page sent since mark, with verb and target (a path
// and exactly the query parameters it must carry, but for limit and cursor), has finished, and
// returns it.
func (p *portal) waitRequest(mark int, verb, target string) *netRequest {
	p.t.Helper()
	want, err := url.Parse(target)
	if err != nil {
		p.t.Fatal(err)
	}
	matches := func(r *netRequest) bool {
		u, err := url.Parse(r.url)
		if err != nil || r.method != verb || u.Path != want.Path {
			return false
		}
		got := u.Query()
		got.Del("limit") // paging is the page's choice
		got.Del("cursor")
		return maps.EqualFunc(got, want.Query(), slices.Equal)
	}
	for {
		p.mu.Lock()
		for _, r := range p.requests[mark:] {
			if r.done && matches(r) {
				p.mu.Unlock()
				return r
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.ctx.Done():
			p.t.Fatalf("the page did not send %s %s (or it did not finish) within %s", verb, target, portalTimeout)
		}
	}
}

func (p *portal) expectStatus(r *netRequest, status int) {
	p.t.Helper()
	if r.status != int64(status) {
		p.t.Errorf("the page's %s: got status %d, want %d", r, r.status, status)
	}
}

// run runs a browser step, failing the test with what it was for.
func (p *portal) run(what string, a chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, a); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// wait runs a waiting step; on timeout it says what it waited for.
func (p *portal) wait(what string, a chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	p.run("waiting for "+what, a)
}

// waitUntil waits until the JavaScript condition cond holds in the page.
func (p *portal) waitUntil(what, cond string) {
	p.t.Helper()
	p.wait(what+" ("+cond+")", chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(0)))
}

// click clicks the element sel with the mouse, once it is visible.
func (p *portal) click(sel string) {
	p.t.Helper()
	p.run("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// eval is the JSON value of the expression expr in the page.
func (p *portal) eval(expr string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return string(v)
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsShown is a JavaScript function reporting whether the element of a selector is rendered:
// present, without the hidden attribute and taking space on the page.
const jsShown = `((sel) => { const e = document.querySelector(sel); return !!e && !e.hidden && e.getClientRects().length > 0; })`

func (p *portal) shown(sel string) bool {
	p.t.Helper()
	return p.eval(fmt.Sprintf("%s(%s)", jsShown, jsString(sel))) == "true"
}

func (p *portal) expectShown(sel string, want bool) {
	p.t.Helper()
	if got := p.shown(sel); got != want {
		p.t.Errorf("%s shown is %v, want %v", sel, got, want)
	}
}

func (p *portal) waitShown(sel string) {
	p.t.Helper()
	p.waitUntil(sel+" is shown", fmt.Sprintf("%s(%s)", jsShown, jsString(sel)))
}

// hiddenAttr reports whether the element sel has the hidden attribute.
func (p *portal) hiddenAttr(sel string) bool {
	p.t.Helper()
	switch v := p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.hidden : "missing"; })()`, jsString(sel))); v {
	case "true":
		return true
	case "false":
		return false
	default:
		p.t.Fatalf("%s is not on the page", sel)
		return false
	}
}

// expectErrorHidden checks that #error shows nothing.
func (p *portal) expectErrorHidden() {
	p.t.Helper()
	if p.shown("#error") {
		p.t.Errorf("#error is shown: %s", p.eval(`document.querySelector("#error").textContent`))
	}
}

// expectConfirmed checks that the page asked window.confirm before a destructive step.
func (p *portal) expectConfirmed(what string) {
	p.t.Helper()
	if p.eval(`window.__confirms`) == "0" {
		p.t.Errorf("%s did not ask window.confirm first", what)
	}
	p.run("resetting the confirm count", chromedp.Evaluate[chromedp.Void](`window.__confirms = 0`))
}

// textIs is a JavaScript condition: sel's text, trimmed, is want.
func textIs(sel, want string) string {
	return fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").trim() === %s`, jsString(sel), jsString(want))
}

// row is a table row of the page.
type row struct {
	ID         string   `json:"id"`
	User       string   `json:"user"`
	Current    bool     `json:"current"`
	Text       string   `json:"text"`
	Cells      []string `json:"cells"`
	EndButton  bool     `json:"end"`
	ShowButton bool     `json:"show"`
}

// rows are the rows sel selects, in document order.
func (p *portal) rows(sel string) []row {
	p.t.Helper()
	raw := p.eval(fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).map(r => ({
		id: r.dataset.sessionId || "", user: r.dataset.userId || "",
		current: r.classList.contains("current"), text: r.textContent,
		cells: Array.from(r.cells || []).map(c => c.textContent.trim()),
		end: !!r.querySelector("button.end-session"), show: !!r.querySelector("button.show-user"),
	}))`, jsString(sel)))
	var out []row
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		p.t.Fatalf("reading the rows %s: %v (%s)", sel, err, raw)
	}
	return out
}

func rowIDs(rows []row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// userRow selects the users-table row of user.
func userRow(user string) string {
	return fmt.Sprintf(`#users tr[data-user-id=%q]`, user)
}

// showsCount reports whether one of cells shows the count n, alone or as "n sessions".
func showsCount(cells []string, n int) bool {
	re := regexp.MustCompile(fmt.Sprintf(`(?i)^%d(\s+(active\s+)?sessions?)?$`, n))
	return slices.ContainsFunc(cells, func(c string) bool { return re.MatchString(strings.TrimSpace(c)) })
}

// setChecked makes the checkbox sel checked or not, clicking it like a user when it differs.
func (p *portal) setChecked(sel string, checked bool) {
	p.t.Helper()
	if (p.eval(fmt.Sprintf(`document.querySelector(%s).checked`, jsString(sel))) == "true") != checked {
		p.click(sel)
	}
	p.waitUntil(fmt.Sprintf("%s checked is %v", sel, checked), fmt.Sprintf(`document.querySelector(%s).checked === %v`, jsString(sel), checked))
}

// setField sets the value of the input or select sel, with the events typing or choosing fires.
func (p *portal) setField(sel, value string) {
	p.t.Helper()
	p.run("setting "+sel, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		e.focus();
		e.value = %s;
		e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true}));
	})()`, jsString(sel), jsString(value))))
	if got := p.eval(fmt.Sprintf(`document.querySelector(%s).value`, jsString(sel))); got != jsString(value) {
		p.t.Fatalf("%s has value %s after setting %q (no such option?)", sel, got, value)
	}
}

// expectForm checks that the settings form shows the idle timeout (its value times its unit,
// in seconds) and the session limit given, and force re-login as relogin says.
func (p *portal) expectForm(what string, idleOn bool, idleSeconds int, maxOn bool, max int, relogin bool) {
	p.t.Helper()
	raw := p.eval(`(() => {
		const unit = {seconds: 1, minutes: 60, hours: 3600, days: 86400};
		const q = (s) => document.querySelector(s);
		return {
			idleOn: q("#idle-enabled").checked,
			idle: Number(q("#idle-value").value) * (unit[q("#idle-unit").value] || NaN),
			reloginOn: q("#relogin-enabled").checked,
			maxOn: q("#max-enabled").checked,
			max: q("#max-value").value,
		};
	})()`)
	var f struct {
		IdleOn    bool     `json:"idleOn"`
		Idle      *float64 `json:"idle"`
		ReloginOn bool     `json:"reloginOn"`
		MaxOn     bool     `json:"maxOn"`
		Max       string   `json:"max"`
	}
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		p.t.Fatalf("reading the settings form: %v (%s)", err, raw)
	}
	bad := f.IdleOn != idleOn || f.ReloginOn != relogin || f.MaxOn != maxOn ||
		(idleOn && (f.Idle == nil || *f.Idle != float64(idleSeconds))) ||
		(maxOn && f.Max != fmt.Sprint(max))
	if bad {
		p.t.Errorf("the settings form shows %s, want %s: idle on=%v %ds, relogin on=%v, max on=%v %d", raw, what, idleOn, idleSeconds, relogin, maxOn, max)
	}
}
