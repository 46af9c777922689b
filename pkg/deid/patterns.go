package deid

import (
	"strings"
	"unicode/utf8"

	"github.com/printreg/printreg/pkg/dicomx"
)

// minPattern is the shortest original value the residue scan looks for:
// shorter strings occur by chance in any header.
const minPattern = 4

// codeAttributes never become residue patterns: they are coded facts, and
// the same codes are legitimately kept elsewhere in the object.
var codeAttributes = map[dicomx.Tag]bool{
	0x00080100: true, 0x00080102: true, 0x00080103: true, 0x00080104: true,
	0x00080105: true, 0x00080106: true, 0x0008010F: true, 0x00080119: true, 0x00080120: true,
	0x0040A040: true, // Value Type
	0x00080060: true, // Modality
}

// maxPattern bounds a residue pattern: a copy of a longer value starts with
// its first maxPattern bytes, and a huge removed value (a hostile object's
// text) must not be copied, folded and searched for whole.
const maxPattern = 1024

// maxPatternSource is how much of a removed value patterns are taken from:
// enough for the first maxPattern bytes of each of its values.
const maxPatternSource = 16 << 10

// addPattern records a decoded original value, in the scan's folded form.
func (st *state) addPattern(s string, from pos) {
	s = trimPad(s)
	if len(s) > maxPattern {
		s = strings.Clone(s[:maxPattern])
		for len(s) > 0 && !utf8.RuneStart(s[len(s)-1]) {
			s = s[:len(s)-1]
		}
		if len(s) > 0 {
			s = s[:len(s)-1] // the last rune may be cut
		}
	}
	s = folded(s)
	if len(s) < minPattern {
		return
	}
	st.patterns = append(st.patterns, pattern{text: s, from: from})
}

// addPatterns records the original value(s) of an element that is removed,
// replaced or cleaned: text whole and by value, person names also by
// component, UIDs whole, dates in the forms people write them. Sequences
// contribute every value inside.
func (st *state) addPatterns(el *dicomx.Element, vr dicomx.VR, path pos) {
	if el.VR == dicomx.VRSQ {
		p := path.path()
		for i, it := range el.Items {
			st.inItem(it, func() { st.addItemPatterns(it, itemPath(p, i)) })
		}
		return
	}
	if codeAttributes[el.Tag] || len(el.Value) == 0 {
		return
	}
	if len(el.Value) > maxPatternSource {
		// Patterns are prefixes of at most maxPattern bytes: a prefix of the
		// value gives them all without copying a huge value.
		short := *el
		short.Value = el.Value[:maxPatternSource]
		el = &short
	}
	switch {
	case vr == dicomx.VRPN:
		for _, v := range st.textValues(el) {
			st.addPattern(v, path)
			st.addPattern(NormalizeName(v), path)
			for _, c := range strings.FieldsFunc(v, func(r rune) bool { return r == '^' || r == '=' }) {
				st.addPattern(c, path)
			}
		}
	case vr == dicomx.VRDA || vr == dicomx.VRDT:
		for _, v := range el.Strs() {
			// The same date again adds the same patterns, which the scan
			// keeps once, from where they were first seen.
			if v == st.datePatterns {
				continue
			}
			st.datePatterns = v
			for _, part := range strings.Split(v, "-") {
				if len(part) >= 8 && digits(part[:8]) {
					d := part[:8]
					y, m, dd := d[:4], d[4:6], d[6:8]
					st.addPattern(d, path)
					st.addPattern(y+"-"+m+"-"+dd, path)
					st.addPattern(y+"."+m+"."+dd, path)
					st.addPattern(y+"/"+m+"/"+dd, path)
					st.addPattern(dd+"."+m+"."+y, path)
					st.addPattern(m+"/"+dd+"/"+y, path)
					st.addPattern(y+" "+m+" "+dd, path)
					st.addPattern(dd+" "+m+" "+y, path)
					if mi := atoi2(m); mi >= 1 && mi <= 12 {
						mon := monthAbbr[mi-1]
						st.addPattern(dd+" "+mon+" "+y, path)
						st.addPattern(dd+"-"+mon+"-"+y, path)
						st.addPattern(mon+" "+dd+" "+y, path)
					}
				}
			}
		}
	case vr == dicomx.VRUI:
		for _, v := range el.Strs() {
			if !WellKnownUID(v) {
				st.addPattern(v, path)
			}
		}
	case vr == dicomx.VRTM || vr == dicomx.VRCS || vr == dicomx.VRDS || vr == dicomx.VRIS:
		// Times, codes and numbers are not searched: they recur by chance.
	case vr.IsText():
		s := st.text(el)
		st.addPattern(s, path)
		if vr != dicomx.VRLT && vr != dicomx.VRST && vr != dicomx.VRUT && vr != dicomx.VRUR {
			for _, v := range st.textValues(el) {
				st.addPattern(v, path)
			}
		}
	}
}

func (st *state) addItemPatterns(it *dicomx.Dataset, path *epath) {
	for _, c := range it.Elements {
		if c.Tag.IsPrivateCreator() || st.eng.allow[c.Tag] {
			continue
		}
		vr := c.VR
		if vr == dicomx.VRUN && !c.Tag.IsPrivate() {
			if d, ok := dicomx.Lookup(c.Tag); ok {
				vr = d.VR
			}
		}
		if vr == dicomx.VRUN || vr.IsBinary() {
			continue
		}
		st.addPatterns(c, vr, pos{path, c.Tag})
	}
}

var monthAbbr = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// atoi2 reads two ASCII digits.
func atoi2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }
