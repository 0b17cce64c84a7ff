package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/sessiongate/sessiongate/store"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("sessiongate", parseCaddyfile)
	// Before basic_auth, so before handle, route, reverse_proxy and the rest: no order line.
	httpcaddyfile.RegisterDirectiveOrder("sessiongate", httpcaddyfile.Before, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var m Handler
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return &m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	sessiongate {
//	    jwks_url    <url>
//	    jwks_file   <path>
//	    hmac_secret <secret>
//	    issuer      <iss>
//	    audience    <aud>
//	    leeway      <duration>
//	    token_cookie <name>
//	    claim_user        <name>
//	    claim_tenant      <name>
//	    claim_session     <name>
//	    claim_permissions <name>
//	    idle_timeout   <duration>|off
//	    force_relogin  <duration>|off
//	    max_sessions   <n>|off
//	    max_sessions_strategy evict_oldest|reject_new
//	    store bolt [<path>] | redis <url> | memory
//	    touch_interval <duration>
//	    api_prefix <path>
//	    permission <read_sessions|revoke_sessions|read_policy|write_policy> <name>
//	    login_url  <url>
//	    geoip_db   <path.mmdb>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		opt := d.Val()
		if seen[opt] {
			return d.Errf("%s: given more than once", opt)
		}
		seen[opt] = true
		var err error
		switch opt {
		case "jwks_url":
			err = oneArg(d, &h.JWKSURL)
		case "jwks_file":
			err = oneArg(d, &h.JWKSFile)
		case "hmac_secret":
			err = oneArg(d, &h.HMACSecret)
		case "issuer":
			err = oneArg(d, &h.Issuer)
		case "audience":
			err = oneArg(d, &h.Audience)
		case "token_cookie":
			err = oneArg(d, &h.TokenCookie)
		case "claim_user":
			err = oneArg(d, &h.ClaimUser)
		case "claim_tenant":
			err = oneArg(d, &h.ClaimTenant)
		case "claim_session":
			err = oneArg(d, &h.ClaimSession)
		case "claim_permissions":
			err = oneArg(d, &h.ClaimPermissions)
		case "api_prefix":
			err = oneArg(d, &h.APIPrefix)
		case "login_url":
			err = oneArg(d, &h.LoginURL)
		case "geoip_db":
			err = oneArg(d, &h.GeoIPDB)
		case "leeway":
			var dur caddy.Duration
			if dur, err = durationArg(d, false); err == nil {
				h.Leeway = &dur
			}
		case "touch_interval":
			h.TouchInterval, err = durationArg(d, false)
		case "idle_timeout":
			var dur caddy.Duration
			if dur, err = durationArg(d, true); err == nil {
				h.IdleTimeout = &dur
			}
		case "force_relogin":
			h.ForceRelogin, err = durationArg(d, true)
		case "max_sessions":
			var s string
			if err = oneArg(d, &s); err == nil && s != "off" {
				h.MaxSessions, err = strconv.Atoi(s)
				if err != nil || h.MaxSessions < 1 || h.MaxSessions > 10000 {
					err = d.Errf("max_sessions: %q is not off or a number from 1 to 10000", s)
				}
			}
		case "max_sessions_strategy":
			if err = oneArg(d, &h.MaxSessionsStrategy); err == nil &&
				h.MaxSessionsStrategy != store.StrategyEvictOldest && h.MaxSessionsStrategy != store.StrategyRejectNew {
				err = d.Errf("max_sessions_strategy: %q is not evict_oldest or reject_new", h.MaxSessionsStrategy)
			}
		case "store":
			err = h.unmarshalStore(d)
		case "permission":
			err = h.unmarshalPermission(d)
			delete(seen, opt) // one line per permission
		default:
			return d.Errf("unknown sessiongate option %q", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) unmarshalStore(d *caddyfile.Dispenser) error {
	const want = "store: want bolt [<path>], redis <url> or memory"
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Err(want)
	}
	h.Store = &StoreConfig{Type: args[0]}
	switch {
	case args[0] == "bolt" && len(args) <= 2:
		if len(args) == 2 {
			h.Store.Path = args[1]
		}
	case args[0] == "redis" && len(args) == 2:
		h.Store.URL = args[1]
	case args[0] == "memory" && len(args) == 1:
	default:
		return d.Errf("%s, got %q", want, args)
	}
	return nil
}

// unmarshalPermission reads `permission <read_sessions|revoke_sessions|read_policy|write_policy> <name>`.
func (h *Handler) unmarshalPermission(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Err("permission: want <read_sessions|revoke_sessions|read_policy|write_policy> <name>")
	}
	if h.Permissions == nil {
		h.Permissions = &PermissionNames{}
	}
	var dst *string
	switch args[0] {
	case "read_sessions":
		dst = &h.Permissions.ReadSessions
	case "revoke_sessions":
		dst = &h.Permissions.RevokeSessions
	case "read_policy":
		dst = &h.Permissions.ReadPolicy
	case "write_policy":
		dst = &h.Permissions.WritePolicy
	default:
		return d.Errf("permission: unknown permission %q (want read_sessions, revoke_sessions, read_policy or write_policy)", args[0])
	}
	if *dst != "" {
		return d.Errf("permission %s: given more than once", args[0])
	}
	*dst = args[1]
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	opt := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: missing value", opt)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: takes one value", opt)
	}
	return nil
}

// durationArg reads a duration; with allowOff, "off" is 0.
func durationArg(d *caddyfile.Dispenser, allowOff bool) (caddy.Duration, error) {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return 0, err
	}
	if allowOff && s == "off" {
		return 0, nil
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur < 0 || (allowOff && dur == 0) {
		if allowOff {
			return 0, d.Errf("%s: %q is not off or a positive duration", opt, s)
		}
		return 0, d.Errf("%s: %q is not a duration", opt, s)
	}
	return caddy.Duration(dur), nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
