package deid

// A small Aho–Corasick automaton over ASCII-case-folded bytes: one pass over
// a value finds every original identifier in it, however many there are.

type acEdge struct {
	b    byte
	next int32
}

type acNode struct {
	edges []acEdge
	fail  int32
	out   int32 // pattern ending here, -1 when none
	link  int32 // nearest node on the fail chain with an output, -1 when none
}

type matcher struct {
	nodes    []acNode
	patterns []string
}

func fold(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func (m *matcher) child(n int32, b byte) int32 {
	for _, e := range m.nodes[n].edges {
		if e.b == b {
			return e.next
		}
	}
	return -1
}

// newMatcher builds the automaton. Empty patterns are ignored.
func newMatcher(patterns []string) *matcher {
	m := &matcher{nodes: []acNode{{out: -1, link: -1}}, patterns: patterns}
	for i, p := range patterns {
		if p == "" {
			continue
		}
		n := int32(0)
		for j := 0; j < len(p); j++ {
			b := fold(p[j])
			c := m.child(n, b)
			if c < 0 {
				m.nodes = append(m.nodes, acNode{out: -1, link: -1})
				c = int32(len(m.nodes) - 1)
				m.nodes[n].edges = append(m.nodes[n].edges, acEdge{b, c})
			}
			n = c
		}
		if m.nodes[n].out < 0 {
			m.nodes[n].out = int32(i)
		}
	}
	queue := make([]int32, 0, len(m.nodes))
	for _, e := range m.nodes[0].edges {
		m.nodes[e.next].fail = 0
		queue = append(queue, e.next)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, e := range m.nodes[n].edges {
			f := m.nodes[n].fail
			for {
				if c := m.child(f, e.b); c >= 0 {
					m.nodes[e.next].fail = c
					break
				}
				if f == 0 {
					m.nodes[e.next].fail = 0
					break
				}
				f = m.nodes[f].fail
			}
			fl := m.nodes[e.next].fail
			if m.nodes[fl].out >= 0 {
				m.nodes[e.next].link = fl
			} else {
				m.nodes[e.next].link = m.nodes[fl].link
			}
			queue = append(queue, e.next)
		}
	}
	return m
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
		for o := n; o > 0; o = m.nodes[o].link {
			if m.nodes[o].out >= 0 {
				hit(int(m.nodes[o].out))
			}
			if m.nodes[o].link < 0 {
				break
			}
		}
	}
}
