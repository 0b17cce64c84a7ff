package enforcer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
)

// MaxTokenBytes bounds the token a request may present; longer ones are invalid_token.
const MaxTokenBytes = 8 << 10

// Claims is what a verified token says. A *Claims is shared by every request that presents
// the same token; once verified, only the token cache's hit mark changes.
type Claims struct {
	// UserID, TenantID and SessionID share one allocation with the session key.
	UserID    string
	TenantID  string
	SessionID string
	// Permissions is shared by every token with the same list: never modify it.
	Permissions []string

	// Times in unix nanoseconds, which keep a cached entry small.
	issuedAt int64 // 0 when the token has no iat
	expiry   int64
	keySet   uint32 // the key set that verified the signature (keyProvider.keySet)

	// hit marks claims the token cache found since a fill last passed over them: they get a
	// second chance (tokenCache.put).
	hit atomic.Uint32
	// tokenHash is the token's second hash, which the token cache checks (tokenCache).
	tokenHash uint64

	sessionKey string // the session's cache key

	// live is the session these claims were last admitted with, when it came from the
	// session cache; valid while it is not gone (see liveSession).
	live atomic.Pointer[liveSession]
}

// IssuedAt is the token's iat; zero when it has none.
func (c *Claims) IssuedAt() time.Time {
	if c.issuedAt == 0 {
		return time.Time{}
	}
	return time.Unix(0, c.issuedAt)
}

// Expiry is the token's exp.
func (c *Claims) Expiry() time.Time { return time.Unix(0, c.expiry) }

// SessionKey identifies the claims' session across tenants.
func (c *Claims) SessionKey() string { return c.sessionKey }

func sessionKey(tenantID, id string) string { return tenantID + "\x00" + id }

// setIDs sets the ids and the session key from one allocation, "tenant\x00session\x00user":
// cached claims and sessions are mostly these strings.
func (c *Claims) setIDs(tenantID, sessionID, userID string) {
	ids := tenantID + "\x00" + sessionID + "\x00" + userID
	t, s := len(tenantID), len(tenantID)+1+len(sessionID)
	c.TenantID, c.SessionID, c.UserID = ids[:t], ids[t+1:s], ids[s+1:]
	c.sessionKey = ids[:s]
}

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
	// Only tokens that verified are cached, so garbage cannot push good entries out. nil
	// once closed: requests still in flight then verify every token afresh.
	cache atomic.Pointer[tokenCache]
	perms permissionSets
}

func newVerifier(keys keyProvider, cfg *Config, now func() time.Time) *verifier {
	size := cfg.TokenCacheSize
	if size <= 0 {
		size = 250_000
	}
	v := &verifier{
		keys: keys, issuer: cfg.Issuer, audience: cfg.Audience, leeway: cfg.Leeway,
		names: cfg.Claims.withDefaults(), now: now,
	}
	v.cache.Store(newTokenCache(size))
	return v
}

// verify returns the token's claims at now, from the cache when this exact token verified
// under the key set still in use: a refreshed JWKS that differs makes every token verify
// again, so a key withdrawn from it stops working at once.
func (v *verifier) verify(ctx context.Context, token string, now time.Time) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, invalid("token is %d bytes, over the %d limit", len(token), MaxTokenBytes)
	}
	cache := v.cache.Load()
	if cache == nil {
		return v.parse(ctx, token, now)
	}
	keySet := v.keys.keySet(now)
	h1, h2 := cache.hash(token)
	if c := cache.get(h1, h2); c != nil && c.keySet == keySet {
		if now.UnixNano() >= c.expiry+int64(v.leeway) {
			return nil, &tokenError{code: CodeTokenExpired, err: errors.New("token expired")}
		}
		return c, nil
	}
	c, err := v.parse(ctx, token, now)
	if err != nil {
		return nil, err
	}
	c.keySet = keySet // read before parsing: a set replaced meanwhile makes it verify again
	c.tokenHash = h2
	// Expiry is checked on every hit, against the injected clock; an expired entry is one
	// of the first a fill replaces.
	cache.put(h1, c, keySet, now.UnixNano()-int64(v.leeway))
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
	c := &Claims{expiry: exp.UnixNano()}
	if !iat.IsZero() {
		c.issuedAt = iat.UnixNano()
	}
	var ids [3]string // user, tenant, session
	for i, name := range []string{v.names.User, v.names.Tenant, v.names.Session} {
		val, _ := tok.Get(name)
		s, ok := val.(string)
		if !ok || !ValidID(s) {
			return nil, invalid("claim %q must be a non-empty string of letters, digits and . _ ~ : @ + = | -", name)
		}
		ids[i] = s
	}
	c.setIDs(ids[1], ids[2], ids[0])
	if raw, ok := tok.Get(v.names.Permissions); ok {
		list, ok := raw.([]any)
		if !ok {
			return nil, invalid("claim %q must be an array of strings", v.names.Permissions)
		}
		perms := make([]string, 0, len(list))
		for _, p := range list {
			s, ok := p.(string)
			if !ok {
				return nil, invalid("claim %q must be an array of strings", v.names.Permissions)
			}
			perms = append(perms, s)
		}
		c.Permissions = v.perms.intern(perms)
	}
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

func (v *verifier) close() { v.cache.Store(nil) }

// maxPermissionSets bounds the distinct permission lists a verifier shares between tokens.
const maxPermissionSets = 4096

// permissionSets shares one copy of each permission list among the tokens that carry it:
// users of one role carry the same list, which can be long.
type permissionSets struct {
	mu   sync.Mutex
	sets map[string][]string // by the list joined with NUL
}

func (ps *permissionSets) intern(perms []string) []string {
	for _, p := range perms {
		if strings.IndexByte(p, 0) >= 0 {
			return perms // the key below would be ambiguous
		}
	}
	key := strings.Join(perms, "\x00")
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if shared, ok := ps.sets[key]; ok {
		return shared
	}
	if ps.sets == nil {
		ps.sets = map[string][]string{}
	}
	if len(ps.sets) < maxPermissionSets {
		ps.sets[key] = perms
	}
	return perms
}
