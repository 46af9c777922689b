package mesh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// xmlScanner is a small streaming XML reader for 3MF parts. It does what the
// format needs and refuses the rest: UTF-8 only (a declared other encoding,
// a UTF-16 BOM, invalid UTF-8 or control characters fail), no DTD (so no
// entity expansion of any kind), namespaces resolved per element, duplicate
// attributes and mismatched tags rejected, and depth, attribute count and
// token size bounded. Attribute values are slices of its buffer, valid
// until the next call; element text is only collected when asked for.
//
// encoding/xml would do, but allocates per token and parses a 100 MB mesh
// part at a fraction of the speed; it also accepts duplicate attributes,
// which 3MF validators must reject.
type xmlScanner struct {
	r      io.Reader
	buf    []byte
	pos    int
	end    int
	vend   int   // buf[:vend] has been checked for UTF-8 and control bytes
	base   int64 // stream offset of buf[0]
	eof    bool
	rerr   error
	maxBuf int

	// element stack: qualified names in an arena, namespace bindings
	names              []byte
	nameAt             []int
	binds              []xmlBind
	depth              int
	rootSeen, rootDone bool
	pendingEnd         bool // the last start tag was self-closing

	// current event
	Space   string // namespace URI of the element
	Local   []byte // local name
	attrs   []xmlAttr
	spaces  []string // namespace URIs of prefixed attributes; [0] = ""
	scratch []byte   // decoded attribute values

	// text collection (for <metadata>): set WantText after a start event
	WantText bool
	Text     []byte
	TextCut  bool // text longer than maxText was cut
}

// xmlAttr locates an attribute in the scanner's buffers by offsets: no
// pointers, so filling thousands per second costs no write barriers while
// the collector runs.
type xmlAttr struct {
	q0, q1, colon int32 // qualified name in buf; colon position or -1
	v0, v1        int32 // value in buf, or in scratch when dec
	dec           bool
	space         int32 // namespace: index into spaces, 0 for none
}

type xmlBind struct {
	prefix string
	uri    string
	depth  int
}

type xmlEvent int

const (
	xmlEOF xmlEvent = iota
	xmlStart
	xmlEnd
)

const (
	xmlMaxDepth = 64
	xmlMaxAttrs = 64
	xmlMaxTag   = 1 << 20
	xmlMaxText  = 64 << 10
	xmlChunk    = 64 << 10
	nsXML       = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS     = "http://www.w3.org/2000/xmlns/"
)

func newXMLScanner(r io.Reader) *xmlScanner {
	return &xmlScanner{r: r, buf: make([]byte, xmlChunk), maxBuf: xmlMaxTag + xmlChunk, spaces: []string{""}}
}

// xmlSyntax is a well-formedness error; the caller wraps it with the part.
type xmlSyntax struct {
	off int64
	msg string
}

func (e *xmlSyntax) Error() string { return fmt.Sprintf("%s (byte %d)", e.msg, e.off) }

// xmlLimit is an over-limit error (deep nesting, huge tags).
type xmlLimit struct{ xmlSyntax }

func (x *xmlScanner) syntax(format string, args ...any) error {
	return &xmlSyntax{off: x.base + int64(x.pos), msg: fmt.Sprintf(format, args...)}
}

func (x *xmlScanner) limit(format string, args ...any) error {
	return &xmlLimit{xmlSyntax{off: x.base + int64(x.pos), msg: fmt.Sprintf(format, args...)}}
}

// more reads further input, keeping buf[keep:] (keep <= pos). It returns
// false at the end of the input or on a read error (in x.rerr).
func (x *xmlScanner) more(keep int) (bool, error) {
	if x.eof {
		return false, nil
	}
	if keep > 0 {
		n := copy(x.buf, x.buf[keep:x.end])
		x.pos -= keep
		x.vend -= keep
		x.end = n
		x.base += int64(keep)
	}
	if x.end == len(x.buf) {
		if len(x.buf) >= x.maxBuf {
			return false, x.limit("XML construct longer than %d bytes", xmlMaxTag)
		}
		nb := make([]byte, min(2*len(x.buf), x.maxBuf))
		copy(nb, x.buf[:x.end])
		x.buf = nb
	}
	n, err := x.r.Read(x.buf[x.end:])
	x.end += n
	if err != nil {
		x.eof = true
		if !errors.Is(err, io.EOF) {
			x.rerr = err
			return false, err
		}
	}
	if verr := x.validate(); verr != nil {
		return false, verr
	}
	return n > 0 || !x.eof, nil
}

