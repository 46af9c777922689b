package deid

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/printreg/printreg/pkg/dicomx"
)

// processList applies the profile to the elements of one dataset level and
// returns those that stay. Private creators stay only when an element of
// their block does.
func (st *state) processList(els []*dicomx.Element, path *epath, sc *scope) []*dicomx.Element {
	return st.processListSR(els, path, sc, false)
}

func (st *state) processListSR(els []*dicomx.Element, path *epath, sc *scope, inSR bool) []*dicomx.Element {
	out := make([]*dicomx.Element, 0, len(els))
	var creators []*dicomx.Element
	for _, el := range els {
		if el.Tag.IsPrivateCreator() {
			sc.creators[blockKey(el.Tag)] = el.Str()
			creators = append(creators, el)
			out = append(out, el)
			continue
		}
		if st.processOne(el, pos{path, el.Tag}, sc, inSR) {
			out = append(out, el)
		}
	}
	if len(creators) == 0 {
		return out
	}
	drop := map[*dicomx.Element]bool{}
	for _, c := range creators {
		k := blockKey(c.Tag)
		p := pos{path, c.Tag}
		if sc.used[k] {
			st.note(p, c, dicomx.VRLO, decision{v: vKeep, rule: "private creator of a kept block"})
			continue
		}
		drop[c] = true
		sc.pruned[k] = true
		st.note(p, c, dicomx.VRLO, decision{v: vRemove, rule: "private creator of a block with nothing kept"})
	}
	res := out[:0]
	for _, el := range out {
		if !drop[el] {
			res = append(res, el)
		}
	}
	return res
}

// processOne decides and applies the verdict for one element, recursing into
// sequences. It reports whether the element stays.
func (st *state) processOne(el *dicomx.Element, path pos, sc *scope, inSR bool) bool {
	vr := st.effVR(el, sc)
	if el.VR == dicomx.VRUN && vr == dicomx.VRSQ && el.Value != nil {
		if !st.parseUNSequence(el) {
			d := decision{v: vRemove, rule: "UN holding a sequence that does not parse as implicit VR little endian"}
			st.note(path, el, vr, d)
			return false
		}
	}
	d := st.decide(el, vr, sc, inSR)
	keep := st.apply(el, vr, d, path, sc, inSR)
	if keep && el.Tag.IsPrivate() && !el.Tag.IsPrivateCreator() {
		sc.used[blockKey(el.Tag)] = true
	}
	return keep
}

