package record

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/storetest"
)

func TestRoundTrip(t *testing.T) {
	for name, s := range map[string]store.Session{
		"full":    storetest.FullSession(),
		"minimal": {TenantID: "t", UserID: "u", ID: "i", CreatedAt: storetest.FixtureTime, LastActiveAt: storetest.FixtureTime},
		"empty":   {},
	} {
		t.Run(name, func(t *testing.T) {
			rec := Encode(&s)
			if !HasHeader(rec) {
				t.Fatal("an encoded record has no header")
			}
			got, err := Decode(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Fatalf("decoded %+v, want %+v", got, s)
			}
		})
	}
}

// Every cut of a record, a record with bytes after its end and one of another format are
// errors, not panics or half-read sessions.
func TestCorrupt(t *testing.T) {
	s := storetest.FullSession()
	rec := Encode(&s)
	for n := range len(rec) {
		if _, err := Decode(rec[:n]); err == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded", n, len(rec))
		}
		if n < headerSize && HasHeader(rec[:n]) {
			t.Fatalf("a record cut to %d bytes has a header", n)
		}
	}
	if _, err := Decode(append(rec, 0)); err == nil {
		t.Fatal("a record with a trailing byte decoded")
	}
	other := append([]byte{2}, rec[1:]...)
	if _, err := Decode(other); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Fatalf("a record of another format: %v", err)
	}
	if HasHeader(other) {
		t.Fatal("a record of another format has this version's header")
	}
	huge := Encode(&store.Session{})
	huge = append(huge[:headerSize], 0xff, 0xff, 0xff, 0xff, 0x0f) // a 4 GiB string
	if _, err := Decode(huge); err == nil {
		t.Fatal("a record announcing a 4 GiB string decoded")
	}
}

func TestSetLastActive(t *testing.T) {
	live := storetest.FullSession()
	live.EndedAt, live.EndReason = time.Time{}, ""
	rec := Encode(&live)

	for _, at := range []time.Time{live.LastActiveAt, live.LastActiveAt.Add(-time.Second)} {
		if Touches(rec, at) {
			t.Fatalf("activity at %v, not after the last, touches the record", at)
		}
	}
	later := live.LastActiveAt.Add(time.Second)
	if !Touches(rec, later) {
		t.Fatal("later activity does not touch a live record")
	}
	SetLastActive(rec, later)
	got, err := Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := live
	want.LastActiveAt = later
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("touched record decodes to %+v, want %+v", got, want)
	}

	ended := storetest.FullSession()
	if Touches(Encode(&ended), ended.LastActiveAt.Add(time.Hour)) {
		t.Fatal("activity touches an ended record")
	}
}
