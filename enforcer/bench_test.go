package enforcer

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
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
