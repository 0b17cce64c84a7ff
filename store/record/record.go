// Package record is the binary form of a store.Session that the bolt and memory stores keep.
//
// Layout:
//
//	offset  size  field
//	0       1     Version
//	1       8     created_at, unix nanoseconds, big-endian
//	9       8     last_active_at, likewise
//	17      8     ended_at, likewise; 0 while the session is live
//	25      ...   strings, each a uvarint length and its bytes: tenant id, user id, session
//	              id, IP, User-Agent, browser, OS, device type, end reason; then 0 without a
//	              location, or 1 and the country and city
//
// The times sit at fixed offsets so that writing a session's activity, the most frequent
// write, patches 8 bytes instead of decoding and encoding the record. A record is one
// allocation without pointers, which the garbage collector does not scan.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sessiongate/sessiongate/store"
)

// Version is a record's first byte.
const Version = 1

const (
	offCreated     = 1
	offLastActive  = 9
	offEnded       = 17
	headerSize     = 25
	maxStringField = 1 << 20 // far above any id, IP or (truncated) User-Agent
)

// ErrCorrupt is a record that ends early, runs on past its end or announces absurd lengths.
var ErrCorrupt = errors.New("corrupt session record")

// Encode is the record of s.
func Encode(s *store.Session) []byte {
	strs := [...]string{s.TenantID, s.UserID, s.ID, s.IP, s.UserAgent, s.Device.Browser, s.Device.OS, s.Device.Type, s.EndReason}
	size := headerSize + 1
	for _, v := range strs {
		size += binary.MaxVarintLen32 + len(v)
	}
	if s.Location != nil {
		size += 2*binary.MaxVarintLen32 + len(s.Location.Country) + len(s.Location.City)
	}
	b := make([]byte, headerSize, size)
	b[0] = Version
	binary.BigEndian.PutUint64(b[offCreated:], unixNano(s.CreatedAt))
	binary.BigEndian.PutUint64(b[offLastActive:], unixNano(s.LastActiveAt))
	binary.BigEndian.PutUint64(b[offEnded:], unixNano(s.EndedAt))
	for _, v := range strs {
		b = appendString(b, v)
	}
	if s.Location == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendString(b, s.Location.Country)
	return appendString(b, s.Location.City)
}

// Decode reads a record. Its times are in UTC, zero where the record holds 0.
func Decode(v []byte) (store.Session, error) {
	if len(v) > 0 && v[0] != Version {
		return store.Session{}, fmt.Errorf("session record of unknown format %#x", v[0])
	}
	if len(v) < headerSize {
		return store.Session{}, ErrCorrupt
	}
	s := store.Session{
		CreatedAt:    fromUnixNano(binary.BigEndian.Uint64(v[offCreated:])),
		LastActiveAt: fromUnixNano(binary.BigEndian.Uint64(v[offLastActive:])),
		EndedAt:      fromUnixNano(binary.BigEndian.Uint64(v[offEnded:])),
	}
	r := reader{rest: v[headerSize:]}
	for _, f := range [...]*string{&s.TenantID, &s.UserID, &s.ID, &s.IP, &s.UserAgent, &s.Device.Browser, &s.Device.OS, &s.Device.Type, &s.EndReason} {
		*f = r.string()
	}
	switch r.byte() {
	case 0:
	case 1:
		s.Location = &store.Location{Country: r.string(), City: r.string()}
	default:
		r.bad = true
	}
	if r.bad || len(r.rest) != 0 {
		return store.Session{}, ErrCorrupt
	}
	return s, nil
}

// HasHeader reports whether v starts like a record of this version, long enough for its times.
func HasHeader(v []byte) bool { return len(v) >= headerSize && v[0] == Version }

// Touches reports whether raising v's last activity to at changes it: v is live and its
// activity earlier. v must have the header (HasHeader).
func Touches(v []byte, at time.Time) bool {
	return binary.BigEndian.Uint64(v[offEnded:]) == 0 && int64(binary.BigEndian.Uint64(v[offLastActive:])) < at.UnixNano()
}

// SetLastActive writes at as v's last activity, in place. v must have the header (HasHeader).
func SetLastActive(v []byte, at time.Time) {
	binary.BigEndian.PutUint64(v[offLastActive:], unixNano(at))
}

// unixNano is t in unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

func fromUnixNano(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v)).UTC()
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// reader reads a record's strings; bad is set, and reads return zero values, once the record
// runs short.
type reader struct {
	rest []byte
	bad  bool
}

func (r *reader) byte() byte {
	if r.bad || len(r.rest) == 0 {
		r.bad = true
		return 0
	}
	c := r.rest[0]
	r.rest = r.rest[1:]
	return c
}

func (r *reader) string() string {
	n, size := binary.Uvarint(r.rest)
	if r.bad || size <= 0 || n > maxStringField || n > uint64(len(r.rest)-size) {
		r.bad = true
		return ""
	}
	s := string(r.rest[size : size+int(n)])
	r.rest = r.rest[size+int(n):]
	return s
}
