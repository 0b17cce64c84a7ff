package portal

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	for _, tc := range []struct {
		rel, method, wantType, wantBody string
	}{
		{"", http.MethodGet, "text/html; charset=utf-8", `<script src="app.js"`},
		{"app.js", http.MethodGet, "text/javascript; charset=utf-8", "textContent"},
		{"app.css", http.MethodGet, "text/css; charset=utf-8", "body {"},
		{"/app.js", http.MethodGet, "text/javascript; charset=utf-8", "textContent"},
		{"", http.MethodHead, "text/html; charset=utf-8", ""},
	} {
		t.Run(tc.method+" "+tc.rel, func(t *testing.T) {
			w := httptest.NewRecorder()
			if !Serve(w, httptest.NewRequest(tc.method, "/x", nil), tc.rel) {
				t.Fatal("not served")
			}
			if got := w.Header().Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type %q, want %q", got, tc.wantType)
			}
			csp := w.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Errorf("headers %v", w.Header())
			}
			body := w.Body.String()
			if tc.wantBody == "" && body != "" {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("body lacks %q", tc.wantBody)
			}
		})
	}
	for _, rel := range []string{"index.html", "static/app.js", "../portal.go", "nope.js", "app.js/"} {
		w := httptest.NewRecorder()
		if Serve(w, httptest.NewRequest(http.MethodGet, "/x", nil), rel) {
			t.Errorf("%q served (%d bytes)", rel, w.Body.Len())
		}
		if w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Errorf("%q: wrote a response though nothing was served", rel)
		}
	}
}

// The page never hands API text to the HTML parser: everything goes through textContent.
func TestPageDoesNotParseAPIText(t *testing.T) {
	js := appJS
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(js), sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
}
