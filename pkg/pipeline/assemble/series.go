package assemble

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
)

// seriesRecord is the geometry of the instances of one series seen so far,
// kept in the series KV bucket under the series' remapped UID. Everything in
// it comes from de-identified headers. The series-level attributes are
// those of the first instance; each instance keeps what may vary.
type seriesRecord struct {
	V        int              `json:"v"`
	Template *dicomx.Instance `json:"template"`
	// Extra counts instances beyond the stored ones (the record is full).
	Extra int        `json:"extra,omitempty"`
	Inst  []instGeom `json:"instances"`

	// tmpl and enc hold the JSON of Template and of each of Inst, so a
	// record grown by one instance is encoded by encoding that instance.
	tmpl []byte
	enc  [][]byte
}

type instGeom struct {
	UID         string      `json:"u"`
	Number      *int64      `json:"n,omitempty"`
	Position    []float64   `json:"p,omitempty"`
	Orientation []float64   `json:"o,omitempty"`
	Thickness   *float64    `json:"t,omitempty"`
	Between     *float64    `json:"b,omitempty"`
	Pixel       []float64   `json:"ps,omitempty"`
	Rows        int         `json:"r,omitempty"`
	Cols        int         `json:"c,omitempty"`
	NFrames     int         `json:"nf,omitempty"`
	FramePos    [][]float64 `json:"fp,omitempty"`
	FrameOri    [][]float64 `json:"fo,omitempty"`
	Syntax      string      `json:"x,omitempty"`
	ImageType   []string    `json:"it,omitempty"`
}

const seriesRecordVersion = 1

// maxSeriesRecord keeps a record well under the server's default maximum
// payload (1 MiB). Instances past it are counted, not placed.
const maxSeriesRecord = 900 << 10

func geomOf(in *dicomx.Instance) instGeom {
	g := instGeom{
		UID: in.SOPInstanceUID, Number: in.InstanceNumber, Position: in.ImagePosition, Orientation: in.ImageOrientation,
		Thickness: in.SliceThickness, Between: in.SpacingBetween, Pixel: in.PixelSpacing, Rows: in.Rows, Cols: in.Columns,
		NFrames: in.NumberOfFrames, Syntax: in.TransferSyntaxUID, ImageType: in.ImageType,
	}
	for _, f := range in.Frames {
		g.FramePos = append(g.FramePos, f.Position)
		g.FrameOri = append(g.FrameOri, f.Orientation)
	}
	return g
}

func (r *seriesRecord) instances() []*dicomx.Instance {
	out := make([]*dicomx.Instance, 0, len(r.Inst))
	for _, g := range r.Inst {
		in := *r.Template
		in.SOPInstanceUID, in.InstanceNumber = g.UID, g.Number
		in.ImagePosition, in.ImageOrientation = g.Position, g.Orientation
		in.SliceThickness, in.SpacingBetween, in.PixelSpacing = g.Thickness, g.Between, g.Pixel
		in.Rows, in.Columns, in.NumberOfFrames = g.Rows, g.Cols, g.NFrames
		in.TransferSyntaxUID, in.ImageType = g.Syntax, g.ImageType
		in.Frames = nil
		for i, p := range g.FramePos {
			f := dicomx.Frame{Position: p}
			if i < len(g.FrameOri) {
				f.Orientation = g.FrameOri[i]
			}
			in.Frames = append(in.Frames, f)
		}
		out = append(out, &in)
	}
	return out
}

// add places one instance in the record (replacing an earlier copy of the
// same instance) and reports whether the record changed.
func (r *seriesRecord) add(in *dicomx.Instance) (bool, error) {
	if err := r.fill(); err != nil {
		return false, err
	}
	g := geomOf(in)
	b, err := json.Marshal(g)
	if err != nil {
		return false, err
	}
	i, found := slices.BinarySearchFunc(r.Inst, g.UID, func(x instGeom, uid string) int { return strings.Compare(x.UID, uid) })
	if found {
		if bytes.Equal(r.enc[i], b) {
			return false, nil
		}
		r.Inst[i], r.enc[i] = g, b
		return true, nil
	}
	r.Inst = slices.Insert(r.Inst, i, g)
	r.enc = slices.Insert(r.enc, i, b)
	return true, nil
}

// remove drops the instance uid (the record is full).
func (r *seriesRecord) remove(uid string) {
	i, found := slices.BinarySearchFunc(r.Inst, uid, func(x instGeom, uid string) int { return strings.Compare(x.UID, uid) })
	if found {
		r.Inst = slices.Delete(r.Inst, i, i+1)
		r.enc = slices.Delete(r.enc, i, i+1)
	}
}

// fill encodes what a decoded record lacks.
func (r *seriesRecord) fill() error {
	if r.tmpl == nil {
		b, err := json.Marshal(r.Template)
		if err != nil {
			return err
		}
		r.tmpl = b
	}
	if len(r.enc) != len(r.Inst) {
		r.enc = make([][]byte, len(r.Inst))
		for i := range r.Inst {
			b, err := json.Marshal(r.Inst[i])
			if err != nil {
				return err
			}
			r.enc[i] = b
		}
	}
	return nil
}

