package enforcer

import "github.com/sessiongate/sessiongate/store"

// Codes of a refused request, as the gateway answers them (CONTRACT section 4).
const (
	CodeMissingToken     = "missing_token"
	CodeInvalidToken     = "invalid_token"
	CodeTokenExpired     = "token_expired"
	CodeSessionRevoked   = store.ReasonRevoked
	CodeSessionEvicted   = store.ReasonEvicted
	CodeSessionIdle      = store.ReasonIdleTimeout
	CodeSessionExpired   = store.ReasonExpired
	CodeSessionLimit     = store.RefusedLimit
	CodeStoreUnavailable = "store_unavailable"
	// CodeKeysUnavailable is an extension: the JWKS could not be loaded even once, so no token
	// can be verified. It is an outage (503), not the client's fault.
	CodeKeysUnavailable = "keys_unavailable"
)
