package mesh

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// attrKind says how a kept attribute is checked and rewritten.
type attrKind uint8

const (
	akFloat     attrKind = iota + 1 // one number, written back in shortest form
	akInt                           // one integer
	akFloats                        // numbers separated by spaces
	akInts                          // integers separated by spaces
	akColor                         // #RRGGBB or #RRGGBBAA
	akTransform                     // twelve numbers
	akEnum                          // one of a fixed list
	akEnums                         // several of a fixed list
	akUUID                          // replaced by a fresh, meaningless UUID
	akPartPath                      // model part reference, renamed
	akTexPath                       // texture reference, renamed
	akMatName                       // base material name, replaced
	akPNG                           // content type, forced to image/png
)

type attrRule struct {
	space, local string
	kind         attrKind
	enum         []string
}

type elemKey struct{ space, local string }

// keepElems lists what a sanitized 3MF keeps: geometry, units, materials
// and their colours, production references and slices. Everything else —
// metadata, object names and part numbers, thumbnails, triangle and beam
// sets (named), unknown extensions — is dropped with its content.
var keepElems = func() map[elemKey][]attrRule {
	c, m, p, s, b := ns3MF, nsMaterial, nsProduction, nsSlice, nsBeamLattice
	uuid := attrRule{p, "UUID", akUUID, nil}
	ppath := attrRule{p, "path", akPartPath, nil}
	f := func(names ...string) []attrRule {
		var r []attrRule
		for _, n := range names {
			r = append(r, attrRule{"", n, akFloat, nil})
		}
		return r
	}
	in := func(names ...string) []attrRule {
		var r []attrRule
		for _, n := range names {
			r = append(r, attrRule{"", n, akInt, nil})
		}
		return r
	}
	enum := func(n string, vals ...string) attrRule { return attrRule{"", n, akEnum, vals} }
	caps := []string{"sphere", "hemisphere", "butt"}
	return map[elemKey][]attrRule{
		{c, "model"}:         nil, // written by hand
		{c, "resources"}:     nil,
		{c, "object"}:        append(in("id", "pid", "pindex"), enum("type", objectTypes...), uuid, attrRule{s, "slicestackid", akInt, nil}, attrRule{s, "meshresolution", akEnum, []string{"fullres", "lowres"}}),
		{c, "mesh"}:          nil,
		{c, "vertices"}:      nil,
		{c, "vertex"}:        f("x", "y", "z"),
		{c, "triangles"}:     nil,
		{c, "triangle"}:      in("v1", "v2", "v3", "p1", "p2", "p3", "pid"),
		{c, "components"}:    nil,
		{c, "component"}:     append(in("objectid"), attrRule{"", "transform", akTransform, nil}, ppath, uuid),
		{c, "build"}:         {uuid},
		{c, "item"}:          append(in("objectid"), attrRule{"", "transform", akTransform, nil}, ppath, uuid),
		{c, "basematerials"}: in("id"),
		{c, "base"}:          {{"", "name", akMatName, nil}, {"", "displaycolor", akColor, nil}},
		{m, "colorgroup"}:    in("id"),
		{m, "color"}:         {{"", "color", akColor, nil}},
		{m, "texture2d"}: append(in("id"), attrRule{"", "path", akTexPath, nil}, attrRule{"", "contenttype", akPNG, nil},
			enum("tilestyleu", "wrap", "mirror", "clamp", "none"), enum("tilestylev", "wrap", "mirror", "clamp", "none"),
			enum("filter", "auto", "linear", "nearest")),
		{m, "texture2dgroup"}:     in("id", "texid"),
		{m, "tex2coord"}:          f("u", "v"),
		{m, "compositematerials"}: in("id", "matid"),
		{m, "composite"}:          {{"", "values", akFloats, nil}},
		{m, "multiproperties"}:    append(in("id"), attrRule{"", "pids", akInts, nil}, attrRule{"", "blendmethods", akEnums, []string{"mix", "multiply"}}),
		{m, "multi"}:              {{"", "pindices", akInts, nil}},
		{s, "slicestack"}:         append(in("id"), f("zbottom")...),
		{s, "slice"}:              f("ztop"),
		{s, "vertices"}:           nil,
		{s, "vertex"}:             f("x", "y"),
		{s, "polygon"}:            in("startv"),
		{s, "segment"}:            in("v2", "p1", "p2", "pid"),
		{s, "sliceref"}:           {{"", "slicestackid", akInt, nil}, {"", "slicepath", akPartPath, nil}},
		{b, "beamlattice"}: append(append(f("minlength", "radius", "ballradius"), in("clippingmesh", "representationmesh")...),
			enum("ballmode", "none", "mixed", "all"), enum("clippingmode", "none", "inside", "outside"), enum("cap", caps...)),
		{b, "beams"}: nil,
		{b, "beam"}:  append(append(in("v1", "v2"), f("r1", "r2")...), enum("cap1", caps...), enum("cap2", caps...)),
	}
}()

