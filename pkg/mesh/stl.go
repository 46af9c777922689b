package mesh

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
)

// stlKind tells how an STL file is encoded.
type stlKind int

const (
	stlBinary stlKind = iota + 1
	stlASCII
)

// stlHeadBytes is how much of a file decides ASCII against binary.
const stlHeadBytes = 1024

// detectSTL applies the only reliable rule: a file is binary when its size
// is exactly 84 + 50 × the triangle count of its header. Otherwise it must
// read as text that starts with "solid". A file that is neither gets an
// error that says what the size check found, since that is the usual cause
// (a truncated or padded binary file).
func detectSTL(r io.ReaderAt, size int64) (stlKind, uint32, error) {
	head := make([]byte, min(size, stlHeadBytes))
	if _, err := r.ReadAt(head, 0); err != nil && !(errors.Is(err, io.EOF) && len(head) == int(size)) {
		return 0, 0, malformed(STL, "cannot read the file header: %v", errors.Unwrap(err))
	}
	var n uint32
	if size >= 84 {
		n = binary.LittleEndian.Uint32(head[80:84])
		if 84+50*int64(n) == size {
			return stlBinary, n, nil
		}
	}
	if looksASCIISTL(head) {
		return stlASCII, 0, nil
	}
	if size < 84 {
		return 0, 0, malformed(STL, "file of %d bytes is too short for a binary STL (84-byte header) and is not ASCII STL", size)
	}
	want := 84 + 50*int64(n)
	if want > size {
		return 0, 0, malformed(STL, "truncated binary STL: the header declares %d triangles (%d bytes) but the file has %d bytes", n, want, size)
	}
	return 0, 0, malformed(STL, "binary STL with %d bytes after its %d declared triangles (file of %d bytes, expected %d)", size-want, n, size, want)
}

// looksASCIISTL: optional BOM and whitespace, the keyword solid ending its
// word, and text up to the first facet or endsolid keyword of the next
// line (binary facet data nearly always holds NUL or control bytes, and a
// binary header that starts with "solid" is not followed by one).
func looksASCIISTL(head []byte) bool {
	b := head
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		b = b[3:]
	}
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if len(b)-i < 5 || !eqFold(b[i:i+5], "solid") || len(b)-i > 5 && !isSpace(b[i+5]) {
		return false
	}
	text := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 && !isSpace(c) {
				return false
			}
		}
		return true
	}
	nl := bytes.IndexByte(b[i:], '\n')
	if nl < 0 {
		return text(b)
	}
	j := i + nl + 1
	if !text(b[:j]) {
		return false
	}
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	rest := b[j:]
	switch {
	case len(rest) == 0:
		return true
	case len(rest) >= 5 && eqFold(rest[:5], "facet"), len(rest) >= 8 && eqFold(rest[:8], "endsolid"):
		return true
	case len(rest) < 8:
		// the head ends inside the keyword
		return eqFold(rest, "endsolid"[:len(rest)]) || len(rest) < 5 && eqFold(rest, "facet"[:len(rest)])
	}
	return false
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'
}

