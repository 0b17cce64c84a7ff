package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiongate/sessiongate/enforcer"
	"github.com/sessiongate/sessiongate/store"
)

// fronteggWriter marks a response of the Frontegg-compatible routes, whose error bodies also
// carry Frontegg's "errors" and "errorCode" fields, which its clients read.
type fronteggWriter struct{ http.ResponseWriter }

// mountFrontegg mounts the Frontegg routes under base. Site.Serve has already given their
// responses Frontegg's error shape.
func (s *Site) mountFrontegg(base string) {
	sessions := base + "/identity/resources/users/sessions/v1"
	config := base + "/identity/resources/configurations/sessions/v1"
	s.mux.HandleFunc("GET "+sessions+"/me", s.feMySessions)
	s.mux.HandleFunc("GET "+sessions+"/me/current", s.feCurrent)
	s.mux.HandleFunc("DELETE "+sessions+"/me/all", s.feEndOthers)
	s.mux.HandleFunc("DELETE "+sessions+"/me/{id}", s.mySession)
	s.mux.HandleFunc("POST "+sessions+"/revoke", s.feRevoke)
	s.mux.HandleFunc("GET "+config, s.feGetConfig)
	s.mux.HandleFunc("POST "+config, s.feSetConfig)
}

// FronteggSession is a session in Frontegg's shape.
type FronteggSession struct {
	ID           string     `json:"id"`
	UserID       string     `json:"userId"`
	IPAddress    string     `json:"ipAddress"`
	UserAgent    string     `json:"userAgent"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastActiveAt time.Time  `json:"lastActiveAt"`
	Expires      *time.Time `json:"expires,omitempty"`
	Current      bool       `json:"current"`
	Impersonated bool       `json:"impersonated"`
}

func newFronteggSession(s *store.Session, p *store.Policy, currentID string) FronteggSession {
	out := FronteggSession{
		ID: s.ID, UserID: s.UserID, IPAddress: s.IP, UserAgent: s.UserAgent,
		CreatedAt: s.CreatedAt.UTC(), LastActiveAt: s.LastActiveAt.UTC(), Current: s.ID == currentID,
	}
	// expires: when the session ends if nothing more happens, the earlier of both limits.
	v := NewSession(s, p, currentID)
	for _, t := range []*time.Time{v.ExpiresAt, v.IdleExpiresAt} {
		if t != nil && (out.Expires == nil || t.Before(*out.Expires)) {
			out.Expires = t
		}
	}
	return out
}

func (s *Site) feMySessions(w http.ResponseWriter, r *http.Request) { s.feSessions(w, r, false) }

func (s *Site) feCurrent(w http.ResponseWriter, r *http.Request) { s.feSessions(w, r, true) }

// feSessions answers the caller's sessions in Frontegg's shape, all of them or (current) only
// the calling one.
func (s *Site) feSessions(w http.ResponseWriter, r *http.Request, current bool) {
	c := callerOf(r)
	list, p, err := c.Enforcer.Tracker().UserSessions(r.Context(), c.Claims.TenantID, c.Claims.UserID, c.Enforcer.DefaultPolicy())
	if err != nil {
		s.failed(w, err)
		return
	}
	out := make([]FronteggSession, 0, len(list))
	for i := range list {
		if !current {
			out = append(out, newFronteggSession(&list[i], &p, c.Claims.SessionID))
		} else if list[i].ID == c.Claims.SessionID {
			writeJSON(w, http.StatusOK, newFronteggSession(&list[i], &p, c.Claims.SessionID))
			return
		}
	}
	if current {
		WriteError(w, CodeNotFound, "")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Site) feEndOthers(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if _, err := c.Enforcer.Tracker().EndUserSessions(r.Context(), c.Claims.TenantID, c.Claims.UserID, c.Claims.SessionID); err != nil {
		s.failed(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Site) feRevoke(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if !s.allow(w, c, s.perms.RevokeSessions) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		UserID *string `json:"userId"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.UserID == nil || !enforcer.ValidID(*req.UserID) {
		WriteError(w, CodeBadRequest, "userId: must be a user id string")
		return
	}
	s.revokeUser(w, r, c, *req.UserID)
}

