package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/redis/redistest"
	"github.com/sessiongate/sessiongate/store/storetest"
)

// BenchmarkTouch writes the activity of 1,000 of 20,000 sessions (with an idle timeout, so
// that each touch also extends TTLs) per op, as a flush of a busy gateway does. session-ns is
// the time per session written; gateway-cpu-ns this process's CPU time per session (building
// the commands, reading the replies); redis-cpu-ns the redis-server's (INFO cpu), which on
// one machine competes with the gateway's.
func BenchmarkTouch(b *testing.B) {
	const sessions, batch = 20_000, 1000
	srv := redistest.Start(b)
	ctx := context.Background()
	st, err := Open(ctx, srv.URL(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rc.Close()

	idle := store.Policy{IdleTimeout: store.Timeout{Enabled: true, Duration: 24 * time.Hour}}
	touches := make([]store.Touch, sessions)
	for i := range touches {
		s := store.Session{
			TenantID: fmt.Sprintf("tenant-%02d", i%16), UserID: fmt.Sprintf("user-%06d", i), ID: fmt.Sprintf("%08x-5c1e-4d2a-9b7f-%012x", i, i),
			CreatedAt: t0, LastActiveAt: t0, IP: "203.0.113.7",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		}
		if _, err := st.Create(ctx, store.CreateRequest{Session: s, Policy: idle, IssuedAt: t0, Now: t0}); err != nil {
			b.Fatal(err)
		}
		touches[i] = store.Touch{TenantID: s.TenantID, UserID: s.UserID, ID: s.ID}
	}

	cpu0, own0 := redisCPU(b, rc), storetest.ProcessCPU(b)
	b.ResetTimer()
	for i := range b.N {
		part := touches[i*batch%sessions:][:batch]
		for j := range part {
			part[j].At = t0.Add(time.Duration(i+1) * time.Second)
		}
		if err := st.Touch(ctx, part); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "session-ns")
	b.ReportMetric(float64((storetest.ProcessCPU(b)-own0).Nanoseconds())/float64(b.N*batch), "gateway-cpu-ns")
	b.ReportMetric(float64((redisCPU(b, rc)-cpu0).Nanoseconds())/float64(b.N*batch), "redis-cpu-ns")
	if s, err := st.Get(ctx, touches[0].TenantID, touches[0].ID); err != nil || !s.LastActiveAt.After(t0) {
		b.Fatalf("the touches were not written: %v, %v", s.LastActiveAt, err)
	}
}

// redisCPU is the server's CPU time so far (user and system).
func redisCPU(b *testing.B, rc *goredis.Client) time.Duration {
	info, err := rc.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var secs float64
	for line := range strings.SplitSeq(info, "\r\n") {
		for _, field := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, field); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("INFO cpu: %s", line)
				}
				secs += f
			}
		}
	}
	return time.Duration(secs * float64(time.Second))
}
