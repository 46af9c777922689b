package mesh

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
)

// Limits bound what a reader accepts. Over-limit input fails with
// ErrTooLarge before the memory is spent.
type Limits struct {
	// MaxTriangles per file. A 3MF package is held to it twice: the
	// triangles all its objects and model parts hold, and the triangles its
	// build places, counting every instance of a component or build item.
	MaxTriangles int64
	// MaxVertices per mesh (unique vertices) in STL and OBJ. A 3MF package
	// is held to it like MaxTriangles: the vertices all its objects hold,
	// and those its build places.
	MaxVertices int64
	// MaxMeshBytes caps the memory of the vertex and triangle tables one
	// 3MF package holds, over all its objects and model parts (24 bytes a
	// vertex, 12 a triangle), counted as the tables are reserved: they grow
	// by doubling, never past what is left of the budget, and a vertex
	// table never past half of that (its triangles follow it). Measuring
	// the package takes up to about as much again (connectivity, placed
	// copies).
	MaxMeshBytes int64
	// MaxUncompressed caps the bytes inflated from a 3MF package in all,
	// MaxPartUncompressed those inflated from one part. Both count the
	// bytes the decompressor actually produces; the sizes the zip directory
	// declares only ever refuse a part early.
	MaxUncompressed     int64
	MaxPartUncompressed int64
	// MaxRatio caps the inflation ratio of a 3MF part once it has produced
	// more than 1 MiB: bytes produced over compressed bytes actually read
	// from the file, checked as it inflates (zip bombs reach 1000:1; mesh
	// XML stays well under 50:1).
	MaxRatio int64
	// MaxParts caps the entries of a 3MF package; MaxModelParts the model
	// parts one package may reference through the production extension.
	MaxParts      int
	MaxModelParts int
	// MaxDepth caps 3MF component nesting.
	MaxDepth int
}

// DefaultLimits suit clinical models of a few million triangles (a 3MF
// package of up to about 5.5 million triangles on 2.8 million vertices, or
// 500 MiB of XML) and keep the memory one 3MF package takes, hostile or
// not, within about 300 MiB, so that a 2-core, 24 GiB worker can have 8 to
// 32 models in flight.
func DefaultLimits() Limits {
	return Limits{
		MaxTriangles:        50_000_000,
		MaxVertices:         50_000_000,
		MaxMeshBytes:        128 << 20,
		MaxUncompressed:     512 << 20,
		MaxPartUncompressed: 512 << 20,
		MaxRatio:            200,
		MaxParts:            10_000,
		MaxModelParts:       1024,
		MaxDepth:            32,
	}
}

