// Package cache holds sessiongate's in-memory caches: a bounded ristretto cache by string key
// whose invalidations always win over fills that raced with them, so a session ended in the
// store is never re-cached from a read made before the end.
package cache

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Cache is a bounded concurrent cache of V by string key.
//
// A reader that misses takes Generation() before reading the backing store and hands it to
// Fill; Fill does nothing when any invalidation happened in between. Invalidations are rare
// (revocations, policy changes), so one counter for the whole cache is enough.
//
// Fills are rare too (misses), and they go one at a time, each returning once its value is in
// the cache or refused: ristretto takes a second set of a key it holds, or has queued, as a
// replacement or a refusal, and reports the value it keeps as gone. A fill of the value a key
// already holds is therefore skipped.
//
// Close may race with requests still in flight (a config being replaced): a closed cache
// misses and ignores writes rather than panic inside ristretto.
//
// onExit, when given, is called with every value that leaves the cache: evicted, refused
// admission, replaced, invalidated, purged, or dropped by Close. Callers that keep a value
// they got from Get can thus tell when it no longer stands for the cache's content.
type Cache[V comparable] struct {
	rc     *ristretto.Cache[string, V]
	mu     sync.RWMutex // Fill holds it shared, Invalidate exclusively: no fill slips between them
	fillMu sync.Mutex   // one fill at a time
	gen    atomic.Uint64
	closed bool // guarded by mu
	// full is set once the cache has evicted or refused a value for room, and cleared by Purge.
	full atomic.Bool
}

// New makes a cache that holds up to maxEntries values; onExit may be nil.
func New[V comparable](maxEntries int64, onExit func(V)) (*Cache[V], error) {
	if maxEntries < 1 {
		return nil, fmt.Errorf("cache size must be at least 1, got %d", maxEntries)
	}
	c := &Cache[V]{}
	markFull := func(*ristretto.Item[V]) { c.full.Store(true) }
	rc, err := ristretto.NewCache(&ristretto.Config[string, V]{
		NumCounters:        maxEntries * 10,
		MaxCost:            maxEntries,
		BufferItems:        64,
		IgnoreInternalCost: true,
		// Hash strings directly: the generic default boxes the key into an interface.
		KeyToHash: func(k string) (uint64, uint64) { return z.MemHashString(k), xxhash.Sum64String(k) },
		OnExit:    onExit,
		// Without expiry, ristretto evicts only for room (and when cleared, see Purge).
		OnEvict:  markFull,
		OnReject: markFull,
	})
	if err != nil {
		return nil, fmt.Errorf("making cache: %w", err)
	}
	c.rc = rc
	return c, nil
}

// Full reports whether the cache has evicted or refused a value for room since it was made or
// last purged. Until it has, what decides between entries (how often each is looked up) has
// nothing to decide, and a lookup made only to count one is wasted.
func (c *Cache[V]) Full() bool { return c.full.Load() }

// Get returns the cached value for key.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		var zero V
		return zero, false
	}
	return c.rc.Get(key)
}

// Generation is the invalidation count, to be passed to Fill.
func (c *Cache[V]) Generation() uint64 { return c.gen.Load() }

// Fill caches v under key unless an invalidation happened since gen was read, or key holds v
// already. Once it returns, Get shows v unless the cache refused it.
//
// It reports whether the cache took v (or held it already): then, as for a value Get
// returned, onExit reports when v leaves the cache, refusal included. A false means v was
// never cached (an invalidation came first, the cache is closed, or ristretto dropped the
// set under contention), and onExit will not hear of it.
func (c *Cache[V]) Fill(key string, v V, gen uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed || c.gen.Load() != gen {
		return false
	}
	c.fillMu.Lock()
	defer c.fillMu.Unlock()
	if cur, ok := c.rc.Get(key); ok && cur == v {
		return true
	}
	if !c.rc.Set(key, v, 1) {
		return false
	}
	c.rc.Wait()
	return true
}

// Invalidate drops keys and makes every fill that started before it a no-op: once it returns,
// Get never shows a value filled before it.
func (c *Cache[V]) Invalidate(keys ...string) {
	c.mu.Lock()
	c.gen.Add(1)
	if !c.closed {
		for _, k := range keys {
			c.rc.Del(k)
		}
		// A fill queued before the delete would otherwise show the old value until the
		// delete, queued behind it, is applied: drain the queue before returning.
		c.rc.Wait()
	}
	c.mu.Unlock()
}

// Purge drops everything, for when invalidations may have been missed.
func (c *Cache[V]) Purge() {
	c.mu.Lock()
	c.gen.Add(1)
	if !c.closed {
		c.rc.Clear() // evicts every value, synchronously
		c.full.Store(false)
	}
	c.mu.Unlock()
}

// Wait blocks until every Fill made so far is visible to Get.
func (c *Cache[V]) Wait() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.closed {
		c.rc.Wait()
	}
}

// Close stops the cache's goroutines; the cache then stays empty.
func (c *Cache[V]) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.rc.Clear() // values leave through onExit
		c.rc.Close()
	}
}
