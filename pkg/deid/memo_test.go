package deid

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

// countingDerive returns a derivation of k that counts its calls.
func countingDerive(calls map[string]int, kind byte, k string) func() string {
	return func() string {
		calls[string(kind)+k]++
		return "v" + string(kind) + k
	}
}

func TestMemo(t *testing.T) {
	long := strings.Repeat("1.2.", memoKeyMax/4+1)
	tests := []struct {
		name string
		sum  func(byte, string) uint64
		// gets are (kind, key) pairs in order; derived is how many times
		// each was derived in the end.
		gets    []string
		derived map[string]int
	}{
		{name: "met again", gets: []string{"u1.2.3", "u1.2.3", "u1.2.4", "u1.2.3"},
			derived: map[string]int{"u1.2.3": 1, "u1.2.4": 1}},
		{name: "kinds apart", gets: []string{"p123", "d123", "p123", "d123"},
			derived: map[string]int{"p123": 1, "d123": 1}},
		{name: "one hash for every key", sum: func(byte, string) uint64 { return 7 },
			gets:    []string{"u1", "u2", "u1", "u2", "p1", "u2"},
			derived: map[string]int{"u1": 2, "u2": 3, "p1": 1}},
		{name: "key too long to keep", gets: []string{"u" + long, "u" + long},
			derived: map[string]int{"u" + long: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &memo{sum: tc.sum}
			calls := map[string]int{}
			for _, g := range tc.gets {
				kind, k := g[0], g[1:]
				if v := c.get(kind, k, countingDerive(calls, kind, k)); v != "v"+g {
					t.Fatalf("get(%q) = %q, want %q", g, v, "v"+g)
				}
			}
			for k, n := range tc.derived {
				if calls[k] != n {
					t.Errorf("%q derived %d times, want %d", k, calls[k], n)
				}
			}
		})
	}
}

// TestMemoTurnsOver: the memo keeps the last memoMax keys, forgets the
// oldest first, and its index never outgrows its slots.
func TestMemoTurnsOver(t *testing.T) {
	c := &memo{}
	calls := map[string]int{}
	get := func(i int) {
		k := "1.2.826.0.1." + strconv.Itoa(i)
		if v := c.get('u', k, countingDerive(calls, 'u', k)); v != "vu"+k {
			t.Fatalf("get(%q) = %q", k, v)
		}
	}
	for i := range 3 * memoMax {
		get(i)
	}
	if len(c.index) > memoMax || len(c.slots) != memoMax {
		t.Fatalf("index %d entries, %d slots; want at most %d", len(c.index), len(c.slots), memoMax)
	}
	get(3*memoMax - 1) // among the last memoMax: kept
	get(0)             // the oldest: forgotten
	if n := calls["u1.2.826.0.1."+strconv.Itoa(3*memoMax-1)]; n != 1 {
		t.Errorf("a recent key derived %d times, want 1", n)
	}
	if n := calls["u1.2.826.0.1.0"]; n != 2 {
		t.Errorf("the oldest key derived %d times, want 2", n)
	}
}

// TestMemoConcurrent: goroutines sharing a memo, with few hashes (so
// entries collide), each get the value of their own key.
func TestMemoConcurrent(t *testing.T) {
	c := &memo{sum: func(kind byte, k string) uint64 { return uint64(len(k)) + uint64(kind) }}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := strconv.Itoa((i * (g + 1)) % 1500)
				if v := c.get('u', k, func() string { return "v" + k }); v != "v"+k {
					t.Errorf("get(%q) = %q", k, v)
					return
				}
			}
		})
	}
	wg.Wait()
}
