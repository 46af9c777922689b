// Command meshstat measures model files with pkg/mesh and prints one JSON
// report per file — the reader side of bench/mesh/compare.sh.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/printreg/printreg/pkg/mesh"
)

func main() {
	status := 0
	enc := json.NewEncoder(os.Stdout)
	for _, p := range os.Args[1:] {
		if err := measure(enc, p); err != nil {
			fmt.Fprintln(os.Stderr, "meshstat:", err)
			status = 1
		}
	}
	os.Exit(status)
}

func measure(enc *json.Encoder, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	rep, err := mesh.Measure(context.Background(), f, st.Size(), mesh.DefaultOptions())
	if err != nil {
		return err
	}
	rep.Source = p
	rep.StripText()
	rep.Objects = nil
	return enc.Encode(rep)
}