// validate checks newly read bytes: UTF-8, and no control characters other
// than tab, CR and LF. An incomplete sequence at the end waits for more.
func (x *xmlScanner) validate() error {
	b := x.buf[:x.end]
	i := x.vend
	for i < len(b) {
		// eight ASCII bytes at a time, none of them a control character
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if w&0x8080808080808080 != 0 || (w-0x2020202020202020)&^w&0x8080808080808080 != 0 {
				break
			}
			i += 8
		}
		if i == len(b) {
			break
		}
		c := b[i]
		if c < 0x80 {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return &xmlSyntax{off: x.base + int64(i), msg: "control character in XML (the part is not UTF-8 text)"}
			}
			i++
			continue
		}
		if !x.eof && !utf8.FullRune(b[i:]) {
			break
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 || r == 0xFFFE || r == 0xFFFF {
			return &xmlSyntax{off: x.base + int64(i), msg: "XML is not valid UTF-8"}
		}
		i += size
	}
	x.vend = i
	return nil
}

// need makes sure buf[pos:pos+n] is loaded (keeping from keep).
func (x *xmlScanner) need(keep, n int) (bool, error) {
	for x.end-x.pos < n {
		ok, err := x.more(keep)
		keep = 0
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// prolog checks the byte order mark and the XML declaration.
func (x *xmlScanner) prolog() error {
	if _, err := x.need(0, 6); err != nil {
		return err
	}
	b := x.buf[:x.end]
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		x.pos = 3
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}), bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0, 0}):
		return &xmlSyntax{msg: "XML is UTF-16 or UTF-32; 3MF requires UTF-8"}
	}
	return nil
}

// Next returns the next start or end element, or xmlEOF after the root.
func (x *xmlScanner) Next() (xmlEvent, error) {
	if x.rerr != nil {
		return xmlEOF, x.rerr
	}
	if x.pendingEnd {
		x.pendingEnd = false
		return x.endElement()
	}
	if x.base == 0 && x.pos == 0 && x.depth == 0 && !x.rootSeen {
		if err := x.prolog(); err != nil {
			return xmlEOF, err
		}
	}
	collecting := x.WantText
	if collecting {
		x.Text = x.Text[:0]
		x.TextCut = false
	}
	x.WantText = false
	for {
		// text up to the next '<'
		for {
			i := bytes.IndexByte(x.buf[x.pos:x.vend], '<')
			if i >= 0 {
				if err := x.text(x.buf[x.pos:x.pos+i], collecting); err != nil {
					return xmlEOF, err
				}
				x.pos += i
				break
			}
			// keep a partial entity reference for the next round
			keep := x.vend
			if collecting {
				if j := bytes.LastIndexByte(x.buf[x.pos:x.vend], '&'); j >= 0 && bytes.IndexByte(x.buf[x.pos+j:x.vend], ';') < 0 {
					keep = x.pos + j
				}
			}
			if err := x.text(x.buf[x.pos:keep], collecting); err != nil {
				return xmlEOF, err
			}
			x.pos = keep
			ok, err := x.more(x.pos)
			if err != nil {
				return xmlEOF, err
			}
			if !ok {
				if x.depth > 0 {
					return xmlEOF, x.syntax("XML ends inside an element")
				}
				if !x.rootSeen {
					return xmlEOF, x.syntax("XML has no root element")
				}
				return xmlEOF, nil
			}
		}
		if ok, err := x.need(x.pos, 2); err != nil {
			return xmlEOF, err
		} else if !ok {
			return xmlEOF, x.syntax("XML ends inside markup")
		}
		switch x.buf[x.pos+1] {
		case '?':
			start := x.base + int64(x.pos)
			if err := x.skipUntil("?>"); err != nil {
				return xmlEOF, err
			}
			if !x.rootSeen {
				if err := x.declaration(x.buf[start-x.base : x.pos]); err != nil {
					return xmlEOF, err
				}
			}
		case '!':
			if ok, err := x.need(x.pos, 9); err != nil {
				return xmlEOF, err
			} else if ok && bytes.HasPrefix(x.buf[x.pos:x.end], []byte("<![CDATA[")) {
				start := x.base + int64(x.pos) + 9 // skipUntil keeps the buffer from pos
				if err := x.skipUntil("]]>"); err != nil {
					return xmlEOF, err
				}
				if x.depth == 0 {
					return xmlEOF, x.syntax("text outside the root element")
				}
				if collecting {
					// CDATA is literal: escape '&' so TextValue keeps it
					cdata := x.buf[start-x.base : x.pos-3]
					for len(cdata) > 0 {
						i := bytes.IndexByte(cdata, '&')
						if i < 0 {
							x.appendText(cdata)
							break
						}
						x.appendText(cdata[:i])
						x.appendText([]byte("&amp;"))
						cdata = cdata[i+1:]
					}
				}
				continue
			}
			if ok, _ := x.need(x.pos, 4); ok && bytes.HasPrefix(x.buf[x.pos:x.end], []byte("<!--")) {
				if err := x.skipUntil("-->"); err != nil {
					return xmlEOF, err
				}
				continue
			}
			return xmlEOF, x.syntax("DOCTYPE or other declaration in XML (3MF forbids DTDs)")
		case '/':
			return x.endTag()
		default:
			return x.startTag()
		}
	}
}

