package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sessiongate/sessiongate/enforcer"
	"github.com/sessiongate/sessiongate/portal"
	"github.com/sessiongate/sessiongate/store"
)

// Permissions names the permissions the site API checks in the token's permissions claim.
type Permissions struct {
	ReadSessions   string
	RevokeSessions string
	ReadPolicy     string
	WritePolicy    string
}

// DefaultPermissions are Frontegg's names for them.
func DefaultPermissions() Permissions {
	return Permissions{
		ReadSessions:   "fe.secure.read.sessions",
		RevokeSessions: "fe.secure.delete.sessions",
		ReadPolicy:     "fe.secure.read.securityPolicy",
		WritePolicy:    "fe.secure.write.securityPolicy",
	}
}

// granted reports whether perms grant want: exactly, or through a wildcard such as
// "fe.secure.*" that covers every permission under its prefix.
func granted(perms []string, want string) bool {
	for _, p := range perms {
		if p == want {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasSuffix(prefix, ".") && strings.HasPrefix(want, prefix) {
			return true
		}
	}
	return false
}

// Caller is who a site API request comes from: the enforcer that admitted it, the token's
// claims, and whether the token came from a cookie (then cross-origin writes are refused).
type Caller struct {
	Enforcer  *enforcer.Enforcer
	Claims    *enforcer.Claims
	ViaCookie bool
}

// one is the caller's enforcer as the list the shared operations take.
func (c *Caller) one() []*enforcer.Enforcer { return []*enforcer.Enforcer{c.Enforcer} }

type callerKey struct{}

func callerOf(r *http.Request) *Caller { return r.Context().Value(callerKey{}).(*Caller) }

// Site serves the site API (CONTRACT section 5 and 5b) under its prefix, to callers the
// enforcer has admitted. Tenant admins act only in their own token's tenant: paths never
// name a tenant, so another tenant's data cannot even be addressed.
type Site struct {
	common
	frontegg string // where the Frontegg-compatible routes are mounted
	mux      *http.ServeMux
	perms    Permissions
	csrf     *http.CrossOriginProtection
}

// NewSite mounts the site API under prefix (e.g. "/.sessiongate").
func NewSite(prefix string, perms Permissions, log *zap.Logger) *Site {
	s := &Site{
		common: common{log: log}, frontegg: prefix + "/frontegg",
		mux: http.NewServeMux(), perms: perms, csrf: http.NewCrossOriginProtection(),
	}
	s.mux.HandleFunc(prefix+"/api/me/sessions", s.mySessions)
	s.mux.HandleFunc(prefix+"/api/me/sessions/{id}", s.mySession)
	s.mux.HandleFunc(prefix+"/api/users", s.users)
	s.mux.HandleFunc(prefix+"/api/users/{user}/sessions", s.userSessions)
	s.mux.HandleFunc(prefix+"/api/policy", s.policy)
	s.mountFrontegg(s.frontegg)
	s.mux.HandleFunc(prefix+"/portal", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, prefix+"/portal/", http.StatusMovedPermanently)
	})
	s.mux.HandleFunc(prefix+"/portal/{file...}", s.portal)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { WriteError(w, CodeNotFound, "no such route") })
	return s
}

// portal serves the admin portal page and its files; the page calls the routes above.
func (s *Site) portal(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	if !portal.Serve(w, r, r.PathValue("file")) {
		WriteError(w, CodeNotFound, "no such route")
	}
}

// Serve answers a site API request from caller.
func (s *Site) Serve(w http.ResponseWriter, r *http.Request, caller *Caller) {
	w = s.errorShape(w, r)
	if caller.ViaCookie && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
		if err := s.csrf.Check(r); err != nil {
			writeError(w, http.StatusForbidden, CodeCSRF, "cross-origin request refused: "+err.Error())
			return
		}
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
}

// common is what the site and operator routes share: one code path per operation.
type common struct{ log *zap.Logger }

// failed answers a store error: 404 for ErrNotFound, else 503 (logged).
func (h *common) failed(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, CodeNotFound, "")
		return
	}
	h.log.Error("session store failed", zap.Error(err))
	WriteError(w, enforcer.CodeStoreUnavailable, "")
}

// errorShape marks responses of the Frontegg-compatible routes, whose errors carry Frontegg's
// fields too.
func (s *Site) errorShape(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if rest, ok := strings.CutPrefix(r.URL.Path, s.frontegg); ok && (rest == "" || rest[0] == '/') {
		return fronteggWriter{w}
	}
	return w
}

