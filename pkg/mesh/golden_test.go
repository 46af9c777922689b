package mesh

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestGolden keeps the full report of every test file (or its error) under
// testdata/golden; run with -update after a deliberate change and review
// the diff.
func TestGolden(t *testing.T) {
	for _, f := range modelFiles(t) {
		t.Run(f, func(t *testing.T) {
			b := readTestdata(t, f)
			var out []byte
			rep, err := MeasureBytes(context.Background(), b, DefaultOptions())
			if err != nil {
				out, _ = json.MarshalIndent(map[string]string{"error": err.Error()}, "", "  ")
			} else {
				rep.Source = f
				if out, err = json.MarshalIndent(rep, "", "  "); err != nil {
					t.Fatal(err)
				}
			}
			golden(t, strings.TrimSuffix(f, ".gz")+".json", append(out, '\n'))
		})
	}
}
