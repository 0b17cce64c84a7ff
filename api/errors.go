// Package api serves sessiongate's JSON interfaces: the operator routes on Caddy's admin
// endpoint and the error responses of the gateway. It speaks HTTP but knows nothing of Caddy.
package api

import (
	"encoding/json"
	"net/http"

	"github.com/sessiongate/sessiongate/enforcer"
)

// Codes of the API's own refusals.
const (
	CodeForbidden  = "forbidden"
	CodeNotFound   = "not_found"
	CodeBadRequest = "bad_request"
)

var messages = map[string]string{
	enforcer.CodeMissingToken:     "no session token was presented",
	enforcer.CodeInvalidToken:     "the session token is not valid",
	enforcer.CodeTokenExpired:     "the session token has expired",
	enforcer.CodeSessionRevoked:   "the session has been signed out",
	enforcer.CodeSessionEvicted:   "the session was ended because a newer one exceeded the session limit",
	enforcer.CodeSessionIdle:      "the session ended after a period of inactivity",
	enforcer.CodeSessionExpired:   "the session reached its maximum lifetime; sign in again",
	enforcer.CodeSessionLimit:     "the maximum number of concurrent sessions has been reached",
	enforcer.CodeStoreUnavailable: "the session store is unavailable; try again shortly",
	enforcer.CodeKeysUnavailable:  "the token signing keys are unavailable; try again shortly",
	CodeForbidden:                 "you do not have permission for this",
	CodeNotFound:                  "not found",
	CodeBadRequest:                "the request is not valid",
}

// Status is the HTTP status of a refusal code.
func Status(code string) int {
	switch code {
	case enforcer.CodeSessionLimit, CodeForbidden:
		return http.StatusForbidden
	case enforcer.CodeStoreUnavailable, enforcer.CodeKeysUnavailable:
		return http.StatusServiceUnavailable
	case CodeNotFound:
		return http.StatusNotFound
	case CodeBadRequest:
		return http.StatusBadRequest
	default:
		return http.StatusUnauthorized
	}
}

// Error is a JSON error body. Errors and ErrorCode repeat the message and code on the
// Frontegg-compatible routes, where Frontegg's clients look for them.
type Error struct {
	Code      string   `json:"error"`
	Message   string   `json:"message"`
	Errors    []string `json:"errors,omitempty"`
	ErrorCode string   `json:"errorCode,omitempty"`
}

// WriteError answers with code's status and body; message "" takes the code's standard text.
// 401s carry WWW-Authenticate and 503s Retry-After, as RFC 6750 and 9110 have them.
func WriteError(w http.ResponseWriter, code, message string) {
	if message == "" {
		message = messages[code]
	}
	status := Status(code)
	h := w.Header()
	switch status {
	case http.StatusUnauthorized:
		if code == enforcer.CodeMissingToken {
			h.Set("WWW-Authenticate", "Bearer")
		} else {
			h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	writeError(w, status, code, message)
}

// writeError writes an error body with any status.
func writeError(w http.ResponseWriter, status int, code, message string) {
	e := Error{Code: code, Message: message}
	if _, ok := w.(fronteggWriter); ok {
		e.Errors, e.ErrorCode = []string{message}, code
	}
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
