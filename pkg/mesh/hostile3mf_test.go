package mesh

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"testing"
)

// piece is text that a generated deflate stream holds times times over.
type piece struct {
	text  string
	times int
}

// deflatePieces deflates each piece once, with a fresh compressor flushed
// to a byte boundary, and repeats its blocks: a stream that inflates to
// gigabytes costs only the compressed bytes to build. It returns the
// stream, the CRC-32 and the length of what it inflates to.
func deflatePieces(t testing.TB, pieces ...piece) ([]byte, uint32, uint64) {
	t.Helper()
	var out bytes.Buffer
	var crc uint32
	var size uint64
	var blocks [][]byte
	for _, p := range pieces {
		var c bytes.Buffer
		w, err := flate.NewWriter(&c, flate.DefaultCompression)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, p.text); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, c.Bytes())
	}
	n := 0
	for i, p := range pieces {
		n += p.times * len(blocks[i])
	}
	out.Grow(n + 16)
	for i, p := range pieces {
		text := []byte(p.text)
		for k := 0; k < p.times; k++ {
			out.Write(blocks[i])
			crc = crc32.Update(crc, crc32.IEEETable, text)
			size += uint64(len(text))
		}
	}
	w, _ := flate.NewWriter(&out, flate.DefaultCompression)
	if err := w.Close(); err != nil { // the final, empty block
		t.Fatal(err)
	}
	return out.Bytes(), crc, size
}

// rawPart is a zip entry given as a deflate stream.
type rawPart struct {
	name string
	data []byte
	crc  uint32
	size uint64
}

func deflatedPart(t testing.TB, name, text string) rawPart {
	data, crc, size := deflatePieces(t, piece{text, 1})
	return rawPart{name, data, crc, size}
}

// rawPackage writes a zip whose entries carry their sizes and CRCs in the
// directory and no data descriptors, as many zip tools write them: nothing
// after the data checks the directory's sizes.
func rawPackage(t testing.TB, parts ...rawPart) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range parts {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: p.name, Method: zip.Deflate, CRC32: p.crc,
			CompressedSize64: uint64(len(p.data)), UncompressedSize64: p.size})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Offsets of the sizes in a central directory header.
const (
	dirCompressed   = 20
	dirUncompressed = 24
)

// rewriteDirSize returns a copy of a zip (without zip64 records) whose
// central directory entry for name has the size field at off multiplied by
// factor, or set to a value when factor is 0.
func rewriteDirSize(t testing.TB, b []byte, name string, off int, factor, value uint64) []byte {
	t.Helper()
	b = bytes.Clone(b)
	eocd := len(b) - 22
	if binary.LittleEndian.Uint32(b[eocd:]) != 0x06054b50 {
		t.Fatal("no end-of-directory record")
	}
	p := int(binary.LittleEndian.Uint32(b[eocd+16:]))
	for i := 0; i < int(binary.LittleEndian.Uint16(b[eocd+10:])); i++ {
		if binary.LittleEndian.Uint32(b[p:]) != 0x02014b50 {
			t.Fatal("not a central directory header")
		}
		n, e, c := int(binary.LittleEndian.Uint16(b[p+28:])), int(binary.LittleEndian.Uint16(b[p+30:])), int(binary.LittleEndian.Uint16(b[p+32:]))
		if string(b[p+46:p+46+n]) == name {
			v := value
			if factor != 0 {
				v = uint64(binary.LittleEndian.Uint32(b[p+off:])) * factor
			}
			if v >= 0xFFFFFFFF {
				t.Fatalf("size %d needs zip64", v)
			}
			binary.LittleEndian.PutUint32(b[p+off:], uint32(v))
			return b
		}
		p += 46 + n + e + c
	}
	t.Fatalf("no entry %s", name)
	return nil
}

const modelHead = `<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xml:lang="en-US" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"><resources>`

