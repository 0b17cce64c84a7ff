package enforcer

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/memory"
)

// benchAlgs are the signing set-ups benchmarked: the config and a token minter.
var benchAlgs = []struct {
	name string
	cfg  func(b *testing.B) Config
	mint func(b *testing.B, e *env, user, sid string) string
}{
	{"HS256", func(*testing.B) Config { return Config{HMACSecret: testSecret} }, func(b *testing.B, e *env, user, sid string) string {
		return hs256(b, claimsAt(e.clk.Now(), user, "t1", sid))
	}},
	{"RS256", func(b *testing.B) Config { return Config{JWKSFile: writeJWKS(b)} }, func(b *testing.B, e *env, user, sid string) string {
		rk, _, _ := testKeys(b)
		return sign(b, jwa.RS256, rk, "rsa1", claimsAt(e.clk.Now(), user, "t1", sid))
	}},
	{"ES256", func(b *testing.B) Config { return Config{JWKSFile: writeJWKS(b)} }, func(b *testing.B, e *env, user, sid string) string {
		_, _, ek := testKeys(b)
		return sign(b, jwa.ES256, ek, "ec1", claimsAt(e.clk.Now(), user, "t1", sid))
	}},
}

// warm checks token until its claims, its session and its tenant's policy are all served
// from the caches (ristretto makes sets visible asynchronously).
func warm(b *testing.B, e *env, token string) {
	b.Helper()
	for i := 0; ; i++ {
		if v := e.check(token); !v.Allowed() {
			b.Fatalf("warming: %q (%v)", v.Code, v.Err)
		}
		e.settle()
		_, policyCached := e.tr.policies.Get("t1")
		if e.tokenCached(token) && e.sessionCached("t1", "s1") && policyCached {
			return
		}
		if i == 1000 {
			b.Fatal("the caches never became hot")
		}
	}
}

// BenchmarkCheckHot is the common case: a token seen before, a live cached session, allowed.
func BenchmarkCheckHot(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg.name, func(b *testing.B) {
			e := newEnv(b, alg.cfg(b), TrackerConfig{})
			token := alg.mint(b, e, "u1", "s1")
			warm(b, e, token)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if v := e.enf.Check(ctx, token, testInfo); v.Code != "" {
					b.Fatalf("refused: %q", v.Code)
				}
			}
		})
	}
	b.Run("HS256-parallel", func(b *testing.B) {
		e := newEnv(b, Config{HMACSecret: testSecret}, TrackerConfig{})
		token := e.token("u1", "t1", "s1")
		warm(b, e, token)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if v := e.enf.Check(ctx, token, testInfo); v.Code != "" {
					b.Errorf("refused: %q", v.Code)
					return
				}
			}
		})
	})
}

// mintAll mints n tokens for distinct users and sessions, on every CPU (RSA signing is slow).
func mintAll(b *testing.B, n int, mint func(i int) string) []string {
	tokens := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				tokens[i] = mint(i)
			}
		})
	}
	wg.Wait()
	return tokens
}

// BenchmarkCheckCold is a first request: the token is verified and a session created.
func BenchmarkCheckCold(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg.name, func(b *testing.B) {
			e := newEnv(b, alg.cfg(b), TrackerConfig{})
			// Distinct users, so that the store's per-user work stays constant.
			tokens := mintAll(b, b.N, func(i int) string {
				return alg.mint(b, e, fmt.Sprintf("u%d", i), fmt.Sprintf("s%d", i))
			})
			warm(b, e, alg.mint(b, e, "u1", "s1")) // the tenant's policy is cached
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if v := e.enf.Check(ctx, tokens[i], testInfo); v.Code != "" {
					b.Fatalf("refused: %q", v.Code)
				}
			}
		})
	}
}

