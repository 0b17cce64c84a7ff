package cache

import (
	"fmt"
	"sync"
	"testing"
)

func TestFillAndGet(t *testing.T) {
	c, err := New[int](100, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Fill("a", 1, c.Generation()) {
		t.Fatal("Fill(a) reported the cache did not take it")
	}
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v; want 1, true", v, ok)
	}
}

// A fill whose read started before an invalidation never lands, and none queued before it
// shows after it returns.
func TestInvalidateWinsOverFills(t *testing.T) {
	c, err := New[int](100_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	stale := c.Generation()
	c.Invalidate("a")
	if c.Fill("a", 1, stale) {
		t.Fatal("a fill read before an invalidation reported the cache took it")
	}
	c.Wait()
	if _, ok := c.Get("a"); ok {
		t.Fatal("a fill read before the invalidation landed")
	}

	gen := c.Generation()
	for i := range 20_000 { // queue many fills, so that "b" is still queued at Invalidate
		c.Fill(fmt.Sprintf("k%d", i), i, gen)
	}
	c.Fill("b", 2, gen)
	c.Invalidate("b")
	// Watch while ristretto works through its queue, then once it is drained.
	for i := range 200_000 {
		if _, ok := c.Get("b"); ok {
			t.Fatalf("a fill queued before the invalidation shows after it (look %d)", i)
		}
	}
	c.Wait()
	if _, ok := c.Get("b"); ok {
		t.Fatal("a fill queued before the invalidation shows once the queue drained")
	}
}

func TestPurge(t *testing.T) {
	c, err := New[int](100, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gen := c.Generation()
	c.Fill("a", 1, gen)
	c.Wait()
	c.Purge()
	if _, ok := c.Get("a"); ok {
		t.Fatal("Purge kept a")
	}
	c.Fill("a", 1, gen)
	c.Wait()
	if _, ok := c.Get("a"); ok {
		t.Fatal("a fill from before Purge landed")
	}
}

// A closed cache misses and ignores writes instead of panicking inside ristretto.
func TestClosed(t *testing.T) {
	c, err := New[int](100, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Fill("a", 1, c.Generation())
	c.Wait()
	c.Close()
	c.Close()
	if _, ok := c.Get("a"); ok {
		t.Fatal("a closed cache answered a Get")
	}
	if c.Fill("b", 2, c.Generation()) {
		t.Fatal("a closed cache reported it took a fill")
	}
	c.Invalidate("a")
	c.Purge()
	c.Wait()
}

func TestNewRejectsZeroSize(t *testing.T) {
	if _, err := New[int](0, nil); err == nil {
		t.Fatal("New(0) succeeded")
	}
}

// Every way out of the cache reports the value that left: replaced, invalidated, purged,
// evicted or refused for lack of room, and dropped by Close.
func TestOnExit(t *testing.T) {
	var mu sync.Mutex
	left := map[int]int{}
	exit := func(v *int) {
		if v != nil {
			mu.Lock()
			left[*v]++
			mu.Unlock()
		}
	}
	gone := func(v int) bool {
		mu.Lock()
		defer mu.Unlock()
		return left[v] > 0
	}
	vals := make([]int, 3000)
	for i := range vals {
		vals[i] = i
	}
	c, err := New[*int](1000, exit)
	if err != nil {
		t.Fatal(err)
	}
	took := map[int]bool{}
	fill := func(k string, v *int) {
		took[*v] = c.Fill(k, v, c.Generation())
		c.Wait()
	}

	fill("a", &vals[1])
	fill("a", &vals[2])
	if !gone(1) || gone(2) {
		t.Fatalf("replacing a: left %v, want 1 gone and 2 kept", left)
	}
	c.Invalidate("a", "missing")
	if !gone(2) {
		t.Fatal("Invalidate did not report the value it dropped")
	}
	fill("b", &vals[3])
	c.Purge()
	if !gone(3) {
		t.Fatal("Purge did not report the value it dropped")
	}

	// 3000 values in room for 1000: each one that is not cached at the end left, and said so,
	// unless its fill said the cache never took it (ristretto may drop a set).
	for i := 10; i < len(vals); i++ {
		fill(fmt.Sprintf("k%d", i), &vals[i])
	}
	for i := 10; i < len(vals); i++ {
		_, cached := c.Get(fmt.Sprintf("k%d", i))
		if took[i] && cached == gone(i) || !took[i] && (cached || gone(i)) {
			t.Fatalf("value %d: taken %v, cached %v, reported gone %v", i, took[i], cached, gone(i))
		}
	}
	fill("c", &vals[4])
	c.Close()
	if !gone(4) {
		t.Fatal("Close did not report the values it dropped")
	}
}

// Full turns on once values are evicted or refused for room, not for invalidations, and off
// with Purge.
func TestFull(t *testing.T) {
	c, err := New[int](100, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fill := func(from, to int) {
		gen := c.Generation()
		for i := from; i < to; i++ {
			c.Fill(fmt.Sprintf("k%d", i), i, gen)
		}
		c.Wait()
	}
	fill(0, 50)
	c.Invalidate("k1", "k2")
	if c.Full() {
		t.Fatal("Full with 48 of 100 entries used")
	}
	fill(50, 1000)
	if !c.Full() {
		t.Fatal("not Full after 1000 fills of a 100-entry cache")
	}
	c.Purge()
	if c.Full() {
		t.Fatal("still Full after Purge")
	}
	fill(0, 10)
	if c.Full() {
		t.Fatal("Full again with 10 entries after Purge")
	}
}

// Filling a key with the value it already holds, or is about to (a second load of the same
// object while the first fill is still queued), neither replaces nor refuses it: onExit is
// not called for a value that stays, and the cache is not taken for full.
func TestRefillWithSameValue(t *testing.T) {
	var mu sync.Mutex
	exited := map[*int]int{}
	c, err := New[*int](100, func(v *int) {
		mu.Lock()
		exited[v]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, b := new(int), new(int)
	c.Fill("a", a, c.Generation())
	if !c.Fill("a", a, c.Generation()) { // no Wait between: the first may still be queued
		t.Error("refilling a with its value: Fill reported the cache did not take it")
	}
	c.Wait()
	c.Fill("b", b, c.Generation())
	c.Wait()
	if !c.Fill("b", b, c.Generation()) { // the first has landed
		t.Error("refilling b with its value: Fill reported the cache did not take it")
	}
	c.Wait()
	mu.Lock()
	defer mu.Unlock()
	for k, v := range map[string]*int{"a": a, "b": b} {
		if got, ok := c.Get(k); !ok || got != v {
			t.Errorf("Get(%s) = %p, %v; want %p", k, got, ok, v)
		}
		if exited[v] > 0 {
			t.Errorf("onExit called %d times for %s's value, which is still cached", exited[v], k)
		}
	}
	if c.Full() {
		t.Error("Full after refilling two keys of a 100-entry cache")
	}
}