// decide chooses the verdict for an element from Table E.1-1, the options,
// the combined-code resolution and, for attributes the table does not name,
// the VR.
func (st *state) decide(el *dicomx.Element, vr dicomx.VR, sc *scope, inSR bool) decision {
	t := el.Tag
	g := t.Group()
	on := &st.eng.on
	p := &st.eng.prof
	switch {
	case g == 0x0000:
		return decision{v: vRemove, rule: "command group element in a stored object"}
	case g == 0x0002:
		return decision{v: vRemove, rule: "file meta element inside the dataset (the file meta is rebuilt)"}
	case t.IsGroupLength():
		return decision{v: vRemove, rule: "group length (recomputed by the writer)"}
	case t == tagPatientIdentityRemoved || t == tagDeidentificationMethod || t == tagDeidentificationMethodSeq || t == tagLongitudinalModified:
		return decision{v: vRemove, rule: "provenance attribute, rewritten (PS3.15 E.1.1)"}
	case t == tagTrailingPadding:
		return decision{v: vRemove, rule: "trailing padding may hold earlier content"}
	case t == tagEncryptedAttributes:
		return decision{v: vRemove, rule: "encrypted original attributes"}
	}
	if t.IsPrivate() {
		return st.decidePrivate(el, vr, sc)
	}
	if isCurveGroup(g) {
		w := wild(wildCurve)
		a, opt := rowAction(w.Basic, &w.Opt, on)
		return decision{v: vRemove, rule: st.ruleText("E.1-1 (50xx,xxxx)", "", w.Basic, a, opt, "curves are removed whole; Clean Graphics has no curve cleaner")}
	}
	if isOverlayGroup(g) {
		k := wildOverlayData
		if t.Element() == 0x4000 {
			k = wildOverlayComments
		}
		w := wild(k)
		a, opt := rowAction(w.Basic, &w.Opt, on)
		extra := "the whole overlay group goes with its data"
		if t.Element() == 0x3000 || t.Element() == 0x4000 {
			extra = "Clean Graphics has no overlay cleaner"
		}
		return decision{v: vRemove, rule: st.ruleText("E.1-1 (60xx,", t.String()[6:10]+")", w.Basic, a, opt, extra)}
	}
	if row := lookupRow(t); row != nil {
		return st.decideRow(el, vr, row, inSR)
	}
	// Not named by Table E.1-1: by VR.
	switch {
	case vr == dicomx.VRSQ:
		return decision{v: vKeep, rule: "not in E.1-1: sequence processed item by item"}
	case vr == dicomx.VRUI:
		if classUID(t) {
			return decision{v: vKeep, rule: "not in E.1-1: class, syntax or scheme UID"}
		}
		if p.RetainUIDs {
			return decision{v: vKeep, rule: "not in E.1-1: UID; Retain UIDs"}
		}
		return decision{v: vRemap, rule: "not in E.1-1: UID remapped (well-known UIDs kept)"}
	case vr == dicomx.VRDA || vr == dicomx.VRDT:
		switch {
		case dateAllowlist[t]:
			return decision{v: vKeep, rule: "not in E.1-1: version date of a coding resource"}
		case p.RetainFullDates:
			return decision{v: vKeep, rule: "not in E.1-1: date; Retain Full Dates"}
		case p.RetainModifiedDates:
			return decision{v: vShift, fallback: vRemove, rule: "not in E.1-1: date; Modified Dates"}
		}
		return decision{v: vRemove, rule: "not in E.1-1: date removed"}
	case vr == dicomx.VRTM:
		if p.RetainFullDates || p.RetainModifiedDates {
			return decision{v: vKeep, rule: "not in E.1-1: time of day kept (dates move by whole days)"}
		}
		return decision{v: vRemove, rule: "not in E.1-1: time removed"}
	case vr == dicomx.VRAS:
		if p.RetainPatientCharacteristics {
			return decision{v: vCapAge, fallback: vRemove, rule: "not in E.1-1: age; Retain Patient Characteristics, over 89 → 090Y"}
		}
		return decision{v: vRemove, rule: "not in E.1-1: age removed"}
	case t == tagTextValue && inSR:
		if p.CleanStructuredContent {
			return decision{v: vClean, fallback: vDummy, rule: "SR text value; Clean Structured Content: safe vocabulary only"}
		}
		return decision{v: vDummy, rule: "SR text value inside Content Sequence (D): dummy"}
	case vr.IsText() && (vr.IsFreeText() || vr == dicomx.VRAE || vr == dicomx.VRUR || vr == dicomx.VRPN):
		if st.eng.allow[t] {
			return decision{v: vCheckText, fallback: vRemove, rule: "not in E.1-1: allowlisted text, kept unless it names this patient"}
		}
		if vr != dicomx.VRPN && vr != dicomx.VRAE && vr != dicomx.VRUR && p.CleanDescriptors {
			return decision{v: vClean, fallback: vRemove, rule: "not in E.1-1: free text; Clean Descriptors: safe vocabulary only"}
		}
		return decision{v: vRemove, rule: st.why("not in E.1-1: free text (", vr.String(), ") removed")}
	case vr == dicomx.VRUN:
		return decision{v: vRemove, rule: "not in E.1-1: unknown attribute with unknown VR"}
	}
	return decision{v: vKeep, rule: st.why("not in E.1-1: ", vr.String(), " value kept")}
}

// decideRow applies a Table E.1-1 row.
func (st *state) decideRow(el *dicomx.Element, vr dicomx.VR, row *tableRow, inSR bool) decision {
	t := el.Tag
	on := &st.eng.on
	a, opt := rowAction(row.Basic, &row.Opt, on)
	switch t {
	case tagPatientID, tagPatientName:
		return decision{v: vPseudonym, rule: st.ruleText("E.1-1 ", row.Name, row.Basic, a, opt, "keyed patient pseudonym (a D value)")}
	case tagEncapsulatedDocument:
		if st.eng.prof.KeepModelGeometry && dicomx.EncapsulatedModelFormat(st.sopClass) != "" {
			return decision{v: vModel, rule: st.ruleText("E.1-1 ", row.Name, row.Basic, a, opt, "model geometry kept, its free text blanked")}
		}
		return decision{v: vDocDummy, rule: st.ruleText("E.1-1 ", row.Name, row.Basic, a, opt, "")}
	case tagPatientAge:
		if a == ActK {
			return decision{v: vCapAge, fallback: vRemove, rule: st.ruleText("E.1-1 ", row.Name, row.Basic, a, opt, "ages over 89 → 090Y")}
		}
	}
	extra := ""
	if r, why := resolveCombined(t, a); why != "" {
		a, extra = r, why
	}
	rule := st.ruleText("E.1-1 ", row.Name, row.Basic, a, opt, extra)
	basicFallback := func() verdict {
		b, _ := resolveCombined(t, row.Basic)
		return actionVerdict(b, vr)
	}
	switch a {
	case ActC:
		switch {
		case opt == optModifiedDates && (vr == dicomx.VRDA || vr == dicomx.VRDT):
			return decision{v: vShift, fallback: basicFallback(), rule: rule}
		case opt == optModifiedDates && vr == dicomx.VRTM:
			return decision{v: vKeep, rule: rule + "; time of day kept (dates move by whole days)"}
		case opt == optModifiedDates && t == tagTimezoneOffset:
			return decision{v: vKeep, rule: rule + "; time zone kept (dates move by whole days)"}
		case vr == dicomx.VRSQ:
			if t == tagContentSequence {
				return decision{v: vStructured, rule: rule + "; content items per E.3.4-1"}
			}
			return decision{v: vKeep, rule: rule + "; items cleaned"}
		case vr == dicomx.VRCS && opt == optCleanDescriptors:
			return decision{v: vKeep, rule: rule + "; a coded string carries defined terms, not free text"}
		case vr.IsText() && vr != dicomx.VRAE && vr != dicomx.VRPN && vr != dicomx.VRUI && (opt == optCleanDescriptors || opt == optPatientChars):
			return decision{v: vClean, fallback: basicFallback(), rule: rule + "; safe vocabulary only"}
		}
		// No cleaner fits (AE titles, overlays …): the Basic action.
		return decision{v: basicFallback(), rule: rule + "; no cleaner for this VR, Basic action"}
	case ActK:
		if vr == dicomx.VRAS {
			return decision{v: vCapAge, fallback: vRemove, rule: rule}
		}
	}
	return decision{v: actionVerdict(a, vr), rule: rule}
}

// actionVerdict maps a resolved single action to a verdict.
func actionVerdict(a Action, vr dicomx.VR) verdict {
	switch a {
	case ActK:
		return vKeep
	case ActX:
		return vRemove
	case ActZ:
		return vEmpty
	case ActD:
		if vr == dicomx.VRUI {
			return vRemap
		}
		return vDummy
	case ActU:
		return vRemap
	}
	return vRemove
}

// decidePrivate handles odd groups: orphans and unknown blocks are removed;
// with Retain Safe Private, Table E.3.10-1 elements are kept (matched by
// group, creator and low byte), their UIDs and dates still processed.
func (st *state) decidePrivate(el *dicomx.Element, vr dicomx.VR, sc *scope) decision {
	t := el.Tag
	w := wild(wildPrivate)
	a, opt := rowAction(w.Basic, &w.Opt, &st.eng.on)
	const src = "E.1-1 private attributes"
	e := t.Element()
	if e < 0x1000 {
		return decision{v: vRemove, rule: src + " X; element outside any private block"}
	}
	k := blockKey(t)
	creator, ok := sc.creators[k]
	if !ok || sc.pruned[k] {
		return decision{v: vRemove, rule: src + " X; orphan private element (no creator)"}
	}
	if a != ActC {
		return decision{v: vRemove, rule: st.ruleText(src, "", w.Basic, a, opt, "")}
	}
	if _, safe := safePrivate(t.Group(), creator, uint8(e)); !safe {
		return decision{v: vRemove, rule: st.ruleText(src, "", w.Basic, a, opt, "not in E.3.10-1")}
	}
	rule := st.ruleText(src, "", w.Basic, a, opt, "safe private (E.3.10-1)")
	p := &st.eng.prof
	switch {
	case vr == dicomx.VRSQ:
		return decision{v: vKeep, rule: rule + "; items processed"}
	case vr == dicomx.VRUI:
		if p.RetainUIDs {
			return decision{v: vKeep, rule: rule}
		}
		return decision{v: vRemap, rule: rule + "; UID remapped"}
	case vr == dicomx.VRDA || vr == dicomx.VRDT:
		switch {
		case p.RetainFullDates:
			return decision{v: vKeep, rule: rule}
		case p.RetainModifiedDates:
			return decision{v: vShift, fallback: vRemove, rule: rule + "; date shifted"}
		}
		return decision{v: vRemove, rule: rule + "; date removed"}
	case vr == dicomx.VRPN:
		return decision{v: vRemove, rule: rule + "; person name removed"}
	case vr.IsText():
		return decision{v: vCheckText, fallback: vRemove, rule: rule + "; kept unless it names this patient"}
	}
	return decision{v: vKeep, rule: rule}
}

