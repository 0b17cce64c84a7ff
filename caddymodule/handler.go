// Package caddymodule is sessiongate's Caddy glue: the http.handlers.sessiongate middleware,
// its Caddyfile directive, the admin.api.sessiongate operator routes, the state shared across
// config reloads, and the `caddy sessiongate` command. Decisions are made in package enforcer.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/enforcer"
	"github.com/sessiongate/sessiongate/geoip"
	"github.com/sessiongate/sessiongate/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler enforces sessions on every request that reaches it: the token is verified, its
// session found or created, the tenant's policy applied. Allowed requests go on with
// X-User-Id, X-Tenant-Id and X-Session-Id set; others are answered with a JSON error.
type Handler struct {
	// HMACSecret verifies HS256/HS384/HS512 tokens. Placeholders such as {env.SECRET} are
	// replaced. Exactly one of HMACSecret, JWKSFile and JWKSURL is required.
	HMACSecret string `json:"hmac_secret,omitempty"`
	// JWKSFile is a JSON Web Key Set file, read at provisioning.
	JWKSFile string `json:"jwks_file,omitempty"`
	// JWKSURL is a JSON Web Key Set URL, refreshed every 15m and on an unknown kid (at most
	// once per 10s); the last good set stays in use when a refresh fails.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Issuer, when set, is the only iss accepted.
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, must be in the token's aud.
	Audience string `json:"audience,omitempty"`
	// Leeway is the clock skew allowed on exp, nbf and iat. Default: 30s.
	Leeway *caddy.Duration `json:"leeway,omitempty"`

	// TokenCookie names a cookie to read the token from when there is no Authorization
	// header. Default: none.
	TokenCookie string `json:"token_cookie,omitempty"`

	// Claim names. Defaults: sub, tenantId, sid, permissions.
	ClaimUser        string `json:"claim_user,omitempty"`
	ClaimTenant      string `json:"claim_tenant,omitempty"`
	ClaimSession     string `json:"claim_session,omitempty"`
	ClaimPermissions string `json:"claim_permissions,omitempty"`

	// IdleTimeout ends sessions idle this long; 0 turns it off. Default: 24h.
	IdleTimeout *caddy.Duration `json:"idle_timeout,omitempty"`
	// ForceRelogin ends sessions this long after they started; 0 (the default) is off.
	ForceRelogin caddy.Duration `json:"force_relogin,omitempty"`
	// MaxSessions caps a user's concurrent sessions per tenant; 0 (the default) is off.
	MaxSessions int `json:"max_sessions,omitempty"`
	// MaxSessionsStrategy is evict_oldest (default) or reject_new.
	MaxSessionsStrategy string `json:"max_sessions_strategy,omitempty"`

	// Store is where sessions are kept. Default: bolt at sessiongate.db in Caddy's data dir.
	Store *StoreConfig `json:"store,omitempty"`
	// TouchInterval is the least time between two writes of a session's last activity.
	// Default: a tenth of the idle timeout, between 1s and 1m.
	TouchInterval caddy.Duration `json:"touch_interval,omitempty"`

	// APIPrefix is where the site API is served. Default: /.sessiongate.
	APIPrefix string `json:"api_prefix,omitempty"`
	// Permissions renames the permissions the site API checks. Defaults: Frontegg's names
	// (fe.secure.read.sessions, fe.secure.delete.sessions, fe.secure.read.securityPolicy,
	// fe.secure.write.securityPolicy).
	Permissions *PermissionNames `json:"permissions,omitempty"`
	// GeoIPDB is a MaxMind-format City database (.mmdb); when set, sessions show where their
	// client IP is. Default: none (location null).
	GeoIPDB string `json:"geoip_db,omitempty"`
	// LoginURL, when set, receives browser navigations that are refused (302, with the
	// original URL in redirect_uri) instead of a 401.
	LoginURL string `json:"login_url,omitempty"`

	enforcer *enforcer.Enforcer
	shared   *shared
	site     *api.Site
	geo      *geoip.Locator
	login    *url.URL
	log      *zap.Logger
}

// PermissionNames are the names of the site API's permissions; empty ones keep the default.
type PermissionNames struct {
	ReadSessions   string `json:"read_sessions,omitempty"`
	RevokeSessions string `json:"revoke_sessions,omitempty"`
	ReadPolicy     string `json:"read_policy,omitempty"`
	WritePolicy    string `json:"write_policy,omitempty"`
}

func (n *PermissionNames) apply(p *api.Permissions) {
	for _, f := range []struct {
		dst  *string
		name string
	}{
		{&p.ReadSessions, n.ReadSessions}, {&p.RevokeSessions, n.RevokeSessions},
		{&p.ReadPolicy, n.ReadPolicy}, {&p.WritePolicy, n.WritePolicy},
	} {
		if f.name != "" {
			*f.dst = f.name
		}
	}
}