// fronteggConfig is Frontegg's session configuration; timeouts are in seconds.
type fronteggConfig struct {
	Idle       *fronteggTimeout `json:"sessionIdleTimeoutConfiguration,omitempty"`
	Timeout    *fronteggTimeout `json:"sessionTimeoutConfiguration,omitempty"`
	Concurrent *fronteggLimit   `json:"sessionConcurrentConfiguration,omitempty"`
}

type fronteggTimeout struct {
	IsActive *bool  `json:"isActive,omitempty"`
	Timeout  *int64 `json:"timeout,omitempty"`
}

type fronteggLimit struct {
	IsActive    *bool `json:"isActive,omitempty"`
	MaxSessions *int  `json:"maxSessions,omitempty"`
}

func newFronteggConfig(p *store.Policy) fronteggConfig {
	timeout := func(t store.Timeout) *fronteggTimeout {
		secs := int64(t.Duration / time.Second)
		return &fronteggTimeout{IsActive: &t.Enabled, Timeout: &secs}
	}
	m := p.MaxSessions
	return fronteggConfig{
		Idle:       timeout(p.IdleTimeout),
		Timeout:    timeout(p.ForceRelogin),
		Concurrent: &fronteggLimit{IsActive: &m.Enabled, MaxSessions: &m.Max},
	}
}

// apply sets what the configuration names on p, leaving the rest (and the strategy) alone.
func (fc *fronteggConfig) apply(p *store.Policy) error {
	for _, t := range []struct {
		name string
		in   *fronteggTimeout
		out  *store.Timeout
	}{{"sessionIdleTimeoutConfiguration", fc.Idle, &p.IdleTimeout}, {"sessionTimeoutConfiguration", fc.Timeout, &p.ForceRelogin}} {
		if t.in == nil {
			continue
		}
		if t.in.IsActive != nil {
			t.out.Enabled = *t.in.IsActive
		}
		if t.in.Timeout != nil {
			if *t.in.Timeout < 0 || *t.in.Timeout > enforcer.MaxPolicySeconds {
				return &FieldError{t.name + ".timeout", fmt.Errorf("must be between 0 and %d seconds", enforcer.MaxPolicySeconds)}
			}
			t.out.Duration = time.Duration(*t.in.Timeout) * time.Second
		}
		if t.out.Enabled && t.out.Duration < time.Second {
			return &FieldError{t.name + ".timeout", errors.New("must be at least 1 second when active")}
		}
	}
	if c := fc.Concurrent; c != nil {
		if c.IsActive != nil {
			p.MaxSessions.Enabled = *c.IsActive
		}
		if c.MaxSessions != nil {
			if *c.MaxSessions < 0 || *c.MaxSessions > enforcer.MaxPolicySessions {
				return &FieldError{"sessionConcurrentConfiguration.maxSessions", fmt.Errorf("must be between 0 and %d", enforcer.MaxPolicySessions)}
			}
			p.MaxSessions.Max = *c.MaxSessions
		}
		if p.MaxSessions.Enabled && p.MaxSessions.Max < 1 {
			return &FieldError{"sessionConcurrentConfiguration.maxSessions", errors.New("must be at least 1 when active")}
		}
	}
	return nil
}

func (s *Site) feGetConfig(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if !s.allow(w, c, s.perms.ReadPolicy) {
		return
	}
	p, _, err := c.Enforcer.Tracker().Policy(r.Context(), c.Claims.TenantID, c.Enforcer.DefaultPolicy())
	if err != nil {
		s.failed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, newFronteggConfig(&p))
}

func (s *Site) feSetConfig(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if !s.allow(w, c, s.perms.WritePolicy) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var fc fronteggConfig
	if err := json.Unmarshal(body, &fc); err != nil {
		WriteError(w, CodeBadRequest, "the body is not a session configuration: "+err.Error())
		return
	}
	t := c.Enforcer.Tracker()
	p, _, err := t.Policy(r.Context(), c.Claims.TenantID, c.Enforcer.DefaultPolicy())
	if err != nil {
		s.failed(w, err)
		return
	}
	if err := fc.apply(&p); err != nil {
		WriteError(w, CodeBadRequest, err.Error())
		return
	}
	if err := t.SetPolicy(r.Context(), c.Claims.TenantID, p); err != nil {
		s.failed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, newFronteggConfig(&p))
}
