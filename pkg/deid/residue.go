package deid

// A small Aho–Corasick automaton over ASCII-case-folded bytes: one pass over
// a value finds every original identifier in it, however many there are.
// Edges live in one slice as sibling lists, so building costs a few
// allocations whatever the number of patterns.

type acEdge struct {
	b       byte
	next    int32
	sibling int32
}

type acNode struct {
	first int32 // first edge, -1 when none
	fail  int32
	out   int32 // pattern ending here, -1 when none
	link  int32 // nearest node on the fail chain with an output, -1 when none
}

type matcher struct {
	nodes []acNode
	edges []acEdge
	root  [256]int32 // transitions from the root, where a scan spends most bytes
	queue []int32
}

func fold(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func (m *matcher) child(n int32, b byte) int32 {
	if n == 0 {
		return m.root[b]
	}
	for e := m.nodes[n].first; e >= 0; e = m.edges[e].sibling {
		if m.edges[e].b == b {
			return m.edges[e].next
		}
	}
	return -1
}

// newMatcher builds the automaton. Empty patterns are ignored.
func newMatcher(patterns []string) *matcher {
	m := &matcher{}
	m.build(patterns)
	return m
}

// build (re)builds the automaton, reusing the matcher's slices.
func (m *matcher) build(patterns []string) {
	size := 1
	for _, p := range patterns {
		size += len(p)
	}
	if cap(m.nodes) < size {
		m.nodes = make([]acNode, 0, size)
		m.edges = make([]acEdge, 0, size)
	}
	m.nodes = append(m.nodes[:0], acNode{first: -1, out: -1, link: -1})
	m.edges = m.edges[:0]
	for c := range m.root {
		m.root[c] = -1
	}
	for i, p := range patterns {
		n := int32(0)
		for j := 0; j < len(p); j++ {
			b := fold(p[j])
			c := m.child(n, b)
			if c < 0 {
				m.nodes = append(m.nodes, acNode{first: -1, out: -1, link: -1})
				c = int32(len(m.nodes) - 1)
				m.edges = append(m.edges, acEdge{b: b, next: c, sibling: m.nodes[n].first})
				m.nodes[n].first = int32(len(m.edges) - 1)
				if n == 0 {
					m.root[b] = c
				}
			}
			n = c
		}
		if n > 0 && m.nodes[n].out < 0 {
			m.nodes[n].out = int32(i)
		}
	}
	queue := m.queue[:0]
	for e := m.nodes[0].first; e >= 0; e = m.edges[e].sibling {
		queue = append(queue, m.edges[e].next)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for e := m.nodes[n].first; e >= 0; e = m.edges[e].sibling {
			c, b := m.edges[e].next, m.edges[e].b
			f := m.nodes[n].fail
			for {
				if x := m.child(f, b); x >= 0 {
					m.nodes[c].fail = x
					break
				}
				if f == 0 {
					m.nodes[c].fail = 0
					break
				}
				f = m.nodes[f].fail
			}
			fl := m.nodes[c].fail
			if m.nodes[fl].out >= 0 {
				m.nodes[c].link = fl
			} else {
				m.nodes[c].link = m.nodes[fl].link
			}
			queue = append(queue, c)
		}
	}
	m.queue = queue
}

// find calls hit with the index of every pattern found in b (possibly
// more than once).
func (m *matcher) find(b []byte, hit func(pattern int)) {
	if len(m.nodes) == 1 {
		return
	}
	n := int32(0)
	for _, c := range b {
		c = fold(c)
		if n == 0 {
			if n = m.root[c]; n < 0 {
				n = 0
				continue
			}
			for o := n; o > 0; {
				if m.nodes[o].out >= 0 {
					hit(int(m.nodes[o].out))
				}
				o = m.nodes[o].link
			}
			continue
		}
		for {
			if nx := m.child(n, c); nx >= 0 {
				n = nx
				break
			}
			if n == 0 {
				break
			}
			n = m.nodes[n].fail
		}
		for o := n; o > 0; {
			if m.nodes[o].out >= 0 {
				hit(int(m.nodes[o].out))
			}
			o = m.nodes[o].link
		}
	}
}
