package deid

import "io"

// The residue scan looks for a few dozen original values (names, IDs,
// dates, UIDs of one object) in a few kilobytes of output values. A matcher
// indexes the patterns by their first k bytes (k is the shortest pattern,
// at most 4; the scan's patterns are all at least minPattern long) in a
// small hash table: a scan reads each k-byte window of a value once, looks
// it up, and compares the rest of a pattern only when one starts with that
// window. For this size of problem it builds in a fraction of the time an
// Aho–Corasick automaton takes and scans as fast; it reports the same
// occurrences, all case-insensitively for ASCII.
//
// A short all-digit pattern (a 4- or 5-digit study ID, say) counts only as a
// whole number: an occurrence with a digit right before or after it is part
// of a longer number (a measurement, a code, a year in a date) and no copy.

const matchHashBits = 9

type matchEntry struct {
	key  uint32 // the pattern's first k folded bytes
	next int32  // next entry of the bucket, 1-based; 0 ends the chain
	idx  int32  // pattern reported: the first of identical folded patterns
	off  int32  // folded pattern text in matcher.text
	n    int32
	// whole: the pattern is a short number, matched only as a whole token.
	whole bool
}

// maxWholeDigits is the length below which an all-digit pattern matches only
// as a whole number. Six digits and more are rare enough by chance that a
// copy inside a longer digit run is still reported.
const maxWholeDigits = 6