// maxScreenedText is the longest text Clean Descriptors and the allowlist
// check read; longer text is no descriptor and is removed unread.
const maxScreenedText = 64 << 10

// dummyTexts are the values the engine writes in place of text; they are
// never residue.
var dummyTexts = []string{"ANONYMIZED", "19000101", "19000101000000", "000000", "ANON"}

// dummyValue is a non-empty value valid for the VR (PS3.15 action D).
func dummyValue(vr dicomx.VR) []byte {
	switch vr {
	case dicomx.VRDA:
		return []byte("19000101")
	case dicomx.VRDT:
		return []byte("19000101000000")
	case dicomx.VRTM:
		return []byte("000000")
	case dicomx.VRDS, dicomx.VRIS:
		return []byte("0")
	case dicomx.VRAS:
		return []byte("000D")
	case dicomx.VRAE, dicomx.VRCS, dicomx.VRSH:
		return []byte("ANON")
	case dicomx.VRUR:
		return []byte("urn:x-printreg:removed")
	}
	if n := vr.FixedSize(); n > 0 {
		return make([]byte, n)
	}
	if vr.IsText() {
		return []byte("ANONYMIZED")
	}
	return []byte{0, 0}
}

// apply carries out a decision. It reports whether the element stays.
func (st *state) apply(el *dicomx.Element, vr dicomx.VR, d decision, path pos, sc *scope, inSR bool) bool {
	switch d.v {
	case vKeep:
		st.note(path, el, vr, d)
		if el.Tag == tagEncapsulatedDocumentLength && st.newDocLen >= 0 && path.top() {
			b := make([]byte, 4)
			if el.BigEndian() {
				binary.BigEndian.PutUint32(b, uint32(st.newDocLen))
			} else {
				binary.LittleEndian.PutUint32(b, uint32(st.newDocLen))
			}
			if el.VR == dicomx.VRUL || el.VR == dicomx.VRUN {
				el.VR = dicomx.VRUL
				st.write(el, dicomx.VRUL, b)
			}
			return true
		}
		if el.VR == dicomx.VRSQ {
			st.processItems(el, path, inSR || el.Tag == tagContentSequence, false)
		} else if vr.IsText() {
			st.keptValues = append(st.keptValues, st.scanForm(el))
		}
		return true
	case vRemove:
		st.note(path, el, vr, d)
		st.addPatterns(el, vr, path)
		return false
	case vEmpty:
		st.note(path, el, vr, d)
		st.addPatterns(el, vr, path)
		if el.VR == dicomx.VRSQ {
			el.Items = nil
		} else {
			st.setValue(el, vr, nil)
		}
		return true
	case vDummy:
		st.note(path, el, vr, d)
		if el.VR == dicomx.VRSQ {
			st.processItems(el, path, inSR || el.Tag == tagContentSequence, false)
			return true
		}
		st.addPatterns(el, vr, path)
		st.write(el, vr, dummyValue(vr))
		return true
	case vRemap:
		st.note(path, el, vr, d)
		if el.VR == dicomx.VRSQ {
			st.processItems(el, path, inSR, false)
			return true
		}
		st.addPatterns(el, dicomx.VRUI, path)
		// Every value (as Element.Strs splits them) remapped, written
		// back backslash-separated.
		var out []byte
		var first string
		if in := el.Value; len(in) > 0 {
			single := el.VR == dicomx.VRLT || el.VR == dicomx.VRST || el.VR == dicomx.VRUT || el.VR == dicomx.VRUR
			out = make([]byte, 0, len(in)+16)
			for n := 0; ; n++ {
				part, rest, more := in, []byte(nil), false
				if !single {
					part, rest, more = bytes.Cut(in, []byte{'\\'})
				}
				v := st.mapUIDBytes(part)
				if n == 0 {
					first = v
				} else {
					out = append(out, '\\')
				}
				out = append(out, v...)
				if !more {
					break
				}
				in = rest
			}
		}
		st.write(el, dicomx.VRUI, out)
		// A UID element may hold no value at all (hostile or broken
		// input); then there is nothing to report.
		if path.top() && out != nil {
			switch el.Tag {
			case tagStudyInstanceUID:
				st.res.StudyInstanceUID = first
			case tagSeriesInstanceUID:
				st.res.SeriesInstanceUID = first
			}
		}
		return true
	case vShift:
		var s string
		var ok bool
		if v := el.Str(); vr == dicomx.VRDA && v != "" && v == st.dateIn {
			s, ok = st.dateOut, true
		} else if vr == dicomx.VRDA {
			if s, ok = shiftDA(v, st.offset); ok {
				st.dateIn, st.dateOut = v, s
			}
		} else {
			s, ok = shiftDT(v, st.offset)
		}
		if !ok {
			return st.apply(el, vr, decision{v: d.fallback, rule: st.why(d.rule, "; value does not parse as a date, fallback")}, path, sc, inSR)
		}
		st.note(path, el, vr, d)
		st.addPatterns(el, vr, path)
		st.write(el, vr, []byte(s))
		return true
	case vClean:
		if len(el.Value) > maxScreenedText {
			return st.apply(el, vr, decision{v: d.fallback, rule: st.why(d.rule, ": too long to be a descriptor")}, path, sc, inSR)
		}
		v := st.text(el)
		if st.eng.vocab.safeDescriptor(v, st.id) {
			st.note(path, el, vr, decision{v: vKeep, rule: st.why(d.rule, ": clean, kept")})
			st.kept = append(st.kept, v)
			return true
		}
		return st.apply(el, vr, decision{v: d.fallback, rule: st.why(d.rule, ": not clean")}, path, sc, inSR)
	case vCheckText:
		if len(el.Value) > maxScreenedText {
			return st.apply(el, vr, decision{v: d.fallback, rule: st.why(d.rule, ": too long to be checked")}, path, sc, inSR)
		}
		v := st.text(el)
		if !st.id.mentions(v) {
			st.note(path, el, vr, d)
			st.kept = append(st.kept, v)
			return true
		}
		return st.apply(el, vr, decision{v: d.fallback, rule: st.why(d.rule, ": names this patient")}, path, sc, inSR)
	case vCapAge:
		s, ok := capAge(el.Str())
		if !ok {
			return st.apply(el, vr, decision{v: d.fallback, rule: st.why(d.rule, "; not an age string")}, path, sc, inSR)
		}
		st.note(path, el, vr, d)
		if s != el.Str() {
			st.write(el, dicomx.VRAS, []byte(s))
		}
		return true
	case vPseudonym:
		st.note(path, el, vr, d)
		st.addPatterns(el, vr, path)
		if el.Str() == "" {
			st.setValue(el, vr, nil)
		} else {
			st.write(el, vr, []byte(st.pseudonym))
		}
		return true
	case vModel:
		st.note(path, el, vr, d)
		out, text, err := sanitizeModel(st.ctx, dicomx.EncapsulatedModelFormat(st.sopClass), trimDoc(el.Value, st.encDocLen))
		if err != nil {
			// A model that cannot be read cannot be cleaned: the object is
			// refused rather than passed on without its geometry.
			st.fail(&RefusedError{Reason: ReasonModelUnreadable, Detail: "the encapsulated model could not be sanitized: " + modelReason(err)})
			return false
		}
		st.setValue(el, el.VR, out)
		st.newDocLen = int64(len(out))
		st.scanDocText = text
		return true
	case vDocDummy:
		st.note(path, el, vr, d)
		out := dummyDocument(dicomx.EncapsulatedModelFormat(st.sopClass), st.mime)
		st.write(el, dicomx.VROB, out)
		st.newDocLen = int64(len(out))
		return true
	case vStructured:
		st.note(path, el, vr, d)
		st.processItems(el, path, true, true)
		return true
	}
	st.note(path, el, vr, d)
	return true
}

