package deid

import (
	"hash/maphash"
	"sync"
)

// memo remembers recent keyed derivations (UIDs of a study and series, a
// patient's pseudonym and offset), which the next objects of the same
// study need again. Each SOP Instance UID is seen once, so the memo turns
// over with every object: its entries live in one array allocated on first
// use and reused in turn, indexed by a hash, so that a worker handling
// objects for months does not scatter a thousand small long-lived strings
// among the short-lived ones (which keeps heap spans in use long after the
// objects around them are gone).
type memo struct {
	mu    sync.Mutex
	seed  maphash.Seed
	index map[uint64]int32 // hash of kind and key → slot
	slots []memoSlot
	next  int // the slot reused next: the oldest entry
	// sum hashes a kind and key; nil is maphash under seed (tests force
	// collisions with their own).
	sum func(kind byte, k string) uint64
}

// memoMax bounds the memo: the UIDs of the studies being de-identified now
// repeat (study, series, frame of reference); each SOP Instance UID is
// seen once.
const memoMax = 1024

// memoKeyMax and memoValueMax are the longest key and value a slot holds
// (a UID is at most 64 bytes); a longer one is derived every time.
const (
	memoKeyMax   = 96
	memoValueMax = 64
)

type memoSlot struct {
	hash       uint64
	used       bool
	kind       byte
	klen, vlen uint8
	k          [memoKeyMax]byte
	v          [memoValueMax]byte
}

func (s *memoSlot) holds(kind byte, k string) bool {
	return s.used && s.kind == kind && string(s.k[:s.klen]) == k
}

func (c *memo) hash(kind byte, k string) uint64 {
	if c.sum != nil {
		return c.sum(kind, k)
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteByte(kind)
	h.WriteString(k)
	return h.Sum64()
}

// get returns the value remembered for kind and k, or derives, remembers
// and returns it.
func (c *memo) get(kind byte, k string, derive func() string) string {
	if len(k) > memoKeyMax {
		return derive()
	}
	c.mu.Lock()
	if c.slots == nil {
		c.seed = maphash.MakeSeed()
		c.index = make(map[uint64]int32, memoMax)
		c.slots = make([]memoSlot, memoMax)
	}
	h := c.hash(kind, k)
	if i, ok := c.index[h]; ok && c.slots[i].holds(kind, k) {
		v := string(c.slots[i].v[:c.slots[i].vlen])
		c.mu.Unlock()
		return v
	}
	c.mu.Unlock()
	v := derive()
	if len(v) > memoValueMax {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[h]; ok && c.slots[i].holds(kind, k) {
		return v // another goroutine derived it meanwhile
	}
	s := &c.slots[c.next]
	if s.used && c.index[s.hash] == int32(c.next) {
		delete(c.index, s.hash)
	}
	*s = memoSlot{hash: h, used: true, kind: kind, klen: uint8(len(k)), vlen: uint8(len(v))}
	copy(s.k[:], k)
	copy(s.v[:], v)
	// A different key of the same hash loses its index entry: it is only
	// derived again.
	c.index[h] = int32(c.next)
	c.next = (c.next + 1) % len(c.slots)
	return v
}
