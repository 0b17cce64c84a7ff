// Command authsvc is the forward_auth service of the load harness: what users deploy when their
// gateway has no session support. Every request's JWT is verified with jwx (RS256 against a
// JWKS file, or HS256 with a shared secret), its session is looked up in an in-memory map of
// live sessions (created on first sight, as sessiongate does) and its last activity recorded;
// the answer is 200 with X-User-Id, X-Tenant-Id and X-Session-Id, which forward_auth copies
// onto the proxied request, or 401.
//
// It is deliberately lean, with no token cache: a map lookup and a jwx verification are the
// least such a service does per request.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/sessiongate/sessiongate/bench/internal/serve"
)

// session is one live session of the map.
type session struct {
	user, tenant string
	revoked      atomic.Bool
	lastSeen     atomic.Int64 // unix nanoseconds
}

// sessions is the in-memory session map, keyed by tenant and session id.
type sessions struct {
	mu sync.RWMutex
	m  map[string]*session
}

// check returns the session for the verified claims, creating it on first sight, or why not.
func (s *sessions) check(user, tenant, sid string, now time.Time) (*session, error) {
	key := tenant + "\x00" + sid
	s.mu.RLock()
	ss := s.m[key]
	s.mu.RUnlock()
	if ss == nil {
		s.mu.Lock()
		if ss = s.m[key]; ss == nil {
			ss = &session{user: user, tenant: tenant}
			s.m[key] = ss
		}
		s.mu.Unlock()
	}
	switch {
	case ss.revoked.Load():
		return nil, errors.New("session revoked")
	case ss.user != user:
		return nil, errors.New("session belongs to another user")
	}
	ss.lastSeen.Store(now.UnixNano())
	return ss, nil
}

type handler struct {
	verify   jwt.ParseOption // the key: a key set, or the HMAC secret
	sessions *sessions
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		deny(w, "missing token")
		return
	}
	tok, err := jwt.ParseString(token, h.verify, jwt.WithValidate(true),
		jwt.WithAcceptableSkew(30*time.Second))
	if err != nil {
		deny(w, err.Error())
		return
	}
	tenant, _ := claim(tok, "tenantId")
	sid, _ := claim(tok, "sid")
	if tok.Subject() == "" || tenant == "" || sid == "" {
		deny(w, "sub, tenantId and sid are required")
		return
	}
	if _, err := h.sessions.check(tok.Subject(), tenant, sid, time.Now()); err != nil {
		deny(w, err.Error())
		return
	}
	w.Header().Set("X-User-Id", tok.Subject())
	w.Header().Set("X-Tenant-Id", tenant)
	w.Header().Set("X-Session-Id", sid)
	w.WriteHeader(http.StatusOK)
}

func claim(tok jwt.Token, name string) (string, bool) {
	v, ok := tok.Get(name)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

func deny(w http.ResponseWriter, why string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	http.Error(w, why, http.StatusUnauthorized)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	secret := flag.String("secret", "", "HMAC secret of the tokens (HS256)")
	jwks := flag.String("jwks", "", "JWKS file of the tokens' public keys (RS256)")
	flag.Parse()
	var verify jwt.ParseOption
	switch {
	case (*secret == "") == (*jwks == ""):
		fmt.Fprintln(os.Stderr, "authsvc: exactly one of -secret and -jwks is required")
		os.Exit(2)
	case *jwks != "":
		set, err := jwk.ReadFile(*jwks)
		if err != nil {
			fmt.Fprintln(os.Stderr, "authsvc:", err)
			os.Exit(2)
		}
		verify = jwt.WithKeySet(set)
	default:
		verify = jwt.WithKey(jwa.HS256, []byte(*secret))
	}

	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 10 * time.Second,
		Handler:           &handler{verify: verify, sessions: &sessions{m: map[string]*session{}}},
	}
	serve.Until("authsvc", srv)
}