// declaration checks the encoding named by an XML declaration.
func (x *xmlScanner) declaration(pi []byte) error {
	if !bytes.HasPrefix(pi, []byte("<?xml")) || len(pi) < 6 || !isSpace(pi[5]) {
		return nil
	}
	i := bytes.Index(pi, []byte("encoding"))
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(pi[i+8:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '=' {
		return x.syntax("bad XML declaration")
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
		return x.syntax("bad XML declaration")
	}
	j := bytes.IndexByte(rest[1:], rest[0])
	if j < 0 {
		return x.syntax("bad XML declaration")
	}
	if enc := rest[1 : 1+j]; !bytes.EqualFold(enc, []byte("utf-8")) && !bytes.EqualFold(enc, []byte("utf8")) {
		return x.syntax("XML declares an encoding other than UTF-8, which 3MF requires")
	}
	return nil
}

// text handles character data between tags.
func (x *xmlScanner) text(b []byte, collecting bool) error {
	if len(b) == 0 {
		return nil
	}
	if x.depth == 0 {
		for _, c := range b {
			if !isSpace(c) {
				return x.syntax("text outside the root element")
			}
		}
		return nil
	}
	if collecting {
		x.appendText(b)
	}
	return nil
}

func (x *xmlScanner) appendText(b []byte) {
	if len(x.Text)+len(b) > xmlMaxText {
		b = b[:max(0, xmlMaxText-len(x.Text))]
		x.TextCut = true
	}
	x.Text = append(x.Text, b...)
}

// TextValue returns the collected text with references decoded.
func (x *xmlScanner) TextValue() ([]byte, error) {
	t := x.Text
	if x.TextCut {
		// the cut may fall inside a reference
		if j := bytes.LastIndexByte(t, '&'); j >= 0 && bytes.IndexByte(t[j:], ';') < 0 {
			t = t[:j]
		}
	}
	if bytes.IndexByte(t, '&') < 0 {
		return t, nil
	}
	out, err := decodeRefs(nil, t)
	if err != nil {
		return nil, x.syntax("%s", err.Error())
	}
	return out, nil
}

// skipUntil advances past the next occurrence of end, starting at pos.
func (x *xmlScanner) skipUntil(end string) error {
	from := x.pos + 2
	for {
		if i := bytes.Index(x.buf[from:x.vend], []byte(end)); i >= 0 {
			x.pos = from + i + len(end)
			return nil
		}
		from = max(x.pos+2, x.vend-len(end)+1)
		rel := from - x.pos
		ok, err := x.more(x.pos)
		if err != nil {
			return err
		}
		from = x.pos + rel
		if !ok {
			return x.syntax("XML ends inside a comment or processing instruction")
		}
	}
}

// tagEnd finds the '>' closing the tag at pos (outside quotes).
func (x *xmlScanner) tagEnd() (int, error) {
	i := x.pos + 1
	var quote byte
	for {
		for ; i < x.vend; i++ {
			c := x.buf[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				} else if c == '<' {
					return 0, x.syntax("'<' in an attribute value")
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '>':
				return i, nil
			case c == '<':
				return 0, x.syntax("'<' inside a tag")
			}
		}
		rel := i - x.pos
		ok, err := x.more(x.pos)
		if err != nil {
			return 0, err
		}
		i = x.pos + rel
		if !ok {
			return 0, x.syntax("XML ends inside a tag")
		}
	}
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isNameByte(c byte) bool {
	return isNameStart(c) || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':'
}

// name reads an XML name at b[i:], returning its end.
func scanName(b []byte, i int) int {
	if i >= len(b) || !isNameStart(b[i]) {
		return i
	}
	for i++; i < len(b) && isNameByte(b[i]); i++ {
	}
	return i
}

func splitQName(q []byte) (prefix, local []byte, ok bool) {
	c := bytes.IndexByte(q, ':')
	if c < 0 {
		return nil, q, true
	}
	prefix, local = q[:c], q[c+1:]
	if len(prefix) == 0 || len(local) == 0 || bytes.IndexByte(local, ':') >= 0 || !isNameStart(local[0]) {
		return nil, nil, false
	}
	return prefix, local, true
}

func (x *xmlScanner) startTag() (xmlEvent, error) {
	if x.rootDone {
		return xmlEOF, x.syntax("second root element")
	}
	var end, ne int
	var selfClose bool
	for {
		var done bool
		var err error
		end, ne, selfClose, done, err = x.scanStart()
		if err != nil {
			return xmlEOF, err
		}
		if done {
			break
		}
		ok, err := x.more(x.pos)
		if err != nil {
			return xmlEOF, err
		}
		if !ok {
			return xmlEOF, x.syntax("XML ends inside a tag")
		}
	}
	qname := x.buf[x.pos+1 : ne]
	// namespace declarations first
	if x.depth >= xmlMaxDepth {
		return xmlEOF, x.limit("XML nested deeper than %d elements", xmlMaxDepth)
	}
	x.depth++
	for i := range x.attrs {
		a := &x.attrs[i]
		switch pre := x.attrPrefix(a); {
		case pre == nil && string(x.attrLocalOf(a)) == "xmlns":
			x.binds = append(x.binds, xmlBind{prefix: "", uri: string(x.attrValueOf(a)), depth: x.depth})
		case string(pre) == "xmlns":
			if len(x.attrValueOf(a)) == 0 {
				return xmlEOF, x.syntax("empty namespace for a prefix")
			}
			x.binds = append(x.binds, xmlBind{prefix: string(x.attrLocalOf(a)), uri: string(x.attrValueOf(a)), depth: x.depth})
		}
	}
	p, l, ok := splitQName(qname)
	if !ok {
		return xmlEOF, x.syntax("bad element name")
	}
	if x.Space, ok = x.lookup(p); !ok {
		return xmlEOF, x.syntax("undeclared namespace prefix")
	}
	prefixed := 0
	for i := range x.attrs {
		a := &x.attrs[i]
		if a.colon < 0 {
			continue
		}
		prefixed++
		uri, ok := x.lookup(x.attrPrefix(a))
		if !ok {
			return xmlEOF, x.syntax("undeclared namespace prefix")
		}
		a.space = x.spaceIndex(uri)
	}
	if prefixed > 1 {
		for k := range x.attrs {
			for j := 0; j < k; j++ {
				ak, aj := &x.attrs[k], &x.attrs[j]
				if ak.colon >= 0 && aj.colon >= 0 && ak.space == aj.space && bytes.Equal(x.attrLocalOf(ak), x.attrLocalOf(aj)) {
					return xmlEOF, x.syntax("duplicate attribute")
				}
			}
		}
	}
	x.Local = l
	x.nameAt = append(x.nameAt, len(x.names))
	x.names = append(x.names, qname...)
	x.rootSeen = true
	x.pos = end + 1
	x.pendingEnd = selfClose
	return xmlStart, nil
}

// scanStart parses the start tag at pos within the checked bytes, filling
// Attrs. It returns the index of the closing '>' and the end of the
// element name, or done=false when the tag runs past the checked bytes
// (the caller loads more and calls again).
func (x *xmlScanner) scanStart() (end, nameEnd int, selfClose, done bool, err error) {
	b := x.buf[:x.vend]
	i := x.pos + 1
	ne := scanName(b, i)
	if ne == len(b) {
		return 0, 0, false, false, nil
	}
	if ne == i {
		return 0, 0, false, false, x.syntax("bad element name")
	}
	x.attrs = x.attrs[:0]
	x.scratch = x.scratch[:0]
	i = ne
	for {
		j := i
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j == len(b) {
			return 0, 0, false, false, nil
		}
		switch b[j] {
		case '>':
			return j, ne, false, true, nil
		case '/':
			if j+1 == len(b) {
				return 0, 0, false, false, nil
			}
			if b[j+1] != '>' {
				return 0, 0, false, false, x.syntax("'/' inside a tag")
			}
			return j + 1, ne, true, true, nil
		case '<':
			return 0, 0, false, false, x.syntax("'<' inside a tag")
		}
		if j == i {
			return 0, 0, false, false, x.syntax("attributes must be separated by spaces")
		}
		ae := scanName(b, j)
		if ae == len(b) {
			return 0, 0, false, false, nil
		}
		if ae == j {
			return 0, 0, false, false, x.syntax("bad attribute name")
		}
		an := b[j:ae]
		k := ae
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k < len(b) && b[k] == '=' {
			k++
			for k < len(b) && isSpace(b[k]) {
				k++
			}
		} else if k < len(b) {
			return 0, 0, false, false, x.syntax("attribute without a value")
		}
		if k == len(b) {
			return 0, 0, false, false, nil
		}
		if b[k] != '"' && b[k] != '\'' {
			return 0, 0, false, false, x.syntax("attribute value without quotes")
		}
		q := b[k]
		ve := bytes.IndexByte(b[k+1:], q)
		if ve < 0 {
			return 0, 0, false, false, nil
		}
		val := b[k+1 : k+1+ve]
		if bytes.IndexByte(val, '<') >= 0 {
			return 0, 0, false, false, x.syntax("'<' in an attribute value")
		}
		i = k + 2 + ve
		if len(x.attrs) >= xmlMaxAttrs {
			return 0, 0, false, false, x.limit("more than %d attributes on one element", xmlMaxAttrs)
		}
		for m := range x.attrs {
			a := &x.attrs[m]
			if int(a.q1-a.q0) == len(an) && bytes.Equal(b[a.q0:a.q1], an) {
				return 0, 0, false, false, x.syntax("duplicate attribute")
			}
		}
		at := xmlAttr{q0: int32(j), q1: int32(ae), colon: -1, v0: int32(k + 1), v1: int32(k + 1 + ve)}
		if c := bytes.IndexByte(an, ':'); c >= 0 {
			if c == 0 || c == len(an)-1 || bytes.IndexByte(an[c+1:], ':') >= 0 || !isNameStart(an[c+1]) {
				return 0, 0, false, false, x.syntax("bad attribute name")
			}
			at.colon = int32(j + c)
		}
		if bytes.IndexByte(val, '&') >= 0 {
			start := len(x.scratch)
			x.scratch, err = decodeRefs(x.scratch, val)
			if err != nil {
				return 0, 0, false, false, x.syntax("%s", err.Error())
			}
			at.dec, at.v0, at.v1 = true, int32(start), int32(len(x.scratch))
		}
		x.attrs = append(x.attrs, at)
	}
}

func (x *xmlScanner) attrPrefix(a *xmlAttr) []byte {
	if a.colon < 0 {
		return nil
	}
	return x.buf[a.q0:a.colon]
}

func (x *xmlScanner) attrLocalOf(a *xmlAttr) []byte {
	if a.colon < 0 {
		return x.buf[a.q0:a.q1]
	}
	return x.buf[a.colon+1 : a.q1]
}

func (x *xmlScanner) attrValueOf(a *xmlAttr) []byte {
	if a.dec {
		return x.scratch[a.v0:a.v1:a.v1]
	}
	return x.buf[a.v0:a.v1:a.v1]
}

// spaceIndex interns a namespace URI for attributes.
func (x *xmlScanner) spaceIndex(uri string) int32 {
	for i, s := range x.spaces {
		if s == uri {
			return int32(i)
		}
	}
	if len(x.spaces) >= 256 {
		// only attributes of one element are compared with each other
		x.spaces = x.spaces[:1]
	}
	x.spaces = append(x.spaces, uri)
	return int32(len(x.spaces) - 1)
}

// NumAttr is the number of attributes of the current start element.
func (x *xmlScanner) NumAttr() int { return len(x.attrs) }

// AttrAt returns the namespace URI ("" when unprefixed), whether the name
// is prefixed, the local name and the value of attribute i. Slices are
// valid until the next call to Next.
func (x *xmlScanner) AttrAt(i int) (space string, prefixed bool, local, value []byte) {
	a := &x.attrs[i]
	return x.spaces[a.space], a.colon >= 0, x.attrLocalOf(a), x.attrValueOf(a)
}

func (x *xmlScanner) lookup(prefix []byte) (string, bool) {
	if string(prefix) == "xml" {
		return nsXML, true
	}
	if string(prefix) == "xmlns" {
		return nsXMLNS, true
	}
	for i := len(x.binds) - 1; i >= 0; i-- {
		if x.binds[i].prefix == string(prefix) {
			return x.binds[i].uri, true
		}
	}
	if prefix == nil {
		return "", true
	}
	return "", false
}

func (x *xmlScanner) endTag() (xmlEvent, error) {
	end, err := x.tagEnd()
	if err != nil {
		return xmlEOF, err
	}
	b := x.buf[:end]
	i := x.pos + 2
	ne := scanName(b, i)
	for j := ne; j < end; j++ {
		if !isSpace(b[j]) {
			return xmlEOF, x.syntax("bad end tag")
		}
	}
	if x.depth == 0 {
		return xmlEOF, x.syntax("end tag without a start tag")
	}
	open := x.names[x.nameAt[len(x.nameAt)-1]:]
	if !bytes.Equal(open, b[i:ne]) {
		return xmlEOF, x.syntax("end tag does not match the open element")
	}
	x.pos = end + 1
	return x.endElement()
}

// endElement pops the open element and reports its end.
func (x *xmlScanner) endElement() (xmlEvent, error) {
	top := x.nameAt[len(x.nameAt)-1]
	qname := x.names[top:]
	p, l, _ := splitQName(qname)
	x.Space, _ = x.lookup(p)
	x.Local = l
	x.attrs = x.attrs[:0]
	x.names = x.names[:top]
	x.nameAt = x.nameAt[:len(x.nameAt)-1]
	for len(x.binds) > 0 && x.binds[len(x.binds)-1].depth == x.depth {
		x.binds = x.binds[:len(x.binds)-1]
	}
	x.depth--
	if x.depth == 0 {
		x.rootDone = true
	}
	return xmlEnd, nil
}

// Attr returns the value of the attribute with the given namespace and
// local name.
func (x *xmlScanner) Attr(space, local string) ([]byte, bool) {
	for i := range x.attrs {
		a := &x.attrs[i]
		if x.spaces[a.space] == space && (space != "") == (a.colon >= 0) && string(x.attrLocalOf(a)) == local {
			return x.attrValueOf(a), true
		}
	}
	return nil, false
}

// decodeRefs appends v to dst with the five predefined entities and
// character references replaced.
func decodeRefs(dst, v []byte) ([]byte, error) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, '&')
		if i < 0 {
			return append(dst, v...), nil
		}
		dst = append(dst, v[:i]...)
		v = v[i:]
		j := bytes.IndexByte(v, ';')
		if j < 0 || j > 12 {
			return nil, errors.New("bad entity reference")
		}
		ref := v[1:j]
		v = v[j+1:]
		switch string(ref) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			if len(ref) < 2 || ref[0] != '#' {
				return nil, errors.New("undefined entity reference")
			}
			var n uint64
			digits := ref[1:]
			base := uint64(10)
			if digits[0] == 'x' {
				base, digits = 16, digits[1:]
			}
			if len(digits) == 0 {
				return nil, errors.New("bad character reference")
			}
			for _, c := range digits {
				var d uint64
				switch {
				case c >= '0' && c <= '9':
					d = uint64(c - '0')
				case base == 16 && c >= 'a' && c <= 'f':
					d = uint64(c-'a') + 10
				case base == 16 && c >= 'A' && c <= 'F':
					d = uint64(c-'A') + 10
				default:
					return nil, errors.New("bad character reference")
				}
				n = n*base + d
			}
			r := rune(n)
			if n > utf8.MaxRune || !utf8.ValidRune(r) || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
				return nil, errors.New("character reference to a character XML does not allow")
			}
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst, nil
}
