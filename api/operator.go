package api

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"go.uber.org/zap"

	"github.com/sessiongate/sessiongate/enforcer"
)

// MaxBody is the largest request body the APIs read.
const MaxBody = 64 << 10

// operator serves the operator routes (CONTRACT section 6). It acts on any tenant: whoever
// reaches Caddy's admin endpoint is trusted.
type operator struct {
	common
	enforcer func() *enforcer.Enforcer
}

// NewOperator returns the operator routes mounted under prefix (e.g. "/sessiongate").
// live returns the enforcer to act through, or nil when no sessiongate handler is loaded.
func NewOperator(prefix string, live func() *enforcer.Enforcer, log *zap.Logger) http.Handler {
	o := &operator{common: common{log: log}, enforcer: live}
	m := http.NewServeMux()
	m.HandleFunc(prefix+"/tenants/{tenant}/users", o.users)
	m.HandleFunc(prefix+"/tenants/{tenant}/users/{user}/sessions", o.userSessions)
	m.HandleFunc(prefix+"/tenants/{tenant}/sessions/{id}", o.session)
	m.HandleFunc(prefix+"/tenants/{tenant}/policy", o.policy)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { WriteError(w, CodeNotFound, "no such route") })
	return m
}

// target is the enforcer and validated path values of a request, or false when the request
// has been answered.
func (o *operator) target(w http.ResponseWriter, r *http.Request, names ...string) (*enforcer.Enforcer, []string, bool) {
	vals := make([]string, len(names))
	for i, n := range names {
		v, ok := pathID(w, r, n)
		if !ok {
			return nil, nil, false
		}
		vals[i] = v
	}
	e := o.enforcer()
	if e == nil {
		WriteError(w, enforcer.CodeStoreUnavailable, "no sessiongate handler is loaded")
		return nil, nil, false
	}
	return e, vals, true
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "method not allowed; use "+allow)
}

func (o *operator) userSessions(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		methodNotAllowed(w, "GET, DELETE")
		return
	}
	e, v, ok := o.target(w, r, "tenant", "user")
	if !ok {
		return
	}
	t := e.Tracker()
	if r.Method == http.MethodDelete {
		if _, err := t.EndUserSessions(r.Context(), v[0], v[1], ""); err != nil {
			o.failed(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	o.listSessions(w, r, e, v[0], v[1], "", false)
}

func (o *operator) users(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	if e, v, ok := o.target(w, r, "tenant"); ok {
		o.listUsers(w, r, e, v[0])
	}
}

func (o *operator) session(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		methodNotAllowed(w, "DELETE")
		return
	}
	e, v, ok := o.target(w, r, "tenant", "id")
	if !ok {
		return
	}
	if err := e.Tracker().EndSession(r.Context(), v[0], v[1]); err != nil {
		o.failed(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *operator) policy(w http.ResponseWriter, r *http.Request) {
	if e, v, ok := o.target(w, r, "tenant"); ok {
		o.servePolicy(w, r, e, v[0])
	}
}

// readBody reads a JSON request body of at most MaxBody bytes, answering 415 or 413 itself.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, CodeBadRequest, "Content-Type must be application/json")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, "the body is over 64 KiB")
		return nil, false
	case err != nil:
		WriteError(w, CodeBadRequest, "reading the body: "+err.Error())
		return nil, false
	}
	return body, true
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
