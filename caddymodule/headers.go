package caddymodule

import (
	"net/http"
	"strings"
)

// The identity headers the gateway sets, in canonical form.
const (
	headerUser    = "X-User-Id"
	headerTenant  = "X-Tenant-Id"
	headerSession = "X-Session-Id"
)

// isIdentityHeader reports whether name is one of the identity headers in any case, or spelt
// with underscores (which some upstream servers, CGI among them, treat as dashes).
func isIdentityHeader(name string) bool {
	return sameHeader(name, headerUser) || sameHeader(name, headerTenant) || sameHeader(name, headerSession)
}

func sameHeader(name, canonical string) bool {
	if len(name) != len(canonical) {
		return false
	}
	for i := 0; i < len(name); i++ {
		a, b := name[i], canonical[i]
		if a == '_' {
			a = '-'
		}
		if a|0x20 != b|0x20 {
			return false
		}
	}
	return true
}

// stripIdentity removes client-sent identity headers, and their mentions in Connection, so a
// client can neither forge them nor make a proxy drop the ones the gateway sets as hop-by-hop.
func stripIdentity(h http.Header) {
	for name := range h {
		if isIdentityHeader(name) {
			delete(h, name)
		}
	}
	conn, ok := h["Connection"]
	if !ok || !namesIdentity(conn) {
		return // the common case (Connection: keep-alive) allocates nothing
	}
	var kept []string
	for _, v := range conn {
		for _, tok := range strings.Split(v, ",") {
			if t := strings.TrimSpace(tok); t != "" && !isIdentityHeader(t) {
				kept = append(kept, t)
			}
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// namesIdentity reports whether a Connection header's values name an identity header.
func namesIdentity(values []string) bool {
	for _, v := range values {
		for rest := v; rest != ""; {
			var tok string
			tok, rest, _ = strings.Cut(rest, ",")
			if isIdentityHeader(strings.TrimSpace(tok)) {
				return true
			}
		}
	}
	return false
}