// spacesPackage is a cube package whose model part holds pad spaces
// before the cube (deflate shrinks them about 1000 times).
func spacesPackage(t testing.TB, pad int) []byte {
	head, tail := modelHead+"\n", `<object id="1">`+cubeMesh(10)+`</object></resources><build><item objectid="1"/></build></model>`
	const run = 1 << 20
	pieces := []piece{{head, 1}, {strings.Repeat(" ", run), pad / run}, {strings.Repeat(" ", pad%run), 1}, {tail, 1}}
	data, crc, size := deflatePieces(t, pieces...)
	return rawPackage(t, deflatedPart(t, "[Content_Types].xml", contentTypesXML), deflatedPart(t, "_rels/.rels", testRels),
		rawPart{"3D/3dmodel.model", data, crc, size})
}

func tooLargeWith(err error, reason string) bool {
	return errors.Is(err, ErrTooLarge) && strings.Contains(err.Error(), reason)
}

// TestThreeMFDirectoryLies: the zip bomb guard counts what is really read
// and inflated. A package whose directory claims a compressed size 200
// times the real one (so that the declared ratio looks like 5:1) is refused
// as soon as the bytes inflated pass 1 MiB at a real ratio near 1000:1.
func TestThreeMFDirectoryLies(t *testing.T) {
	honest := spacesPackage(t, 8<<20)
	lie := rewriteDirSize(t, honest, "3D/3dmodel.model", dirCompressed, 200, 0)
	for name, pkg := range map[string][]byte{"honest": honest, "compressed size ×200": lie} {
		_, err := MeasureBytes(context.Background(), pkg, DefaultOptions())
		if !tooLargeWith(err, "zip bomb guard") || !strings.Contains(err.Error(), "compressed bytes read") {
			t.Errorf("%s: %v, want the zip bomb guard", name, err)
		}
		// the refusal comes after 1 MiB, not after inflating 8 MiB
		p, err := openPackage(bytesAt(pkg), int64(len(pkg)), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		rc, err := p.open("/3D/3dmodel.model")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); !tooLargeWith(err, "zip bomb guard") {
			t.Errorf("%s: reading the part: %v", name, err)
		}
		if p.inflated > ratioFloor+xmlChunk {
			t.Errorf("%s: %d bytes inflated before the refusal", name, p.inflated)
		}
		t.Logf("%s: refused after inflating %d bytes from %d read", name, p.inflated, p.src.n)
	}

	// with the ratio guard out of the way, the caps apply to the bytes
	// inflated, whatever the directory says
	opt := DefaultOptions()
	opt.Limits.MaxRatio = 1 << 20
	ref, err := MeasureBytes(context.Background(), honest, opt)
	if err != nil {
		t.Fatalf("honest package within the limits: %v", err)
	}
	if rep, err := MeasureBytes(context.Background(), lie, opt); err != nil {
		t.Errorf("lying package within the limits: %v", err)
	} else if rep.Triangles != 12 || rep.VolumeMM3 != ref.VolumeMM3 {
		t.Errorf("lying package measured %d triangles, %g mm³", rep.Triangles, rep.VolumeMM3)
	}
	for _, lim := range []struct {
		name   string
		set    func(*Limits)
		reason string
	}{
		{"part cap", func(l *Limits) { l.MaxPartUncompressed = 4 << 20 }, "per part"},
		{"package budget", func(l *Limits) { l.MaxUncompressed = 4 << 20 }, "budget"},
	} {
		o := opt
		lim.set(&o.Limits)
		if _, err := MeasureBytes(context.Background(), lie, o); !tooLargeWith(err, lim.reason) {
			t.Errorf("%s: %v", lim.name, err)
		}
	}
	// a directory that understates the inflated size is caught by
	// archive/zip when more comes out
	short := rewriteDirSize(t, honest, "3D/3dmodel.model", dirUncompressed, 0, 1<<20)
	if _, err := MeasureBytes(context.Background(), short, opt); !errors.Is(err, ErrMalformed) {
		t.Errorf("understated size: %v", err)
	}
}

// inflater stands in for a decompressor: every Read takes a 1/ratio share
// of the bytes it returns from the package file.
type inflater struct {
	src   io.ReaderAt
	ratio int
	left  int
	off   int64
}

func (f *inflater) Read(b []byte) (int, error) {
	if f.left == 0 {
		return 0, io.EOF
	}
	n := min(len(b), f.left, 32<<10)
	m, _ := f.src.ReadAt(make([]byte, max(n/f.ratio, 1)), f.off)
	f.off += int64(m)
	f.left -= n
	clear(b[:n])
	return n, nil
}

