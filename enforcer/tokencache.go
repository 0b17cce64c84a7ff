package enforcer

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// tokenWays is how many slots one set of the token cache has.
const tokenWays = 8

// tokenCache holds the claims of verified tokens. It keeps no token, only two 64-bit hashes
// of it: maphash under a seed drawn at start, which picks the set and tags the slot, and
// xxhash, kept in the claims. A different token would have to match both, one of them keyed
// by a secret it cannot learn; and as the set a token lands in depends on that secret too,
// nobody can aim tokens at one set to push another user's out.
//
// It is set-associative: a token can only be in the tokenWays slots of the set its first hash
// names. A lookup, on every request, reads the set's tags and claims pointers (two adjacent
// cache lines) and then the claims; it takes no lock, counts nothing, and writes only the
// claims' hit mark, when it is not set already. With many sessions in play these lines are
// not in the CPU's caches, so each one a request reads costs it.
//
// A fill, which follows a full verification, replaces within its set the same token, else an
// empty slot, else claims that expired or were verified under another key set, else (a
// second chance) claims not hit since the set's last fill, passing over, and clearing the
// hit mark of, those hit since.
type tokenCache struct {
	seed maphash.Seed
	sets []tokenSet
	mask uint64
	mu   sync.Mutex // fills: each follows a full verification, so they are few
}

type tokenSet struct {
	tags   [tokenWays]atomic.Uint64          // the first (keyed) hash of the token in each slot
	claims [tokenWays]atomic.Pointer[Claims] // nil for an empty slot
}

// tokenLoad is how many tokens a set holds on average when the cache is full: half its ways,
// so that few sets overflow (with tokens spread at random, about 2% of sets would have more
// than 8 tokens to hold at a load of 4).
const tokenLoad = tokenWays / 2

// newTokenCache makes a cache with room for at least size tokens.
func newTokenCache(size int64) *tokenCache {
	n := uint64(max((size+tokenLoad-1)/tokenLoad, 1))
	n = 1 << bits.Len64(n-1) // a power of two, so that a mask picks the set
	return &tokenCache{seed: maphash.MakeSeed(), sets: make([]tokenSet, n), mask: n - 1}
}

// hash returns the token's two hashes: h1 places it, h2 is kept in its claims.
func (tc *tokenCache) hash(token string) (h1, h2 uint64) {
	return maphash.String(tc.seed, token), xxhash.Sum64String(token)
}

// get returns the claims cached for the token with hashes h1 and h2, or nil.
func (tc *tokenCache) get(h1, h2 uint64) *Claims {
	s := &tc.sets[h1&tc.mask]
	for i := range s.tags {
		if s.tags[i].Load() != h1 {
			continue
		}
		// A fill stores the claims before the tag: these may be newer than the tag just read,
		// and then their own hash tells them apart.
		if c := s.claims[i].Load(); c != nil && c.tokenHash == h2 {
			if c.hit.Load() == 0 {
				c.hit.Store(1)
			}
			return c
		}
	}
	return nil
}

// put caches c, the claims of the token with first hash h1 (c.tokenHash is its second),
// verified under keySet. Claims whose exp is at or before expiredBy are stale.
func (tc *tokenCache) put(h1 uint64, c *Claims, keySet uint32, expiredBy int64) {
	s := &tc.sets[h1&tc.mask]
	tc.mu.Lock()
	defer tc.mu.Unlock()
	victim, free := -1, -1
	for i := range s.claims {
		old := s.claims[i].Load()
		if old != nil && s.tags[i].Load() == h1 && old.tokenHash == c.tokenHash {
			victim = i // the same token, verified again
			break
		}
		if free < 0 && (old == nil || old.keySet != keySet || old.expiry <= expiredBy) {
			free = i
		}
	}
	if victim < 0 {
		victim = free
	}
	if victim < 0 {
		start := int(c.tokenHash % tokenWays)
		victim = start
		for k := range 2 * tokenWays {
			i := (start + k) % tokenWays
			old := s.claims[i].Load()
			if old.hit.Load() == 0 {
				victim = i
				break
			}
			old.hit.Store(0)
		}
	}
	s.claims[victim].Store(c)
	s.tags[victim].Store(h1)
}
