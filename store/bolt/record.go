package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sessiongate/sessiongate/store"
)

// Session records are binary, in this layout:
//
//	offset  size  field
//	0       1     recordVersion; a JSON record starts with '{'
//	1       8     created_at, unix nanoseconds, big-endian
//	9       8     last_active_at, likewise
//	17      8     ended_at, likewise; 0 while the session is live
//	25      ...   strings, each a uvarint length and its bytes: tenant id, user id, session
//	              id, IP, User-Agent, browser, OS, device type, end reason; then 0 without a
//	              location, or 1 and the country and city
//
// The times sit at fixed offsets so that writing a session's activity, the most frequent
// write, patches 8 bytes of a copy instead of decoding and encoding the record. Files written
// before this layout hold the JSON of store.Session; those records are still read, and are
// rewritten in this layout the next time their session changes.
const (
	recordVersion  = 1
	offCreated     = 1
	offLastActive  = 9
	offEnded       = 17
	recordStrings  = 25
	maxStringField = 1 << 20 // far above any id, IP or (truncated) User-Agent
)

var errCorruptRecord = errors.New("corrupt session record")

// encodeSession is the record of s.
func encodeSession(s *store.Session) []byte {
	strs := [...]string{s.TenantID, s.UserID, s.ID, s.IP, s.UserAgent, s.Device.Browser, s.Device.OS, s.Device.Type, s.EndReason}
	size := recordStrings + 1
	for _, v := range strs {
		size += binary.MaxVarintLen32 + len(v)
	}
	if s.Location != nil {
		size += 2*binary.MaxVarintLen32 + len(s.Location.Country) + len(s.Location.City)
	}
	b := make([]byte, recordStrings, size)
	b[0] = recordVersion
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

// decodeSession reads a record, binary or (from older files) JSON.
func decodeSession(v []byte) (store.Session, error) {
	if len(v) > 0 && v[0] == '{' {
		var s store.Session
		if err := json.Unmarshal(v, &s); err != nil {
			return store.Session{}, fmt.Errorf("decoding session record: %w", err)
		}
		return s, nil
	}
	if len(v) > 0 && v[0] != recordVersion {
		return store.Session{}, fmt.Errorf("session record of unknown format %#x", v[0])
	}
	if len(v) < recordStrings {
		return store.Session{}, errCorruptRecord
	}
	s := store.Session{
		CreatedAt:    fromUnixNano(binary.BigEndian.Uint64(v[offCreated:])),
		LastActiveAt: fromUnixNano(binary.BigEndian.Uint64(v[offLastActive:])),
		EndedAt:      fromUnixNano(binary.BigEndian.Uint64(v[offEnded:])),
	}
	r := recordReader{rest: v[recordStrings:]}
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
		return store.Session{}, errCorruptRecord
	}
	return s, nil
}

// touchedRecord is the record v with its last activity raised to at, and whether that
// changed anything: an ended session, or one with later activity, is left as it is.
func touchedRecord(v []byte, at time.Time) ([]byte, bool, error) {
	if len(v) < recordStrings || v[0] != recordVersion {
		s, err := decodeSession(v)
		if err != nil || s.Ended() || !at.After(s.LastActiveAt) {
			return nil, false, err
		}
		s.LastActiveAt = at
		return encodeSession(&s), true, nil
	}
	if binary.BigEndian.Uint64(v[offEnded:]) != 0 || int64(binary.BigEndian.Uint64(v[offLastActive:])) >= at.UnixNano() {
		return nil, false, nil
	}
	rec := append([]byte(nil), v...) // v is bbolt's memory, valid only for its transaction
	binary.BigEndian.PutUint64(rec[offLastActive:], unixNano(at))
	return rec, true, nil
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

// recordReader reads a record's strings; bad is set, and reads return zero values, once the
// record runs short.
type recordReader struct {
	rest []byte
	bad  bool
}

func (r *recordReader) byte() byte {
	if r.bad || len(r.rest) == 0 {
		r.bad = true
		return 0
	}
	c := r.rest[0]
	r.rest = r.rest[1:]
	return c
}

func (r *recordReader) string() string {
	n, size := binary.Uvarint(r.rest)
	if r.bad || size <= 0 || n > maxStringField || n > uint64(len(r.rest)-size) {
		r.bad = true
		return ""
	}
	s := string(r.rest[size : size+int(n)])
	r.rest = r.rest[size+int(n):]
	return s
}
