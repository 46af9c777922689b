package deid

import (
	"errors"
	"os"
	"testing"
)

func TestCorpusSmoke(t *testing.T) {
	for _, prof := range []Profile{BasicProfile(), RegistryProfile()} {
		e := newEngine(t, prof)
		for _, f := range corpusFiles(t) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, res, err := deidBytes(t, e, in, false)
			if err != nil {
				if errors.Is(err, ErrRefused) {
					t.Logf("%s %s: refused: %v", prof.Name, f, err)
					continue
				}
				t.Logf("%s %s: error: %v", prof.Name, f, err)
				continue
			}
			readAll(t, out)
			t.Logf("%s %s: ok %d bytes, %v", prof.Name, f, len(out), res.Actions)
		}
	}
}
