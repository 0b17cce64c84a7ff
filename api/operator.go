package api

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"go.uber.org/zap"

	"github.com/sessiongate/sessiongate/store"

	"github.com/sessiongate/sessiongate/enforcer"
)

// MaxBody is the largest request body the APIs read.
const MaxBody = 64 << 10

// operator serves the operator routes (CONTRACT section 6). It acts on any tenant: whoever
// reaches Caddy's admin endpoint is trusted.
type operator struct {
	common
	enforcers func() []*enforcer.Enforcer
}

// NewOperator returns the operator routes mounted under prefix (e.g. "/sessiongate").
// live returns an enforcer of each store in use (that of the newest config first), none when
// no sessiongate handler is loaded. Lists span every store, writes reach every store.
func NewOperator(prefix string, live func() []*enforcer.Enforcer, log *zap.Logger) http.Handler {
	o := &operator{common: common{log: log}, enforcers: live}
	m := http.NewServeMux()
	m.HandleFunc(prefix+"/tenants/{tenant}/users", o.users)
	m.HandleFunc(prefix+"/tenants/{tenant}/users/{user}/sessions", o.userSessions)
	m.HandleFunc(prefix+"/tenants/{tenant}/sessions/{id}", o.session)
	m.HandleFunc(prefix+"/tenants/{tenant}/policy", o.policy)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { WriteError(w, CodeNotFound, "no such route") })
	return m
}

// target is the enforcers and validated path values of a request, or false when the request
// has been answered.
func (o *operator) target(w http.ResponseWriter, r *http.Request, names ...string) ([]*enforcer.Enforcer, []string, bool) {
	vals := make([]string, len(names))
	for i, n := range names {
		v, ok := pathID(w, r, n)
		if !ok {
			return nil, nil, false
		}
		vals[i] = v
	}
	es := o.enforcers()
	if len(es) == 0 {
		WriteError(w, enforcer.CodeStoreUnavailable, "no sessiongate handler is loaded")
		return nil, nil, false
	}
	return es, vals, true
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
	es, v, ok := o.target(w, r, "tenant", "user")
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		o.listSessions(w, r, es, v[0], v[1], "", false)
		return
	}
	for _, e := range es {
		if _, err := e.Tracker().EndUserSessions(r.Context(), v[0], v[1], ""); err != nil {
			o.failed(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *operator) users(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	if es, v, ok := o.target(w, r, "tenant"); ok {
		o.listUsers(w, r, es, v[0])
	}
}

// session ends one session in whichever store has it; 404 when none has.
func (o *operator) session(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		methodNotAllowed(w, "DELETE")
		return
	}
	es, v, ok := o.target(w, r, "tenant", "id")
	if !ok {
		return
	}
	found := false
	for _, e := range es {
		err := e.Tracker().EndSession(r.Context(), v[0], v[1])
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, store.ErrNotFound):
			o.failed(w, err)
			return
		}
	}
	if !found {
		WriteError(w, CodeNotFound, "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *operator) policy(w http.ResponseWriter, r *http.Request) {
	if es, v, ok := o.target(w, r, "tenant"); ok {
		o.servePolicy(w, r, es, v[0])
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
