package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // the handler's JSON
	}{
		{"minimal", "sessiongate {\n hmac_secret s\n}", `{"hmac_secret":"s"}`},
		{"all options", `sessiongate {
			jwks_url https://idp.example/jwks
			issuer https://idp.example/
			audience app
			leeway 10s
			token_cookie sg
			claim_user uid
			claim_tenant org
			claim_session session
			claim_permissions perms
			idle_timeout 30m
			force_relogin 7d
			max_sessions 3
			max_sessions_strategy reject_new
			store bolt /var/lib/sg.db
			touch_interval 5s
			api_prefix /_sg
			login_url https://login.example/
		}`, `{"jwks_url":"https://idp.example/jwks","issuer":"https://idp.example/","audience":"app",` +
			`"leeway":10000000000,"token_cookie":"sg","claim_user":"uid","claim_tenant":"org",` +
			`"claim_session":"session","claim_permissions":"perms","idle_timeout":1800000000000,` +
			`"force_relogin":604800000000000,"max_sessions":3,"max_sessions_strategy":"reject_new",` +
			`"store":{"type":"bolt","path":"/var/lib/sg.db"},"touch_interval":5000000000,` +
			`"api_prefix":"/_sg","login_url":"https://login.example/"}`},
		{"off values", `sessiongate {
			hmac_secret s
			idle_timeout off
			force_relogin off
			max_sessions off
			store memory
		}`, `{"hmac_secret":"s","idle_timeout":0,"store":{"type":"memory"}}`},
		{"redis", `sessiongate {
			hmac_secret s
			store redis redis://127.0.0.1:6379/0
		}`, `{"hmac_secret":"s","store":{"type":"redis","url":"redis://127.0.0.1:6379/0"}}`},
		{"bolt default path", `sessiongate {
			hmac_secret s
			store bolt
		}`, `{"hmac_secret":"s","store":{"type":"bolt"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v", err)
			}
			got, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("JSON:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		input   string
		mention string // the error must name the option
	}{
		{"sessiongate arg {\n hmac_secret s\n}", "wrong argument count"},
		{"sessiongate {\n idle_timeout banana\n}", "idle_timeout"},
		{"sessiongate {\n idle_timeout 0s\n}", "idle_timeout"},
		{"sessiongate {\n idle_timeout -5m\n}", "idle_timeout"},
		{"sessiongate {\n force_relogin\n}", "force_relogin"},
		{"sessiongate {\n leeway soon\n}", "leeway"},
		{"sessiongate {\n max_sessions 0\n}", "max_sessions"},
		{"sessiongate {\n max_sessions 10001\n}", "max_sessions"},
		{"sessiongate {\n max_sessions many\n}", "max_sessions"},
		{"sessiongate {\n max_sessions_strategy sometimes\n}", "max_sessions_strategy"},
		{"sessiongate {\n store\n}", "store"},
		{"sessiongate {\n store redis\n}", "store"},
		{"sessiongate {\n store redis redis://a redis://b\n}", "store"},
		{"sessiongate {\n store bolt a b\n}", "store"},
		{"sessiongate {\n store memory x\n}", "store"},
		{"sessiongate {\n hmac_secret a b\n}", "hmac_secret"},
		{`sessiongate {
			hmac_secret a
			hmac_secret b
		}`, "hmac_secret"},
		{"sessiongate {\n frobnicate yes\n}", "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}