// withDefaults fills fields left zero (or negative) with the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxTriangles <= 0 {
		l.MaxTriangles = d.MaxTriangles
	}
	if l.MaxVertices <= 0 {
		l.MaxVertices = d.MaxVertices
	}
	if l.MaxMeshBytes <= 0 {
		l.MaxMeshBytes = d.MaxMeshBytes
	}
	if l.MaxUncompressed <= 0 {
		l.MaxUncompressed = d.MaxUncompressed
	}
	if l.MaxPartUncompressed <= 0 {
		l.MaxPartUncompressed = d.MaxPartUncompressed
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxModelParts <= 0 {
		l.MaxModelParts = d.MaxModelParts
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	return l
}

// Options tune Measure.
type Options struct {
	// Format forces a format; "" sniffs the content.
	Format Format
	// Units declares the unit of STL and OBJ coordinates when the context
	// knows it (DICOM MeasurementUnitsCodeSequence: "mm", "cm", "m", "um";
	// or a 3MF unit name). A 3MF file's own unit always wins.
	Units string
	// DefaultUnits is assumed for STL and OBJ when Units is empty; the
	// report then says so and may carry a units hint. Default "mm".
	DefaultUnits string
	// Limits; zero fields take the defaults.
	Limits Limits
}

// DefaultOptions sniff the format and assume millimetres.
func DefaultOptions() Options {
	return Options{DefaultUnits: Millimeter, Limits: DefaultLimits()}
}

// sniffBytes is how much of the file Sniff wants to see.
const sniffBytes = 4096

// Sniff tells the model format of a file from its first bytes (at least
// the first 4 KiB when the file is that long), its size and, only when the
// content does not decide, its name's extension. It returns "" for anything
// else.
func Sniff(head []byte, size int64, name string) Format {
	if len(head) >= 4 && head[0] == 'P' && head[1] == 'K' && (head[2] == 3 && head[3] == 4 || head[2] == 5 && head[3] == 6) {
		return ThreeMF
	}
	if size >= 84 && len(head) >= 84 {
		n := int64(head[80]) | int64(head[81])<<8 | int64(head[82])<<16 | int64(head[83])<<24
		if 84+50*n == size {
			return STL
		}
	}
	if looksASCIISTL(head[:min(len(head), stlHeadBytes)]) {
		return STL
	}
	if looksOBJ(head) {
		return OBJ
	}
	switch ext := strings.ToLower(name[strings.LastIndexByte(name, '.')+1:]); {
	case !strings.Contains(name, "."):
	case ext == "stl":
		return STL
	case ext == "3mf":
		return ThreeMF
	case ext == "obj":
		return OBJ
	}
	return ""
}

// looksOBJ: text whose statements are OBJ statements, with at least one
// vertex or face among them.
func looksOBJ(head []byte) bool {
	seen, cont := false, false
	lines := bytes.Split(head, []byte{'\n'})
	if len(lines) > 1 && len(head) >= sniffBytes {
		lines = lines[:len(lines)-1] // the last line may be cut
	}
	for _, ln := range lines {
		for _, c := range ln {
			if c < 0x20 && c != '\t' && c != '\r' {
				return false
			}
		}
		ln = bytes.TrimRight(ln, " \t\r")
		wasCont := cont
		cont = len(ln) > 0 && ln[len(ln)-1] == '\\'
		f := bytes.Fields(ln)
		if wasCont || len(f) == 0 || f[0][0] == '#' {
			continue
		}
		switch string(f[0]) {
		case "v", "f", "vt", "vn", "fo":
			seen = true
		case "o", "g", "s", "mtllib", "usemtl", "l", "p", "vp", "mg", "lod", "maplib", "usemap",
			"cstype", "deg", "bmat", "step", "curv", "curv2", "surf", "parm", "trim", "hole", "scrv", "sp", "end", "con":
		default:
			return false
		}
	}
	return seen
}

// Measure reads a model file and measures it. r must allow reads at any
// offset below size; the file is never loaded whole.
func Measure(ctx context.Context, r io.ReaderAt, size int64, opt Options) (*Report, error) {
	if size < 0 {
		return nil, malformed("", "negative size")
	}
	opt.Limits = opt.Limits.withDefaults()
	format := opt.Format
	if format == "" {
		head := make([]byte, min(size, sniffBytes))
		if m, err := r.ReadAt(head, 0); m < len(head) {
			return nil, malformed("", "cannot read the file: %v", errors.Unwrap(err))
		}
		if format = Sniff(head, size, ""); format == "" {
			return nil, unsupported("", "not an STL, 3MF or OBJ model file")
		}
	}
	var rep *Report
	var err error
	switch format {
	case STL, OBJ:
		unit, scale, assumed, uerr := textUnits(format, opt)
		if uerr != nil {
			return nil, uerr
		}
		if format == STL {
			rep, err = measureSTL(ctx, r, size, scale, opt.Limits)
		} else {
			rep, err = measureOBJ(ctx, r, size, scale, opt.Limits)
		}
		if err != nil {
			return nil, err
		}
		rep.Units, rep.UnitsAssumed = unit, assumed
	case ThreeMF:
		rep, err = measure3MF(ctx, r, size, opt.Limits)
	default:
		return nil, unsupported("", "unknown model format")
	}
	if err != nil {
		return nil, err
	}
	if err := rep.finish(); err != nil {
		return nil, err
	}
	if rep.UnitsAssumed && rep.Triangles > 0 {
		_, scale, _ := unitScale(rep.Units)
		b := rep.BBox.Size
		raw := box{ok: true, max: [3]float64{b[0] / scale, b[1] / scale, b[2] / scale}}
		if h := unitsHint(raw.diag()); h != rep.Units {
			rep.UnitsHint = h
		}
	}
	if rep.Triangles == 0 {
		rep.warn("model has no triangles")
	}
	return rep, nil
}

// MeasureBytes measures a model held in memory, such as the document of an
// Encapsulated STL or OBJ DICOM object (pass the object's units in
// opt.Units).
func MeasureBytes(ctx context.Context, b []byte, opt Options) (*Report, error) {
	return Measure(ctx, bytesAt(b), int64(len(b)), opt)
}

// bytesAt reads from memory; readers that recognise it take slices of it
// instead of copying.
type bytesAt []byte

func (b bytesAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// textUnits resolves the unit of a format without a unit field.
func textUnits(f Format, opt Options) (string, float64, bool, error) {
	u, assumed := opt.Units, false
	if u == "" {
		u, assumed = opt.DefaultUnits, true
	}
	name, scale, ok := unitScale(u)
	if !ok {
		return "", 0, false, unsupported(f, "unknown unit (use mm, cm, m, um, inch or foot)")
	}
	return name, scale, assumed, nil
}

func measureSTL(ctx context.Context, r io.ReaderAt, size int64, scale float64, lim Limits) (*Report, error) {
	kind, n, err := detectSTL(r, size)
	if err != nil {
		return nil, err
	}
	rep := &Report{Format: STL}
	if kind == stlBinary {
		t, err := measureBinarySTL(ctx, r, n, lim)
		if err != nil {
			return nil, err
		}
		rep.Objects = []Object{{Type: "model", Metrics: t.metrics(scale)}}
		return rep, nil
	}
	solids, warnings, err := measureASCIISTL(ctx, r, size, lim)
	if err != nil {
		return nil, err
	}
	for i := range solids {
		rep.Objects = append(rep.Objects, Object{Name: solids[i].name, Type: "model", Metrics: solids[i].t.metrics(scale)})
	}
	rep.Warnings = warnings
	return rep, nil
}