// eqFold compares an ASCII token with a lower-case keyword, ignoring case.
func eqFold(tok []byte, kw string) bool {
	if len(tok) != len(kw) {
		return false
	}
	for i := 0; i < len(kw); i++ {
		c := tok[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}

// stlAcc measures one STL solid as its triangles stream by: vertices are
// welded, area and volume summed in float64 about the first vertex (which
// limits cancellation on models far from the origin), and connectivity is
// gathered for the edge and shell checks.
//
// Triangles are taken in batches (see batch). Most corners repeat one seen
// shortly before (in the facet just before, or in the previous row of a
// strip), and are found in a small table of recent corners that stays in
// cache. The others are welded against the full table, whose
// slots are random and far larger than the caches: done one at a time
// those misses queue up behind each other, so a batch loads all the slots
// it needs in a loop of nothing but loads, letting the misses overlap, and
// then welds against a table that is in cache.
type stlAcc struct {
	w   *welder
	t   topo
	vol []float64 // per-vertex share of vol6, for per-shell volumes
	// nv counts the vertices; w.xyz, t.parent, t.adj and vol are allocated
	// ahead (length = capacity) and doubled when full, so that adding a
	// vertex is a few stores
	nv     int
	tl     tally
	refSet bool
	maxV   int
	raw    []byte // facet records queued by add
	recent *[recentSize]recentEnt
	todo   []todoCorner // corners of the batch not among the recent ones
	ids    []uint32     // vertex id per corner of the batch
	alias  []uint32     // per corner: the corner of the batch whose id it takes
	edges  []uint64     // edges of the batch (see queued)
	sink   uint32
}

// recentEnt is a recently seen corner: its x and y bits, z bits and vertex
// id, or pendingRef plus its index in the batch while it is not welded yet.
type recentEnt struct {
	xy  uint64
	z   uint32
	ref uint32
}

// todoCorner is a corner that the full weld table must resolve.
type todoCorner struct {
	xy   uint64
	h    uint64 // weldHash
	z    uint32
	i    uint32 // index in the batch
	slot uint32 // its entry in recent
}

const (
	// recentSize entries (64 KiB) hold the corners of the last few
	// thousand triangles: a row of a strip is seldom longer.
	recentBits = 12
	recentSize = 1 << recentBits
	pendingRef = 1 << 31
	// emptyZ marks a free recent entry: -0 is folded into +0, so no
	// corner has these z bits.
	emptyZ = 1 << 31
)

// recentIndex hashes a corner to its entry in recent.
func recentIndex(xy uint64, z uint32) uint32 {
	return uint32((xy*0x9E3779B97F4A7C15 ^ uint64(z)*0xC2B2AE3D27D4EB4F) >> (64 - recentBits))
}

// stlBatch is the number of triangles welded together.
const stlBatch = 4096

// newSTLAcc sizes the weld table for expectVerts vertices and the
// per-vertex arrays for initVerts; both grow when the guess is low.
func newSTLAcc(expectVerts, initVerts int, lim Limits) *stlAcc {
	s := &stlAcc{w: newWelder(expectVerts), maxV: int(min(lim.MaxVertices, maxWeldID))}
	s.growVertices(initVerts)
	s.raw = make([]byte, 0, 50*stlBatch)
	s.recent = new([recentSize]recentEnt)
	for i := range s.recent {
		s.recent[i].z = emptyZ
	}
	s.todo = make([]todoCorner, 3*stlBatch)
	s.ids = make([]uint32, 3*stlBatch)
	s.alias = make([]uint32, 3*stlBatch)
	s.edges = make([]uint64, 3*stlBatch)
	return s
}

func finite32(bits uint32) bool { return bits&0x7F800000 != 0x7F800000 }

// add queues one triangle given as nine float32 bit patterns (ASCII STL),
// as a binary facet record so that both encodings take the same path.
func (s *stlAcc) add(c *[9]uint32) error {
	n := len(s.raw)
	s.raw = s.raw[:n+50]
	r := s.raw[n : n+50 : n+50]
	for k, v := range c {
		binary.LittleEndian.PutUint32(r[12+4*k:], v)
	}
	if n+50 >= 50*stlBatch {
		err := s.batch(s.raw)
		s.raw = s.raw[:0]
		return err
	}
	return nil
}

// flush measures what add queued.
func (s *stlAcc) flush() error {
	err := s.batch(s.raw)
	s.raw = s.raw[:0]
	return err
}

// le32 reads a little-endian uint32 at b[i:].
func le32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i : i+4 : i+4]) }

// foldNegZero maps -0 to +0 in a corner (x and y bits in xy), so that
// they weld.
func foldNegZero(xy uint64, z uint32) (uint64, uint32) {
	if uint32(xy) == 1<<31 {
		xy &^= 1 << 31
	}
	if uint32(xy>>32) == 1<<31 {
		xy &^= 1 << 63
	}
	if z == 1<<31 {
		z = 0
	}
	return xy, z
}

