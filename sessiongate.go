// Package sessiongate is a Caddy v2 plugin that enforces user sessions in front of any web app:
// every request's JWT is verified, its session found or created and the tenant's session
// policy applied, and sessions can be listed and revoked by users, tenant admins and
// operators. Importing this package registers the http.handlers.sessiongate and
// admin.api.sessiongate modules, so that `xcaddy build --with github.com/sessiongate/sessiongate`
// works.
package sessiongate

import (
	// Registers the Caddy modules.
	_ "github.com/sessiongate/sessiongate/caddymodule"
)
