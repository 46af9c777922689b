// Package extract walks files and directories and turns every DICOM object
// and 3D model it finds into registry facts: series geometry, segmentations,
// models and per-file errors. It is the engine of the extract command; the
// ingest worker calls the same dicomx and mesh code one object at a time.
package extract

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
)

// Options configure a run.
type Options struct {
	// Workers reading files at once (default GOMAXPROCS).
	Workers int
	// Series tunes series geometry (thin-slice threshold).
	Series dicomx.SeriesOptions
	// Limits bound what the DICOM reader accepts.
	Limits dicomx.Limits
	// MaxObjectBytes: larger files are refused before they are opened
	// (default 8 GiB).
	MaxObjectBytes int64
	// Mesh tunes model measurement (units assumed for STL and OBJ, limits).
	Mesh mesh.Options
	// Budget, when set, is the memory the files read at once share; a file
	// waits for the others to give theirs back.
	Budget *dicomx.Budget
}

// Result is what one file contributed. Exactly one of Instance (with optional
// Segmentation and Model), Model or Err is set.
type Result struct {
	Path         string
	Instance     *dicomx.Instance
	Segmentation *dicomx.Segmentation
	Model        *Model
	Err          error
}

// Model is a measured model: a model file, or the document of an
// Encapsulated STL/OBJ object (then Encapsulated holds its DICOM facts).
// The mesh report's fields are inlined: source, format, units, triangles,
// vertices, volume_mm3, surface_area_mm2, bbox_mm, watertight, shells,
// objects, metadata names …
type Model struct {
	*mesh.Report
	Encapsulated *dicomx.EncapsulatedModel `json:"dicom,omitempty"`
}

// FileError names a file that could not be read and why.
type FileError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Walk lists the regular files under paths (files are taken as given,
// directories recursively, in lexical order; links to directories are not
// followed, so a loop cannot trap the walk). Unreadable entries are sent to
// errs.
func Walk(ctx context.Context, paths []string, files chan<- string, errs func(FileError)) {
	defer close(files)
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				why := Reason(err)
				if p != root || d != nil {
					why = "could not be listed: " + why
				}
				errs(FileError{Path: p, Error: why})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(p)
				if err != nil || !st.Mode().IsRegular() {
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			select {
			case files <- p:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			errs(FileError{Path: root, Error: Reason(err)})
		}
	}
}

// Reason says why a file could not be opened, listed or read, without
// repeating its path (the caller names it): "does not exist", "permission
// denied", or the system's words.
func Reason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Run reads every file under paths on a bounded pool of workers and calls
// emit, from one goroutine, for each file's result as it completes.
func Run(ctx context.Context, paths []string, opt Options, emit func(Result)) {
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	files := make(chan string, workers*4)
	results := make(chan Result, workers*4)
	var walkErrs []FileError
	var mu sync.Mutex
	go Walk(ctx, paths, files, func(e FileError) {
		mu.Lock()
		walkErrs = append(walkErrs, e)
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, sniffBytes)
			for p := range files {
				results <- File(ctx, p, opt, buf)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	for r := range results {
		emit(r)
	}
	for _, e := range walkErrs {
		emit(Result{Path: e.Path, Err: errors.New(e.Error)})
	}
}

// sniffBytes is how much of a file is read to tell its type (mesh.Sniff
// wants 4 KiB).
const sniffBytes = 4096

// File reads one file. buf (≥ sniffBytes) is scratch space for sniffing.
func File(ctx context.Context, path string, opt Options, buf []byte) Result {
	res := Result{Path: path}
	f, err := os.Open(path)
	if err != nil {
		res.Err = errors.New(Reason(err))
		return res
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		res.Err = errors.New(Reason(err))
		return res
	}
	max := opt.MaxObjectBytes
	if max <= 0 {
		max = 8 << 30
	}
	if st.Size() > max {
		res.Err = fmt.Errorf("file of %d bytes is over the %d-byte limit", st.Size(), max)
		return res
	}
	n, err := io.ReadFull(f, buf[:min(len(buf), int(st.Size()))])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		res.Err = errors.New(Reason(err))
		return res
	}
	head := buf[:n]
	if dicomx.Sniff(head) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			res.Err = err
			return res
		}
		mo := dicomx.MetaOptions(opt.Limits)
		mo.Hold = opt.Budget.Hold(time.Hour)
		defer mo.Hold.Release()
		obj, err := dicomx.ReadMeta(bufio.NewReaderSize(f, 16<<10), st.Size(), mo)
		if err != nil {
			res.Err = err
			return res
		}
		facts := dicomx.Extract(obj)
		res.Instance, res.Segmentation = facts.Instance, facts.Segmentation
		if m := facts.Model; m != nil && m.Format != "mtl" {
			if m.Document == nil {
				res.Err = fmt.Errorf("encapsulated %s model: the document was not loaded (over the size limit)", m.Format)
				return res
			}
			mo := opt.Mesh
			mo.Format, mo.Units = mesh.Format(m.Format), m.Units
			rep, err := mesh.MeasureBytes(ctx, m.Document, mo)
			if err != nil {
				res.Err = fmt.Errorf("encapsulated %s model: %w", m.Format, err)
				res.Instance, res.Segmentation = nil, nil
				return res
			}
			rep.Source = path
			res.Model = &Model{Report: rep, Encapsulated: m}
		}
		return res
	}
	if format := mesh.Sniff(head, st.Size(), path); format != "" {
		mo := opt.Mesh
		mo.Format = format
		rep, err := mesh.Measure(ctx, f, st.Size(), mo)
		if err != nil {
			res.Err = err
			return res
		}
		rep.Source = path
		res.Model = &Model{Report: rep}
		return res
	}
	res.Err = errors.New("not a DICOM object (no DICM marker and no plausible first element) nor a 3D model (STL, 3MF, OBJ)")
	return res
}

