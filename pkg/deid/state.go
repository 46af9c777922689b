package deid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/textnorm"
)

// scope tracks the private creators of one dataset (the object or an item).
type scope struct {
	creators map[uint32]string // group<<8 | block → creator
	used     map[uint32]bool   // blocks with a kept element
	pruned   map[uint32]bool   // creators dropped in an earlier segment
}

func newScope() *scope {
	return &scope{creators: map[uint32]string{}, used: map[uint32]bool{}, pruned: map[uint32]bool{}}
}

func blockKey(t dicomx.Tag) uint32 {
	if t.IsPrivateCreator() {
		return uint32(t.Group())<<8 | uint32(t.Element()&0xFF)
	}
	return uint32(t.Group())<<8 | uint32(t.Element()>>8)
}

type pattern struct {
	text string
	from pos // where the value was removed from
}

type scanItem struct {
	path pos
	vr   dicomx.VR
	b    []byte
}

// state is the work on one object.
type state struct {
	ctx     context.Context
	err     error // first failure met while processing (refusals)
	eng     *Engine
	explain bool
	syn     dicomx.Syntax
	meta    *dicomx.Dataset
	res     *Result
	top     scope

	id        *identity
	cs        *dicomx.Charset // of the dataset being processed: the object's, or an item's own
	offset    int
	pseudonym string
	sopClass  string
	origSOP   string
	mime      string
	newDocLen int64 // length of a rewritten Encapsulated Document, -1 when not rewritten
	encDocLen int64 // Encapsulated Document Length as read, -1 when absent
	// scanDocText is the part of a kept model document that can hold text:
	// the whole of an OBJ or MTL, the 80-byte header of a binary STL.
	scanDocText []byte

	overlayData map[uint16]bool
	counts      [numVerdicts]int // verdicts taken, Result.Actions when done
	// dateIn → dateOut is the last DA value shifted: an object repeats one
	// date in many elements.
	dateIn, dateOut string
	datePatterns    string // the last date value whose patterns were added

	methodItems []MethodCode
	inserts     []*dicomx.Element
	insertBuf   [4]*dicomx.Element
	uidCache    map[string]string

	patterns []pattern
	kept     []string
	// keptValues are kept text values as read (padding included, which no
	// pattern starts or ends with): residue exclusions like kept.
	keptValues [][]byte
	scan       []scanItem
	// written are the elements whose value the engine made (see write).
	written map[*dicomx.Element]bool

	// Scratch of the residue scan, kept for the next object.
	seen     map[string]bool
	pats     []pattern
	texts    []string
	excluded []bool
}

// reset readies a state for a new object, keeping the capacity of its maps
// and slices (states are pooled by the engine).
func (st *state) reset(e *Engine, explain bool, syn dicomx.Syntax) {
	if st.top.creators == nil {
		st.top = *newScope()
		st.id = newIdentity()
		st.overlayData = map[uint16]bool{}
		st.uidCache = map[string]string{}
	}
	clear(st.top.creators)
	clear(st.top.used)
	clear(st.top.pruned)
	st.id.reset()
	clear(st.overlayData)
	clear(st.uidCache)
	clear(st.patterns)
	clear(st.kept)
	clear(st.keptValues)
	st.keptValues = st.keptValues[:0]
	clear(st.scan)
	clear(st.written)
	clear(st.pats)
	clear(st.texts)
	clear(st.inserts)
	clear(st.insertBuf[:])
	st.patterns, st.kept, st.scan = st.patterns[:0], st.kept[:0], st.scan[:0]
	st.pats, st.texts = st.pats[:0], st.texts[:0]
	clear(st.seen)
	st.methodItems, st.inserts = st.methodItems[:0], st.inserts[:0]
	st.ctx, st.err, st.eng, st.explain, st.syn, st.meta, st.cs = context.Background(), nil, e, explain, syn, nil, nil
	st.res = &Result{}
	st.counts = [numVerdicts]int{}
	st.dateIn, st.dateOut, st.datePatterns = "", "", ""
	st.offset, st.pseudonym, st.sopClass, st.origSOP, st.mime = 0, "", "", "", ""
	st.newDocLen, st.encDocLen, st.scanDocText = -1, -1, nil
}