func (f *inflater) Close() error { return nil }

// TestCapReaderCountsRealBytes: the caps and the ratio follow the bytes a
// part really yields and really reads, with no directory sizes involved.
func TestCapReaderCountsRealBytes(t *testing.T) {
	file := bytesAt(make([]byte, 16<<20))
	lim := DefaultLimits()
	lim.MaxPartUncompressed = 3 << 20
	lim.MaxUncompressed = 5 << 20
	read := func(p *opcPackage, ratio, size int) (int64, error) {
		c := &capReader{rc: &inflater{src: p.src, ratio: ratio, left: size}, p: p}
		return io.Copy(io.Discard, c)
	}
	p := &opcPackage{src: &countedAt{r: file}, lim: lim}
	if n, err := read(p, 300, 2<<20); !tooLargeWith(err, "zip bomb guard") || n > ratioFloor+32<<10 {
		t.Errorf("ratio 300: %d bytes, %v", n, err)
	}
	p = &opcPackage{src: &countedAt{r: file}, lim: lim}
	if n, err := read(p, 150, 2<<20); err != nil || n != 2<<20 {
		t.Errorf("ratio 150: %d bytes, %v", n, err)
	}
	if n, err := read(p, 4, 4<<20); !tooLargeWith(err, "limit per part") || n > 3<<20+32<<10 {
		t.Errorf("part over its cap: %d bytes, %v", n, err)
	}
	if n, err := read(p, 4, 2<<20); !tooLargeWith(err, "budget") || p.inflated > 5<<20+32<<10 {
		t.Errorf("package over its budget: %d bytes (%d in all), %v", n, p.inflated, err)
	}
}

// stripObjects is a model of count objects, each a strip of n vertices and
// n-2 triangles (every vertex used), placed side by side; with shared set,
// one such object is placed count times through components instead.
func stripObjects(count, n int, shared bool) string {
	var mesh strings.Builder
	mesh.WriteString(`<mesh><vertices>`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&mesh, `<vertex x="%d" y="%d" z="0"/>`, i, i%2)
	}
	mesh.WriteString(`</vertices><triangles>`)
	for i := 0; i+2 < n; i++ {
		a, b := i+1, i+2
		if i%2 == 1 {
			a, b = b, a
		}
		fmt.Fprintf(&mesh, `<triangle v1="%d" v2="%d" v3="%d"/>`, i, a, b)
	}
	mesh.WriteString(`</triangles></mesh>`)
	var res, build strings.Builder
	if shared {
		res.WriteString(`<object id="1" name="DOE^JANE">` + mesh.String() + `</object><object id="2"><components>`)
		for k := 0; k < count; k++ {
			fmt.Fprintf(&res, `<component objectid="1" transform="1 0 0 0 1 0 0 0 1 0 %d 0"/>`, 10*k)
		}
		res.WriteString(`</components></object>`)
		build.WriteString(`<item objectid="2"/>`)
	} else {
		for k := 1; k <= count; k++ {
			fmt.Fprintf(&res, `<object id="%d" name="DOE^JANE">%s</object>`, k, mesh.String())
			fmt.Fprintf(&build, `<item objectid="%d" transform="1 0 0 0 1 0 0 0 1 0 %d 0"/>`, k, 10*k)
		}
	}
	return model("millimeter", res.String(), build.String())
}

