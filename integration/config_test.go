package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInvalidConfig: a bad sessiongate block fails `caddy validate` (and, when the Caddyfile
// itself is wrong, `caddy adapt`) with a message that names the option.
func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	needCaddy(t)
	// Config files live in a directory whose name says nothing of the options, so that a
	// message "naming the option" cannot be the file's path.
	base, err := os.MkdirTemp("", "sgcfg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	jwks := filepath.Join(base, "keys.json")
	if err := os.WriteFile(jwks, jwksJSON(t, rsaKey, rsKid), 0o600); err != nil {
		t.Fatal(err)
	}
	notJWKS := filepath.Join(base, "notkeys.json")
	if err := os.WriteFile(notJWKS, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := "hmac_secret " + hsSecret

	tests := []struct {
		name  string
		gate  string
		want  []string // each must appear in the output
		adapt bool     // the Caddyfile adapter itself must refuse it
	}{
		{"idle_timeout banana", secret + "\nidle_timeout banana", []string{"idle_timeout"}, true},
		{"idle_timeout 0", secret + "\nidle_timeout 0", []string{"idle_timeout"}, true},
		{"force_relogin -1h", secret + "\nforce_relogin -1h", []string{"force_relogin"}, true},
		{"leeway soon", secret + "\nleeway soon", []string{"leeway"}, true},
		{"max_sessions 0", secret + "\nmax_sessions 0", []string{"max_sessions"}, true},
		{"max_sessions lots", secret + "\nmax_sessions lots", []string{"max_sessions"}, true},
		{"max_sessions_strategy sometimes", secret + "\nmax_sessions_strategy sometimes", []string{"max_sessions_strategy"}, true},
		{"hmac_secret and jwks_file", secret + "\njwks_file " + jwks, []string{"hmac_secret", "jwks_file"}, false},
		{"hmac_secret and jwks_url", secret + "\njwks_url https://idp.example.test/jwks", []string{"hmac_secret", "jwks_url"}, false},
		{"no key at all", "idle_timeout 1h", []string{"hmac_secret"}, false},
		{"hmac_secret from an unset variable", "hmac_secret {env.SESSIONGATE_TEST_UNSET_SECRET}", []string{"hmac_secret"}, false},
		{"jwks_file missing", "jwks_file " + filepath.Join(base, "nope.json"), []string{"jwks_file"}, false},
		{"jwks_file not a key set", "jwks_file " + notJWKS, []string{"jwks_file"}, false},
		{"unknown option", secret + "\nfrobnicate yes", []string{"frobnicate"}, true},
		{"option given twice", secret + "\nidle_timeout 1h\nidle_timeout 2h", []string{"idle_timeout"}, true},
		{"hmac_secret without a value", "hmac_secret", []string{"hmac_secret"}, true},
		{"store redis without a URL", secret + "\nstore redis", []string{"store", "redis"}, true},
		{"store redis with a malformed URL", secret + "\nstore redis ftp://127.0.0.1:6379/0", []string{"store", "redis"}, false},
		{"store with an unknown type", secret + "\nstore etcd", []string{"store"}, true},
		{"token_cookie with a bad name", secret + "\ntoken_cookie a;b", []string{"token_cookie"}, false},
		{"api_prefix without a slash", secret + "\napi_prefix sessions", []string{"api_prefix"}, false},
		{"login_url relative", secret + "\nlogin_url login", []string{"login_url"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, err := os.MkdirTemp(base, "c")
			if err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, "s.db")
			var gate strings.Builder
			for _, line := range strings.Split(tc.gate, "\n") {
				gate.WriteString("\t\t" + line + "\n")
			}
			file := filepath.Join(dir, "Caddyfile")
			text := "{\n\tadmin off\n\tskip_install_trust\n}\n:0 {\n\tsessiongate {\n" + gate.String() + "\t\tstore bolt " + db + "\n\t}\n\trespond ok\n}\n"
			if strings.Contains(tc.gate, "store ") {
				text = strings.Replace(text, "\t\tstore bolt "+db+"\n", "", 1)
			}
			if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			env := processEnv(dir)
			commands := [][]string{{"validate", "--config", file, "--adapter", "caddyfile"}}
			if tc.adapt {
				commands = append(commands, []string{"adapt", "--config", file, "--adapter", "caddyfile"})
			}
			for _, args := range commands {
				out, err, timedOut := runCaddy(t, 20*time.Second, env, args...)
				switch {
				case timedOut:
					t.Errorf("caddy %s hung:\n%s", args[0], tail(out, 4000))
				case err == nil:
					t.Errorf("caddy %s accepted the config:\n%s\n%s", args[0], text, tail(out, 4000))
				default:
					for _, w := range tc.want {
						if !strings.Contains(out, w) {
							t.Errorf("caddy %s failed without naming %q:\n%s", args[0], w, tail(out, 4000))
						}
					}
				}
			}
		})
	}
}

// TestValidConfig: the configuration forms the contract documents are accepted.
func TestValidConfig(t *testing.T) {
	t.Parallel()
	needCaddy(t)
	base := t.TempDir()
	jwks := writeFile(t, "keys.json", jwksJSON(t, rsaKey, rsKid))
	gate := strings.Join([]string{
		"jwks_file " + jwks,
		"issuer " + testIssuer,
		"audience " + testAudience,
		"leeway 1m",
		"token_cookie sg_token",
		"claim_user uid",
		"claim_tenant org",
		"claim_session session",
		"claim_permissions perms",
		"idle_timeout 7d",
		"force_relogin 30d",
		"max_sessions 5",
		"max_sessions_strategy reject_new",
		"store bolt " + filepath.Join(base, "s.db"),
		"api_prefix /.auth",
		"login_url https://login.example.test/",
	}, "\n\t\t")
	file := filepath.Join(base, "Caddyfile")
	text := "{\n\tadmin off\n}\n:0 {\n\tsessiongate {\n\t\t" + gate + "\n\t}\n\treverse_proxy 127.0.0.1:9\n}\n" +
		":1 {\n\tsessiongate {\n\t\thmac_secret {env.SG_SECRET}\n\t\tidle_timeout off\n\t\tforce_relogin off\n\t\tmax_sessions off\n\t\tstore memory\n\t}\n}\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err, timedOut := runCaddy(t, 20*time.Second, processEnv(base, "SG_SECRET="+hsSecret), "validate", "--config", file, "--adapter", "caddyfile")
	if timedOut || err != nil {
		t.Fatalf("caddy validate: err %v, timed out %v:\n%s\n%s", err, timedOut, text, tail(out, 4000))
	}
}

// TestTokenCommand: `caddy sessiongate token` mints tokens the gateway with the same secret
// accepts (the README demo, end to end).
func TestTokenCommand(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	g := startGateway(t, gatewayConfig{Gate: hsGate(), Upstream: up.URL})
	env := processEnv(t.TempDir())
	mint := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		out, err, timedOut := runCaddy(t, 20*time.Second, env, append([]string{"sessiongate", "token"}, args...)...)
		if timedOut || err != nil {
			t.Fatalf("caddy sessiongate token %s: err %v, timed out %v:\n%s", strings.Join(args, " "), err, timedOut, out)
		}
		tok := strings.TrimSpace(out)
		if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
			t.Fatalf("caddy sessiongate token printed %q, want one compact JWT", out)
		}
		return tok
	}

	t.Run("with --secret", func(t *testing.T) {
		id := identity{"alice", "acme", newID("cli")}
		tok := mint(t, env, "--secret", hsSecret, "--sub", id.user, "--tenant", id.tenant, "--sid", id.sid,
			"--ttl", "1h", "--perm", "fe.secure.read.sessions", "--perm", "fe.secure.write.securityPolicy")
		before := up.count()
		expectAllowed(t, g.do(t, "/", bearer(tok)), up, before, id)
		if ids := sessionIDs(listSessions(t, g, "acme", "alice")); len(ids) != 1 || ids[0] != id.sid {
			t.Errorf("alice's sessions are %v, want [%s]", ids, id.sid)
		}
	})

	t.Run("with SESSIONGATE_SECRET", func(t *testing.T) {
		id := identity{"bob", "acme", newID("cli")}
		tok := mint(t, append(env, "SESSIONGATE_SECRET="+hsSecret), "--sub", id.user, "--tenant", id.tenant, "--sid", id.sid)
		before := up.count()
		expectAllowed(t, g.do(t, "/", bearer(tok)), up, before, id)
	})

	t.Run("another secret is refused", func(t *testing.T) {
		tok := mint(t, env, "--secret", strings.Repeat("z", 40), "--sub", "carol", "--tenant", "acme", "--sid", newID("cli"))
		before := up.count()
		expectRefused(t, g.do(t, "/", bearer(tok)), up, before, http.StatusUnauthorized, "invalid_token")
	})

	t.Run("bad arguments fail", func(t *testing.T) {
		for _, args := range [][]string{
			{"--sub", "a", "--tenant", "t", "--sid", "s"}, // no secret
			{"--secret", hsSecret, "--tenant", "t", "--sid", "s"},
			{"--secret", hsSecret, "--sub", "a b", "--tenant", "t", "--sid", "s"},
			{"--secret", hsSecret, "--sub", "a", "--tenant", "t", "--sid", "s", "--ttl", "-1h"},
		} {
			out, err, timedOut := runCaddy(t, 20*time.Second, env, append([]string{"sessiongate", "token"}, args...)...)
			if timedOut || err == nil {
				t.Errorf("caddy sessiongate token %q: err %v, timed out %v, want a failure:\n%s", args, err, timedOut, out)
			}
		}
	})
}