// why joins the parts of a rule's text for Explain; without Explain it
// is not built.
func (st *state) why(parts ...string) string {
	if !st.explain {
		return ""
	}
	return strings.Join(parts, "")
}

// fail records the first failure; run checks it after each segment.
func (st *state) fail(err error) {
	if st.err == nil {
		st.err = err
	}
}

// effVR is the VR used to choose the action: UN is resolved through the data
// dictionary for standard attributes (PS3.5 6.2.2), through Table E.3.10-1
// for safe private ones.
//
// An "OB or OW" attribute stays OB here, unlike the reader's implicit-VR
// rule (PS3.5 A.1: OW). That rule says how to read an implicit-VR stream;
// a UN value is opaque bytes whose word order nobody recorded, and OB is
// the one label that keeps those bytes meaning what they meant in every
// transfer syntax (OW would ask a big-endian writer to swap them).
func (st *state) effVR(el *dicomx.Element, sc *scope) dicomx.VR {
	if el.VR != dicomx.VRUN {
		return el.VR
	}
	if el.Tag.IsPrivate() {
		if el.Tag.IsPrivateCreator() {
			return dicomx.VRLO
		}
		if c, ok := sc.creators[blockKey(el.Tag)]; ok {
			if r, ok := safePrivate(el.Tag.Group(), c, uint8(el.Tag.Element())); ok && len(r.VR) == 2 {
				if vr, ok := dicomx.ParseVR(r.VR[0], r.VR[1]); ok {
					return vr
				}
			}
		}
		return dicomx.VRUN
	}
	if d, ok := dicomx.Lookup(el.Tag); ok && d.VR != dicomx.VRNone {
		return d.VR
	}
	return dicomx.VRUN
}

// readSegment reads top-level elements until a bulk value that is kept and
// must be streamed (pixel data, say) or the end. Bulk values that are
// removed are skipped unread; bulk values that are rewritten are loaded
// (within the reader's MaxValueBytes).
func (st *state) readSegment(rd *dicomx.Reader) ([]*dicomx.Element, *dicomx.Element, error) {
	var seg []*dicomx.Element
	for {
		el, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return seg, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		g := el.Tag.Group()
		if isOverlayGroup(g) && el.Tag.Element() == 0x3000 {
			st.overlayData[g] = true
		}
		if el.Tag.IsPrivateCreator() {
			st.top.creators[blockKey(el.Tag)] = el.Str()
		}
		if !el.Bulk {
			seg = append(seg, el)
			continue
		}
		vr := st.effVR(el, &st.top)
		d := st.decide(el, vr, &st.top, false)
		switch d.v {
		case vRemove:
			st.note(pos{nil, el.Tag}, el, vr, d)
			continue
		case vKeep:
			st.note(pos{nil, el.Tag}, el, vr, decision{v: vKeep, rule: st.why(d.rule, "; copied byte for byte")})
			if el.Tag.IsPrivate() {
				st.top.used[blockKey(el.Tag)] = true
			}
			return seg, el, nil
		case vDocDummy:
			if err := rd.SkipValue(); err != nil {
				return nil, nil, err
			}
			el.Bulk = false
		default:
			if _, err := rd.ReadValue(); err != nil {
				return nil, nil, err
			}
		}
		seg = append(seg, el)
	}
}

