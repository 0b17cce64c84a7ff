// Package enforcer decides whether a request may pass: its token is verified, its session found
// or created, the tenant's session policy applied and the session's activity recorded. It knows
// nothing of Caddy or HTTP; the caller maps a Verdict to a response.
package enforcer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessiongate/sessiongate/store"
)

// Config is one gateway's token and policy settings. Exactly one of HMACSecret, JWKSFile and
// JWKSURL must be set.
type Config struct {
	HMACSecret string
	JWKSFile   string
	JWKSURL    string
	Issuer     string // when set, tokens with another iss are refused
	Audience   string // when set, tokens without it in aud are refused
	Leeway     time.Duration
	Claims     ClaimNames
	// DefaultPolicy applies to tenants that have not set their own.
	DefaultPolicy store.Policy
	// TokenCacheSize is how many verified tokens the token table is sized for (it has at
	// least twice as many slots; see tokenCache). Default: 250000, as many as the sessions
	// the tracker caches: a session is mostly used with one token at a time.
	TokenCacheSize int64
	// Locate, when set, tells where a client IP is; it is asked once, when a session opens.
	Locate func(ip string) *store.Location
}

// ClientInfo is what a request says about the client, recorded when it opens a session.
type ClientInfo struct {
	IP        string
	UserAgent string
}

// Info returns c itself.
func (c *ClientInfo) Info() ClientInfo { return *c }

// Client tells what a request says about its client. Check asks only when the request opens a
// session, so that the requests of a session that exists do not gather it.
type Client interface {
	Info() ClientInfo
}

// Verdict is the decision on one request.
type Verdict struct {
	// Code is "" when the request may pass, else why not (one of the Code* constants).
	Code string
	// Claims is the verified identity; nil when the token was missing or invalid.
	Claims *Claims
	// Err is the failure behind CodeStoreUnavailable, CodeKeysUnavailable and token faults,
	// for logs (it never contains the token).
	Err error
}

// Allowed reports whether the request may pass.
func (v *Verdict) Allowed() bool { return v.Code == "" }

// Enforcer checks requests for one gateway configuration.
type Enforcer struct {
	verifier *verifier
	tracker  *Tracker
	defaults store.Policy
	locate   func(ip string) *store.Location
}

// New makes an enforcer that keeps its sessions in tracker.
func New(cfg Config, tracker *Tracker) (*Enforcer, error) {
	keys, err := newKeys(&cfg, tracker.now)
	if err != nil {
		return nil, err
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("leeway must not be negative, got %s", cfg.Leeway)
	}
	if err := ValidatePolicy(&cfg.DefaultPolicy); err != nil {
		return nil, fmt.Errorf("default policy: %w", err)
	}
	return &Enforcer{verifier: newVerifier(keys, &cfg, tracker.now), tracker: tracker, defaults: cfg.DefaultPolicy, locate: cfg.Locate}, nil
}

func newKeys(cfg *Config, now func() time.Time) (keyProvider, error) {
	set := 0
	for _, s := range []string{cfg.HMACSecret, cfg.JWKSFile, cfg.JWKSURL} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("exactly one of hmac_secret, jwks_file and jwks_url must be set")
	}
	switch {
	case cfg.HMACSecret != "":
		return hmacKeys{secret: []byte(cfg.HMACSecret)}, nil
	case cfg.JWKSFile != "":
		return loadJWKSFile(cfg.JWKSFile)
	default:
		return newURLKeys(cfg.JWKSURL, now), nil
	}
}

// Close releases the enforcer's token cache; the tracker is not closed.
func (e *Enforcer) Close() { e.verifier.close() }

// Tracker is the session state the enforcer uses.
func (e *Enforcer) Tracker() *Tracker { return e.tracker }

// DefaultPolicy is the policy of tenants that have not set their own.
func (e *Enforcer) DefaultPolicy() *store.Policy { return &e.defaults }

// Check decides on a request that presents token ("" when it has none), from client.
func (e *Enforcer) Check(ctx context.Context, token string, client Client) Verdict {
	if token == "" {
		return Verdict{Code: CodeMissingToken}
	}
	now := e.tracker.now()
	c, err := e.verifier.verify(ctx, token, now)
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) {
			return Verdict{Code: te.code, Err: err}
		}
		return Verdict{Code: CodeInvalidToken, Err: err}
	}
	code, err := e.tracker.admit(ctx, c, now, &e.defaults, client, e.locate)
	return Verdict{Code: code, Claims: c, Err: err}
}

// MinHMACSecret is the shortest HMAC secret that is not weak (RFC 7518: the hash size).
const MinHMACSecret = 32

// MaxPolicySeconds bounds policy timeouts (10 years), MaxPolicySessions the session limit.
const (
	MaxPolicySeconds  = 10 * 365 * 24 * 3600
	MaxPolicySessions = 10000
)

// PolicyError names the policy field that is out of range.
type PolicyError struct {
	Field   string
	Message string
}

func (e *PolicyError) Error() string { return e.Field + ": " + e.Message }

// ValidatePolicy checks a policy against the contract's bounds.
func ValidatePolicy(p *store.Policy) error {
	for _, t := range []struct {
		name string
		t    store.Timeout
	}{{"idle_timeout", p.IdleTimeout}, {"force_relogin", p.ForceRelogin}} {
		if t.t.Enabled && (t.t.Duration < time.Second || t.t.Duration > MaxPolicySeconds*time.Second) {
			return &PolicyError{t.name, fmt.Sprintf("must be between 1s and %d seconds when enabled", MaxPolicySeconds)}
		}
		if t.t.Duration < 0 || t.t.Duration > MaxPolicySeconds*time.Second {
			return &PolicyError{t.name, "out of range"}
		}
	}
	m := p.MaxSessions
	if m.Enabled && (m.Max < 1 || m.Max > MaxPolicySessions) {
		return &PolicyError{"max_sessions", fmt.Sprintf("max must be between 1 and %d when enabled", MaxPolicySessions)}
	}
	if m.Max < 0 || m.Max > MaxPolicySessions {
		return &PolicyError{"max_sessions", "max out of range"}
	}
	if m.Strategy != store.StrategyEvictOldest && m.Strategy != store.StrategyRejectNew {
		return &PolicyError{"max_sessions", `strategy must be "evict_oldest" or "reject_new"`}
	}
	return nil
}

// NewDefaultPolicy is the built-in default: idle timeout 24h, no force re-login, no limit.
func NewDefaultPolicy() store.Policy {
	return store.Policy{
		IdleTimeout: store.Timeout{Enabled: true, Duration: 24 * time.Hour},
		MaxSessions: store.SessionLimit{Strategy: store.StrategyEvictOldest},
	}
}
