// Command deid de-identifies DICOM files under PS3.15 Annex E.
//
//	deid --secret-file FILE [--profile FILE | --basic] -o OUTDIR [flags] INPUT...
//	deid --secret-file FILE [--profile FILE | --basic] --explain INPUT
//
// Inputs are files and directories (read recursively); flags may come before
// or after them. Each object is written as OUTDIR/<study>/<series>/<sop>.dcm,
// named from its new UIDs only. Objects that fail a policy (burned-in text
// risk, identifying residue) are not written; every input refused or failed
// is listed on stderr by its path with the reason, and with --quarantine a
// JSON report of why (never the object's content) is kept there, naming the
// input (a keyed hash of its path with --hash-paths). --report writes a JSON
// summary of counts.
//
// Exit status: 0 when every input was de-identified, 1 when something was
// quarantined or failed, 2 on usage errors (including a missing or short
// secret).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/printreg/printreg/internal/cli"
	"github.com/printreg/printreg/pkg/deid"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/sitekey"
)

func main() {
	// Each object allocates little and briefly (its header); collecting less
	// often buys throughput at a bounded memory cost. GOGC still overrides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: deid --secret-file FILE [--profile FILE | --basic] -o OUTDIR [flags] INPUT...
       deid --secret-file FILE [--profile FILE | --basic] --explain INPUT

De-identifies DICOM files (PS3.15 Annex E). Without --profile the registry
profile is used (Basic + Retain Patient Characteristics + Modified Dates +
Clean Descriptors + model geometry kept); --basic selects the strict Basic
Profile. Output files are named OUTDIR/<study>/<series>/<sop>.dcm from the new
UIDs only. Flags may be written before or after the inputs ("--" ends them).

Every input that is quarantined or fails is listed on stderr by its path with
the reason ("deid: failed ./x.dcm: not_found: does not exist"). With
--quarantine, QDIR/<ref>.json reports each one: the input's path (a keyed hash
of it with --hash-paths, for a report to be shared), outcome, reason, detail.

