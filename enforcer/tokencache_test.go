package enforcer

import (
	"fmt"
	"sync"
	"testing"
)

// sameSet returns the first hash of the i-th token that falls in set 0 of tc.
func sameSet(tc *tokenCache, i int) uint64 { return uint64(i+1) * (tc.mask + 1) }

// holds reports whether tc holds the token with hashes h1 and h2, without marking it hit.
func holds(tc *tokenCache, h1, h2 uint64) bool {
	s := &tc.sets[h1&tc.mask]
	for i := range s.claims {
		if c := s.claims[i].Load(); c != nil && s.tags[i].Load() == h1 && c.tokenHash == h2 {
			return true
		}
	}
	return false
}

func cachedAt(expiry int64, h2 uint64) *Claims {
	return &Claims{expiry: expiry, tokenHash: h2}
}

func TestTokenCacheSize(t *testing.T) {
	for _, tc := range []struct {
		size int64
		sets int
	}{{1, 1}, {4, 1}, {5, 2}, {9, 4}, {250_000, 65536}, {1_000_000, 262144}} {
		if got := len(newTokenCache(tc.size).sets); got != tc.sets {
			t.Errorf("size %d: %d sets, want %d", tc.size, got, tc.sets)
		}
	}
}

// A token is found by both its hashes: the same first hash with another keyed hash is a
// different token.
func TestTokenCacheGetChecksBothHashes(t *testing.T) {
	tc := newTokenCache(1000)
	h1, h2 := tc.hash("a.b.c")
	if h1a, h2a := tc.hash("a.b.c"); h1a != h1 || h2a != h2 {
		t.Fatal("hash is not stable")
	}
	// The hash that places a token is keyed by each cache's own seed; the other is not.
	if h1b, h2b := newTokenCache(1000).hash("a.b.c"); h1b == h1 || h2b != h2 {
		t.Fatal("a token is placed by an unkeyed hash, or checked by a keyed one")
	}
	c := cachedAt(100, h2)
	tc.put(h1, c, 0, 0)
	if got := tc.get(h1, h2); got != c {
		t.Fatalf("get = %v, want the claims put", got)
	}
	if got := tc.get(h1, h2^1); got != nil {
		t.Fatal("a token with the same first hash but another keyed hash found the claims")
	}
	if got := tc.get(h1^1, h2); got != nil {
		t.Fatal("a token with another first hash found the claims")
	}
}

// The same token verified again takes its own slot back rather than a second one.
func TestTokenCachePutSameTokenReplaces(t *testing.T) {
	tc := newTokenCache(tokenLoad)
	for i := range tokenWays - 1 {
		tc.put(sameSet(tc, i), cachedAt(100, uint64(i)), 0, 0)
	}
	h1 := sameSet(tc, 3)
	again := cachedAt(200, 3)
	tc.put(h1, again, 0, 0)
	if got := tc.get(h1, 3); got != again {
		t.Fatal("the token's new claims are not the ones found")
	}
	n := 0
	for i := range tc.sets[0].claims {
		if c := tc.sets[0].claims[i].Load(); c != nil && c.tokenHash == 3 {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the token is in %d slots", n)
	}
	// One slot was still free: a new token takes it, and every other token stays.
	tc.put(sameSet(tc, 99), cachedAt(100, 99), 0, 0)
	for i := range tokenWays - 1 {
		if !holds(tc, sameSet(tc, i), uint64(i)) {
			t.Fatalf("token %d was replaced while a slot was free", i)
		}
	}
}

// A full set gives up, in order: claims that expired or were verified under another key
// set, then claims not hit since the set's last fill, and never claims hit since, while
// there are others.
func TestTokenCacheReplacement(t *testing.T) {
	fill := func(keySet uint32) *tokenCache {
		tc := newTokenCache(tokenLoad)
		for i := range tokenWays {
			tc.put(sameSet(tc, i), cachedAt(int64(100+i), uint64(i)), keySet, 0)
		}
		return tc
	}
	present := func(tc *tokenCache) (in []int) {
		for i := range tokenWays {
			if holds(tc, sameSet(tc, i), uint64(i)) {
				in = append(in, i)
			}
		}
		return in
	}
	for _, tc := range []struct {
		name    string
		keySet  uint32
		expired int64
		gone    int
	}{
		{"expired first", 0, 103, 0}, // 0 to 3 have expired by 103: the first of them goes
		{"other key set first", 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := fill(0)
			cache.put(sameSet(cache, 50), cachedAt(500, 50), tc.keySet, tc.expired)
			in := present(cache)
			if len(in) != tokenWays-1 || in[0] == tc.gone {
				t.Fatalf("left %v, want all but %d", in, tc.gone)
			}
		})
	}

	t.Run("not hit first", func(t *testing.T) {
		cache := fill(0)
		for i := range tokenWays {
			cache.sets[0].claims[i].Load().hit.Store(0)
		}
		hot := map[int]bool{1: true, 4: true, 6: true}
		for i := range hot {
			cache.get(sameSet(cache, i), uint64(i))
		}
		for n := range 2 * tokenWays {
			cache.put(sameSet(cache, 50+n), cachedAt(500, uint64(50+n)), 0, 0)
			if !holds(cache, sameSet(cache, 50+n), uint64(50+n)) {
				t.Fatalf("fill %d is not found", n+1)
			}
			for i := range hot {
				if cache.get(sameSet(cache, i), uint64(i)) == nil { // found, and hit again
					t.Fatalf("after %d fills, token %d, hit, was replaced while others were not", n+1, i)
				}
			}
		}
		// Every slot was hit since: the next fill still finds one.
		for i := range tokenWays {
			cache.sets[0].claims[i].Load().hit.Store(1)
		}
		cache.put(sameSet(cache, 90), cachedAt(500, 90), 0, 0)
		if !holds(cache, sameSet(cache, 90), 90) {
			t.Fatal("a fill into a set of hit claims was lost")
		}
	})
}

// Lookups race with fills of the same set: whatever a lookup returns is the claims of the
// token it asked for.
func TestTokenCacheConcurrent(t *testing.T) {
	tc := newTokenCache(tokenLoad)
	const tokens = 64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := range 20_000 {
				i := (n*7 + w) % tokens
				h1, h2 := sameSet(tc, i), uint64(1000+i)
				if c := tc.get(h1, h2); c != nil {
					if c.tokenHash != h2 || c.UserID != fmt.Sprint(i) {
						t.Errorf("token %d found the claims of %q", i, c.UserID)
						return
					}
					continue
				}
				c := cachedAt(1, h2)
				c.UserID = fmt.Sprint(i)
				tc.put(h1, c, 0, 0)
			}
		})
	}
	wg.Wait()
}