// batch measures binary facet records (50 bytes each, at most stlBatch):
// find corners seen recently, hash the others and touch their slots
// (overlapping the cache misses), weld, then sum geometry and
// connectivity. Each step is its own function: in one large loop nest the
// compiler keeps the loop variables on the stack.
func (s *stlAcc) batch(raw []byte) error {
	nt := len(raw) / 50
	todo := s.corners(raw, nt)
	s.sink += touch(s.w.slots, s.w.mask, todo)
	ids := s.ids[:3*nt]
	if err := s.weld(todo, ids); err != nil {
		return err
	}
	// every corner now takes the id of the corner alias names, which
	// weld or corners set; list the edges of each triangle as well
	alias, edges := s.alias[:3*nt], s.edges[:3*nt]
	for i := 0; i+2 < len(alias); i += 3 {
		a, b, c := ids[alias[i]], ids[alias[i+1]], ids[alias[i+2]]
		ids[i], ids[i+1], ids[i+2] = a, b, c
		edges[i], edges[i+1], edges[i+2] = queued(a, b), queued(b, c), queued(c, a)
	}
	s.geometry(raw, nt, ids)
	s.t.edges(edges)
	return nil
}

// corners reads the corners of nt facets. A corner found among the recent
// ones takes its vertex id, or, if it first appeared earlier in this
// batch, that corner's index in alias. The others are entered in recent
// (pending) and listed in the result with their weld hash.
func (s *stlAcc) corners(raw []byte, nt int) []todoCorner {
	recent := s.recent
	ids, alias := s.ids[:3*nt], s.alias[:3*nt]
	todo := s.todo[:3*nt]
	n := 0
	// one loop over the corners, not two nested: fewer variables
	off, c := 12, 0
	for i := range ids {
		r := raw[off : off+12 : off+12]
		off += 12
		if c++; c == 3 {
			off += 14
			c = 0
		}
		xy := binary.LittleEndian.Uint64(r[0:8])
		z := binary.LittleEndian.Uint32(r[8:12])
		if uint32(xy) == 1<<31 || uint32(xy>>32) == 1<<31 || z == 1<<31 {
			xy, z = foldNegZero(xy, z)
		}
		ri := recentIndex(xy, z)
		e := &recent[ri%recentSize]
		if e.xy == xy && e.z == z {
			ref := e.ref
			a := uint32(i)
			if ref&pendingRef != 0 {
				a = ref &^ pendingRef
			}
			ids[i], alias[i] = ref, a
			continue
		}
		e.xy, e.z, e.ref = xy, z, pendingRef|uint32(i)
		alias[i] = uint32(i)
		todo[n] = todoCorner{xy: xy, z: z, h: weldHash(uint32(xy), uint32(xy>>32), z), i: uint32(i), slot: ri}
		n++
	}
	return todo[:n]
}

// touch loads the weld-table slots of the listed corners in a loop of
// nothing but loads, so that as many cache misses as the core allows are
// in flight at once; the sum only keeps the loads from being dropped.
func touch(slots []uint32, mask uint64, todo []todoCorner) uint32 {
	sink := uint32(0)
	for k := range todo {
		sink += slots[todo[k].h&mask]
	}
	return sink
}

// weld gives the listed corners their vertex ids, adding new vertices
// (the welder's lookup, inlined: this loop runs for every corner that is
// not a recent one).
func (s *stlAcc) weld(todo []todoCorner, ids []uint32) error {
	slots, mask, xyz, recent := s.w.slots, s.w.mask, s.w.xyz, s.recent
	n0 := uint32(s.nv)
	n := n0
	// below lim a new vertex fits the arrays and the table (kept at most
	// half full) and is within the limit: one comparison
	lim := uint32(min(len(xyz), len(slots)/2, s.maxV))
next:
	for k := range todo {
		tc := &todo[k]
		h := tc.h
		x, y, z := uint32(tc.xy), uint32(tc.xy>>32), tc.z
		fp := slotFingerprint(h)
	probe:
		j := h & mask
		for {
			sl := slots[j]
			if sl == 0 {
				break
			}
			if sl&slotFP == fp {
				id := sl&slotID - 1
				if p := &xyz[id]; p[0] == x && p[1] == y && p[2] == z {
					ids[tc.i] = id
					if e := &recent[tc.slot%recentSize]; e.ref == pendingRef|tc.i {
						e.ref = id
					}
					continue next
				}
			}
			j = (j + 1) & mask
		}
		// a new vertex, in free slot j
		if !finite32(x) || !finite32(y) || !finite32(z) {
			return malformed(STL, "triangle %d has a coordinate that is not a finite number", s.tl.triangles+int64(tc.i/3)+1)
		}
		if n >= lim {
			// rare: grow the per-vertex arrays, or the table (the
			// slot is then looked up again)
			s.newVertices(n0, n)
			n0 = n
			if int(n) >= s.maxV {
				return tooLarge(STL, "more than %d unique vertices", s.maxV)
			}
			if int(n) == len(xyz) {
				s.growVertices(int(n) + 1)
				xyz = s.w.xyz
			}
			if 2*(int(n)+1) > len(slots) {
				s.w.rehash(int(n))
				slots, mask = s.w.slots, s.w.mask
			}
			lim = uint32(min(len(xyz), len(slots)/2, s.maxV))
			goto probe
		}
		xyz[n] = [3]uint32{x, y, z}
		slots[j] = fp | (n + 1)
		ids[tc.i] = n
		// the recent entry of the corner takes its id, unless a later
		// corner took the entry
		if e := &recent[tc.slot%recentSize]; e.ref == pendingRef|tc.i {
			e.ref = n
		}
		n++
	}
	s.newVertices(n0, n)
	return nil
}

