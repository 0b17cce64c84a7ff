// Command caddy is Caddy with its standard modules and the sessiongate plugin.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/sessiongate/sessiongate"
)

func main() {
	caddycmd.Main()
}