var nsPrefix = map[string]string{ns3MF: "", nsMaterial: "m", nsProduction: "p", nsSlice: "s", nsBeamLattice: "b"}

const contentTypesXML = `<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/><Default Extension="png" ContentType="image/png"/></Types>
`

// neutralPNG is a 1×1 grey PNG that stands in for every texture.
var neutralPNG = []byte{
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b,
	0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x68, 0x00, 0x00, 0x00,
	0x82, 0x00, 0x81, 0x77, 0xcd, 0x72, 0xb6, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
	0x42, 0x60, 0x82,
}

// zipTime is the fixed modification time of sanitized parts, so output does
// not depend on when it was made.
var zipTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Sanitize3MF writes r as a new 3MF package holding only model geometry:
// the model parts are rewritten through a whitelist of elements and
// attributes (see keepElems), renamed to neutral part names, with fresh
// UUIDs, neutral base material names and every texture replaced by a 1×1
// grey image; metadata, thumbnails, print tickets and all other parts are
// left out. Units, meshes, components, build items with their transforms,
// colours, beams and slices are kept. The input is measured first, so what
// Measure refuses is refused here too.
func Sanitize3MF(ctx context.Context, w io.Writer, r io.ReaderAt, size int64) error {
	opt := DefaultOptions()
	opt.Format = ThreeMF
	if _, err := Measure(ctx, r, size, opt); err != nil {
		return err
	}
	lim := DefaultLimits()
	pkg, err := openPackage(r, size, lim)
	if err != nil {
		return err
	}
	start, err := startPart(pkg)
	if err != nil {
		return err
	}
	s := &sanitizer3mf{ctx: ctx, pkg: pkg, zw: zip.NewWriter(w), parts: map[string]string{}, textures: map[string]string{}}
	s.parts[strings.ToLower(start)] = "/3D/3dmodel.model"
	s.queue = append(s.queue, [2]string{start, "/3D/3dmodel.model"})
	if err := s.file("[Content_Types].xml", []byte(contentTypesXML)); err != nil {
		return err
	}
	if err := s.file("_rels/.rels", relsXML([]relationship{{target: "/3D/3dmodel.model", typ: relModel}})); err != nil {
		return err
	}
	for i := 0; i < len(s.queue); i++ {
		if err := s.rewrite(s.queue[i][0], s.queue[i][1], i == 0); err != nil {
			return err
		}
	}
	for i := 0; i < len(s.texOrder); i++ {
		if err := s.file(strings.TrimPrefix(s.texOrder[i], "/"), neutralPNG); err != nil {
			return err
		}
	}
	return s.zw.Close()
}

// startPart finds the model part a package's relationships name.
func startPart(pkg *opcPackage) (string, error) {
	if !pkg.has("/_rels/.rels") {
		return "", malformed(ThreeMF, "package has no _rels/.rels part")
	}
	rels, err := pkg.readRels("")
	if err != nil {
		return "", err
	}
	start := ""
	for _, rel := range rels {
		if rel.typ == relModel && !rel.external {
			if start != "" {
				return "", malformed(ThreeMF, "_rels/.rels names more than one 3D model start part")
			}
			start = rel.target
		}
	}
	if start == "" {
		return "", malformed(ThreeMF, "_rels/.rels names no 3D model part")
	}
	return start, nil
}

type sanitizer3mf struct {
	ctx      context.Context
	pkg      *opcPackage
	zw       *zip.Writer
	parts    map[string]string // input part (lower case) → output name
	queue    [][2]string       // input, output
	textures map[string]string
	texOrder []string
	uuids    int
	matNames int
}

func (s *sanitizer3mf) create(name string) (io.Writer, error) {
	return s.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipTime})
}