// newVertices sets up the per-vertex state of vertices n0 to n-1, just
// welded, and counts them. Zero values are written too: a fresh page that
// is read first faults twice (the shared zero page, then a copy).
func (s *stlAcc) newVertices(n0, n uint32) {
	parent, adj, vol := s.t.parent[n0:n], s.t.adj[n0:n], s.vol[n0:n]
	for i := range parent {
		parent[i] = n0 + uint32(i)
	}
	clear(adj)
	clear(vol)
	s.nv = int(n)
}

// geometry sums area, volume and normals about the reference point (the
// first vertex) for nt facets whose corner ids are known, and records
// their edges.
func (s *stlAcc) geometry(raw []byte, nt int, ids []uint32) {
	if nt > 0 && !s.refSet {
		s.tl.ref = [3]float64{f32At(raw, 12), f32At(raw, 16), f32At(raw, 20)}
		s.refSet = true
	}
	// geometry about the reference point, summed in locals
	rx, ry, rz := s.tl.ref[0], s.tl.ref[1], s.tl.ref[2]
	area2, vol6, snx, sny, snz := 0.0, 0.0, 0.0, 0.0, 0.0
	degenerate := int64(0)
	vol := s.vol
	for t := 0; t < nt; t++ {
		r := raw[50*t+12 : 50*t+48 : 50*t+48]
		a, b, cc := ids[3*t], ids[3*t+1], ids[3*t+2]
		ax := f32At(r, 0) - rx
		ay := f32At(r, 4) - ry
		az := f32At(r, 8) - rz
		ux := f32At(r, 12) - rx - ax
		uy := f32At(r, 16) - ry - ay
		uz := f32At(r, 20) - rz - az
		vx := f32At(r, 24) - rx - ax
		vy := f32At(r, 28) - ry - ay
		vz := f32At(r, 32) - rz - az
		nx := uy*vz - uz*vy
		ny := uz*vx - ux*vz
		nz := ux*vy - uy*vx
		l2 := nx*nx + ny*ny + nz*nz
		if l2 == 0 || a == b || b == cc || a == cc {
			degenerate++
		}
		area2 += math.Sqrt(l2)
		v6 := ax*nx + ay*ny + az*nz
		vol6 += v6
		vol[a] += v6
		snx += nx
		sny += ny
		snz += nz
	}
	s.tl.area2 += area2
	s.tl.vol6 += vol6
	s.tl.sumN[0] += snx
	s.tl.sumN[1] += sny
	s.tl.sumN[2] += snz
	s.tl.degenerate += degenerate
	s.tl.triangles += int64(nt)
}

// f32At reads a little-endian float32 at b[i:] as float64.
func f32At(b []byte, i int) float64 { return float64(math.Float32frombits(le32(b, i))) }

// growVertices at least doubles the per-vertex arrays at once: append's
// gentler growth for large slices would copy them many times.
func (s *stlAcc) growVertices(need int) {
	n := max(2*len(s.vol), need, 1024)
	s.w.xyz = grown(s.w.xyz, s.nv, n)
	s.t.parent = grown(s.t.parent, s.nv, n)
	s.t.adj = grown(s.t.adj, s.nv, n)
	s.vol = grown(s.vol, s.nv, n)
}

// grown returns an array of n elements holding the first nv of old.
func grown[T any](old []T, nv, n int) []T {
	b := make([]T, n)
	adviseHuge(b)
	copy(b, old[:nv])
	return b
}

