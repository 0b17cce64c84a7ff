package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sessiongate/sessiongate/enforcer"
	"github.com/sessiongate/sessiongate/store"
)

// Session is a session as the JSON APIs show it.
type Session struct {
	ID            string          `json:"id"`
	UserID        string          `json:"user_id"`
	TenantID      string          `json:"tenant_id"`
	CreatedAt     time.Time       `json:"created_at"`
	LastActiveAt  time.Time       `json:"last_active_at"`
	ExpiresAt     *time.Time      `json:"expires_at"`
	IdleExpiresAt *time.Time      `json:"idle_expires_at"`
	IP            string          `json:"ip"`
	UserAgent     string          `json:"user_agent"`
	Device        store.Device    `json:"device"`
	Location      *store.Location `json:"location"`
	Current       bool            `json:"current"`
}

// NewSession shows s under policy p; currentID names the caller's session.
func NewSession(s *store.Session, p *store.Policy, currentID string) Session {
	out := Session{
		ID: s.ID, UserID: s.UserID, TenantID: s.TenantID,
		CreatedAt: s.CreatedAt.UTC(), LastActiveAt: s.LastActiveAt.UTC(),
		IP: s.IP, UserAgent: s.UserAgent, Device: s.Device, Location: s.Location,
		Current: s.ID == currentID,
	}
	if p.ForceRelogin.Enabled {
		t := s.CreatedAt.Add(p.ForceRelogin.Duration).UTC()
		out.ExpiresAt = &t
	}
	if p.IdleTimeout.Enabled {
		t := s.LastActiveAt.Add(p.IdleTimeout.Duration).UTC()
		out.IdleExpiresAt = &t
	}
	return out
}

// SessionList is the body of a session listing.
type SessionList struct {
	Sessions   []Session `json:"sessions"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// Timeout is a policy timeout in JSON: seconds, as the contract has it.
type Timeout struct {
	Enabled bool  `json:"enabled"`
	Seconds int64 `json:"seconds"`
}

// SessionLimit is a policy's session limit in JSON.
type SessionLimit struct {
	Enabled  bool   `json:"enabled"`
	Max      int    `json:"max"`
	Strategy string `json:"strategy"`
}

// Policy is a tenant policy in JSON; Source is set on reads ("tenant" or "default").
type Policy struct {
	IdleTimeout  Timeout      `json:"idle_timeout"`
	ForceRelogin Timeout      `json:"force_relogin"`
	MaxSessions  SessionLimit `json:"max_sessions"`
	Source       string       `json:"source,omitempty"`
}

func timeoutJSON(t store.Timeout) Timeout {
	return Timeout{Enabled: t.Enabled, Seconds: int64(t.Duration / time.Second)}
}

// NewPolicy shows p; own says whether it is the tenant's own or the default.
func NewPolicy(p *store.Policy, own bool) Policy {
	out := Policy{
		IdleTimeout:  timeoutJSON(p.IdleTimeout),
		ForceRelogin: timeoutJSON(p.ForceRelogin),
		MaxSessions:  SessionLimit{Enabled: p.MaxSessions.Enabled, Max: p.MaxSessions.Max, Strategy: p.MaxSessions.Strategy},
		Source:       "default",
	}
	if own {
		out.Source = "tenant"
	}
	return out
}

// FieldError is a 400 that names the offending field.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

// decodeObject reads one JSON object whose member names must each be one of fields, exactly
// (case-sensitively) and at most once; encoding/json alone would fold case and take the last
// of duplicates. Each member's raw value is handed to its field function. Nothing may follow
// the object.
func decodeObject(data []byte, path string, fields map[string]func(json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return &FieldError{path, fmt.Errorf("not valid JSON: %v", err)}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &FieldError{path, errors.New("must be a JSON object")}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return &FieldError{path, fmt.Errorf("not valid JSON: %v", err)}
		}
		name := tok.(string)
		field := name
		if path != "" {
			field = path + "." + name
		}
		set, ok := fields[name]
		if !ok {
			return &FieldError{field, errors.New("unknown field")}
		}
		if seen[name] {
			return &FieldError{field, errors.New("given more than once")}
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return &FieldError{field, fmt.Errorf("not valid JSON: %v", err)}
		}
		if err := set(raw); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return err
			}
			return &FieldError{field, err}
		}
	}
	if _, err := dec.Token(); err != nil {
		return &FieldError{path, fmt.Errorf("not valid JSON: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{path, errors.New("unexpected data after the JSON object")}
	}
	return nil
}

// value decodes raw into dst, which must be a bool, number or string pointer.
func value[T any](dst *T, what string) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return fmt.Errorf("must be %s, not null", what)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("must be %s", what)
		}
		return nil
	}
}

// DecodePolicy reads a policy body over base: parts left out keep base's values.
func DecodePolicy(data []byte, base store.Policy) (store.Policy, error) {
	p := base
	timeout := func(name string, t *store.Timeout) func(json.RawMessage) error {
		return func(raw json.RawMessage) error {
			seconds := int64(t.Duration / time.Second)
			err := decodeObject(raw, name, map[string]func(json.RawMessage) error{
				"enabled": value(&t.Enabled, "true or false"),
				"seconds": value(&seconds, "a whole number of seconds"),
			})
			if err != nil {
				return err
			}
			if seconds < 0 || seconds > enforcer.MaxPolicySeconds {
				return &FieldError{name + ".seconds", fmt.Errorf("must be between 0 and %d", enforcer.MaxPolicySeconds)}
			}
			if t.Enabled && seconds < 1 {
				return &FieldError{name + ".seconds", errors.New("must be at least 1 when enabled")}
			}
			t.Duration = time.Duration(seconds) * time.Second
			return nil
		}
	}
	err := decodeObject(data, "", map[string]func(json.RawMessage) error{
		"idle_timeout":  timeout("idle_timeout", &p.IdleTimeout),
		"force_relogin": timeout("force_relogin", &p.ForceRelogin),
		"max_sessions": func(raw json.RawMessage) error {
			m := &p.MaxSessions
			err := decodeObject(raw, "max_sessions", map[string]func(json.RawMessage) error{
				"enabled":  value(&m.Enabled, "true or false"),
				"max":      value(&m.Max, "a whole number"),
				"strategy": value(&m.Strategy, `"evict_oldest" or "reject_new"`),
			})
			if err != nil {
				return err
			}
			if m.Max < 0 || m.Max > enforcer.MaxPolicySessions {
				return &FieldError{"max_sessions.max", fmt.Errorf("must be between 0 and %d", enforcer.MaxPolicySessions)}
			}
			if m.Enabled && m.Max < 1 {
				return &FieldError{"max_sessions.max", errors.New("must be at least 1 when enabled")}
			}
			if m.Strategy != store.StrategyEvictOldest && m.Strategy != store.StrategyRejectNew {
				return &FieldError{"max_sessions.strategy", errors.New(`must be "evict_oldest" or "reject_new"`)}
			}
			return nil
		},
	})
	if err != nil {
		return base, err
	}
	return p, nil
}
