// Command genmesh writes a generated closed torus mesh for benchmarks:
//
//	go run ./bench/mesh/genmesh -triangles 2000000 -format stl -o /tmp/torus.stl
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/printreg/printreg/internal/meshgen"
)

func main() {
	n := flag.Int("triangles", 2_000_000, "about how many triangles")
	format := flag.String("format", "stl", "stl (binary), ascii-stl, 3mf or obj")
	out := flag.String("o", "", "output file (required)")
	shuffle := flag.Bool("shuffle", false, "list triangles in random order")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genmesh: -o is required")
		os.Exit(2)
	}
	m := meshgen.TorusTriangles(*n)
	if *shuffle {
		m.Shuffle(1)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmesh:", err)
		os.Exit(1)
	}
	switch *format {
	case "stl":
		err = m.WriteBinarySTL(f)
	case "ascii-stl":
		err = m.WriteASCIISTL(f)
	case "3mf":
		err = m.Write3MF(f)
	case "obj":
		err = m.WriteOBJ(f)
	default:
		err = fmt.Errorf("unknown format %q", *format)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmesh:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d triangles, %d vertices\n", *out, len(m.T), len(m.V))
}
