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
	if !ok {
		return
	}
	var kept []string
	changed := false
	for _, v := range conn {
		for _, tok := range strings.Split(v, ",") {
			if isIdentityHeader(strings.TrimSpace(tok)) {
				changed = true
				continue
			}
			if t := strings.TrimSpace(tok); t != "" {
				kept = append(kept, t)
			}
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}
