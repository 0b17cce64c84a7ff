package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/sessiongate/sessiongate/api"
)

func init() {
	caddy.RegisterModule(Admin{})
}

// Admin serves the operator routes under /sessiongate/ on Caddy's admin endpoint. It owns no
// state: it acts through the loaded sessiongate configs, on every store they use.
type Admin struct{}

// CaddyModule returns the Caddy module information.
func (Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.sessiongate",
		New: func() caddy.Module { return new(Admin) },
	}
}

// Routes returns the operator routes.
func (Admin) Routes() []caddy.AdminRoute {
	h := api.NewOperator("/sessiongate", liveEnforcers, caddy.Log().Named("admin.api.sessiongate"))
	return []caddy.AdminRoute{{
		Pattern: "/sessiongate/",
		Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			h.ServeHTTP(w, r)
			return nil
		}),
	}}
}

// Interface guards
var _ caddy.AdminRouter = Admin{}