// BenchmarkVerifyMiss is the cost of verifying a token not in the cache (jwx parsing,
// signature and claim checks).
func BenchmarkVerifyMiss(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg.name, func(b *testing.B) {
			e := newEnv(b, alg.cfg(b), TrackerConfig{})
			token := alg.mint(b, e, "u1", "s1")
			ctx := context.Background()
			now := e.clk.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := e.enf.verifier.parse(ctx, token, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var memSessions = flag.Int("sessions", 1_000_000, "sessions of BenchmarkMemoryPerSession")

// realisticClaims are what an identity provider puts in a token: uuid-like ids, an email,
// roles and permissions (about 500 bytes signed).
func realisticClaims(now time.Time, i int) map[string]any {
	id := func(kind byte) string { return fmt.Sprintf("%c%07x-4b1d-4c2e-9f3a-%012x", kind, i%(1<<28), i) }
	return map[string]any{
		"sub": id('a'), "tenantId": fmt.Sprintf("b%07x-4b1d-4c2e-9f3a-%012x", i%64, i%64), "sid": id('c'),
		"email": fmt.Sprintf("user%d@example.com", i), "iss": "https://idp.example.com",
		"roles":       []string{"member"},
		"permissions": []string{"fe.secure.read.sessions", "fe.secure.delete.sessions", "app.read"},
		"iat":         now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// heapLive is the heap in use after a full collection.
func heapLive() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerSession measures what each cached session costs in memory: -sessions
// sessions (default 1M) are put in a memory store, then requested twice through Check from
// as many goroutines as a loaded gateway has (the second pass fills what the caches dropped
// while busy), with caches big enough for all of them; their activity is then written.
// Reported: the heap per cached session of the session cache (entries, counters, pending
// activity), per cached token of the token cache, and their sum per session. The store
// is filled before the first measurement and does not grow after it. The work is done once
// whatever b.N: run it with -benchtime 1x.
func BenchmarkMemoryPerSession(b *testing.B) {
	n := *memSessions
	st := memory.New()
	clk := newFakeClock()
	tokens := mintAll(b, n, func(i int) string { return hs256(b, realisticClaims(clk.Now(), i)) })
	now := clk.Now()
	for i := range n {
		c := realisticClaims(now, i)
		s := store.Session{
			TenantID: c["tenantId"].(string), UserID: c["sub"].(string), ID: c["sid"].(string),
			CreatedAt: now, LastActiveAt: now, IP: testInfo.IP, UserAgent: testInfo.UserAgent, Device: parseDevice(testInfo.UserAgent),
		}
		if _, err := st.Create(context.Background(), store.CreateRequest{Session: s, Policy: testPolicy(), Now: now}); err != nil {
			b.Fatal(err)
		}
	}

	before := heapLive()
	e := newEnvOn(b, Config{TokenCacheSize: int64(n)}, TrackerConfig{SessionCacheSize: int64(n)}, clk, st)
	for range 2 {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					if v := e.check(tokens[i]); !v.Allowed() {
						b.Errorf("session %d: %q (%v)", i, v.Code, v.Err)
						return
					}
				}
			})
		}
		wg.Wait()
		e.settle()
	}
	clk.Advance(2 * time.Minute)
	e.tr.flush(false)
	var tokensCached, sessionsCached int
	for _, tok := range tokens {
		if c := e.cachedClaims(tok); c != nil {
			tokensCached++
			if e.sessionCached(c.TenantID, c.SessionID) {
				sessionsCached++
			}
		}
	}
	filled := heapLive()
	e.enf.verifier.close() // drops the token cache
	withoutTokens := heapLive()
	runtime.KeepAlive(e)

	b.ReportMetric(float64(withoutTokens-before)/float64(sessionsCached), "session-B")
	b.ReportMetric(float64(filled-withoutTokens)/float64(tokensCached), "token-B")
	b.ReportMetric(float64(filled-before)/float64(sessionsCached), "total-B")
	b.ReportMetric(float64(tokensCached)/float64(n), "tokens-cached")
	b.ReportMetric(float64(sessionsCached)/float64(n), "sessions-cached")
	b.ReportMetric(float64(len(tokens[n-1])), "token-bytes")
}

var manySessions = flag.Int("many", 100_000, "sessions of BenchmarkCheckMany")

// BenchmarkCheckMany is the common case with many sessions in play, as on a busy gateway:
// -many tokens (default 100k), each seen before, with live cached sessions, requested in a
// shuffled order so that consecutive requests are different sessions and the caches' entries
// are not in the CPU's caches.
func BenchmarkCheckMany(b *testing.B) {
	n := *manySessions
	clk := newFakeClock()
	tokens := mintAll(b, n, func(i int) string { return hs256(b, realisticClaims(clk.Now(), i)) })
	e := newEnvOn(b, Config{HMACSecret: testSecret}, TrackerConfig{}, clk, memory.New())
	for range 2 {
		for _, tok := range tokens {
			if v := e.check(tok); !v.Allowed() {
				b.Fatalf("warming: %q (%v)", v.Code, v.Err)
			}
		}
		e.settle()
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { tokens[i], tokens[j] = tokens[j], tokens[i] })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if v := e.enf.Check(ctx, tokens[i%n], testInfo); v.Code != "" {
			b.Fatalf("refused: %q", v.Code)
		}
	}
}

// BenchmarkFlushNothingDue is the activity writer's tick on a busy node: -many sessions with
// activity not yet written, none of it due.
func BenchmarkFlushNothingDue(b *testing.B) {
	clk := newFakeClock()
	tr, err := NewTracker(memory.New(), TrackerConfig{Now: clk.Now, TouchInterval: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tr.Close)
	for i := range *manySessions {
		ls := &liveSession{key: sessionKey("t1", fmt.Sprintf("s%d", i)), userID: "u1", interval: time.Minute}
		ls.writtenAt.Store(clk.Now().UnixNano())
		tr.touch(ls, clk.Now().Add(time.Second))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tr.flush(false)
	}
}

// BenchmarkTouchDue is a request of the many-sessions mode: each is its session's first in
// a touch interval, so it queues the session for writing, and a flush later takes it off the
// queue and writes it. ns/op is one touch with its share of the flushes (-many sessions,
// touched in a shuffled order; sessions unknown to the store, which skips them).
func BenchmarkTouchDue(b *testing.B) {
	clk := newFakeClock()
	tr, err := NewTracker(memory.New(), TrackerConfig{Now: clk.Now, TouchInterval: time.Minute, FlushEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tr.Close)
	sessions := make([]*liveSession, *manySessions)
	for i := range sessions {
		sessions[i] = &liveSession{key: sessionKey("t1", fmt.Sprintf("s%d", i)), userID: "u1", interval: time.Minute}
		sessions[i].writtenAt.Store(clk.Now().Add(-time.Minute).UnixNano())
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(sessions), func(i, j int) { sessions[i], sessions[j] = sessions[j], sessions[i] })
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		tr.touch(sessions[i%len(sessions)], clk.Now())
		if i%1000 == 999 { // a second's requests on a busy node
			clk.Advance(time.Second)
			tr.flush(false)
		}
	}
}