// StoreConfig says which store keeps sessions.
type StoreConfig struct {
	// Type is bolt (default), memory or redis.
	Type string `json:"type,omitempty"`
	// Path is the bolt file. Default: sessiongate.db in Caddy's data directory.
	Path string `json:"path,omitempty"`
	// URL is the redis store's: redis://host:port/db, rediss://..., redis+sentinel://...,
	// redis+cluster://host:port?addr=host2:port... Placeholders such as {env.REDIS_URL} are
	// replaced.
	URL string `json:"url,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.sessiongate",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets the handler up, sharing its store and caches with earlier configs.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	repl := caddy.NewReplacer()
	secret := repl.ReplaceKnown(h.HMACSecret, "")
	if h.HMACSecret != "" && secret == "" {
		return errors.New("hmac_secret: placeholder resolved to an empty secret")
	}
	if secret != "" && len(secret) < enforcer.MinHMACSecret {
		h.log.Warn("hmac_secret is shorter than 32 bytes; use a longer random secret in production")
	}
	if h.APIPrefix == "" {
		h.APIPrefix = "/.sessiongate"
	}
	if h.LoginURL != "" {
		u, err := url.Parse(h.LoginURL)
		if err != nil || (u.Scheme == "" && !strings.HasPrefix(u.Path, "/")) {
			return fmt.Errorf("login_url: %q is not an absolute URL or path", h.LoginURL)
		}
		h.login = u
	}
	var locate func(string) *store.Location
	if h.GeoIPDB != "" {
		geo, err := geoip.Open(h.GeoIPDB)
		if err != nil {
			return fmt.Errorf("geoip_db: %w", err)
		}
		h.geo, locate = geo, geo.Locate
	}
	storeKey, open, err := h.storeOpener()
	if err != nil {
		return err
	}
	h.shared, err = loadShared(storeKey, open, enforcer.TrackerConfig{
		TouchInterval: time.Duration(h.TouchInterval),
		Logger:        h.log.Named("tracker"),
	})
	if err != nil {
		return err
	}
	leeway := 30 * time.Second
	if h.Leeway != nil {
		leeway = time.Duration(*h.Leeway)
	}
	h.enforcer, err = enforcer.New(enforcer.Config{
		HMACSecret: secret,
		JWKSFile:   h.JWKSFile,
		JWKSURL:    h.JWKSURL,
		Issuer:     h.Issuer,
		Audience:   h.Audience,
		Leeway:     leeway,
		Claims: enforcer.ClaimNames{
			User: h.ClaimUser, Tenant: h.ClaimTenant, Session: h.ClaimSession, Permissions: h.ClaimPermissions,
		},
		DefaultPolicy: h.defaultPolicy(),
		Locate:        locate,
	}, h.shared.tracker)
	if err != nil {
		// Caddy also calls Cleanup after a failed Provision: release only once, or the
		// store of the config still running is closed under it.
		_ = h.shared.release()
		h.shared = nil
		return err
	}
	perms := api.DefaultPermissions()
	if h.Permissions != nil {
		h.Permissions.apply(&perms)
	}
	h.site = api.NewSite(h.APIPrefix, perms, h.log.Named("api"))
	h.shared.tracker.SetSweepDefaults(*h.enforcer.DefaultPolicy())
	registerLive(h.enforcer)
	return nil
}

func (h *Handler) defaultPolicy() store.Policy {
	p := enforcer.NewDefaultPolicy()
	if h.IdleTimeout != nil {
		p.IdleTimeout = store.Timeout{Enabled: *h.IdleTimeout > 0, Duration: time.Duration(*h.IdleTimeout)}
	}
	if h.ForceRelogin > 0 {
		p.ForceRelogin = store.Timeout{Enabled: true, Duration: time.Duration(h.ForceRelogin)}
	}
	if h.MaxSessions > 0 {
		p.MaxSessions.Enabled, p.MaxSessions.Max = true, h.MaxSessions
	}
	if h.MaxSessionsStrategy != "" {
		p.MaxSessions.Strategy = h.MaxSessionsStrategy
	}
	return p
}

// storeOpener names the configured store (the key under which it is shared) and how to open it.
func (h *Handler) storeOpener() (string, func() (store.Store, error), error) {
	cfg := StoreConfig{}
	if h.Store != nil {
		cfg = *h.Store
	}
	switch cfg.Type {
	case "", "bolt":
		path := cfg.Path
		if path == "" {
			path = filepath.Join(caddy.AppDataDir(), "sessiongate.db")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", nil, fmt.Errorf("store bolt: %w", err)
		}
		return "bolt:" + abs, func() (store.Store, error) { return openBolt(abs) }, nil
	case "memory":
		return "memory", func() (store.Store, error) { return openMemory(), nil }, nil
	case "redis":
		u := caddy.NewReplacer().ReplaceKnown(cfg.URL, "")
		if u == "" {
			return "", nil, errors.New("store redis: a URL is required")
		}
		return "redis:" + u, func() (store.Store, error) { return openRedis(u) }, nil
	default:
		return "", nil, fmt.Errorf("store: unknown type %q (want bolt, memory or redis)", cfg.Type)
	}
}

// Validate checks the configuration beyond what Provision needed.
func (h *Handler) Validate() error {
	if h.Leeway != nil && *h.Leeway < 0 {
		return errors.New("leeway: must not be negative")
	}
	if h.TokenCookie != "" && !validCookieName(h.TokenCookie) {
		return fmt.Errorf("token_cookie: %q is not a valid cookie name", h.TokenCookie)
	}
	if !strings.HasPrefix(h.APIPrefix, "/") || strings.HasSuffix(h.APIPrefix, "/") {
		return fmt.Errorf("api_prefix: %q must start with / and not end with /", h.APIPrefix)
	}
	return nil
}

func validCookieName(name string) bool {
	return (&http.Cookie{Name: name, Value: "x"}).Valid() == nil
}

// Cleanup releases the shared state this config held.
func (h *Handler) Cleanup() error {
	if h.geo != nil {
		_ = h.geo.Close()
	}
	if h.enforcer != nil {
		unregisterLive(h.enforcer)
		h.enforcer.Close()
	}
	if h.shared != nil {
		return h.shared.release()
	}
	return nil
}

// ServeHTTP enforces the session of the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	stripIdentity(r.Header)
	token, viaCookie, ok := h.token(r)
	var v enforcer.Verdict
	if !ok {
		v = enforcer.Verdict{Code: enforcer.CodeInvalidToken}
	} else {
		v = h.enforcer.Check(r.Context(), token, (*requestClient)(r))
	}
	if !v.Allowed() {
		h.refuse(w, r, &v)
		return nil
	}
	c := v.Claims
	if h.isAPI(r.URL.Path) {
		h.site.Serve(w, r, &api.Caller{Enforcer: h.enforcer, Claims: c, ViaCookie: viaCookie})
		return nil
	}
	vals := []string{c.UserID, c.TenantID, c.SessionID}
	r.Header[headerUser] = vals[0:1:1]
	r.Header[headerTenant] = vals[1:2:2]
	r.Header[headerSession] = vals[2:3:3]
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", c.UserID)
	}
	return next.ServeHTTP(w, r)
}

// requestClient is the client a request comes from, as Caddy sees it: the IP its trusted
// proxies settings give, and the User-Agent.
type requestClient http.Request

// Info implements enforcer.Client.
func (r *requestClient) Info() enforcer.ClientInfo {
	req := (*http.Request)(r)
	ip, _ := caddyhttp.GetVar(req.Context(), caddyhttp.ClientIPVarKey).(string)
	return enforcer.ClientInfo{IP: ip, UserAgent: req.UserAgent()}
}

// isAPI reports whether path is under the site API's prefix.
func (h *Handler) isAPI(path string) bool {
	rest, ok := strings.CutPrefix(path, h.APIPrefix)
	return ok && (rest == "" || rest[0] == '/')
}

// token finds the request's token and whether it came from the cookie; false means it
// presented conflicting ones.
func (h *Handler) token(r *http.Request) (token string, viaCookie, ok bool) {
	var header string
	switch auths := r.Header["Authorization"]; len(auths) {
	case 0:
	case 1:
		scheme, rest, found := strings.Cut(auths[0], " ")
		if !strings.EqualFold(scheme, "Bearer") {
			break // another scheme is not ours; the cookie may still carry the token
		}
		header = strings.TrimSpace(rest)
		if !found || header == "" {
			return "", false, false
		}
	default:
		return "", false, false
	}
	if h.TokenCookie == "" {
		return header, false, true
	}
	var cookie string
	for _, c := range r.CookiesNamed(h.TokenCookie) {
		if cookie != "" && c.Value != cookie {
			return "", false, false
		}
		cookie = c.Value
	}
	if header != "" && cookie != "" && header != cookie {
		return "", false, false
	}
	if header != "" {
		return header, false, true
	}
	return cookie, cookie != "", true
}

// refuse answers a request the enforcer refused.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, v *enforcer.Verdict) {
	status := api.Status(v.Code)
	if v.Err != nil && status == http.StatusServiceUnavailable {
		h.log.Error("cannot vouch for session", zap.String("code", v.Code), zap.Error(v.Err))
	} else if ce := h.log.Check(zapcore.DebugLevel, "request refused"); ce != nil {
		fields := []zap.Field{zap.String("code", v.Code)}
		if v.Err != nil {
			fields = append(fields, zap.NamedError("reason", v.Err))
		}
		ce.Write(fields...)
	}
	if h.login != nil && status == http.StatusUnauthorized && r.Method == http.MethodGet &&
		strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, h.loginRedirect(r), http.StatusFound)
		return
	}
	if h.isAPI(r.URL.Path) {
		h.site.Refuse(w, r, v.Code)
		return
	}
	api.WriteError(w, v.Code, "")
}

// loginRedirect is login_url with the original URL in redirect_uri.
func (h *Handler) loginRedirect(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	original := scheme + "://" + r.Host + r.URL.RequestURI()
	u := *h.login
	q := u.Query()
	q.Set("redirect_uri", original)
	u.RawQuery = q.Encode()
	return u.String()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
