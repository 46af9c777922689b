package mesh

// welder merges STL vertices with bit-identical coordinates (after folding
// -0 into +0) and numbers them in order of first appearance. It is an
// open-addressing table of 4-byte slots — 6 bits of the hash above the
// vertex id+1 in 26 bits — kept at most half full. The coordinates live
// once, in xyz; the fingerprint spares all but one probe in 64 a look at
// them (each such look is a cache miss, on a random vertex), and a
// lookup that hits compares against a recently touched vertex. Small slots
// matter: the table outgrows the caches and the TLB, and welding is
// bound by the first touch of each new vertex's slot.
type welder struct {
	slots []uint32
	mask  uint64
	xyz   [][3]uint32 // float32 bits per vertex (allocated ahead)
}

const (
	// maxWeldID bounds the vertex ids of a welded mesh (67 million; the
	// default limit is 50 million): six fingerprint bits pay for fewer
	// cache misses than two more id bits would allow vertices.
	maxWeldID = slotID - 1
	slotID    = 1<<26 - 1
	slotFP    = ^uint32(slotID)
)

func newWelder(expect int) *welder {
	n := 1024
	for n < 2*expect {
		n <<= 1
	}
	return &welder{slots: newSlots(n), mask: uint64(n - 1)}
}

// newSlots allocates a table and writes it once: its slots are read at
// random before any is written, and a fresh page that is read first
// faults twice (the shared zero page, then a copy of it when written).
func newSlots(n int) []uint32 {
	s := make([]uint32, n)
	adviseHuge(s)
	clear(s)
	return s
}

// slotFingerprint takes the hash's top six bits.
func slotFingerprint(h uint64) uint32 { return uint32(h>>32) & slotFP }

func weldHash(x, y, z uint32) uint64 {
	h := (uint64(x)<<32 | uint64(y)) * 0x9E3779B97F4A7C15
	h ^= uint64(z) * 0xC2B2AE3D27D4EB4F
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return h
}

// rehash doubles the table, which holds vertices 0 to n-1.
func (w *welder) rehash(n int) {
	size := 2 * len(w.slots)
	w.slots = newSlots(size)
	w.mask = uint64(size - 1)
	for id := 0; id < n; id++ {
		x, y, z := w.xyz[id][0], w.xyz[id][1], w.xyz[id][2]
		h := weldHash(x, y, z)
		i := h & w.mask
		for w.slots[i] != 0 {
			i = (i + 1) & w.mask
		}
		w.slots[i] = slotFingerprint(h) | uint32(id+1)
	}
}