// Report is the whole-run document the extract command prints.
type Report struct {
	Series        []*Series              `json:"series"`
	Segmentations []*dicomx.Segmentation `json:"segmentations"`
	Models        []*Model               `json:"models"`
	Instances     []*Instance            `json:"instances,omitempty"`
	Errors        []FileError            `json:"errors"`
}

// Instance is a per-instance record (--instances), printed under the
// events' names (see MarshalJSON).
type Instance struct {
	Path string `json:"path"`
	*dicomx.Instance
}

// Collector assembles a Report from results in any order; the report it
// builds does not depend on the order (results are sorted by path first).
type Collector struct {
	opt       Options
	keepInsts bool
	results   []Result
}

// NewCollector returns a collector; instances adds per-instance records.
func NewCollector(opt Options, instances bool) *Collector {
	return &Collector{opt: opt, keepInsts: instances}
}

// Add takes one file's result.
func (c *Collector) Add(r Result) { c.results = append(c.results, r) }

// Report builds the series and returns the sorted report.
func (c *Collector) Report() *Report {
	sort.SliceStable(c.results, func(i, j int) bool { return c.results[i].Path < c.results[j].Path })
	rep := Report{
		Series:        []*Series{},
		Segmentations: []*dicomx.Segmentation{},
		Models:        []*Model{},
		Errors:        []FileError{},
	}
	var instances []*dicomx.Instance
	for _, r := range c.results {
		if r.Err != nil {
			rep.Errors = append(rep.Errors, FileError{Path: r.Path, Error: r.Err.Error()})
			continue
		}
		if r.Instance != nil {
			instances = append(instances, r.Instance)
			if c.keepInsts {
				rep.Instances = append(rep.Instances, &Instance{Path: r.Path, Instance: r.Instance})
			}
		}
		if r.Segmentation != nil {
			rep.Segmentations = append(rep.Segmentations, r.Segmentation)
		}
		if r.Model != nil {
			rep.Models = append(rep.Models, r.Model)
		}
	}
	for _, s := range dicomx.BuildSeries(instances, c.opt.Series) {
		rep.Series = append(rep.Series, NewSeries(s))
	}
	sort.SliceStable(rep.Segmentations, func(i, j int) bool {
		return rep.Segmentations[i].SOPInstanceUID < rep.Segmentations[j].SOPInstanceUID
	})
	return &rep
}
