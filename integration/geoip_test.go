package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/sessiongate/sessiongate/geoip/geoiptest"
)

// writeGeoDB builds a small City database: 127.0.0.0/8 is DE/Berlin and 203.0.113.0/24
// FR/Paris.
func writeGeoDB(t *testing.T) string {
	return geoiptest.WriteDB(t, map[string]mmdbtype.Map{
		"127.0.0.0/8":    geoiptest.City("DE", "Berlin"),
		"203.0.113.0/24": geoiptest.City("FR", "Paris"),
	})
}

// TestGeoIPLocation: with geoip_db, each session shows where its client IP is: Berlin for
// 127.0.0.1, Paris for a client behind a trusted proxy at 203.0.113.7, null for an address
// the database does not know.
func TestGeoIPLocation(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayConfig{
		Gate:   hsGate("store memory", "geoip_db "+writeGeoDB(t)),
		Global: "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n",
	})
	tenant, user := newID("tenant"), newID("user")
	local := login(t, g, tenant, user, uaChromeMac, nil)
	open := func(forwardedFor string) member {
		m := member{tenant: tenant, user: user, sid: newID("sid")}
		m.token = mint(t, tenant, user, m.sid, nil)
		if r := g.do(t, "/app", bearer(m.token), header("X-Forwarded-For", forwardedFor)); r.Status != http.StatusOK {
			t.Fatalf("opening a session from %s: %s", forwardedFor, r)
		}
		return m
	}
	paris := open("203.0.113.7")
	nowhere := open("198.51.100.23")

	r := g.api(t, http.MethodGet, "/api/me/sessions", local.token)
	var page apiSessionPage
	decodeInto(t, r, http.StatusOK, &page)
	want := map[string]struct {
		ip  string
		loc string
	}{
		local.sid:   {"127.0.0.1", `{"country":"DE","city":"Berlin"}`},
		paris.sid:   {"203.0.113.7", `{"country":"FR","city":"Paris"}`},
		nowhere.sid: {"198.51.100.23", `null`},
	}
	raws := rawSessions(t, r.Body)
	if len(raws) != len(want) {
		t.Fatalf("listed %d sessions, want %d: %s", len(raws), len(want), r.Body)
	}
	for i, s := range page.Sessions {
		w, ok := want[s.ID]
		if !ok {
			t.Errorf("unexpected session %s", s.ID)
			continue
		}
		if s.IP != w.ip {
			t.Errorf("session %s: ip %q, want %q", s.ID, s.IP, w.ip)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raws[i], &m); err != nil {
			t.Fatal(err)
		}
		var loc bytes.Buffer
		if err := json.Compact(&loc, m["location"]); err != nil {
			t.Fatalf("session %s: location %s: %v", s.ID, m["location"], err)
		}
		if got := loc.String(); got != w.loc {
			t.Errorf("session %s from %s: location %s, want %s", s.ID, w.ip, got, w.loc)
		}
	}
}

// TestGeoIPMissingDB: a geoip_db that cannot be opened fails validation, naming the option.
func TestGeoIPMissingDB(t *testing.T) {
	t.Parallel()
	needCaddy(t)
	dir := t.TempDir()
	notDB := filepath.Join(dir, "bad.mmdb")
	if err := os.WriteFile(notDB, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/nonexistent.mmdb", notDB} {
		file := filepath.Join(dir, "Caddyfile")
		text := "{\n\tadmin off\n}\n:0 {\n\tsessiongate {\n\t\thmac_secret " + hsSecret + "\n\t\tstore memory\n\t\tgeoip_db " + path + "\n\t}\n\trespond ok\n}\n"
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err, timedOut := runCaddy(t, 20*time.Second, processEnv(dir), "validate", "--config", file, "--adapter", "caddyfile")
		switch {
		case timedOut:
			t.Errorf("geoip_db %s: caddy validate hung:\n%s", path, tail(out, 4000))
		case err == nil:
			t.Errorf("geoip_db %s: caddy validate accepted it:\n%s", path, tail(out, 4000))
		case !strings.Contains(out, "geoip_db"):
			t.Errorf("geoip_db %s: caddy validate failed without naming geoip_db:\n%s", path, tail(out, 4000))
		}
	}
}
