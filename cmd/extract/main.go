// Command extract reads DICOM objects and 3D models from files and
// directories and prints the facts a 3D-printing registry needs: series
// geometry, segmentations, models, and the files it could not read.
//
//	extract [flags] PATH...
//
// Flags may come before or after the paths. Every file that could not be
// read is listed in the output's errors and, by its path with the reason,
// on stderr.
//
// Exit status: 0 when every file was read, 1 when some could not be, 2 on
// usage errors.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/printreg/printreg/internal/cli"
	"github.com/printreg/printreg/internal/extract"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: extract [flags] PATH...

Reads every file under each PATH (directories recursively) and prints one JSON
document on stdout: {"series": [...], "segmentations": [...], "models": [...],
"errors": [...]}. See the README for the fields. Every file that could not be
read is also listed on stderr by its path with the reason
("extract: failed scans/x.dcm: not a DICOM object …"). Flags may be written
before or after the paths ("--" ends them).

Flags:
`

func run(args []string, stdout io.Writer, stderr *os.File) int {
	fs := flag.NewFlagSet("extract", flag.ContinueOnError)
	workers := fs.Int("j", 0, "files read at once (default: number of CPUs)")
	instances := fs.Bool("instances", false, "add per-instance records")
	format := fs.String("format", "json", "output: json (one document) or ndjson (one record per line, streamed)")
	thin := fs.Float64("thin-slice-mm", 1.25, "thin-slice guidance for 3D printing: thickness and spacing at most this many mm")
	maxBytes := fs.Int64("max-object-bytes", 8<<30, "refuse files larger than this")
	stlUnits := fs.String("model-units", "mm", "units assumed for STL and OBJ files, which declare none (mm, cm, m, um, inch)")
	progress := fs.String("progress", "auto", "progress line on stderr: auto (when a terminal), always, never")
	paths, done, code := cli.Command(fs, args, usage, stdout, stderr)
	if done {
		return code
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "extract: no PATH given")
		fs.Usage()
		return 2
	}
	if *format != "json" && *format != "ndjson" {
		fmt.Fprintf(stderr, "extract: unknown --format %q (use json or ndjson)\n", *format)
		return 2
	}
	if *progress != "auto" && *progress != "always" && *progress != "never" {
		fmt.Fprintf(stderr, "extract: unknown --progress %q\n", *progress)
		return 2
	}
	if *thin <= 0 {
		fmt.Fprintln(stderr, "extract: --thin-slice-mm must be positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opt := extract.Options{
		Budget:         cli.MemoryBudget(),
		Workers:        *workers,
		Series:         dicomx.SeriesOptions{ThinSliceMaxMM: *thin},
		MaxObjectBytes: *maxBytes,
		Mesh:           mesh.DefaultOptions(),
	}
	opt.Mesh.DefaultUnits = *stlUnits
	var prog *cli.Progress
	if *progress != "never" {
		prog = cli.NewProgress(stderr, "extract", *progress == "always")
	}
	col := extract.NewCollector(opt, *instances)
	enc := json.NewEncoder(stdout)
	failed := 0
	extract.Run(ctx, paths, opt, func(r extract.Result) {
		if r.Err != nil {
			failed++
		}
		if prog != nil {
			prog.Add(r.Err != nil)
		}
		if *format == "ndjson" {
			writeRecords(enc, r, *instances)
		}
		col.Add(r)
	})
	if prog != nil {
		prog.Finish()
	}
	rep := col.Report()
	var err error
	// The paths are the user's own: each failure is named with its reason.
	var fails strings.Builder
	for _, e := range rep.Errors {
		fmt.Fprintf(&fails, "extract: failed %s: %s\n", e.Path, e.Error)
	}
	io.WriteString(stderr, fails.String())
	if *format == "ndjson" {
		for _, s := range rep.Series {
			if err = enc.Encode(record{"series", s}); err != nil {
				break
			}
		}
	} else {
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "extract: writing output: %v\n", err)
		return 1
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "extract: interrupted")
		return 1
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// record is one NDJSON line: {"record": kind, "data": {...}}.
type record struct {
	Record string `json:"record"`
	Data   any    `json:"data"`
}

func writeRecords(enc *json.Encoder, r extract.Result, instances bool) {
	if r.Err != nil {
		enc.Encode(record{"error", extract.FileError{Path: r.Path, Error: r.Err.Error()}})
		return
	}
	if instances && r.Instance != nil {
		enc.Encode(record{"instance", extract.Instance{Path: r.Path, Instance: r.Instance}})
	}
	if r.Segmentation != nil {
		enc.Encode(record{"segmentation", r.Segmentation})
	}
	if r.Model != nil {
		enc.Encode(record{"model", r.Model})
	}
}
