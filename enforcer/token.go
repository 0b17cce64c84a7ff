package enforcer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// MaxTokenBytes bounds the token a request may present; longer ones are invalid_token.
const MaxTokenBytes = 8 << 10

// maxTokenCacheTTL bounds how long a verified token is trusted without checking its signature
// again, so a key removed from the JWKS stops working within that time.
const maxTokenCacheTTL = 5 * time.Minute

// Claims is what a verified token says. A *Claims is shared by every request that presents
// the same token; it is never modified after verification.
type Claims struct {
	UserID      string
	TenantID    string
	SessionID   string
	Permissions []string
	IssuedAt    time.Time // zero when the token has no iat
	Expiry      time.Time

	sessionKey string // the session's cache key
	token      string // the token itself, compared in full on a cache hit
}

// SessionKey identifies the claims' session across tenants.
func (c *Claims) SessionKey() string { return c.sessionKey }

func sessionKey(tenantID, id string) string { return tenantID + "\x00" + id }

// errToken is a token the verifier rejects; its message is for logs, never echoed to clients.
type tokenError struct {
	code string
	err  error
}

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func invalid(format string, args ...any) *tokenError {
	return &tokenError{code: CodeInvalidToken, err: fmt.Errorf(format, args...)}
}

// ClaimNames are the claims that carry identity.
type ClaimNames struct {
	User        string // default sub
	Tenant      string // default tenantId
	Session     string // default sid
	Permissions string // default permissions
}

func (n *ClaimNames) withDefaults() ClaimNames {
	out := *n
	for _, f := range []struct {
		p   *string
		def string
	}{{&out.User, "sub"}, {&out.Tenant, "tenantId"}, {&out.Session, "sid"}, {&out.Permissions, "permissions"}} {
		if *f.p == "" {
			*f.p = f.def
		}
	}
	return out
}

type verifier struct {
	keys     keyProvider
	issuer   string
	audience string
	leeway   time.Duration
	names    ClaimNames
	now      func() time.Time
	// Only tokens that verified are cached, so garbage cannot push good entries out. The key
	// is a fast non-cryptographic hash, so a hit counts only when the whole token matches:
	// a colliding forgery finds an entry but never passes.
	cache *ristretto.Cache[uint64, *Claims]
	// life keeps close from racing requests still in flight; once closed, every token is
	// verified afresh.
	life   sync.RWMutex
	closed bool
}

func newVerifier(keys keyProvider, cfg *Config, now func() time.Time) (*verifier, error) {
	size := cfg.TokenCacheSize
	if size <= 0 {
		size = 100_000
	}
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *Claims]{
		NumCounters:        size * 10,
		MaxCost:            size,
		BufferItems:        64,
		IgnoreInternalCost: true,
		// The key is already a hash; the default would box it into an interface.
		KeyToHash: func(k uint64) (uint64, uint64) { return k, 0 },
	})
	if err != nil {
		return nil, fmt.Errorf("making token cache: %w", err)
	}
	return &verifier{
		keys: keys, issuer: cfg.Issuer, audience: cfg.Audience, leeway: cfg.Leeway,
		names: cfg.Claims.withDefaults(), now: now, cache: c,
	}, nil
}

// verify returns the token's claims at now, from the cache when this exact token verified
// before.
func (v *verifier) verify(ctx context.Context, token string, now time.Time) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, invalid("token is %d bytes, over the %d limit", len(token), MaxTokenBytes)
	}
	key := xxhash.Sum64String(token)
	v.life.RLock()
	defer v.life.RUnlock()
	if v.closed {
		return v.parse(ctx, token, now)
	}
	if c, ok := v.cache.Get(key); ok && c.token == token {
		if !now.Before(c.Expiry.Add(v.leeway)) {
			return nil, &tokenError{code: CodeTokenExpired, err: errors.New("token expired")}
		}
		return c, nil
	}
	c, err := v.parse(ctx, token, now)
	if err != nil {
		return nil, err
	}
	// A copy, so the cache never pins the request's header memory.
	c.token = strings.Clone(token)
	ttl := min(c.Expiry.Add(v.leeway).Sub(now), maxTokenCacheTTL)
	v.cache.SetWithTTL(key, c, 1, ttl)
	return c, nil
}

func (v *verifier) parse(ctx context.Context, token string, now time.Time) (*Claims, error) {
	if strings.Count(token, ".") != 2 {
		return nil, invalid("token is not a compact JWS (want 3 segments)")
	}
	if err := v.keys.ready(ctx); err != nil {
		return nil, &tokenError{code: CodeKeysUnavailable, err: err}
	}
	tok, err := jwt.ParseString(token, jwt.WithKeyProvider(v.keys), jwt.WithValidate(false))
	if err != nil {
		return nil, invalid("verifying token: %v", err)
	}
	exp := tok.Expiration()
	if exp.IsZero() {
		return nil, invalid("token has no exp")
	}
	if !now.Before(exp.Add(v.leeway)) {
		return nil, &tokenError{code: CodeTokenExpired, err: errors.New("token expired")}
	}
	if nbf := tok.NotBefore(); !nbf.IsZero() && now.Add(v.leeway).Before(nbf) {
		return nil, invalid("token not valid before %s", nbf.Format(time.RFC3339))
	}
	iat := tok.IssuedAt()
	if !iat.IsZero() && now.Add(v.leeway).Before(iat) {
		return nil, invalid("token issued in the future (%s)", iat.Format(time.RFC3339))
	}
	if v.issuer != "" && tok.Issuer() != v.issuer {
		return nil, invalid("token issuer %q is not %q", tok.Issuer(), v.issuer)
	}
	if v.audience != "" && !slices.Contains(tok.Audience(), v.audience) {
		return nil, invalid("token audience does not include %q", v.audience)
	}
	c := &Claims{IssuedAt: iat, Expiry: exp}
	for _, f := range []struct {
		dst  *string
		name string
	}{{&c.UserID, v.names.User}, {&c.TenantID, v.names.Tenant}, {&c.SessionID, v.names.Session}} {
		val, _ := tok.Get(f.name)
		s, ok := val.(string)
		if !ok || !ValidID(s) {
			return nil, invalid("claim %q must be a non-empty string of letters, digits and . _ ~ : @ + = | -", f.name)
		}
		*f.dst = s
	}
	if raw, ok := tok.Get(v.names.Permissions); ok {
		list, ok := raw.([]any)
		if !ok {
			return nil, invalid("claim %q must be an array of strings", v.names.Permissions)
		}
		c.Permissions = make([]string, 0, len(list))
		for _, p := range list {
			s, ok := p.(string)
			if !ok {
				return nil, invalid("claim %q must be an array of strings", v.names.Permissions)
			}
			c.Permissions = append(c.Permissions, s)
		}
	}
	c.sessionKey = sessionKey(c.TenantID, c.SessionID)
	return c, nil
}

// ValidID reports whether s may be a user, tenant or session id: 1 to 256 characters from
// letters, digits and . _ ~ : @ + = | -. Ids travel in headers, paths and store keys, so
// anything that could split or escape them is refused.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("._~:@+=|-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func (v *verifier) close() {
	v.life.Lock()
	defer v.life.Unlock()
	if !v.closed {
		v.closed = true
		v.cache.Close()
	}
}
