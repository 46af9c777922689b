package deid

import "github.com/printreg/printreg/pkg/dicomx"

// Conveniences for the tests: the engine builds and pools these itself.

// newMatcher builds a matcher. Empty patterns are ignored.
func newMatcher(patterns []string) *matcher {
	m := &matcher{}
	m.build(patterns)
	return m
}

// find calls hit with the index of every pattern found in b (possibly
// more than once).
func (m *matcher) find(b []byte, hit func(pattern int)) { matchEach(m, b, hit) }

func newState(e *Engine, explain bool, syn dicomx.Syntax) *state {
	st := &state{}
	st.reset(e, explain, syn)
	return st
}