// finish settles connectivity and volumes.
func (s *stlAcc) finish() (tally, error) {
	if err := s.flush(); err != nil {
		return tally{}, err
	}
	nv := s.nv
	s.t.parent, s.t.adj = s.t.parent[:nv], s.t.adj[:nv]
	res := s.t.finish()
	xyz := s.w.xyz[:nv]
	for v, l := range res.label {
		res.shells[l].vol6 += s.vol[v]
		s.tl.box.add(float64(math.Float32frombits(xyz[v][0])), float64(math.Float32frombits(xyz[v][1])), float64(math.Float32frombits(xyz[v][2])))
	}
	s.tl.vertices = int64(nv)
	s.tl.settle(&res, func(want []uint32) []box {
		slot := make(map[uint32]int, len(want))
		for i, sh := range want {
			slot[sh] = i
		}
		boxes := make([]box, len(want))
		for v, l := range res.label {
			if i, ok := slot[l]; ok {
				boxes[i].add(float64(math.Float32frombits(xyz[v][0])), float64(math.Float32frombits(xyz[v][1])), float64(math.Float32frombits(xyz[v][2])))
			}
		}
		return boxes
	})
	return s.tl, nil
}

// binChunk is the number of triangles read at once (800 KB: few reads, and
// the copy is still in cache when its batches are welded).
const binChunk = 4 * stlBatch

// minMapped is the smallest file worth reading through mapped windows.
const minMapped = 4 << 20

func measureBinarySTL(ctx context.Context, r io.ReaderAt, n uint32, lim Limits) (_ *tally, err error) {
	if int64(n) > lim.MaxTriangles {
		return nil, tooLarge(STL, "binary STL declares %d triangles, more than the limit of %d", n, lim.MaxTriangles)
	}
	// A closed mesh has about half as many vertices as triangles. The weld
	// table (two 4-byte slots a vertex, under a tenth of the file) is sized
	// for that, up to four million vertices, since growing it means
	// rehashing; the per-vertex arrays (40 bytes a vertex) start at half
	// that and double, so memory follows the unique vertices rather than
	// the triangle count of the file.
	ev := min(int(n)/2+16, 1<<22)
	acc := newSTLAcc(ev, ev/2+16, lim)
	mem, inMemory := r.(bytesAt)
	// A large file is read through mapped windows (see fileWindows),
	// elsewhere copied chunk by chunk.
	win := windowsOf(r, 84+50*int64(n))
	if win != nil {
		defer win.close()
		defer guardFaults(&err)()
	}
	var buf []byte
	off := int64(84)
	for done := 0; done < int(n); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := min(int(n)-done, binChunk)
		var b []byte
		switch {
		case inMemory:
			b = mem[off : off+int64(50*k)]
		case win != nil:
			var ok bool
			if b, ok = win.window(off, int64(50*k)); ok {
				break
			}
			win = nil // mapping refused: copy instead
			fallthrough
		default:
			if buf == nil {
				buf = make([]byte, 50*min(int(n), binChunk))
			}
			b = buf[:50*k]
			if m, err := r.ReadAt(b, off); m < len(b) {
				return nil, malformed(STL, "cannot read triangles %d to %d: %v", done+1, done+k, err)
			}
		}
		for i := 0; i < k; i += stlBatch {
			if err := acc.batch(b[50*i : 50*min(i+stlBatch, k)]); err != nil {
				return nil, err
			}
		}
		off += int64(len(b))
		done += k
	}
	t, err := acc.finish()
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// scanner splits a text file read through io.ReaderAt into tokens and
// lines, with bounded memory: a token must fit in maxToken bytes.
type scanner struct {
	r         io.ReaderAt
	off, size int64 // file offset of buf[end], file size
	buf       []byte
	pos, end  int
	line      int
	err       error
	bad       bool // a control byte that text files do not hold
	maxBuf    int
}

const (
	scanBuf  = 256 << 10
	maxToken = 64 << 10
)

func newScanner(r io.ReaderAt, size int64) *scanner {
	return &scanner{r: r, size: size, buf: make([]byte, min(int64(scanBuf), max(size, 64))), line: 1, maxBuf: scanBuf + maxToken}
}