Flags:
`

type options struct {
	secret, profile, out, quarantine, report, explain, progress string
	basic, hashPaths                                            bool
	workers                                                     int
	maxBytes                                                    int64
}

func run(args []string, stdout io.Writer, stderr *os.File) int {
	fs := flag.NewFlagSet("deid", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.secret, "secret-file", "", "file holding the site secret (at least 32 bytes); required")
	fs.StringVar(&o.profile, "profile", "", "YAML profile (see config/deid-*.yaml); default: the registry profile")
	fs.BoolVar(&o.basic, "basic", false, "use the strict Basic Profile with no option")
	fs.StringVar(&o.out, "o", "", "output directory")
	fs.StringVar(&o.quarantine, "quarantine", "", "directory for the reports of refused inputs")
	fs.BoolVar(&o.hashPaths, "hash-paths", false, "name inputs in quarantine reports by a keyed hash of their path instead of the path (for reports to be shared)")
	fs.StringVar(&o.report, "report", "", "write a JSON summary (counts by outcome and reason) to this file")
	fs.StringVar(&o.explain, "explain", "", "print, for this one input file, every element with its action and rule; writes nothing")
	fs.IntVar(&o.workers, "j", 0, "files processed at once (default: number of CPUs)")
	fs.Int64Var(&o.maxBytes, "max-object-bytes", 8<<30, "refuse inputs larger than this")
	fs.StringVar(&o.progress, "progress", "auto", "progress line on stderr: auto (when a terminal), always, never")
	inputs, done, code := cli.Command(fs, args, usage, stdout, stderr)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "deid: "+format+"\n", a...)
		return 2
	}
	if o.secret == "" {
		return fail("--secret-file is required (a file holding at least %d bytes of secret)", sitekey.MinBytes)
	}
	key, err := sitekey.Load(o.secret)
	if err != nil {
		return fail("%v", err)
	}
	if o.basic && o.profile != "" {
		return fail("--basic and --profile exclude each other")
	}
	prof := deid.RegistryProfile()
	switch {
	case o.basic:
		prof = deid.BasicProfile()
	case o.profile != "":
		if prof, err = deid.LoadProfile(o.profile); err != nil {
			return fail("%v", err)
		}
	}
	eng, err := deid.New(key, prof)
	if err != nil {
		return fail("%v", err)
	}
	if o.progress != "auto" && o.progress != "always" && o.progress != "never" {
		return fail("unknown --progress %q (use auto, always or never)", o.progress)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.explain != "" {
		if len(inputs) > 0 || o.out != "" {
			return fail("--explain takes one input file and writes nothing: drop -o and other inputs")
		}
		return explain(ctx, eng, o.explain, stdout, stderr)
	}
	if o.out == "" {
		return fail("-o OUTDIR is required")
	}
	if len(inputs) == 0 {
		fmt.Fprintln(stderr, "deid: no INPUT given")
		fs.Usage()
		return 2
	}
	if o.workers <= 0 {
		o.workers = runtime.NumCPU()
	}
	for _, d := range []string{o.out, o.quarantine} {
		if d == "" {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail("creating %v", err)
		}
	}
	var prog *cli.Progress
	if o.progress != "never" {
		prog = cli.NewProgress(stderr, "deid", o.progress == "always")
	}
	b := &batch{budget: cli.MemoryBudget(), eng: eng, key: key, opt: o, prog: prog, sum: newSummary(prof)}
	start := time.Now()
	b.run(ctx, inputs)
	if prog != nil {
		prog.Finish()
	}
	b.listProblems(stderr)
	b.sum.finish(time.Since(start))
	if o.report != "" {
		if err := writeJSON(o.report, b.sum); err != nil {
			fmt.Fprintf(stderr, "deid: writing the report: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "deid: %d de-identified, %d quarantined, %d failed\n",
		b.sum.Outcomes["deidentified"], b.sum.Outcomes["quarantined"], b.sum.Outcomes["failed"])
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "deid: interrupted")
		return 1
	}
	if b.sum.Outcomes["quarantined"] > 0 || b.sum.Outcomes["failed"] > 0 {
		return 1
	}
	return 0
}

func explain(ctx context.Context, eng *deid.Engine, path string, stdout io.Writer, stderr io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		_, why := inputProblem(err)
		fmt.Fprintf(stderr, "deid: cannot open the --explain input %s: %s\n", path, why)
		return 2
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		_, why := inputProblem(err)
		fmt.Fprintf(stderr, "deid: cannot read the --explain input %s: %s\n", path, why)
		return 2
	}
	res, err := eng.Explain(ctx, io.Discard, f, st.Size())
	if err != nil {
		fmt.Fprintf(stderr, "deid: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tKEYWORD\tVR\tACTION\tRULE")
	for _, s := range res.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Path, s.Keyword, s.VR, s.Action, s.Rule)
	}
	if err := tw.Flush(); err != nil {
		return 1
	}
	return 0
}

// summary is the --report document: counts only, never names or values.
type summary struct {
	Profile      string         `json:"profile"`
	Options      []string       `json:"options"`
	TableEdition string         `json:"table_edition"`
	Files        int            `json:"files"`
	Outcomes     map[string]int `json:"outcomes"`
	Reasons      map[string]int `json:"reasons"`
	BytesIn      int64          `json:"bytes_in"`
	BytesOut     int64          `json:"bytes_out"`
	Seconds      float64        `json:"seconds"`
	FilesPerSec  float64        `json:"files_per_second"`
	MBPerSec     float64        `json:"mb_per_second"`
}

func newSummary(p deid.Profile) *summary {
	return &summary{
		Profile: p.Name, Options: p.Options(), TableEdition: deid.TableEdition,
		Outcomes: map[string]int{"deidentified": 0, "quarantined": 0, "failed": 0},
		Reasons:  map[string]int{},
	}
}

func (s *summary) add(outcome, reason string, in, out int64) {
	s.Files++
	s.Outcomes[outcome]++
	if reason != "" {
		s.Reasons[reason]++
	}
	s.BytesIn += in
	s.BytesOut += out
}

func (s *summary) finish(d time.Duration) {
	s.Seconds = d.Seconds()
	if s.Seconds > 0 {
		s.FilesPerSec = float64(s.Files) / s.Seconds
		s.MBPerSec = float64(s.BytesIn) / 1e6 / s.Seconds
	}
}

type batch struct {
	// budget is the memory the files de-identified at once share.
	budget *dicomx.Budget
	eng    *deid.Engine
	key    *sitekey.Key
	opt    options
	prog   *cli.Progress
	mu     sync.Mutex // guards sum and problems
	sum    *summary
	// problems are the inputs quarantined or failed, listed at the end.
	problems []problem
	dirs     sync.Map // output directories already created
}

// problem is an input that was not de-identified, for the user who gave it.
type problem struct {
	path, outcome, reason, detail string
}

func (b *batch) count(outcome, reason string, in, out int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sum.add(outcome, reason, in, out)
}

// refused counts, reports and lists an input that was not de-identified.
func (b *batch) refused(path, outcome, reason, detail string, in int64) {
	b.mu.Lock()
	b.sum.add(outcome, reason, in, 0)
	b.problems = append(b.problems, problem{path: path, outcome: outcome, reason: reason, detail: detail})
	b.mu.Unlock()
	b.quarantine(path, outcome, reason, detail)
	if b.prog != nil {
		b.prog.Add(true)
	}
}

// listProblems writes one line per input quarantined or failed, by path:
// the inputs and their names are the user's own.
func (b *batch) listProblems(w io.Writer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sort.Slice(b.problems, func(i, j int) bool { return b.problems[i].path < b.problems[j].path })
	var sb strings.Builder
	for _, p := range b.problems {
		fmt.Fprintf(&sb, "deid: %s %s: %s: %s\n", p.outcome, p.path, p.reason, p.detail)
	}
	io.WriteString(w, sb.String())
}

func (b *batch) run(ctx context.Context, inputs []string) {
	jobs := make(chan string)
	var wg sync.WaitGroup
	for i := 0; i < b.opt.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				b.one(ctx, p)
			}
		}()
	}
	send := func(p string) bool {
		select {
		case jobs <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, in := range inputs {
		err := filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				reason, detail := inputProblem(err)
				if p != in || d != nil {
					detail = "could not be listed: " + detail
				}
				b.refused(p, "failed", reason, detail, 0)
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			if !send(p) {
				return fs.SkipAll
			}
			return nil
		})
		if err != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
}

// ref names an input in reports without its path: a keyed hash.
func (b *batch) ref(path string) string { return b.key.Hex(12, "deid/input-ref/v1", path) }

// inputProblem says, without repeating the path, why an input could not be
// opened or listed.
func inputProblem(err error) (reason, detail string) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "not_found", "does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "unreadable_input", "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "unreadable_input", err.Error()
}

// quarantine keeps a report of a refused or failed input: its path (or,
// with --hash-paths, only its keyed reference), the reason and a detail
// that names elements, never values. The report's file is named by the
// keyed reference.
func (b *batch) quarantine(path, outcome, reason, detail string) {
	if b.opt.quarantine == "" {
		return
	}
	ref := b.ref(path)
	rep := map[string]string{"input_ref": ref, "outcome": outcome, "reason": reason, "detail": detail}
	if !b.opt.hashPaths {
		rep["input"] = path
	}
	_ = writeJSON(filepath.Join(b.opt.quarantine, ref+".json"), rep)
}

func (b *batch) one(ctx context.Context, path string) {
	hold := b.budget.Hold(time.Hour)
	defer hold.Release()
	in, out, err := b.deidentify(dicomx.WithHold(ctx, hold), path)
	switch {
	case err == nil:
		b.count("deidentified", "", in, out)
		if b.prog != nil {
			b.prog.Add(false)
		}
	default:
		var re *deid.RefusedError
		outcome, reason, detail := "failed", "error", "could not be de-identified"
		var ie *inputError
		switch {
		case errors.As(err, &re):
			outcome, reason, detail = "quarantined", re.Reason, re.Detail
		case errors.Is(err, dicomx.ErrNotDICOM):
			reason, detail = "not_dicom", "not a DICOM object"
		case errors.Is(err, dicomx.ErrTooLarge):
			reason, detail = "too_large", err.Error() // dicomx errors carry positions, tags and sizes only
		case errors.Is(err, dicomx.ErrMalformed), errors.Is(err, dicomx.ErrUnsupported):
			reason, detail = "unreadable_dicom", err.Error()
		case errors.Is(err, errTooBig):
			reason, detail = "too_large", err.Error()
		case errors.As(err, &ie):
			reason, detail = inputProblem(ie.err)
		case errors.Is(err, errOutput):
			reason, detail = "output_error", "the output could not be written"
		}
		b.refused(path, outcome, reason, detail, in)
	}
}

var (
	errOutput = errors.New("output error")
	errTooBig = errors.New("input over --max-object-bytes")
)

// inputError is an input that could not be opened or read.
type inputError struct{ err error }

func (e *inputError) Error() string { return "input error: " + e.err.Error() }

// deidentify writes one object to a ".part" file next to its final,
// UID-derived name and renames it only when everything passed.
func (b *batch) deidentify(ctx context.Context, path string) (int64, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, &inputError{err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, &inputError{err}
	}
	if st.Size() > b.opt.maxBytes {
		return 0, 0, fmt.Errorf("%w (%d bytes)", errTooBig, st.Size())
	}
	var out *os.File
	var final string
	defer func() {
		if out != nil {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	res, err := b.eng.DeidentifyTo(ctx, f, st.Size(), func(r *deid.Result) (io.Writer, error) {
		dir := filepath.Join(b.opt.out, safeName(r.StudyInstanceUID, "no-study"), safeName(r.SeriesInstanceUID, "no-series"))
		if _, ok := b.dirs.Load(dir); !ok {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, errOutput
			}
			b.dirs.Store(dir, true)
		}
		final = filepath.Join(dir, safeName(r.SOPInstanceUID, "no-instance")+".dcm")
		o, err := os.OpenFile(final+".part", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			o, err = os.CreateTemp(dir, ".deid-*.part") // the same object given twice
		}
		if err != nil {
			return nil, errOutput
		}
		out = o
		return o, nil
	})
	if err != nil {
		return st.Size(), 0, err
	}
	name := out.Name()
	err = out.Close()
	out = nil
	if err != nil {
		os.Remove(name)
		return st.Size(), 0, errOutput
	}
	if err := os.Rename(name, final); err != nil {
		os.Remove(name)
		return st.Size(), 0, errOutput
	}
	return st.Size(), res.Written, nil
}

// safeName keeps a UID usable as a file name (digits and dots only).
func safeName(uid, empty string) string {
	uid = strings.Map(func(r rune) rune {
		if r == '.' || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, uid)
	uid = strings.Trim(uid, ".")
	if uid == "" {
		return empty
	}
	return uid
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
