package assemble

import (
	"strconv"
	"sync"
	"testing"
)

func TestLRUForgetsLeastRecentlyUsed(t *testing.T) {
	c := newLRU(3)
	for _, k := range []string{"a", "b", "c"} {
		c.Store(k, k)
	}
	c.Load("a") // a is now the most recent; b the least
	c.Store("d", "d")
	if _, ok := c.Load("b"); ok {
		t.Error("b was kept over the bound")
	}
	for _, k := range []string{"a", "c", "d"} {
		if v, ok := c.Load(k); !ok || v != k {
			t.Errorf("%s: %v %v", k, v, ok)
		}
	}
	c.Store("a", "A")
	if v, _ := c.Load("a"); v != "A" || c.Len() != 3 {
		t.Errorf("update: %v, len %d", v, c.Len())
	}
}

// TestLRUBounded: however many keys pass through, the cache holds at most
// its bound (the worker's alias caches, over months of cases).
func TestLRUBounded(t *testing.T) {
	c := newLRU(100)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10000 {
				k := strconv.Itoa(g*10000 + i)
				c.Store(k, true)
				c.Load(k)
			}
		})
	}
	wg.Wait()
	if c.Len() != 100 || len(c.m) != 100 {
		t.Errorf("len %d, map %d, want 100", c.Len(), len(c.m))
	}
}
