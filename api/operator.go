package api

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"go.uber.org/zap"

	"github.com/sessiongate/sessiongate/enforcer"
	"github.com/sessiongate/sessiongate/store"
)

// MaxBody is the largest request body the APIs read.
const MaxBody = 64 << 10

// operator serves the operator routes (CONTRACT section 6). It acts on any tenant: whoever
// reaches Caddy's admin endpoint is trusted.
type operator struct {
	enforcer func() *enforcer.Enforcer
	log      *zap.Logger
}

// NewOperator returns the operator routes mounted under prefix (e.g. "/sessiongate").
// live returns the enforcer to act through, or nil when no sessiongate handler is loaded.
func NewOperator(prefix string, live func() *enforcer.Enforcer, log *zap.Logger) http.Handler {
	o := &operator{enforcer: live, log: log}
	m := http.NewServeMux()
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
		vals[i] = r.PathValue(n)
		if !enforcer.ValidID(vals[i]) {
			WriteError(w, CodeBadRequest, n+": must be 1 to 256 letters, digits or . _ ~ : @ + = | -")
			return nil, nil, false
		}
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
	writeJSON(w, http.StatusMethodNotAllowed, Error{Code: CodeBadRequest, Message: "method not allowed; use " + allow})
}

// storeFailed answers a store error: 404 for ErrNotFound, else 503 (logged).
func (o *operator) storeFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, CodeNotFound, "")
		return
	}
	o.log.Error("session store failed", zap.Error(err))
	WriteError(w, enforcer.CodeStoreUnavailable, "")
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
			o.storeFailed(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	list, p, err := t.UserSessions(r.Context(), v[0], v[1], e.DefaultPolicy())
	if err != nil {
		o.storeFailed(w, err)
		return
	}
	out := SessionList{Sessions: make([]Session, len(list))}
	for i := range list {
		out.Sessions[i] = NewSession(&list[i], &p, "")
	}
	writeJSON(w, http.StatusOK, out)
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
		o.storeFailed(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *operator) policy(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodDelete:
	default:
		methodNotAllowed(w, "GET, PUT, DELETE")
		return
	}
	e, v, ok := o.target(w, r, "tenant")
	if !ok {
		return
	}
	t, tenant := e.Tracker(), v[0]
	switch r.Method {
	case http.MethodDelete:
		if err := t.DeletePolicy(r.Context(), tenant); err != nil {
			o.storeFailed(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		p, own, err := t.Policy(r.Context(), tenant, e.DefaultPolicy())
		if err != nil {
			o.storeFailed(w, err)
			return
		}
		writeJSON(w, http.StatusOK, NewPolicy(&p, own))
	case http.MethodPut:
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		current, _, err := t.Policy(r.Context(), tenant, e.DefaultPolicy())
		if err != nil {
			o.storeFailed(w, err)
			return
		}
		p, err := DecodePolicy(body, current)
		if err != nil {
			WriteError(w, CodeBadRequest, err.Error())
			return
		}
		if err := t.SetPolicy(r.Context(), tenant, p); err != nil {
			o.storeFailed(w, err)
			return
		}
		writeJSON(w, http.StatusOK, NewPolicy(&p, true))
	}
}

// readBody reads a JSON request body of at most MaxBody bytes, answering 415 or 413 itself.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		writeJSON(w, http.StatusUnsupportedMediaType, Error{Code: CodeBadRequest, Message: "Content-Type must be application/json"})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, Error{Code: CodeBadRequest, Message: "the body is over 64 KiB"})
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