// first returns the first element with tag t in a list.
func first(els []*dicomx.Element, t dicomx.Tag) *dicomx.Element {
	for _, e := range els {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

func str(els []*dicomx.Element, t dicomx.Tag) string {
	return first(els, t).Str()
}

// Top-level attributes whose values identify the patient or the study:
// Clean Descriptors and the allowlist refuse any text that contains one.
var identityNames = []dicomx.Tag{
	0x00100010, 0x00101001, 0x00101005, 0x00101060, // patient names
	0x00080090, 0x00081050, 0x00081060, 0x00081070, 0x00321032, 0x00081048, // physicians, operators
	0x00101040, // Patient's Address
}

var identityIDs = []dicomx.Tag{
	0x00100020, 0x00101000, 0x00100021, 0x00080050, 0x00200010, // IDs, accession, study ID
	0x00100030, 0x00102154, // birth date, telephone numbers
	0x00380010, 0x00101002, // admission ID, other patient IDs sequence (handled below)
}

// prepare reads the identity of the object from its first segment, derives
// the keyed values and applies the burned-in text policy.
func (st *state) prepare(seg []*dicomx.Element) error {
	if e := first(seg, dicomx.TagSpecificCharacterSet); e != nil {
		// An unknown term falls back as dicomx documents: no text is
		// hidden from screening.
		st.cs, _ = dicomx.ParseCharset(e.Strs())
	}
	pid := str(seg, tagPatientID)
	pname := str(seg, tagPatientName)
	pk := patientKey(pid, pname)
	st.pseudonym = st.eng.memo.get('p', pk, func() string { return Pseudonym(st.eng.key, pid, pname) })
	st.offset, _ = strconv.Atoi(st.eng.memo.get('d', pk, func() string { return strconv.Itoa(DateOffsetDays(st.eng.key, pid, pname)) }))
	for _, t := range identityNames {
		if e := first(seg, t); e != nil {
			for _, v := range st.textValues(e) {
				st.id.addName(v)
			}
		}
	}
	for _, t := range identityIDs {
		e := first(seg, t)
		if e == nil {
			continue
		}
		if e.VR == dicomx.VRSQ {
			for _, it := range e.Items {
				st.id.addID(st.text(it.Get(tagPatientID)))
			}
			continue
		}
		for _, v := range st.textValues(e) {
			st.id.addID(v)
		}
	}
	st.sopClass = str(seg, tagSOPClassUID)
	if st.sopClass == "" {
		st.sopClass = st.meta.Str(0x00020002)
	}
	st.origSOP = str(seg, tagSOPInstanceUID)
	if st.origSOP == "" {
		st.origSOP = st.meta.Str(0x00020003)
	}
	if st.origSOP == "" {
		return &RefusedError{Reason: ReasonNoInstanceUID, Detail: "the object has no SOP Instance UID"}
	}
	st.mime = strings.ToLower(str(seg, tagMIMEType))
	if e := first(seg, tagEncapsulatedDocumentLength); e != nil {
		if v, ok := e.Ints(); ok && len(v) == 1 && v[0] >= 0 {
			st.encDocLen = v[0]
		}
	}
	st.res.Modality = strings.ToUpper(str(seg, tagModality))
	if st.sopClass == mediaStorageDirectory {
		return &RefusedError{Reason: ReasonDICOMDIR, Detail: "a DICOMDIR indexes other files and repeats their identifiers: regenerate it from the de-identified files"}
	}
	if strings.EqualFold(str(seg, tagBurnedInAnnotation), "YES") {
		return &RefusedError{Reason: ReasonBurnedIn, Detail: "Burned In Annotation is YES and no Clean Pixel Data step is configured"}
	}
	if st.eng.refuseSOP[st.sopClass] {
		return &RefusedError{Reason: ReasonBurnedInSOP, Detail: fmt.Sprintf("SOP class %s is configured as a burned-in text risk", sopClassLabel(st.sopClass))}
	}
	burned := strings.ToUpper(str(seg, tagBurnedInAnnotation))
	for _, m := range first(seg, tagModality).Strs() {
		m = strings.ToUpper(m)
		if st.eng.refuseMod[m] {
			return &RefusedError{Reason: ReasonBurnedInModal, Detail: fmt.Sprintf("modality %s is configured as a burned-in text risk", sanitizeCode(m))}
		}
		if st.eng.declareMod[m] && burned != "NO" {
			return &RefusedError{Reason: ReasonBurnedInModal, Detail: fmt.Sprintf("modality %s is a burned-in text risk unless Burned In Annotation says NO", sanitizeCode(m))}
		}
	}
	if st.sopClass == wholeSlideMicroscopy {
		for _, v := range first(seg, tagImageType).Strs() {
			if v = strings.ToUpper(v); v == "LABEL" || v == "OVERVIEW" {
				return &RefusedError{Reason: ReasonBurnedInSOP, Detail: "a whole slide microscopy " + v + " image shows the slide's label"}
			}
		}
	}
	for _, e := range seg {
		g := e.Tag.Group()
		if isOverlayGroup(g) && e.Tag.Element() == 0x0010 && !st.overlayData[g] {
			return &RefusedError{Reason: ReasonOverlayInPixels, Detail: fmt.Sprintf("overlay group %04X has no Overlay Data: its bitmap lives in the pixel data, which is copied unchanged", g)}
		}
	}
	if seq := first(seg, tagDeidentificationMethodSeq); seq != nil {
		for _, it := range seq.Items {
			c := MethodCode{Scheme: it.Str(tagCodingSchemeDesignator), Value: it.Str(tagCodeValue), Meaning: it.Str(tagCodeMeaning)}
			if c.Scheme == "DCM" && methodCode(c.Value).Value != "" {
				st.methodItems = append(st.methodItems, methodCode(c.Value))
			}
		}
	}
	st.buildInserts()
	return nil
}

func sopClassLabel(uid string) string {
	if n := dicomx.UIDName(uid); n != "" {
		return n
	}
	if WellKnownUID(uid) {
		return uid
	}
	return "(unregistered)"
}

// buildInserts readies the provenance attributes of PS3.15 E.1.1 item 6
// and the Longitudinal Temporal Information Modified flag. They depend on
// the profile only, unless the object brings method codes of its own.
func (st *state) buildInserts() {
	els := st.eng.inserts
	if len(st.methodItems) > 0 {
		els = provenance(&st.eng.prof, st.eng.method, st.methodItems)
	}
	st.inserts = append(st.insertBuf[:0], els...)
}

// provenance makes the provenance elements: earlier CID 7050 codes first,
// then the profile's. The elements are only read once made (an engine
// shares them between objects).
func provenance(p *Profile, method string, earlier []MethodCode) []*dicomx.Element {
	codes := append([]MethodCode(nil), earlier...)
	for _, c := range p.methodCodes() {
		dup := false
		for _, o := range codes {
			dup = dup || (o.Scheme == c.Scheme && o.Value == c.Value)
		}
		if !dup {
			codes = append(codes, c)
		}
	}
	var items []*dicomx.Dataset
	for _, c := range codes {
		items = append(items, &dicomx.Dataset{Elements: []*dicomx.Element{
			dicomx.NewText(tagCodeValue, dicomx.VRSH, c.Value),
			dicomx.NewText(tagCodingSchemeDesignator, dicomx.VRSH, c.Scheme),
			dicomx.NewText(tagCodeMeaning, dicomx.VRLO, c.Meaning),
		}})
	}
	long := "REMOVED"
	switch {
	case p.RetainFullDates:
		long = "UNMODIFIED"
	case p.RetainModifiedDates:
		long = "MODIFIED"
	}
	return []*dicomx.Element{
		dicomx.NewText(tagPatientIdentityRemoved, dicomx.VRCS, "YES"),
		dicomx.NewText(tagDeidentificationMethod, dicomx.VRLO, method),
		dicomx.NewSequence(tagDeidentificationMethodSeq, items...),
		dicomx.NewText(tagLongitudinalModified, dicomx.VRCS, long),
	}
}

// writeInserts writes the pending provenance elements that sort before t.
func (st *state) writeInserts(w *dicomx.Writer, t dicomx.Tag) error {
	for len(st.inserts) > 0 && st.inserts[0].Tag < t {
		el := st.inserts[0]
		st.inserts = st.inserts[1:]
		if err := w.WriteElement(el); err != nil {
			return fmt.Errorf("deid: writing %s: %w", el.Tag, err)
		}
		// Provenance is the engine's own text: not searched for residue.
		if st.explain {
			st.res.Steps = append(st.res.Steps, Step{Path: el.Tag.String(), Keyword: dicomx.Keyword(el.Tag), VR: el.VR.String(), Action: "set", Rule: "PS3.15 E.1.1 provenance"})
		}
	}
	return nil
}

// newMeta rebuilds the file meta information (PS3.15 E.1.1 item 7): nothing
// of the original is kept but the SOP class and transfer syntax.
func (st *state) newMeta() (*dicomx.Dataset, error) {
	ts := st.meta.Str(0x00020010)
	if ts == "" {
		switch {
		case st.syn.Implicit:
			ts = dicomx.ImplicitVRLittleEndian
		case st.syn.BigEndian:
			ts = dicomx.ExplicitVRBigEndian
		default:
			ts = dicomx.ExplicitVRLittleEndian
		}
	}
	sop := st.mapUID(st.origSOP)
	st.res.SOPInstanceUID = sop
	st.res.SOPClassUID = st.sopClass
	st.res.TransferSyntaxUID = ts
	return &dicomx.Dataset{Elements: []*dicomx.Element{
		dicomx.NewBytes(0x00020001, dicomx.VROB, []byte{0, 1}),
		dicomx.NewText(0x00020002, dicomx.VRUI, st.sopClass),
		dicomx.NewText(0x00020003, dicomx.VRUI, sop),
		dicomx.NewText(0x00020010, dicomx.VRUI, ts),
		dicomx.NewText(0x00020012, dicomx.VRUI, ImplementationClassUID),
		dicomx.NewText(0x00020013, dicomx.VRSH, ImplementationVersionName),
	}}, nil
}

// mapUID remaps a UID unless Retain UIDs is on.
func (st *state) mapUID(uid string) string {
	uid = trimPad(uid)
	if st.eng.prof.RetainUIDs {
		return uid
	}
	if v, ok := st.uidCache[uid]; ok {
		return v
	}
	v := st.eng.memo.get('u', uid, func() string { return RemapUID(st.eng.key, uid) })
	st.uidCache[uid] = v
	return v
}

// mapUIDBytes is mapUID for a value as read, without a string for a UID
// already met in this object.
func (st *state) mapUIDBytes(b []byte) string {
	if v, ok := st.uidCache[string(trimPad(b))]; ok && !st.eng.prof.RetainUIDs {
		return v
	}
	return st.mapUID(string(b))
}

// note records an element's verdict for Explain and the counts.
func (st *state) note(path pos, el *dicomx.Element, vr dicomx.VR, d decision) {
	st.counts[d.v]++
	if st.explain {
		st.res.Steps = append(st.res.Steps, Step{Path: path.String(), Keyword: dicomx.Keyword(el.Tag), VR: vr.String(), Action: d.v.String(), Rule: d.rule})
	}
}

// outValues records the values written, for the residue scan.
func (st *state) outValues(els []*dicomx.Element) { st.collectOut(els, nil) }

func (st *state) collectOut(els []*dicomx.Element, path *epath) {
	for _, el := range els {
		p := pos{path, el.Tag}
		if el.VR == dicomx.VRSQ {
			pp := p.path()
			for i, it := range el.Items {
				st.inItem(it, func() { st.collectOut(it.Elements, itemPath(pp, i)) })
			}
			continue
		}
		if el.Tag == tagEncapsulatedDocument && path == nil && st.scanDocText != nil {
			st.scan = append(st.scan, scanItem{path: p, vr: el.VR, b: st.scanDocText})
			continue
		}
		if len(el.Value) > 0 && !st.written[el] {
			st.scan = append(st.scan, scanItem{path: p, vr: el.VR, b: st.scanForm(el)})
		}
	}
}

// epath is an element's place in the object. It is formatted only when
// Explain or a refusal needs it.
type epath struct {
	parent *epath
	tag    dicomx.Tag
	item   int // -1 for an element; the item index for an item of parent
}

func elemPath(parent *epath, t dicomx.Tag) *epath { return &epath{parent: parent, tag: t, item: -1} }

func itemPath(seq *epath, i int) *epath { return &epath{parent: seq, item: i} }

// pos is an element's place without an allocation: its parent (nil at the
// top level) and its tag.
type pos struct {
	parent *epath
	tag    dicomx.Tag
}

// top reports a top-level element.
func (p pos) top() bool { return p.parent == nil }

func (p pos) path() *epath { return elemPath(p.parent, p.tag) }

func (p pos) String() string { return p.path().String() }

func (p *epath) String() string {
	if p == nil {
		return ""
	}
	if p.item >= 0 {
		return p.parent.String() + "[" + strconv.Itoa(p.item) + "]"
	}
	if p.parent == nil {
		return p.tag.String()
	}
	return p.parent.String() + "/" + p.tag.String()
}

// residue searches every value written for every original value that was
// removed, replaced or cleaned, in one multi-pattern pass per value.
func (st *state) residue() error {
	m := st.residueMatcher()
	if m == nil {
		return nil
	}
	defer st.eng.matchers.Put(m)
	for _, it := range st.scan {
		if i, hit := m.first(it.b, st.residueOK(it.vr)); hit {
			return st.residueError(i, it.path)
		}
	}
	return nil
}

// residueOK accepts a pattern hit in a value of VR vr.
func (st *state) residueOK(vr dicomx.VR) func(int) bool {
	return func(i int) bool {
		// A date's digits inside a UID are a coincidence.
		return !st.excluded[i] && (vr != dicomx.VRUI || !digits(strings.ReplaceAll(st.texts[i], "-", "")))
	}
}

func (st *state) residueError(i int, at fmt.Stringer) error {
	return &RefusedError{Reason: ReasonResidue, Detail: fmt.Sprintf("a value removed from %s was found in the output at %s", st.pats[i].from.String(), at.String())}
}

// residueMatcher builds a matcher (from the engine's pool; the caller puts it
// back) over the distinct patterns recorded so far, and marks in st.excluded
// those found in values kept on purpose. It returns nil when there is
// nothing to look for.
func (st *state) residueMatcher() *matcher {
	// Distinct patterns, made of more than safe words.
	if st.seen == nil {
		st.seen = map[string]bool{}
	}
	seen := st.seen
	clear(seen)
	pats, texts := st.pats[:0], st.texts[:0]
	for _, p := range st.patterns {
		if seen[p.text] {
			continue
		}
		seen[p.text] = true
		// Numbers, dates and UIDs are never vocabulary: no need to look.
		if c := p.text[0]; (c >= '0' && c <= '9') || !st.eng.vocab.allSafeWords(p.text) {
			pats = append(pats, p)
			texts = append(texts, p.text)
		}
	}
	st.pats, st.texts = pats, texts
	if len(pats) == 0 {
		return nil
	}
	m := st.eng.matchers.Get().(*matcher)
	m.build(texts)
	// A pattern found in a value kept on purpose (an allowlisted or cleaned
	// text, a dummy, the pseudonym, the provenance) is a coincidence, not
	// a leak: it is not searched for.
	excluded := append(st.excluded[:0], make([]bool, len(pats))...)
	st.excluded = excluded
	drop := func(i int) { excluded[i] = true }
	for _, k := range st.kept {
		matchEach(m, folded(k), drop)
	}
	for _, k := range st.keptValues {
		matchEach(m, k, drop)
	}
	for _, k := range dummyTexts {
		matchEach(m, k, drop)
	}
	matchEach(m, st.pseudonym, drop)
	matchEach(m, st.eng.method, drop)
	for _, c := range cid7050 {
		matchEach(m, c.Meaning, drop)
	}
	return m
}

// text returns an element's value decoded by the character set in force,
// padding trimmed (dicomx skips decoding for plain ASCII).
func (st *state) text(el *dicomx.Element) string { return el.Text(st.cs) }

// textValues is text split into values (as Element.Strs splits them).
func (st *state) textValues(el *dicomx.Element) []string { return el.Texts(st.cs) }

// folded is the residue scan's form of a decoded text: ASCII as it is (the
// matcher folds ASCII case itself), anything else in textnorm's form.
func folded(s string) string {
	if ascii(s) {
		return s
	}
	return textnorm.Fold(s)
}

// scanForm is what the residue scan searches in an output value: the bytes
// of a binary or ASCII value, the folded decoded text of any other text.
func (st *state) scanForm(el *dicomx.Element) []byte {
	if !el.VR.IsText() || dicomx.PlainASCII(el.Value) {
		return el.Value
	}
	return []byte(textnorm.Fold(st.cs.Decode(el.Value, el.VR)))
}

// inItem runs f with the character set of item it in force: its own
// Specific Character Set, if it has one, else the enclosing one.
func (st *state) inItem(it *dicomx.Dataset, f func()) {
	if it.Get(dicomx.TagSpecificCharacterSet) == nil {
		f()
		return
	}
	saved := st.cs
	st.cs = dicomx.CharsetOf(it, saved)
	f()
	st.cs = saved
}

const wholeSlideMicroscopy = "1.2.840.10008.5.1.4.1.1.77.1.6"

const tagImageType dicomx.Tag = 0x00080008

// sanitizeCode keeps a coded string fit for an error message: letters,
// digits, space and underscore, at most 16 characters (a CS value), so that
// no free text entered where a code belongs is echoed.
func sanitizeCode(s string) string {
	b := make([]byte, 0, min(len(s), 16))
	for i := 0; i < len(s) && len(b) < 16; i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '_' {
			b = append(b, c)
		}
	}
	return string(b)
}
