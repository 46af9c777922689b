package deid

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// The Aho–Corasick automaton the residue scan used before the prefix-hash
// matcher: the reference the matcher must agree with, occurrence for
// occurrence and in the order of its first reported hit.

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

type acMatcher struct {
	nodes []acNode
	edges []acEdge
	root  [256]int32 // transitions from the root, where a scan spends most bytes
	queue []int32
	pats  []string
}

func (m *acMatcher) child(n int32, b byte) int32 {
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

// build (re)builds the automaton, reusing the matcher's slices.
func (m *acMatcher) build(patterns []string) {
	m.pats = patterns
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
func (m *acMatcher) find(b []byte, hit func(pattern int)) {
	if len(m.nodes) == 1 {
		return
	}
	n := int32(0)
	for i, c := range b {
		c = fold(c)
		hit := func(p int) {
			// Short numbers count only as whole numbers (see wholeAt).
			if e := i + 1; !shortNumber(m.pats[p]) || wholeAt(b, e-len(m.pats[p]), e) {
				hit(p)
			}
		}
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

func newACMatcher(patterns []string) *acMatcher {
	m := &acMatcher{}
	m.build(patterns)
	return m
}

// acFirst is the first hit that ok accepts, in the automaton's order.
func acFirst(m *acMatcher, b []byte, ok func(int) bool) (int, bool) {
	first, found := 0, false
	m.find(b, func(i int) {
		if !found && ok(i) {
			first, found = i, true
		}
	})
	return first, found
}

// compareMatchers checks the matcher against the automaton on one input.
func compareMatchers(t *testing.T, patterns []string, text []byte, sel byte) {
	t.Helper()
	var want, got []int
	newACMatcher(patterns).find(text, func(i int) { want = append(want, i) })
	m := newMatcher(patterns)
	m.find(text, func(i int) { got = append(got, i) })
	matchEach(m, string(text), func(i int) { got = append(got, i) })
	want = append(want, want...)
	sort.Ints(want)
	sort.Ints(got)
	if len(got) != len(want) {
		t.Fatalf("patterns %q in %q: hits %v, automaton %v", patterns, text, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("patterns %q in %q: hits %v, automaton %v", patterns, text, got, want)
		}
	}
	ok := func(i int) bool { return sel == 0 || (i+int(sel))%3 != 0 }
	wi, wok := acFirst(newACMatcher(patterns), text, ok)
	gi, gok := m.first(text, ok)
	if wi != gi || wok != gok {
		t.Fatalf("patterns %q in %q: first %d %v, automaton %d %v", patterns, text, gi, gok, wi, wok)
	}
}

func TestMatcherAgreesWithAutomaton(t *testing.T) {
	cases := []struct {
		pats []string
		text string
	}{
		{[]string{"john", "DOE", "ohn^d", "19610723", "he"}, "xx JOHN^DOE yy 19610723 she"},
		{[]string{"abcd", "bcd", "abcdef", "cdef", "ABCD"}, "xxabcdefabcd"},
		{[]string{"2.25.1234", "2.25.12345", "25.123"}, "2.25.12345.2.25.1234"},
		{[]string{"aaaa", "aaaaa", "aa"}, "aaaaaaa"},
		{[]string{"SMITH", "Smith", "smith^j"}, "Dr SMITH^JOHN smith"},
		{[]string{"", "abcd"}, "abcd"},
		{nil, "abcd"},
		{[]string{"abcdefgh"}, "abc"},
	}
	for _, c := range cases {
		for sel := byte(0); sel < 4; sel++ {
			compareMatchers(t, c.pats, []byte(c.text), sel)
		}
	}
	// Small alphabets make overlapping and nested occurrences common.
	rng := rand.New(rand.NewPCG(7, 11))
	word := func(max int) string {
		const alphabet = "abAB."
		b := make([]byte, 1+rng.IntN(max))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for n := 0; n < 3000; n++ {
		pats := make([]string, 1+rng.IntN(8))
		for i := range pats {
			pats[i] = word(7)
		}
		compareMatchers(t, pats, []byte(word(40)), byte(n%4))
	}
}

// FuzzMatcher: the matcher reports what the automaton reports.
func FuzzMatcher(f *testing.F) {
	f.Add([]byte("john\x00DOE\x00ohn^d\x00he"), []byte("xx JOHN^DOE yy she"), byte(1))
	f.Add([]byte("abcd\x00bcd\x00abcdef\x00cdef"), []byte("xxabcdefabcd"), byte(2))
	f.Add([]byte("20170314\x002017-03-14\x002.25.1"), []byte("2.25.120170314"), byte(0))
	f.Fuzz(func(t *testing.T, pats, text []byte, sel byte) {
		var patterns []string
		for _, p := range splitZero(pats) {
			if len(patterns) == 64 {
				break
			}
			patterns = append(patterns, p)
		}
		compareMatchers(t, patterns, text, sel)
	})
}

func splitZero(b []byte) []string {
	var out []string
	start := 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}
