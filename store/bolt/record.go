package bolt

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/record"
)

// Session records are in the binary form of package record. Files written before it hold the
// JSON of store.Session; those records are still read, and are rewritten in the binary form
// the next time their session changes.

// decodeSession reads a record, binary or (from older files) JSON.
func decodeSession(v []byte) (store.Session, error) {
	if len(v) > 0 && v[0] == '{' {
		var s store.Session
		if err := json.Unmarshal(v, &s); err != nil {
			return store.Session{}, fmt.Errorf("decoding session record: %w", err)
		}
		return s, nil
	}
	return record.Decode(v)
}

// touchedRecord is the record v with its last activity raised to at, and whether that
// changed anything: an ended session, or one with later activity, is left as it is.
func touchedRecord(v []byte, at time.Time) ([]byte, bool, error) {
	if record.HasHeader(v) {
		if !record.Touches(v, at) {
			return nil, false, nil
		}
		rec := append([]byte(nil), v...) // v is bbolt's memory, valid only for its transaction
		record.SetLastActive(rec, at)
		return rec, true, nil
	}
	// JSON, from an older file: rewritten in the binary form.
	s, err := decodeSession(v)
	if err != nil || s.Ended() || !at.After(s.LastActiveAt) {
		return nil, false, err
	}
	s.LastActiveAt = at
	return record.Encode(&s), true, nil
}