// write replaces an element's value with one the engine made itself (a
// dummy, a remapped UID, a shifted date, the pseudonym): such values are
// not searched for residue, since any original found in them is a
// coincidence of digits, not a copy.
func (st *state) write(el *dicomx.Element, vr dicomx.VR, v []byte) {
	st.setValue(el, vr, v)
	if st.written == nil {
		st.written = map[*dicomx.Element]bool{}
	}
	st.written[el] = true
}

// setValue replaces an element's value; a UN element whose VR was resolved
// is written with that VR.
func (st *state) setValue(el *dicomx.Element, vr dicomx.VR, v []byte) {
	if el.VR == dicomx.VRUN && vr != dicomx.VRUN && vr != dicomx.VRSQ && (vr.IsText() || vr == dicomx.VROB) {
		el.VR = vr
	}
	if v == nil {
		v = []byte{}
	}
	el.Value = v
	el.Length = int64(len(v))
	el.Bulk = false
	el.Encapsulated = false
}

// processItems processes every item of a sequence. In a Content Sequence
// under Clean Structured Content, items are first matched against
// Table E.3.4-1 by concept name.
func (st *state) processItems(el *dicomx.Element, at pos, inSR, structured bool) {
	items := el.Items[:0]
	path := at.path()
	for i, it := range el.Items {
		p := itemPath(path, i)
		dummy := false
		if structured {
			drop, dm, rule := st.structuredItem(it)
			if drop {
				st.counts[vRemove]++
				if st.explain {
					st.res.Steps = append(st.res.Steps, Step{Path: p.String(), Keyword: "ContentItem", VR: "--", Action: vRemove.String(), Rule: rule})
				}
				st.addItemPatterns(it, p)
				continue
			}
			if dm && st.explain {
				st.res.Steps = append(st.res.Steps, Step{Path: p.String(), Keyword: "ContentItem", VR: "--", Action: vDummy.String(), Rule: rule})
			}
			dummy = dm
		}
		st.inItem(it, func() { it.Elements = st.processListSR(it.Elements, p, newScope(), inSR) })
		if dummy {
			for _, c := range it.Elements {
				switch c.Tag {
				case tagTextValue, 0x0040A123, 0x0040A120, 0x0040A121, 0x0040A122:
					st.addPatterns(c, c.VR, pos{p, c.Tag})
					st.write(c, c.VR, dummyValue(c.VR))
				}
			}
		}
		items = append(items, it)
	}
	el.Items = items
}

