package bolt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/storetest"
)

// BenchmarkTouch writes the activity of 1,000 random sessions out of 100,000 per op, as a
// flush of a busy gateway does; ns/op is per flush, session-ns the time per session written,
// cpu-ns this process's CPU time per session written (the rest is waiting on fsync), all with
// their share of the journal's tidying: run it with -benchtime 1000x or more.
//
// compact: the default foldAfter (200,000 touches), which these 100,000 sessions stay under
// three quarters of, so that the journal is compacted every 100-200 ops. fold: foldAfter
// 20,000, so that about 18,000 sessions fill each journal, and it is folded into the records
// every 20 ops: the cost per touch when few touches are of the same session.
func BenchmarkTouch(b *testing.B) {
	b.Run("compact", func(b *testing.B) { benchmarkTouch(b, defaultFoldAfter) })
	b.Run("fold", func(b *testing.B) { benchmarkTouch(b, 20_000) })
}

func benchmarkTouch(b *testing.B, foldAfter int) {
	const sessions, batch = 100_000, 1000
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.foldAfter = foldAfter
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Filled in a few large transactions: one per session would fsync 100,000 times.
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for i := range sessions {
			sess := store.Session{
				TenantID: fmt.Sprintf("tenant-%02d", i%16), UserID: fmt.Sprintf("user-%06d", i), ID: fmt.Sprintf("%016x", rand.Uint64()),
				CreatedAt: start, LastActiveAt: start, IP: "203.0.113.7",
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
				Device:    store.Device{Browser: "Chrome", OS: "Linux", Type: "desktop"},
			}
			if err := putSession(tx, &sess); err != nil {
				return err
			}
			if err := addToIndex(tx, &sess); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var ids []store.Touch
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSessions).ForEachBucket(func(tenant []byte) error {
			return tx.Bucket(bucketSessions).Bucket(tenant).ForEach(func(k, _ []byte) error {
				ids = append(ids, store.Touch{TenantID: string(tenant), ID: string(k)})
				return nil
			})
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	touches := make([]store.Touch, batch)
	b.ResetTimer()
	cpu0 := storetest.ProcessCPU(b)
	for i := range b.N {
		at := start.Add(time.Duration(i+1) * time.Second)
		for j := range touches {
			touches[j] = ids[r.IntN(len(ids))]
			touches[j].At = at
		}
		if err := s.Touch(context.Background(), touches); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "session-ns")
	b.ReportMetric(float64((storetest.ProcessCPU(b)-cpu0).Nanoseconds())/float64(b.N*batch), "cpu-ns")
}
