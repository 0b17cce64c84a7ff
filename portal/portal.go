// Package portal is the admin portal: one embedded web page, served by the gateway under its
// API prefix, on which users see and end their own sessions and tenant admins see their
// tenant's users and sessions and set the tenant's session policy. The page holds no state
// of its own: it calls the site API, same origin, with the cookie token the browser sends.
package portal

import (
	_ "embed"
	"net/http"
	"strings"
)

var (
	//go:embed static/index.html
	indexHTML []byte
	//go:embed static/app.js
	appJS []byte
	//go:embed static/app.css
	appCSS []byte
)

// files are the page's files by the name they are served under.
var files = map[string]struct {
	body        []byte
	contentType string
}{
	"":        {indexHTML, "text/html; charset=utf-8"},
	"app.js":  {appJS, "text/javascript; charset=utf-8"},
	"app.css": {appCSS, "text/css; charset=utf-8"},
}

// csp allows the page its own script, style and API calls, and nothing else: no inline
// script, no framing, no form posts elsewhere.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"

// Serve answers a GET or HEAD for the portal file at rel, the path below the portal's root
// ("" for the page itself). It reports false, having written nothing, when there is no such
// file.
func Serve(w http.ResponseWriter, r *http.Request, rel string) bool {
	f, ok := files[strings.TrimPrefix(rel, "/")]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
	return true
}
