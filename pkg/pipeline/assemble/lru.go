package assemble

import (
	"container/list"
	"sync"
)

// lru is a bounded map that forgets its least recently used entries, for
// the caches a worker keeps for months: they speed up the cases being
// written now and must not grow with every case ever seen. Its methods
// match sync.Map's, which it replaces. Safe for concurrent use.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recent
	m     map[string]*list.Element
}

type lruEntry struct {
	key string
	val any
}

// newLRU returns a cache of at most max entries.
func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), m: make(map[string]*list.Element)}
}

// Load returns the value of key and marks it used.
func (c *lru) Load(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).val, true
}

// Store sets the value of key, forgetting the least recently used entry
// when the cache is full.
func (c *lru) Store(key string, val any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		e.Value.(*lruEntry).val = val
		c.order.MoveToFront(e)
		return
	}
	c.m[key] = c.order.PushFront(&lruEntry{key: key, val: val})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.m, old.Value.(*lruEntry).key)
	}
}

// Len is the number of entries.
func (c *lru) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