// fill moves unread bytes to the front and reads more; false at the end.
func (s *scanner) fill() bool {
	if s.err != nil || s.off >= s.size {
		return false
	}
	if s.pos > 0 {
		copy(s.buf, s.buf[s.pos:s.end])
		s.end -= s.pos
		s.pos = 0
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= s.maxBuf {
			return false
		}
		nb := make([]byte, min(len(s.buf)*2, s.maxBuf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	want := min(int64(len(s.buf)-s.end), s.size-s.off)
	m, err := s.r.ReadAt(s.buf[s.end:s.end+int(want)], s.off)
	s.end += m
	s.off += int64(m)
	if m < int(want) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		s.err = err
	}
	return m > 0
}

// token returns the next whitespace-separated token, valid until the next
// call, or nil at the end of the input.
func (s *scanner) token() []byte {
	for {
		buf, pos, end, line := s.buf, s.pos, s.end, s.line
		for pos < end {
			c := buf[pos]
			if !isSpace(c) {
				break
			}
			if c == '\n' {
				line++
			}
			pos++
		}
		s.pos, s.line = pos, line
		if pos < end {
			break
		}
		if !s.fill() {
			return nil
		}
	}
	start := s.pos
	for {
		buf, pos, end := s.buf, s.pos, s.end
		for pos < end && buf[pos] > ' ' {
			pos++
		}
		s.pos = pos
		if pos < end {
			if !isSpace(buf[pos]) {
				s.bad = true
				return nil
			}
			return buf[start:pos]
		}
		if pos-start > maxToken {
			s.bad = true
			return nil
		}
		n := pos - start
		s.pos = start
		moved := s.fill()
		start = s.pos
		s.pos = start + n
		if !moved {
			return s.buf[start:s.pos]
		}
	}
}

// nextLine returns the next line without its end, valid until the next
// call; false at the end of the input or when a line is longer than the
// buffer may grow (s.bad is then set).
func (s *scanner) nextLine() ([]byte, bool) {
	for {
		if i := bytes.IndexByte(s.buf[s.pos:s.end], '\n'); i >= 0 {
			ln := s.buf[s.pos : s.pos+i]
			s.pos += i + 1
			s.line++
			return ln, true
		}
		if s.end-s.pos >= s.maxBuf-1 {
			s.bad = true
			return nil, false
		}
		if !s.fill() {
			if s.pos < s.end {
				ln := s.buf[s.pos:s.end]
				s.pos = s.end
				return ln, true
			}
			return nil, false
		}
	}
}

// restOfLine returns the rest of the current line without its end and
// surrounding blanks (at most maxToken bytes are kept), consuming the
// newline.
func (s *scanner) restOfLine() []byte {
	var out []byte
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			s.pos++
			if c == '\n' {
				s.line++
				return trimSpace(out)
			}
			if c < ' ' && !isSpace(c) {
				s.bad = true
				return nil
			}
			if len(out) < maxToken {
				out = append(out, c)
			}
		}
		if !s.fill() {
			return trimSpace(out)
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// stlSolid is one solid of an ASCII file.
type stlSolid struct {
	name Text
	t    tally
}

// asciiSTL walks the grammar of ASCII STL and hands every triangle to emit.
// It tolerates several solids, a missing endsolid, any whitespace, CRLF,
// upper-case keywords and loops of more than three vertices (fanned).
type asciiSTL struct {
	sc       *scanner
	warnings []string
	// callbacks
	begin func(name []byte) error
	tri   func(c *[9]uint32) error
	end   func() error
}

const maxLoopVertices = 1024

func (p *asciiSTL) errorf(format string, args ...any) error {
	if p.sc.bad {
		return malformed(STL, "ASCII STL holds binary data or an over-long word near line %d", p.sc.line)
	}
	if p.sc.err != nil && !errors.Is(p.sc.err, io.EOF) {
		return malformed(STL, "cannot read the file near line %d", p.sc.line)
	}
	args = append(args, p.sc.line)
	return malformed(STL, format+" (line %d)", args...)
}

func (p *asciiSTL) warn(msg string) {
	for _, w := range p.warnings {
		if w == msg {
			return
		}
	}
	p.warnings = append(p.warnings, msg)
}

func (p *asciiSTL) run(ctx context.Context) error {
	sc := p.sc
	tok := sc.token()
	if len(tok) >= 3 && tok[0] == 0xEF && tok[1] == 0xBB && tok[2] == 0xBF {
		tok = tok[3:]
		if len(tok) == 0 {
			tok = sc.token()
		}
	}
	if tok == nil || !eqFold(tok, "solid") {
		return p.errorf("ASCII STL must start with the keyword solid")
	}
	var poly []uint32
	var tri [9]uint32
	for tok != nil {
		// tok is "solid"
		if err := p.begin(sc.restOfLine()); err != nil {
			return err
		}
		if sc.bad {
			return p.errorf("bad solid line")
		}
		ended := false
	facets:
		for {
			tok = sc.token()
			switch {
			case tok == nil:
				if sc.bad {
					return p.errorf("unreadable word")
				}
				p.warn("ASCII STL ends without endsolid")
				break facets
			case eqFold(tok, "endsolid"):
				sc.restOfLine()
				ended = true
				break facets
			case eqFold(tok, "solid"):
				p.warn("ASCII STL solid without endsolid")
				break facets
			case eqFold(tok, "facet"):
			default:
				return p.errorf("expected facet or endsolid")
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			tok = sc.token()
			if tok != nil && eqFold(tok, "normal") {
				for i := 0; i < 3; i++ {
					if _, ok := parseF32(sc.token()); !ok {
						return p.errorf("facet normal needs three numbers")
					}
				}
				tok = sc.token()
			}
			if tok == nil || !eqFold(tok, "outer") || !eqFold(sc.token(), "loop") {
				return p.errorf("expected outer loop")
			}
			poly = poly[:0]
			for {
				tok = sc.token()
				if tok != nil && eqFold(tok, "endloop") {
					break
				}
				if tok == nil || !eqFold(tok, "vertex") {
					return p.errorf("expected vertex or endloop")
				}
				if len(poly) >= 3*maxLoopVertices {
					return p.errorf("loop with more than %d vertices", maxLoopVertices)
				}
				for i := 0; i < 3; i++ {
					f, ok := parseF32(sc.token())
					if !ok {
						return p.errorf("vertex needs three numbers")
					}
					poly = append(poly, math.Float32bits(f))
				}
			}
			if !eqFold(sc.token(), "endfacet") {
				return p.errorf("expected endfacet")
			}
			if len(poly) < 9 {
				return p.errorf("facet with fewer than three vertices")
			}
			if len(poly) > 9 {
				p.warn("ASCII STL facets with more than three vertices were fanned into triangles")
			}
			for k := 3; k+6 <= len(poly); k += 3 {
				copy(tri[0:3], poly[0:3])
				copy(tri[3:9], poly[k:k+6])
				if err := p.tri(&tri); err != nil {
					return err
				}
			}
		}
		if err := p.end(); err != nil {
			return err
		}
		if ended {
			tok = sc.token()
			if sc.bad || (tok != nil && !eqFold(tok, "solid")) {
				p.warn("data after the last endsolid was ignored")
				sc.bad = false
				break
			}
		}
	}
	if sc.bad {
		return p.errorf("unreadable data")
	}
	if sc.err != nil && !errors.Is(sc.err, io.EOF) {
		return p.errorf("read error")
	}
	return nil
}

func measureASCIISTL(ctx context.Context, r io.ReaderAt, size int64, lim Limits) ([]stlSolid, []string, error) {
	var solids []stlSolid
	var acc *stlAcc
	var name Text
	var total int64
	p := &asciiSTL{sc: newScanner(r, size)}
	p.begin = func(n []byte) error {
		name = Text(n)
		// ASCII facets take about 250 bytes; the per-vertex arrays start
		// at half the guess, since a file may hold many small solids
		ev := int(min(size/256, 1<<20))/2 + 16
		acc = newSTLAcc(ev, ev/2+16, lim)
		return nil
	}
	p.tri = func(c *[9]uint32) error {
		total++
		if total > lim.MaxTriangles {
			return tooLarge(STL, "more than %d triangles", lim.MaxTriangles)
		}
		return acc.add(c)
	}
	p.end = func() error {
		t, err := acc.finish()
		if err != nil {
			return err
		}
		solids = append(solids, stlSolid{name: name, t: t})
		acc = nil
		return nil
	}
	if err := p.run(ctx); err != nil {
		return nil, nil, err
	}
	return solids, p.warnings, nil
}
