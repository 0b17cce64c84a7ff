package enforcer

import (
	"strconv"

	"github.com/mileusna/useragent"

	"github.com/sessiongate/sessiongate/store"
)

// maxUserAgent bounds what is kept of a User-Agent header.
const maxUserAgent = 512

// parseDevice says what a User-Agent is: browser with major version, OS, and the device type
// (desktop, mobile, tablet, bot or unknown).
func parseDevice(ua string) store.Device {
	if ua == "" {
		return store.Device{Type: "unknown"}
	}
	p := useragent.Parse(ua)
	d := store.Device{Browser: p.Name, OS: p.OS}
	if d.Browser != "" && p.VersionNo.Major > 0 {
		d.Browser += " " + strconv.Itoa(p.VersionNo.Major)
	}
	switch {
	case p.Bot:
		d.Type = "bot"
	case p.Tablet:
		d.Type = "tablet"
	case p.Mobile:
		d.Type = "mobile"
	case p.Desktop:
		d.Type = "desktop"
	default:
		d.Type = "unknown"
	}
	return d
}
