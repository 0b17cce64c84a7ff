package cache

import (
	"fmt"
	"testing"
)

func TestFillAndGet(t *testing.T) {
	c, err := New[int](100)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Fill("a", 1, c.Generation())
	c.Wait()
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v; want 1, true", v, ok)
	}
}

// A fill whose read started before an invalidation never lands, and none queued before it
// shows after it returns.
func TestInvalidateWinsOverFills(t *testing.T) {
	c, err := New[int](100_000)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	stale := c.Generation()
	c.Invalidate("a")
	c.Fill("a", 1, stale)
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
	c, err := New[int](100)
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
	c, err := New[int](100)
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
	c.Fill("b", 2, c.Generation())
	c.Invalidate("a")
	c.Purge()
	c.Wait()
}

func TestNewRejectsZeroSize(t *testing.T) {
	if _, err := New[int](0); err == nil {
		t.Fatal("New(0) succeeded")
	}
}
