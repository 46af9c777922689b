package deid

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
)

// FuzzDeidentify: no input makes the engine panic, and whatever it accepts
// it writes as an object the project's reader parses.
func FuzzDeidentify(f *testing.F) {
	for _, p := range corpusFiles(f) {
		// Small seeds keep each execution (and minimisation) short.
		b, err := os.ReadFile(p)
		if err == nil && len(b) <= 16<<10 {
			f.Add(b)
		}
	}
	f.Add(canaryCT(f, dicomx.ExplicitVRLittleEndian))
	f.Add(canaryCT(f, dicomx.ImplicitVRLittleEndian))
	f.Add(canaryCT(f, dicomx.ExplicitVRBigEndian))
	f.Add(canarySTL(f))
	engines := []*Engine{newEngine(f, RegistryProfile()), newEngine(f, BasicProfile())}
	all := RegistryProfile()
	all.RetainSafePrivate, all.CleanStructuredContent, all.CleanGraphics = true, true, true
	engines = append(engines, newEngine(f, all))
	for _, e := range engines {
		e.SetLimits(dicomx.Limits{MaxValueBytes: 1 << 20, MaxElements: 20000, MaxInflatedBytes: 4 << 20})
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, e := range engines {
			var out bytes.Buffer
			if _, err := e.Deidentify(context.Background(), &out, bytes.NewReader(in), int64(len(in))); err != nil {
				continue
			}
			rd, err := dicomx.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()), dicomx.Options{})
			if err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if _, err := rd.ReadAll(); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
		}
	})
}

// TestMutatedCorpus is a deterministic complement to the fuzz target: corpus
// files with bytes flipped, length fields set to 0xFFFFFFFF and tails cut.
// No panic, and every accepted input gives a parseable output.
func TestMutatedCorpus(t *testing.T) {
	var seeds [][]byte
	for _, p := range corpusFiles(t) {
		if b, err := os.ReadFile(p); err == nil && len(b) <= 64<<10 {
			seeds = append(seeds, b)
		}
	}
	e := newEngine(t, RegistryProfile())
	e.SetLimits(dicomx.Limits{MaxValueBytes: 1 << 20, MaxElements: 20000, MaxInflatedBytes: 4 << 20})
	r := rand.New(rand.NewSource(1))
	n := 3000
	if testing.Short() {
		n = 300
	}
	accepted := 0
	for i := 0; i < n; i++ {
		in := append([]byte(nil), seeds[r.Intn(len(seeds))]...)
		for k := 0; k < 1+r.Intn(4) && len(in) > 0; k++ {
			j := r.Intn(len(in))
			switch r.Intn(3) {
			case 0:
				in[j] = byte(r.Intn(256))
			case 1:
				for q := j; q < j+4 && q < len(in); q++ {
					in[q] = 0xFF
				}
			case 2:
				in = in[:j]
			}
		}
		var out bytes.Buffer
		if _, err := e.Deidentify(context.Background(), &out, bytes.NewReader(in), int64(len(in))); err != nil {
			continue
		}
		accepted++
		rd, err := dicomx.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()), dicomx.Options{})
		if err == nil {
			_, err = rd.ReadAll()
		}
		if err != nil {
			t.Fatalf("mutation %d: output does not parse: %v", i, err)
		}
	}
	if accepted == 0 {
		t.Fatal("no mutated input accepted")
	}
}