// encode writes the record as JSON from the kept encodings (the same
// document json.Marshal gives).
func (r *seriesRecord) encode() ([]byte, error) {
	if err := r.fill(); err != nil {
		return nil, err
	}
	n := len(r.tmpl) + 64
	for _, e := range r.enc {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = append(b, `,"template":`...)
	b = append(b, r.tmpl...)
	if r.Extra != 0 {
		b = append(b, `,"extra":`...)
		b = strconv.AppendInt(b, int64(r.Extra), 10)
	}
	b = append(b, `,"instances":[`...)
	for i, e := range r.enc {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, "]}"...), nil
}

// addToSeries records an instance in its series' geometry record with
// compare-and-set and returns the series summary as of that record.
//
// The record a worker last wrote is kept decoded in memory with its KV
// revision: the next instance of the series (usually handled by the same
// process) is written against that revision without reading and decoding
// the record again; only a lost compare-and-set reads it back.
func (a *Assembler) addToSeries(ctx context.Context, in *dicomx.Instance) (*dicomx.Series, error) {
	key := in.SeriesInstanceUID
	if key == "" {
		key = "none." + in.StudyInstanceUID
	}
	// This process's instances of one series take turns, so they do not
	// lose compare-and-sets to each other and each writes against the
	// record the previous one left in the cache.
	mu := a.seriesCache.lock(key)
	mu.Lock()
	defer mu.Unlock()
	rec, rev, cached := a.seriesCache.take(key)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !cached {
			e, err := a.series.Get(ctx, key)
			switch {
			case errors.Is(err, jetstream.ErrKeyNotFound):
				rec, rev = seriesRecord{}, 0
			case err != nil:
				return nil, fmt.Errorf("series record: %w", err)
			default:
				rev, rec = e.Revision(), seriesRecord{}
				if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.V != seriesRecordVersion || rec.Template == nil {
					rec = seriesRecord{} // unreadable: start again from this instance
				}
			}
		}
		cached = false // a lost compare-and-set reads the record again
		if rec.Template == nil {
			t := *in
			t.Frames, t.ImagePosition, t.ImageOrientation = nil, nil, nil
			rec = seriesRecord{V: seriesRecordVersion, Template: &t}
		}
		changed, err := rec.add(in)
		if err != nil {
			return nil, err
		}
		if !changed {
			a.seriesCache.put(key, rec, rev)
			return a.summary(&rec), nil
		}
		b, err := rec.encode()
		if err != nil {
			return nil, err
		}
		if len(b) > maxSeriesRecord {
			// Full: count the instance without its geometry.
			rec.remove(in.SOPInstanceUID)
			rec.Extra++
			if b, err = rec.encode(); err != nil {
				return nil, err
			}
		}
		var nrev uint64
		if rev == 0 {
			nrev, err = a.series.Create(ctx, key, b)
		} else {
			nrev, err = a.series.Update(ctx, key, b, rev)
		}
		if err == nil {
			a.seriesCache.put(key, rec, nrev)
			return a.summary(&rec), nil
		}
		if !pipeline.IsConflict(err) || attempt > 64 {
			return nil, fmt.Errorf("series record: %w", err)
		}
	}
}

// seriesCache holds the last series records this process wrote.
type seriesCache struct {
	mu    sync.Mutex
	m     map[string]cachedSeries
	locks [64]sync.Mutex // per series, striped
}

func (c *seriesCache) lock(key string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return &c.locks[h.Sum32()%uint32(len(c.locks))]
}

type cachedSeries struct {
	rec seriesRecord
	rev uint64
}

// maxCachedSeries bounds the cache; it is simply emptied when full.
const maxCachedSeries = 256

// take removes the cached record and hands it to the caller, who may change
// it in place and puts it back once it is stored: a record changed but not
// stored (a lost compare-and-set) never stays behind under the old revision.
func (c *seriesCache) take(key string) (seriesRecord, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if ok {
		delete(c.m, key)
	}
	return e.rec, e.rev, ok
}

func (c *seriesCache) put(key string, rec seriesRecord, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSeries {
		c.m = make(map[string]cachedSeries)
	}
	if e, ok := c.m[key]; ok && e.rev > rev {
		return
	}
	c.m[key] = cachedSeries{rec: rec, rev: rev}
}

func (a *Assembler) summary(rec *seriesRecord) *dicomx.Series {
	ss := dicomx.BuildSeries(rec.instances(), a.cfg.Series)
	if len(ss) == 0 {
		return &dicomx.Series{}
	}
	s := ss[0]
	s.InstanceCount += rec.Extra
	return s
}

func f64(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// seriesFact maps a series summary onto the registry's series fact.
func seriesFact(origin registry.Origin, s *dicomx.Series) registry.SeriesFact {
	f := registry.SeriesFact{
		Origin: origin, StudyUID: s.StudyInstanceUID, SeriesUID: s.SeriesInstanceUID,
		Modality: s.Modality, SOPClassUID: s.SOPClassUID, SOPClassName: s.SOPClassName,
		InstanceCount: s.InstanceCount, SliceCount: s.SliceCount,
		SliceThicknessMM: f64(s.SliceThicknessMM), SliceSpacingMM: f64(s.SliceSpacingMM),
		Rows: s.Rows, Columns: s.Columns, ExtentMM: f64(s.ExtentMM),
		Manufacturer: s.Manufacturer, ModelName: s.ManufacturerModel, Kernel: s.ConvolutionKernel,
		KVP: f64(s.KVP), Contrast: s.ContrastBolusAgent != "", ContrastAgent: s.ContrastBolusAgent,
		BodyPart: s.BodyPartExamined, Description: s.SeriesDescription, ThinSlice: s.ThinSlice,
		Flags: registry.SeriesFlags{
			UnevenSpacing: s.Flags.UnevenSpacing, Gaps: s.Flags.Gaps, Duplicates: s.Flags.DuplicatePositions,
			Overlap: s.Flags.Overlap, Oblique: s.Flags.Oblique, GantryTilt: s.Flags.Tilted,
			MixedOrientation: s.Flags.MixedOrientations,
		},
	}
	if len(s.PixelSpacingMM) == 2 {
		f.PixelSpacingMM = [2]float64{s.PixelSpacingMM[0], s.PixelSpacingMM[1]}
	}
	return f
}