// Refuse answers a request to the site API that the gateway refused, in the error shape of
// the route it was for.
func (s *Site) Refuse(w http.ResponseWriter, r *http.Request, code string) {
	WriteError(s.errorShape(w, r), code, "")
}

// CodeCSRF refuses a cookie-authenticated cross-origin write.
const CodeCSRF = "csrf_check_failed"

// allow checks the caller holds perm, answering 403 itself when not.
func (s *Site) allow(w http.ResponseWriter, c *Caller, perm string) bool {
	if granted(c.Claims.Permissions, perm) {
		return true
	}
	WriteError(w, CodeForbidden, "missing permission "+perm)
	return false
}

func (s *Site) mySessions(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	cl := c.Claims
	switch r.Method {
	case http.MethodGet:
		s.listSessions(w, r, c.one(), cl.TenantID, cl.UserID, cl.SessionID, false)
	case http.MethodDelete:
		keep := ""
		switch v := r.URL.Query().Get("keep_current"); v {
		case "true":
			keep = cl.SessionID
		case "", "false":
		default:
			WriteError(w, CodeBadRequest, "keep_current: must be true or false")
			return
		}
		if _, err := c.Enforcer.Tracker().EndUserSessions(r.Context(), cl.TenantID, cl.UserID, keep); err != nil {
			s.failed(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, "GET, DELETE")
	}
}

func (s *Site) mySession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		methodNotAllowed(w, "DELETE")
		return
	}
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	c := callerOf(r)
	if err := c.Enforcer.Tracker().EndUserSession(r.Context(), c.Claims.TenantID, c.Claims.UserID, id); err != nil {
		s.failed(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Site) userSessions(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	user, ok := pathID(w, r, "user")
	if !ok {
		return
	}
	tenant := c.Claims.TenantID
	switch r.Method {
	case http.MethodGet:
		if s.allow(w, c, s.perms.ReadSessions) {
			current := ""
			if user == c.Claims.UserID {
				current = c.Claims.SessionID
			}
			s.listSessions(w, r, c.one(), tenant, user, current, true)
		}
	case http.MethodDelete:
		if !s.allow(w, c, s.perms.RevokeSessions) {
			return
		}
		s.revokeUser(w, r, c, user)
	default:
		methodNotAllowed(w, "GET, DELETE")
	}
}

// revokeUser signs a user of the caller's tenant out everywhere and sets the user's cut-off.
// A user with no live session is 404, exactly like a user of another tenant; the cut-off is
// set all the same, so tokens issued earlier for sessions not yet seen are covered.
func (s *Site) revokeUser(w http.ResponseWriter, r *http.Request, c *Caller, user string) {
	n, err := c.Enforcer.Tracker().EndUserSessions(r.Context(), c.Claims.TenantID, user, "")
	if err != nil {
		s.failed(w, err)
		return
	}
	if n == 0 {
		WriteError(w, CodeNotFound, "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listSessions answers a page of the user's live sessions in the stores of es, newest first;
// currentID is the caller's session. With notFoundWhenNone, a user without live sessions is
// 404 (so another tenant's user looks exactly like one that does not exist).
func (h *common) listSessions(w http.ResponseWriter, r *http.Request, es []*enforcer.Enforcer, tenant, user, currentID string, notFoundWhenNone bool) {
	limit, cursor, ok := pageParams(w, r)
	if !ok {
		return
	}
	views := []Session{}
	for _, e := range es {
		list, p, err := e.Tracker().UserSessions(r.Context(), tenant, user, e.DefaultPolicy())
		if err != nil {
			h.failed(w, err)
			return
		}
		for i := range list {
			views = append(views, NewSession(&list[i], &p, currentID))
		}
	}
	if notFoundWhenNone && len(views) == 0 {
		WriteError(w, CodeNotFound, "")
		return
	}
	// Newest first, ties by id: the order cursors count on.
	slices.SortFunc(views, func(a, b Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	start := 0
	if cursor != "" {
		at, id, ok := decodeSessionCursor(cursor)
		if !ok {
			WriteError(w, CodeBadRequest, "cursor: not a cursor this API gave out")
			return
		}
		start = slices.IndexFunc(views, func(x Session) bool {
			return x.CreatedAt.Before(at) || (x.CreatedAt.Equal(at) && x.ID > id)
		})
		if start < 0 {
			start = len(views)
		}
	}
	end := min(start+limit, len(views))
	out := SessionList{Sessions: views[start:end]}
	if end < len(views) {
		out.NextCursor = encodeSessionCursor(views[end-1].CreatedAt, views[end-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

// UserList is the body of GET /api/users.
type UserList struct {
	Users      []User `json:"users"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// User is one user in a tenant's listing.
type User struct {
	UserID         string    `json:"user_id"`
	ActiveSessions int       `json:"active_sessions"`
	LastActiveAt   time.Time `json:"last_active_at"`
}

func (s *Site) users(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	c := callerOf(r)
	if s.allow(w, c, s.perms.ReadSessions) {
		s.listUsers(w, r, c.one(), c.Claims.TenantID)
	}
}

// listUsers answers a page of the tenant's users with live sessions in the stores of es.
func (h *common) listUsers(w http.ResponseWriter, r *http.Request, es []*enforcer.Enforcer, tenant string) {
	limit, cursor, ok := pageParams(w, r)
	if !ok {
		return
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !enforcer.ValidID(string(b)) {
			WriteError(w, CodeBadRequest, "cursor: not a cursor this API gave out")
			return
		}
		after = string(b)
	}
	// Each store's first limit+1 users after the cursor hold the union's first limit, and
	// one more than the page tells whether there is a next one.
	byID := map[string]*User{}
	for _, e := range es {
		list, err := e.Tracker().Users(r.Context(), tenant, after, limit+1, e.DefaultPolicy())
		if err != nil {
			h.failed(w, err)
			return
		}
		for _, u := range list {
			m := byID[u.UserID]
			if m == nil {
				m = &User{UserID: u.UserID}
				byID[u.UserID] = m
			}
			m.ActiveSessions += u.ActiveSessions
			if t := u.LastActiveAt.UTC(); t.After(m.LastActiveAt) {
				m.LastActiveAt = t
			}
		}
	}
	users := make([]User, 0, len(byID))
	for _, u := range byID {
		users = append(users, *u)
	}
	slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.UserID, b.UserID) })
	out := UserList{Users: users[:min(len(users), limit)]}
	if len(users) > limit {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(users[limit-1].UserID))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Site) policy(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	perm := s.perms.WritePolicy
	if r.Method == http.MethodGet {
		perm = s.perms.ReadPolicy
	}
	if s.allow(w, c, perm) {
		s.servePolicy(w, r, c.one(), c.Claims.TenantID)
	}
}

// servePolicy answers GET, PUT and DELETE of the tenant's policy. Reads come from the first
// store of es; writes go to every one.
func (h *common) servePolicy(w http.ResponseWriter, r *http.Request, es []*enforcer.Enforcer, tenant string) {
	first := es[0]
	switch r.Method {
	case http.MethodGet:
		p, own, err := first.Tracker().Policy(r.Context(), tenant, first.DefaultPolicy())
		if err != nil {
			h.failed(w, err)
			return
		}
		writeJSON(w, http.StatusOK, NewPolicy(&p, own))
	case http.MethodPut:
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		current, _, err := first.Tracker().Policy(r.Context(), tenant, first.DefaultPolicy())
		if err != nil {
			h.failed(w, err)
			return
		}
		p, err := DecodePolicy(body, current)
		if err != nil {
			WriteError(w, CodeBadRequest, err.Error())
			return
		}
		for _, e := range es {
			if err := e.Tracker().SetPolicy(r.Context(), tenant, p); err != nil {
				h.failed(w, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, NewPolicy(&p, true))
	case http.MethodDelete:
		for _, e := range es {
			if err := e.Tracker().DeletePolicy(r.Context(), tenant); err != nil {
				h.failed(w, err)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, "GET, PUT, DELETE")
	}
}

// MaxPageSize bounds ?limit; DefaultPageSize is used without one.
const (
	MaxPageSize     = 1000
	DefaultPageSize = 100
)

func pageParams(w http.ResponseWriter, r *http.Request) (limit int, cursor string, ok bool) {
	q := r.URL.Query()
	limit = DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			WriteError(w, CodeBadRequest, "limit: must be a whole number from 1 to 1000")
			return 0, "", false
		}
		limit = n
	}
	return limit, q.Get("cursor"), true
}

func encodeSessionCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixNano(), 10) + "|" + id))
}

func decodeSessionCursor(cursor string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, "", false
	}
	ns, id, found := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !found || err != nil || !enforcer.ValidID(id) {
		return time.Time{}, "", false
	}
	return time.Unix(0, n), id, true
}

// pathID is a validated id from the path, answering 400 itself when it is not one.
func pathID(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	v := r.PathValue(name)
	if !enforcer.ValidID(v) {
		WriteError(w, CodeBadRequest, name+": must be 1 to 256 letters, digits or . _ ~ : @ + = | -")
		return "", false
	}
	return v, true
}