func (s *sanitizer3mf) file(name string, data []byte) error {
	fw, err := s.create(name)
	if err != nil {
		return err
	}
	_, err = fw.Write(data)
	return err
}

func relsXML(rels []relationship) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<Relationships xmlns="` + nsRels + `">`)
	for i, r := range rels {
		fmt.Fprintf(&b, `<Relationship Target="%s" Id="rel%d" Type="%s"/>`, r.target, i+1, r.typ)
	}
	b.WriteString("</Relationships>\n")
	return b.Bytes()
}

// rewrite copies one model part through the whitelist.
func (s *sanitizer3mf) rewrite(in, out string, root bool) error {
	rc, err := s.pkg.open(in)
	if err != nil {
		return err
	}
	defer rc.Close()
	fw, err := s.create(strings.TrimPrefix(out, "/"))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(fw, 64<<10)
	if _, err := bw.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n"); err != nil {
		return err
	}
	x := newXMLScanner(rc)
	var rels []relationship
	skip := 0     // depth of a dropped subtree
	open := false // a start tag awaits '>' or "/>"
	var stack []string
	var buf []byte
	events := 0
	for {
		ev, err := x.Next()
		if err != nil {
			return xmlErr(err, "model part")
		}
		if events++; events&0xFFFF == 0 {
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
		if ev == xmlEOF {
			break
		}
		if skip > 0 {
			if ev == xmlStart {
				skip++
			} else {
				skip--
			}
			continue
		}
		if ev == xmlEnd {
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if open {
				buf = append(buf[:0], "/>\n"...)
			} else {
				buf = append(append(append(buf[:0], "</"...), name...), ">\n"...)
			}
			open = false
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			continue
		}
		rules, ok := keepElems[elemKey{x.Space, string(x.Local)}]
		if !ok || (x.depth == 1) != (x.Space == ns3MF && string(x.Local) == "model") {
			skip = 1
			continue
		}
		buf = buf[:0]
		if open {
			buf = append(buf, ">\n"...)
		}
		name := string(x.Local)
		if pre := nsPrefix[x.Space]; pre != "" {
			name = pre + ":" + name
		}
		buf = append(append(buf, '<'), name...)
		if x.depth == 1 {
			buf, err = s.modelAttrs(x, buf)
		} else {
			buf, err = s.attrs(x, rules, in, buf, &rels)
		}
		if err != nil {
			return err
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		stack = append(stack, name)
		open = true
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if root {
		for _, q := range s.queue[1:] {
			rels = append(rels, relationship{target: q[1], typ: relModel})
		}
	}
	if len(rels) == 0 {
		return nil
	}
	dir, file := path.Split(out)
	return s.file(strings.TrimPrefix(dir, "/")+"_rels/"+file+".rels", relsXML(rels))
}

// modelAttrs writes the root element's attributes: canonical namespace
// declarations, the unit and the required extensions under canonical
// prefixes.
func (s *sanitizer3mf) modelAttrs(x *xmlScanner, buf []byte) ([]byte, error) {
	if u, ok := x.Attr("", "unit"); ok && slices.Contains(units3MF, string(bytes.TrimSpace(u))) {
		buf = append(append(append(buf, ` unit="`...), bytes.TrimSpace(u)...), '"')
	}
	for _, ns := range []string{ns3MF, nsMaterial, nsProduction, nsSlice, nsBeamLattice} {
		if pre := nsPrefix[ns]; pre == "" {
			buf = append(append(append(buf, ` xmlns="`...), ns...), '"')
		} else {
			buf = append(append(append(append(append(buf, ` xmlns:`...), pre...), `="`...), ns...), '"')
		}
	}
	if req, ok := x.Attr("", "requiredextensions"); ok {
		var out []string
		for _, prefix := range bytes.Fields(req) {
			uri, ok := x.lookup(prefix)
			if !ok {
				return nil, malformed(ThreeMF, "requiredextensions names a prefix that is not declared")
			}
			pre, known := nsPrefix[uri]
			if !known {
				return nil, unsupported(ThreeMF, "model requires an extension this sanitizer does not keep")
			}
			if pre != "" && !slices.Contains(out, pre) {
				out = append(out, pre)
			}
		}
		if len(out) > 0 {
			buf = append(append(append(buf, ` requiredextensions="`...), strings.Join(out, " ")...), '"')
		}
	}
	return buf, nil
}

