package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// setup is one way of serving the upstream that the harness measures.
type setup struct {
	Key  string // A..F
	Name string
	Port int
	// Gated setups check tokens and sessions: they are warmed with one request per token.
	Gated bool
	// Store is the sessiongate store ("memory", "bolt", "redis"); "" for the others.
	Store string
}

// allSetups are the setups of issue 5 (A-F) and H, in their natural order.
var allSetups = []setup{
	{Key: "A", Name: "upstream direct"},
	{Key: "B", Name: "reverse_proxy"},
	// H is not one of issue 5's setups: B plus the three headers sessiongate sets, with the
	// hot session's values, for the share of D-F's cost that is passing them upstream.
	{Key: "H", Name: "reverse_proxy + identity headers"},
	{Key: "C", Name: "forward_auth + reverse_proxy", Gated: true},
	{Key: "D", Name: "sessiongate memory", Gated: true, Store: "memory"},
	{Key: "E", Name: "sessiongate bolt", Gated: true, Store: "bolt"},
	{Key: "F", Name: "sessiongate redis", Gated: true, Store: "redis"},
}

// caddyConfig holds what the Caddyfile of the run is made of.
type caddyConfig struct {
	AdminPort    int
	UpstreamPort int
	AuthPort     int
	RedisPort    int
	Keys         string // the sessiongate key material line (signer.gateKeys)
	Dir          string // storage, bolt file
	Setups       []setup
}

// transport is the reverse_proxy transport of every proxied hop: Caddy's default of 32 idle
// connections per host, with 64 client connections, churns TCP connections and makes the
// results depend on run order.
const transport = `		transport http {
			keepalive_idle_conns_per_host 128
		}
`

func (c *caddyConfig) boltPath() string { return filepath.Join(c.Dir, "bench.db") }

// caddyfile is the Caddyfile: one site per setup B..F, on its own loopback port.
func (c *caddyConfig) caddyfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, `{
	admin 127.0.0.1:%d
	storage file_system %s
	auto_https off
	persist_config off
	grace_period 2s
	log {
		level ERROR
	}
}
`, c.AdminPort, filepath.Join(c.Dir, "storage"))
	proxy := fmt.Sprintf("\treverse_proxy 127.0.0.1:%d {\n%s\t}\n", c.UpstreamPort, transport)
	for _, s := range c.Setups {
		if s.Key == "A" {
			continue
		}
		fmt.Fprintf(&b, "\n# (%s) %s\nhttp://127.0.0.1:%d {\n\tbind 127.0.0.1\n", s.Key, s.Name, s.Port)
		switch {
		case s.Key == "C":
			fmt.Fprintf(&b, "\tforward_auth 127.0.0.1:%d {\n\t\turi /auth\n\t\tcopy_headers X-User-Id X-Tenant-Id X-Session-Id\n%s\t}\n", c.AuthPort, transport)
		case s.Key == "H":
			fmt.Fprintf(&b, "\trequest_header X-User-Id %s\n\trequest_header X-Tenant-Id %s\n\trequest_header X-Session-Id %s\n",
				hotUser, hotTenant, hotSession)
		case s.Store != "":
			b.WriteString(c.gate(s.Store))
		}
		b.WriteString(proxy)
		b.WriteString("}\n")
	}
	return b.String()
}

// gate is the sessiongate block on store kind, with the default policy.
func (c *caddyConfig) gate(kind string) string {
	st := kind
	switch kind {
	case "bolt":
		st = "bolt " + c.boltPath()
	case "redis":
		st = fmt.Sprintf("redis redis://127.0.0.1:%d/0", c.RedisPort)
	}
	return fmt.Sprintf("\tsessiongate {\n\t\t%s\n\t\tstore %s\n\t}\n", c.Keys, st)
}

// redisSupported runs `caddy adapt` on a site with `store redis`: the redis store is newer
// than the harness, and the Caddyfile parser is what says whether this binary has it.
func redisSupported(caddy, dir, keys string, env []string) (bool, string) {
	c := caddyConfig{RedisPort: 1, Keys: keys}
	cfg := fmt.Sprintf("{\n\tadmin off\n}\nhttp://127.0.0.1:1 {\n%s\trespond ok\n}\n", c.gate("redis"))
	path := filepath.Join(dir, "redis-probe.Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return false, err.Error()
	}
	cmd := exec.Command(caddy, "adapt", "--config", path, "--adapter", "caddyfile")
	cmd.Env = env
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return false, msg
	}
	return true, ""
}