// TestThreeMFPackageCaps: vertex, triangle and memory caps hold for the
// package as a whole — objects each under a cap whose sum is over it are
// refused — and for what the build places, each instance again.
func TestThreeMFPackageCaps(t *testing.T) {
	const n = 1000
	three := threeMF(t, stripObjects(3, n, false))
	one := threeMF(t, stripObjects(1, n, false))
	placed := threeMF(t, stripObjects(3, n, true))
	within := DefaultOptions()
	within.Limits.MaxVertices = 3 * n
	within.Limits.MaxTriangles = 3 * (n - 2)
	// each object's tables take 32 KiB of coordinates and 16 KiB of
	// triangles (grown by doubling from 1024 elements)
	within.Limits.MaxMeshBytes = 3 * 48 << 10
	for name, pkg := range map[string][]byte{"three objects": three, "one object placed three times": placed} {
		rep, err := MeasureBytes(context.Background(), pkg, within)
		if err != nil {
			t.Fatalf("%s within the caps: %v", name, err)
		}
		if rep.Vertices != 3*n || rep.Triangles != 3*(n-2) || rep.Shells != 3 || rep.Watertight {
			t.Errorf("%s: %d vertices, %d triangles, %d shells, watertight %v", name, rep.Vertices, rep.Triangles, rep.Shells, rep.Watertight)
		}
		if want := [3]float64{n - 1, 21, 0}; rep.BBox.Size != want {
			t.Errorf("%s: bounding box %v, want %v", name, rep.BBox.Size, want)
		}
	}
	cases := []struct {
		name   string
		pkg    []byte
		set    func(*Limits)
		reason string
	}{
		{"vertices held", three, func(l *Limits) { l.MaxVertices = 3*n - 1 }, "package holds more than 2999 vertices"},
		{"triangles held", three, func(l *Limits) { l.MaxTriangles = 3*(n-2) - 1 }, "package holds more than 2993 triangles"},
		{"memory", three, func(l *Limits) { l.MaxMeshBytes = 128 << 10 }, "memory budget"},
		{"vertices placed", placed, func(l *Limits) { l.MaxVertices = 3*n - 1 }, "build places more than 2999 vertices"},
		{"triangles placed", placed, func(l *Limits) { l.MaxTriangles = 3*(n-2) - 1 }, "build places more than 2993 triangles"},
	}
	for _, c := range cases {
		opt := within
		c.set(&opt.Limits)
		_, err := MeasureBytes(context.Background(), c.pkg, opt)
		if !tooLargeWith(err, c.reason) {
			t.Errorf("%s: %v, want %q", c.name, err, c.reason)
		} else if strings.Contains(err.Error(), "DOE") {
			t.Errorf("%s: the error carries the object's name: %v", c.name, err)
		}
		// one object alone is within the same caps
		if &c.pkg[0] == &three[0] {
			if _, err := MeasureBytes(context.Background(), one, opt); err != nil {
				t.Errorf("%s: one object: %v", c.name, err)
			}
		}
	}
}

// TestGrowStaysInBudget: tables grown against one budget never reserve
// more than it; a vertex table takes at most half of what is left, and a
// triangle table all of it before it fails.
func TestGrowStaysInBudget(t *testing.T) {
	lim := Limits{MaxMeshBytes: 1_000_003}
	var b pkgBudget
	var xyz []float64
	var tri []uint32
	check := func() {
		t.Helper()
		if reserved := int64(8*cap(xyz) + 4*cap(tri)); reserved != b.bytes || b.bytes > lim.MaxMeshBytes {
			t.Fatalf("%d bytes reserved, %d charged, limit %d", reserved, b.bytes, lim.MaxMeshBytes)
		}
	}
	var err error
	for err == nil {
		if xyz, err = grow(xyz, 3, 8, 2, &b, &lim); err == nil {
			xyz = append(xyz, 1, 2, 3)
		}
		check()
	}
	if !tooLargeWith(err, "memory budget") || 8*len(xyz) <= int(lim.MaxMeshBytes)/2-48 || 8*cap(xyz) > int(lim.MaxMeshBytes)/2 {
		t.Errorf("vertex table of %d bytes (%d reserved): %v", 8*len(xyz), 8*cap(xyz), err)
	}
	for err = nil; err == nil; {
		if tri, err = grow(tri, 3, 4, 1, &b, &lim); err == nil {
			tri = append(tri, 0, 0, 0)
		}
		check()
	}
	if left := lim.MaxMeshBytes - b.bytes; !tooLargeWith(err, "memory budget") || left >= 12 {
		t.Errorf("refused with %d of %d bytes left: %v", left, lim.MaxMeshBytes, err)
	}
}

