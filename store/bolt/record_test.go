package bolt

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/record"
	"github.com/sessiongate/sessiongate/store/storetest"
)

func TestTouchedRecord(t *testing.T) {
	live := storetest.FullSession()
	live.EndedAt, live.EndReason = time.Time{}, ""
	rec := record.Encode(&live)
	orig := append([]byte(nil), rec...)

	later := live.LastActiveAt.Add(time.Second)
	out, changed, err := touchedRecord(rec, later)
	if err != nil || !changed {
		t.Fatalf("touching a live session later: changed %v, err %v", changed, err)
	}
	got, err := decodeSession(out)
	if err != nil {
		t.Fatal(err)
	}
	want := live
	want.LastActiveAt = later
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("touched record decodes to %+v, want %+v", got, want)
	}
	if string(rec) != string(orig) {
		t.Fatal("touching wrote into the record it was given (bbolt's memory)")
	}

	for _, at := range []time.Time{live.LastActiveAt, live.LastActiveAt.Add(-time.Second)} {
		if _, changed, err := touchedRecord(rec, at); changed || err != nil {
			t.Fatalf("touching at %v, not after the last activity: changed %v, err %v", at, changed, err)
		}
	}
	ended := storetest.FullSession()
	if _, changed, err := touchedRecord(record.Encode(&ended), ended.LastActiveAt.Add(time.Hour)); changed || err != nil {
		t.Fatalf("touching an ended session: changed %v, err %v", changed, err)
	}
}

// A file written before the binary records holds JSON ones: they are read as they are, and
// rewritten in the binary layout when their session's activity is folded into the records.
func TestJSONRecordsFromOlderFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := storetest.FullSession()
	old.EndedAt, old.EndReason = time.Time{}, ""
	js, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bucketSessions).CreateBucketIfNotExists([]byte(old.TenantID))
		if err != nil {
			return err
		}
		if err := b.Put([]byte(old.ID), js); err != nil {
			return err
		}
		return addToIndex(tx, &old)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := s.Get(ctx, old.TenantID, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, old) {
		t.Fatalf("JSON record read as %+v, want %+v", got, old)
	}

	later := old.LastActiveAt.Add(time.Minute)
	if err := s.Touch(ctx, []store.Touch{{TenantID: old.TenantID, ID: old.ID, At: later}}); err != nil {
		t.Fatal(err)
	}
	if err := s.fold(); err != nil {
		t.Fatal(err)
	}
	var first byte
	err = s.db.View(func(tx *bbolt.Tx) error {
		first = tx.Bucket(bucketSessions).Bucket([]byte(old.TenantID)).Get([]byte(old.ID))[0]
		return nil
	})
	if err != nil || first != record.Version {
		t.Fatalf("after a touch the record starts with %q (err %v), want the binary layout", first, err)
	}
	got, err = s.Get(ctx, old.TenantID, old.ID)
	if err != nil || !got.LastActiveAt.Equal(later) || got.UserAgent != old.UserAgent {
		t.Fatalf("after a touch: %+v, %v", got, err)
	}
}

// A corrupt record fails the read and the fold that meet it, naming the session; the fold
// still writes every other session's activity.
func TestCorruptRecordIsAnError(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "bad.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bucketSessions).CreateBucketIfNotExists([]byte("acme"))
		if err != nil {
			return err
		}
		return b.Put([]byte("s1"), []byte{record.Version, 1, 2})
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, "acme", "s1"); err == nil || !strings.Contains(err.Error(), "acme/s1") {
		t.Fatalf("Get of a corrupt record: %v", err)
	}
	good := storetest.Session("acme", "u2", "s2", storetest.FixtureTime)
	storetest.Create(t, s, good, store.Policy{})
	later := storetest.FixtureTime.Add(time.Hour)
	err = s.Touch(ctx, []store.Touch{{TenantID: "acme", ID: "s1", At: later}, {TenantID: "acme", UserID: "u2", ID: "s2", At: later}})
	if err != nil {
		t.Fatalf("Touch journals without reading the records: %v", err)
	}
	if err := s.fold(); err == nil || !strings.Contains(err.Error(), "acme/s1") {
		t.Fatalf("fold over a corrupt record: %v", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		got, err := decodeSession(tx.Bucket(bucketSessions).Bucket([]byte("acme")).Get([]byte("s2")))
		if err == nil && !got.LastActiveAt.Equal(later) {
			t.Errorf("the fold left the good record last active %v, want %v", got.LastActiveAt, later)
		}
		if n := tx.Bucket(bucketActivity).Stats().KeyN; n != 0 {
			t.Errorf("the fold left %d journal values, want none", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
