package dicomx

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// FuzzReader feeds arbitrary bytes to every reading path: header-only
// extraction, the streaming reader with bulk copies, a rewrite that must
// read back, and the library wrapper. None may panic.
func FuzzReader(f *testing.F) {
	filepath.Walk(corpusDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Ext(p) == ".dcm" && info.Size() < 16<<10 {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxValueBytes: 1 << 20, MaxElements: 20000, MaxInflatedBytes: 4 << 20}
		if obj, err := ReadMeta(bytes.NewReader(b), int64(len(b)), MetaOptions(lim)); err == nil {
			facts := Extract(obj)
			BuildSeries([]*Instance{facts.Instance}, SeriesOptions{})
		}
		if out, err := roundTripLimits(b, lim); err == nil {
			if _, err := ReadMeta(bytes.NewReader(out), int64(len(out)), Options{Limits: lim}); err != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("our own output does not read back: %v", err)
			}
		}
	})
}

func roundTripLimits(b []byte, lim Limits) ([]byte, error) {
	rd, err := NewReader(bytes.NewReader(b), int64(len(b)), Options{Limits: lim})
	if err != nil {
		return nil, err
	}
	syn := rd.Syntax()
	if syn.UID == "" {
		syn = SyntaxFor(ImplicitVRLittleEndian)
		if !rd.Syntax().Implicit {
			syn = SyntaxFor(ExplicitVRLittleEndian)
		}
		if rd.Syntax().BigEndian {
			syn = SyntaxFor(ExplicitVRBigEndian)
		}
	}
	var out bytes.Buffer
	w := NewWriter(&out, syn)
	if err := w.WriteFileHeader(nil, &Dataset{Elements: []*Element{NewText(TagTransferSyntaxUID, VRUI, syn.UID)}}); err != nil {
		return nil, err
	}
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.Bulk {
			if err := w.WriteHeader(e.Tag, e.VR, e.Length); err != nil {
				return nil, err
			}
			if _, err := rd.CopyValue(w.Raw()); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.WriteElement(e); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// TestHostileLengthsDoNotAllocate: length fields claiming gigabytes make the
// reader fail fast, allocating about what the input size justifies.
func TestHostileLengthsDoNotAllocate(t *testing.T) {
	base := readCorpus(t, "pydicom/CT_small.dcm")[:400] // preamble, meta, a few elements
	var cases [][]byte
	for _, vr := range []string{"OB", "UT", "SQ", "UN"} {
		b := append([]byte(nil), base...)
		// (0009,0010) with a 3.9 GB length, explicit VR.
		b = append(b, 0x09, 0, 0x10, 0, vr[0], vr[1], 0, 0, 0xF0, 0xFF, 0xFF, 0xEF)
		b = append(b, bytes.Repeat([]byte{0xFE, 0xFF, 0x00, 0xE0, 0xF0, 0xFF, 0xFF, 0x7F}, 50)...)
		cases = append(cases, b)
	}
	for i, b := range cases {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := ReadMeta(bytes.NewReader(b), int64(len(b)), Options{})
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("case %d: accepted", i)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
			t.Errorf("case %d: allocated %d bytes for a %d-byte input", i, got, len(b))
		}
	}
	// Unknown size (a deflated stream): a length over MaxHeldBytes is
	// refused before anything is allocated; one within it is allocated
	// once (its untouched pages cost no memory) and no more.
	var def bytes.Buffer
	w := NewWriter(&def, SyntaxFor(DeflatedExplicitVRLittleEndian))
	w.WriteFileHeader(nil, &Dataset{Elements: []*Element{NewText(TagTransferSyntaxUID, VRUI, DeflatedExplicitVRLittleEndian)}})
	w.Raw().Write([]byte{0x09, 0, 0x10, 0, 'O', 'B', 0, 0, 0xF0, 0xFF, 0xFF, 0x0F})
	w.Raw().Write(make([]byte, 1000))
	w.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadMeta(bytes.NewReader(def.Bytes()), int64(def.Len()), Options{Limits: Limits{MaxHeldBytes: 64 << 20}})
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Error("deflated hostile length accepted")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2<<20 {
		t.Errorf("deflated: allocated %d bytes", got)
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = ReadMeta(bytes.NewReader(def.Bytes()), int64(def.Len()), Options{})
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Error("deflated hostile length accepted")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 0x0FFFFFFF+2<<20 {
		t.Errorf("deflated: allocated %d bytes, more than the declared length", got)
	}
}
