package geoip

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/sessiongate/sessiongate/geoip/geoiptest"

	"github.com/sessiongate/sessiongate/store"
)

// writeTestDB builds a small City database: 127.0.0.0/8 is DE/Berlin, 203.0.113.0/24
// FR/Paris, 192.0.2.0/24 a country without a city, and 198.18.0.0/15 a record with neither
// (only a continent).
func writeTestDB(t *testing.T) string {
	return geoiptest.WriteDB(t, map[string]mmdbtype.Map{
		"127.0.0.0/8":    geoiptest.City("DE", "Berlin"),
		"203.0.113.0/24": geoiptest.City("FR", "Paris"),
		"192.0.2.0/24":   geoiptest.City("US", ""),
		"198.18.0.0/15":  {"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}},
	})
}

func TestGeoIPLocate(t *testing.T) {
	l, err := Open(writeTestDB(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	berlin := &store.Location{Country: "DE", City: "Berlin"}
	paris := &store.Location{Country: "FR", City: "Paris"}
	tests := []struct {
		ip   string
		want *store.Location
	}{
		{"127.0.0.1", berlin},
		{"127.255.255.254", berlin},
		{"203.0.113.7", paris},
		{"203.0.113.255", paris},
		{"192.0.2.1", &store.Location{Country: "US"}},
		// IPv4-mapped IPv6, as a dual-stack listener reports IPv4 clients.
		{"::ffff:127.0.0.1", berlin},
		{"::ffff:203.0.113.7", paris},
		{"::ffff:cb00:7107", paris}, // 203.0.113.7 in hex
		// Known to the database but without a country or city: nothing to show.
		{"198.18.0.1", nil},
		// Unknown.
		{"198.51.100.1", nil},
		{"203.0.114.1", nil},
		{"8.8.8.8", nil},
		{"2001:db8::1", nil},
		{"::1", nil},
		// Not an address.
		{"", nil},
		{"not-an-ip", nil},
		{"127.0.0.1:8080", nil},
		{"[::1]", nil},
		{"127.0.0.1.5", nil},
		{"203.0.113.7 ", nil},
		{"fe80::1%eth0%", nil},
	}
	for _, tc := range tests {
		got := l.Locate(tc.ip)
		switch {
		case tc.want == nil && got != nil:
			t.Errorf("Locate(%q) = %+v, want nil", tc.ip, *got)
		case tc.want != nil && got == nil:
			t.Errorf("Locate(%q) = nil, want %+v", tc.ip, *tc.want)
		case tc.want != nil && *got != *tc.want:
			t.Errorf("Locate(%q) = %+v, want %+v", tc.ip, *got, *tc.want)
		}
	}
}

func TestGeoIPLocateConcurrent(t *testing.T) {
	l, err := Open(writeTestDB(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer l.Close()
	done := make(chan bool)
	for i := 0; i < 8; i++ {
		go func() {
			ok := true
			for j := 0; j < 200; j++ {
				if loc := l.Locate("203.0.113.9"); loc == nil || loc.City != "Paris" {
					ok = false
				}
			}
			done <- ok
		}()
	}
	for i := 0; i < 8; i++ {
		if !<-done {
			t.Error("a concurrent Locate did not find Paris")
		}
	}
}

func TestGeoIPOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.mmdb")
	if err := os.WriteFile(notDB, []byte("this is not a MaxMind database"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.mmdb"), notDB, dir} {
		l, err := Open(path)
		if err == nil {
			l.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
			continue
		}
		if !strings.Contains(err.Error(), "geoip_db") || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%q) error %q does not name geoip_db and the path", path, err)
		}
	}
}