// structuredItem looks a content item up in Table E.3.4-1.
func (st *state) structuredItem(it *dicomx.Dataset) (drop, dummy bool, rule string) {
	cn := it.Item(tagConceptNameCodeSequence)
	if cn == nil {
		return false, false, ""
	}
	row, ok := structuredAction(cn.Str(tagCodingSchemeDesignator), cn.Str(tagCodeValue), it.Str(tagValueType))
	if !ok {
		return false, false, ""
	}
	a, opt := rowAction(row.Basic, &row.Opt, &st.eng.on)
	rule = st.ruleText("E.3.4-1 ", row.Meaning, row.Basic, a, opt, "")
	switch a {
	case ActX, ActXD, ActXZ, ActXZD:
		return true, false, rule + "; content item removed"
	case ActD, ActZD:
		return false, true, rule + "; value replaced by a dummy"
	}
	return false, false, rule
}

// parseUNSequence reads a UN value of defined length that the dictionary
// says is a sequence, as implicit VR little endian (PS3.5 6.2.2).
func (st *state) parseUNSequence(el *dicomx.Element) bool {
	b := make([]byte, 8, 8+len(el.Value))
	binary.LittleEndian.PutUint16(b, el.Tag.Group())
	binary.LittleEndian.PutUint16(b[2:], el.Tag.Element())
	binary.LittleEndian.PutUint32(b[4:], uint32(len(el.Value)))
	b = append(b, el.Value...)
	rd, err := dicomx.NewReader(strings.NewReader(string(b)), int64(len(b)), dicomx.Options{Limits: st.eng.limits})
	if err != nil || !rd.Syntax().Implicit {
		return false
	}
	e, err := rd.Next()
	if err != nil || e.Tag != el.Tag || e.VR != dicomx.VRSQ {
		return false
	}
	el.VR, el.Items, el.Value = dicomx.VRSQ, e.Items, nil
	return true
}
