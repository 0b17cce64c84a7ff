// Package geoip tells where a client IP is, from a MaxMind-format (.mmdb) City database such
// as GeoLite2-City, for the location shown with each session.
package geoip

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/geoip2-golang/v2"

	"github.com/sessiongate/sessiongate/store"
)

// Locator looks IPs up in one database file.
type Locator struct {
	db *geoip2.Reader
}

// Open opens the database at path.
func Open(path string) (*Locator, error) {
	db, err := geoip2.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening geoip_db %s: %w", path, err)
	}
	// Other MaxMind databases (ASN, Country-only...) open fine but never name a city.
	if t := db.Metadata().DatabaseType; !strings.Contains(t, "City") {
		_ = db.Close()
		return nil, fmt.Errorf("geoip_db %s is a %q database, not a City database", path, t)
	}
	return &Locator{db: db}, nil
}

// Locate returns the country (ISO code) and English city name of ip, or nil when the address
// is not valid or the database knows nothing of it.
func (l *Locator) Locate(ip string) *store.Location {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	rec, err := l.db.City(addr.Unmap())
	if err != nil || !rec.HasData() {
		return nil
	}
	loc := &store.Location{Country: rec.Country.ISOCode, City: rec.City.Names.English}
	if loc.Country == "" && loc.City == "" {
		return nil
	}
	return loc
}

// Close releases the database.
func (l *Locator) Close() error { return l.db.Close() }