func (s *sanitizer3mf) newUUID() string {
	s.uuids++
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", s.uuids)
}

// attrs writes the whitelisted attributes of the current element,
// checking each value against its kind; values that fail are dropped.
func (s *sanitizer3mf) attrs(x *xmlScanner, rules []attrRule, part string, buf []byte, rels *[]relationship) ([]byte, error) {
	for _, rule := range rules {
		v, ok := x.Attr(rule.space, rule.local)
		if !ok && rule.kind != akMatName {
			continue
		}
		v = bytes.TrimSpace(v)
		var val []byte
		switch rule.kind {
		case akFloat:
			f, ok := parseF64(v)
			if !ok {
				continue
			}
			val = strconv.AppendFloat(nil, f, 'g', -1, 64)
		case akInt:
			n, ok := parseInt(v)
			if !ok {
				continue
			}
			val = strconv.AppendInt(nil, n, 10)
		case akFloats, akTransform:
			fs := bytes.Fields(v)
			if rule.kind == akTransform && len(fs) != 12 {
				continue
			}
			bad := false
			for i, t := range fs {
				f, ok := parseF64(t)
				if !ok {
					bad = true
					break
				}
				if i > 0 {
					val = append(val, ' ')
				}
				val = strconv.AppendFloat(val, f, 'g', -1, 64)
			}
			if bad {
				continue
			}
		case akInts:
			bad := false
			for i, t := range bytes.Fields(v) {
				n, ok := parseInt(t)
				if !ok {
					bad = true
					break
				}
				if i > 0 {
					val = append(val, ' ')
				}
				val = strconv.AppendInt(val, n, 10)
			}
			if bad {
				continue
			}
		case akColor:
			if !validColor(v) {
				continue
			}
			val = bytes.ToUpper(v)
		case akEnum:
			if !slices.Contains(rule.enum, string(v)) {
				continue
			}
			val = v
		case akEnums:
			bad := false
			for _, t := range bytes.Fields(v) {
				if !slices.Contains(rule.enum, string(t)) {
					bad = true
				}
			}
			if bad {
				continue
			}
			val = bytes.Join(bytes.Fields(v), []byte{' '})
		case akUUID:
			val = []byte(s.newUUID())
		case akMatName:
			s.matNames++
			val = []byte("Material " + strconv.Itoa(s.matNames))
		case akPNG:
			val = []byte("image/png")
		case akPartPath:
			target, ok := resolvePart(path.Dir(part), string(v))
			if !ok {
				return nil, malformed(ThreeMF, "a path points outside the package")
			}
			key := strings.ToLower(target)
			outName, seen := s.parts[key]
			if !seen {
				if !s.pkg.has(target) {
					return nil, malformed(ThreeMF, "a path names a model part that is missing")
				}
				if len(s.parts) >= s.pkg.lim.MaxModelParts {
					return nil, tooLarge(ThreeMF, "package references more than %d model parts", s.pkg.lim.MaxModelParts)
				}
				outName = fmt.Sprintf("/3D/part%d.model", len(s.parts))
				s.parts[key] = outName
				s.queue = append(s.queue, [2]string{target, outName})
			}
			val = []byte(outName)
		case akTexPath:
			target, ok := resolvePart(path.Dir(part), string(v))
			if !ok {
				return nil, malformed(ThreeMF, "a texture path points outside the package")
			}
			key := strings.ToLower(target)
			outName, seen := s.textures[key]
			if !seen {
				if len(s.textures) >= 10000 {
					return nil, tooLarge(ThreeMF, "more than 10000 textures")
				}
				outName = fmt.Sprintf("/3D/Textures/texture%d.png", len(s.textures)+1)
				s.textures[key] = outName
				s.texOrder = append(s.texOrder, outName)
			}
			if !slices.ContainsFunc(*rels, func(r relationship) bool { return r.target == outName }) {
				*rels = append(*rels, relationship{target: outName, typ: relTexture})
			}
			val = []byte(outName)
		}
		buf = append(buf, ' ')
		if pre := nsPrefix[rule.space]; pre != "" {
			buf = append(append(buf, pre...), ':')
		}
		buf = append(append(append(append(buf, rule.local...), `="`...), val...), '"')
	}
	return buf, nil
}