// threeObjectsOfVertices is the model part of the reported package: three
// objects of perVertex vertices each (one triangle apiece), deflated at
// about 120:1 — under the ratio guard.
func threeObjectsOfVertices(t testing.TB, perObject int) ([]byte, uint32, uint64) {
	const chunk = 10_000
	if perObject%chunk != 0 {
		t.Fatalf("vertices per object must be a multiple of %d", chunk)
	}
	var vs strings.Builder
	seed := uint32(1)
	for i := 0; i < chunk; i++ {
		y := "5"
		if i%32 == 0 {
			seed = seed*1664525 + 1013904223
			y = strconv.Itoa(int(seed >> 12))
		}
		vs.WriteString(`<vertex x="12.5" y="` + y + `" z="7.25"/>`)
	}
	pieces := []piece{{modelHead, 1}}
	for k := 1; k <= 3; k++ {
		pieces = append(pieces, piece{fmt.Sprintf(`<object id="%d"><mesh><vertices>`, k), 1}, piece{vs.String(), perObject / chunk},
			piece{`</vertices><triangles><triangle v1="0" v2="1" v3="2"/></triangles></mesh></object>`, 1})
	}
	pieces = append(pieces, piece{`</resources><build><item objectid="1"/><item objectid="2"/><item objectid="3"/></build></model>`, 1})
	return deflatePieces(t, pieces...)
}

// oneObjectOfTriangles is a model part of one object of four vertices and
// count triangles over them, deflated at about 100:1.
func oneObjectOfTriangles(t testing.TB, count int) ([]byte, uint32, uint64) {
	const chunk = 10_000
	if count%chunk != 0 {
		t.Fatalf("triangles must be a multiple of %d", chunk)
	}
	var ts strings.Builder
	seed := uint32(7)
	for i := 0; i < chunk; i++ {
		a := 0
		if i%8 == 0 {
			seed = seed*1664525 + 1013904223
			a = int(seed>>30) % 2
		}
		fmt.Fprintf(&ts, `<triangle v1="%d" v2="%d" v3="3"/>`, a, a+1)
	}
	return deflatePieces(t, piece{modelHead + `<object id="1"><mesh><vertices><vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="0"/>` +
		`<vertex x="0" y="1" z="0"/><vertex x="0" y="0" z="1"/></vertices><triangles>`, 1}, piece{ts.String(), count / chunk},
		piece{`</triangles></mesh></object></resources><build><item objectid="1"/></build></model>`, 1})
}

// TestThreeMFThreeObjectsOverCap: the reported shape at a small scale —
// three objects each under the vertex cap, over it together — is refused
// from a package that inflates it honestly, and when its directory
// understates the inflated size to pass the declared-size check.
func TestThreeMFThreeObjectsOverCap(t *testing.T) {
	data, crc, size := threeObjectsOfVertices(t, 20_000)
	pkg := rawPackage(t, deflatedPart(t, "[Content_Types].xml", contentTypesXML), deflatedPart(t, "_rels/.rels", testRels),
		rawPart{"3D/3dmodel.model", data, crc, size})
	t.Logf("%d-byte package, %d bytes of XML", len(pkg), size)
	opt := DefaultOptions()
	opt.Limits.MaxVertices = 50_000
	if _, err := MeasureBytes(context.Background(), pkg, opt); !tooLargeWith(err, "package holds more than 50000 vertices") {
		t.Errorf("vertex cap: %v", err)
	}
	opt = DefaultOptions()
	opt.Limits.MaxMeshBytes = 1 << 20
	if _, err := MeasureBytes(context.Background(), pkg, opt); !tooLargeWith(err, "memory budget") {
		t.Errorf("memory budget: %v", err)
	}
	// the memory budget stops it in the second object; a directory that
	// understates the size to pass the declared-size check changes nothing
	opt.Limits.MaxPartUncompressed = int64(size) * 3 / 4
	if _, err := MeasureBytes(context.Background(), pkg, opt); !tooLargeWith(err, "declares") {
		t.Errorf("declared size: %v", err)
	}
	lie := rewriteDirSize(t, pkg, "3D/3dmodel.model", dirUncompressed, 0, size*2/3)
	if _, err := MeasureBytes(context.Background(), lie, opt); !tooLargeWith(err, "memory budget") {
		t.Errorf("understated size: %v", err)
	}
	opt = DefaultOptions()
	if rep, err := MeasureBytes(context.Background(), pkg, opt); err != nil {
		t.Errorf("within the default limits: %v", err)
	} else if rep.Package.Vertices != 60_000 || rep.Triangles != 3 {
		t.Errorf("%d vertices held, %d triangles", rep.Package.Vertices, rep.Triangles)
	}
}