func shortNumber(p string) bool { return len(p) < maxWholeDigits && digits(p) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// wholeAt reports whether b[s:e] stands alone as a number: no digit touches it.
func wholeAt[T string | []byte](b T, s, e int) bool {
	return (s == 0 || !isDigit(b[s-1])) && (e >= len(b) || !isDigit(b[e]))
}

type matcher struct {
	k    int
	mask uint32
	head [1 << matchHashBits]int32 // first entry of each bucket, 1-based
	ents []matchEntry
	text []byte // folded patterns, one after another
}

func fold(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func matchHash(key uint32) uint32 { return key * 0x9E3779B1 >> (32 - matchHashBits) }

// build (re)builds the matcher, reusing its slices. Empty patterns are
// ignored.
func (m *matcher) build(patterns []string) {
	clear(m.head[:])
	m.ents, m.text = m.ents[:0], m.text[:0]
	m.k = 4
	for _, p := range patterns {
		if p != "" && len(p) < m.k {
			m.k = len(p)
		}
	}
	m.mask = uint32(1)<<(8*m.k) - 1
	if m.k == 4 {
		m.mask = ^uint32(0)
	}
	for i, p := range patterns {
		if p == "" {
			continue
		}
		off := len(m.text)
		var key uint32
		for j := 0; j < len(p); j++ {
			c := fold(p[j])
			m.text = append(m.text, c)
			if j < m.k {
				key = key<<8 | uint32(c)
			}
		}
		folded := m.text[off:]
		h := matchHash(key)
		dup := false
		for e := m.head[h]; e > 0; e = m.ents[e-1].next {
			x := &m.ents[e-1]
			if x.key == key && string(m.text[x.off:x.off+x.n]) == string(folded) {
				dup = true
				break
			}
		}
		if dup {
			m.text = m.text[:off]
			continue
		}
		m.ents = append(m.ents, matchEntry{key: key, next: m.head[h], idx: int32(i), off: int32(off), n: int32(len(p)), whole: shortNumber(p)})
		m.head[h] = int32(len(m.ents))
	}
}

// matchEach calls hit for every occurrence of a pattern in b.
func matchEach[T string | []byte](m *matcher, b T, hit func(pattern int)) {
	if len(m.ents) == 0 || len(b) < m.k {
		return
	}
	var w uint32
	for j := 0; j < len(b); j++ {
		w = (w<<8 | uint32(fold(b[j]))) & m.mask
		if j+1 < m.k {
			continue
		}
		s := j + 1 - m.k
		for e := m.head[matchHash(w)]; e > 0; {
			x := &m.ents[e-1]
			if x.key == w && matchRest(m, b[s:], x) && (!x.whole || wholeAt(b, s, s+int(x.n))) {
				hit(int(x.idx))
			}
			e = x.next
		}
	}
}

// matchRest reports whether b starts with the pattern of x, whose first k
// bytes are known to match.
func matchRest[T string | []byte](m *matcher, b T, x *matchEntry) bool {
	n := int(x.n)
	if n > len(b) {
		return false
	}
	p := m.text[int(x.off)+m.k : int(x.off)+n]
	b = b[m.k:n]
	for i := range p {
		if fold(b[i]) != p[i] {
			return false
		}
	}
	return true
}

// first returns the first occurrence in b of a pattern that ok accepts, in
// the order an Aho–Corasick scan reports them: the earliest end, and of
// those ending there the longest.
func (m *matcher) first(b []byte, ok func(pattern int) bool) (int, bool) {
	if len(m.ents) == 0 || len(b) < m.k {
		return 0, false
	}
	best, bestEnd := -1, len(b)+1
	var w uint32
	for j := 0; j < len(b); j++ {
		w = (w<<8 | uint32(fold(b[j]))) & m.mask
		if j+1 < m.k {
			continue
		}
		s := j + 1 - m.k
		if s+m.k > bestEnd {
			break // whatever starts here ends after the best hit
		}
		for e := m.head[matchHash(w)]; e > 0; {
			x := &m.ents[e-1]
			// A later start ending at the same place is shorter: only an
			// earlier end wins.
			if end := s + int(x.n); x.key == w && end < bestEnd && matchRest(m, b[s:], x) && (!x.whole || wholeAt(b, s, end)) && ok(int(x.idx)) {
				best, bestEnd = int(x.idx), end
			}
			e = x.next
		}
	}
	if best < 0 {
		return 0, false
	}
	return best, true
}

// firstIn returns a pattern that ok accepts occurring at a start in
// [from, to) of b; b around that range gives the whole-number context.
func (m *matcher) firstIn(b []byte, from, to int, ok func(pattern int) bool) (int, bool) {
	if len(m.ents) == 0 {
		return 0, false
	}
	for s := from; s < to && s+m.k <= len(b); s++ {
		var w uint32
		for j := 0; j < m.k; j++ {
			w = w<<8 | uint32(fold(b[s+j]))
		}
		for e := m.head[matchHash(w)]; e > 0; {
			x := &m.ents[e-1]
			if x.key == w && matchRest(m, b[s:], x) && (!x.whole || wholeAt(b, s, s+int(x.n))) && ok(int(x.idx)) {
				return int(x.idx), true
			}
			e = x.next
		}
	}
	return 0, false
}

// maxLen is the length of the longest pattern.
func (m *matcher) maxLen() int {
	n := 0
	for i := range m.ents {
		n = max(n, int(m.ents[i].n))
	}
	return n
}

// streamScan passes a value through to w while searching it for the
// matcher's patterns, so that a kept value too large to hold (an ICC
// profile, a private blob) is scanned as it is copied. It carries the last
// bytes of each write over to the next, so an occurrence across two writes
// is found, with one byte of context either side for whole numbers.
type streamScan struct {
	w     io.Writer
	m     *matcher
	ok    func(int) bool
	max   int
	buf   []byte // a byte of context, then bytes whose starts are not yet checked
	done  int    // starts in buf before done are checked
	hit   int
	found bool
}

func newStreamScan(w io.Writer, m *matcher, ok func(int) bool) *streamScan {
	return &streamScan{w: w, m: m, ok: ok, max: m.maxLen()}
}

func (s *streamScan) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if !s.found {
		s.buf = append(s.buf, p[:n]...)
		// Starts whose pattern and right-hand context lie in buf are final.
		if to := len(s.buf) - s.max - 1; to > s.done {
			s.hit, s.found = s.m.firstIn(s.buf, s.done, to, s.ok)
			keep := to - 1 // one byte of left context
			s.buf = append(s.buf[:0], s.buf[keep:]...)
			s.done = 1
		}
	}
	return n, err
}

// finish checks the last starts, with the end of the value as their right
// boundary, and reports the pattern found, if any.
func (s *streamScan) finish() (int, bool) {
	if !s.found {
		s.hit, s.found = s.m.firstIn(s.buf, s.done, len(s.buf), s.ok)
	}
	return s.hit, s.found
}
