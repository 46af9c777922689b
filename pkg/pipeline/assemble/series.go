package assemble

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// Series geometry is kept in the series KV bucket one record per instance,
// so what an instance costs does not grow with its series:
//
//	t.<series>            the series-level attributes (the first instance's)
//	i.<series>.<sop>      one instance's geometry (what may vary per instance)
//	i.<series>.<sop>.f<k> frame positions of a multi-frame instance too
//	                      large for one record, in blocks
//
// <series> and <sop> are remapped UIDs with '.' written '_' (one subject
// token each). Everything comes from de-identified headers. An instance
// fact carries its record's revision (casemodel.SeriesFact.Seq) and a
// provisional summary; when its study is due to become stable the worker
// reads every record of the series once (Settle) and the exact summary —
// count, spacing, extent, flags — is merged before the study is declared
// stable (casemodel.Registry.Unsettled).

// instGeom is what may vary between the instances of a series.
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
	// Blocks is how many frame blocks (i.<series>.<sop>.f<k>) hold FramePos
	// and FrameOri when they did not fit in this record.
	Blocks int `json:"fb,omitempty"`
}

// frameBlock is one block of a multi-frame instance's frame geometry.
type frameBlock struct {
	Pos [][]float64 `json:"fp"`
	Ori [][]float64 `json:"fo,omitempty"`
}

// maxRecord keeps a record well under the server's default maximum payload
// (1 MiB); framesPerBlock frames fit in one block however they are written.
const (
	maxRecord      = 512 << 10
	framesPerBlock = 2048
)

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
	// One orientation for every frame (the usual case) is written once.
	if len(g.FrameOri) > 1 && !slices.ContainsFunc(g.FrameOri[1:], func(o []float64) bool { return !slices.Equal(o, g.FrameOri[0]) }) {
		g.FrameOri = g.FrameOri[:1]
	}
	return g
}

// instance rebuilds an instance from the series template and its geometry.
func (g *instGeom) instance(tmpl *dicomx.Instance) *dicomx.Instance {
	in := *tmpl
	in.SOPInstanceUID, in.InstanceNumber = g.UID, g.Number
	in.ImagePosition, in.ImageOrientation = g.Position, g.Orientation
	in.SliceThickness, in.SpacingBetween, in.PixelSpacing = g.Thickness, g.Between, g.Pixel
	in.Rows, in.Columns, in.NumberOfFrames = g.Rows, g.Cols, g.NFrames
	in.TransferSyntaxUID, in.ImageType = g.Syntax, g.ImageType
	in.Frames = make([]dicomx.Frame, 0, len(g.FramePos))
	for i, p := range g.FramePos {
		f := dicomx.Frame{Position: p}
		switch {
		case i < len(g.FrameOri):
			f.Orientation = g.FrameOri[i]
		case len(g.FrameOri) == 1:
			f.Orientation = g.FrameOri[0]
		}
		in.Frames = append(in.Frames, f)
	}
	if len(in.Frames) == 0 {
		in.Frames = nil
	}
	return &in
}

// token writes a UID as one subject token.
func token(uid string) string { return strings.ReplaceAll(uid, ".", "_") }

func seriesKey(in *dicomx.Instance) string {
	if in.SeriesInstanceUID == "" {
		return "none_" + token(in.StudyInstanceUID)
	}
	return token(in.SeriesInstanceUID)
}

func templateKey(series string) string    { return "t." + series }
func recordKey(series, sop string) string { return "i." + series + "." + token(sop) }

// addToSeries records an instance's geometry and returns the record's
// revision and a provisional summary: the series-level attributes of this
// instance, geometry left for Settle, and the instances this process has
// recorded for the series so far (a lower bound until settled).
func (a *Assembler) addToSeries(ctx context.Context, in *dicomx.Instance) (uint64, *dicomx.Series, error) {
	series := seriesKey(in)
	if err := a.ensureTemplate(ctx, series, in); err != nil {
		return 0, nil, err
	}
	g := geomOf(in)
	base := recordKey(series, in.SOPInstanceUID)
	b, err := json.Marshal(g)
	if err != nil {
		return 0, nil, err
	}
	if len(b) > maxRecord {
		// Frames in blocks, written before the record that names them:
		// a record implies its blocks.
		pos, ori := g.FramePos, g.FrameOri
		g.FramePos, g.FrameOri = nil, nil
		for k := 0; k*framesPerBlock < len(pos); k++ {
			blk := frameBlock{Pos: pos[k*framesPerBlock : min(len(pos), (k+1)*framesPerBlock)]}
			switch {
			case len(ori) == 1 && k == 0:
				blk.Ori = ori
			case len(ori) > 1:
				blk.Ori = ori[k*framesPerBlock : min(len(ori), (k+1)*framesPerBlock)]
			}
			bb, err := json.Marshal(blk)
			if err != nil {
				return 0, nil, err
			}
			if _, err := a.series.Put(ctx, base+".f"+strconv.Itoa(k), bb); err != nil {
				return 0, nil, fmt.Errorf("series record: %w", err)
			}
			g.Blocks++
		}
		if b, err = json.Marshal(g); err != nil {
			return 0, nil, err
		}
	}
	rev, isNew, err := a.putOnce(ctx, base, b)
	if err != nil {
		return 0, nil, fmt.Errorf("series record: %w", err)
	}
	n := a.counted(series, isNew)
	ss := dicomx.BuildSeries([]*dicomx.Instance{g.instance(in)}, a.cfg.Series)
	s := &dicomx.Series{}
	if len(ss) > 0 {
		s = ss[0]
	}
	// Geometry is only known from every instance: none is claimed yet.
	s.InstanceCount, s.SliceCount = n, n
	s.SliceSpacingMM, s.ExtentMM, s.Flags = nil, nil, dicomx.Flags{}
	return rev, s, nil
}

// putOnce stores a record unless the same value is already there, and
// returns the revision holding the value: a repeat delivery of an instance
// finds its record and changes nothing, so it neither counts again nor
// reopens a stable study.
func (a *Assembler) putOnce(ctx context.Context, key string, b []byte) (rev uint64, isNew bool, err error) {
	for attempt := 0; ; attempt++ {
		rev, err = a.series.Create(ctx, key, b)
		if err == nil {
			return rev, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, false, err
		}
		e, err := a.series.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) && attempt < 8 {
			continue // deleted meanwhile
		}
		if err != nil {
			return 0, false, err
		}
		if string(e.Value()) == string(b) {
			return e.Revision(), false, nil
		}
		// The instance came again with other geometry (re-sent after an
		// edit): the newer record replaces it.
		rev, err = a.series.Update(ctx, key, b, e.Revision())
		if err == nil {
			return rev, false, nil
		}
		if !pipeline.IsConflict(err) || attempt >= 8 {
			return 0, false, err
		}
	}
}

// ensureTemplate stores the series-level attributes once per series; the
// first instance's win.
func (a *Assembler) ensureTemplate(ctx context.Context, series string, in *dicomx.Instance) error {
	if _, ok := a.templates.Load(series); ok {
		return nil
	}
	t := *in
	t.Frames, t.ImagePosition, t.ImageOrientation = nil, nil, nil
	b, err := json.Marshal(&t)
	if err != nil {
		return err
	}
	if _, err := a.series.Create(ctx, templateKey(series), b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("series template: %w", err)
	}
	a.templates.Store(series, struct{}{})
	return nil
}

// counted returns how many instances of the series this process recorded
// (plus one when isNew): the provisional count.
func (a *Assembler) counted(series string, isNew bool) int {
	a.countMu.Lock()
	defer a.countMu.Unlock()
	n := 0
	if v, ok := a.counts.Load(series); ok {
		n = v.(int)
	}
	if isNew || n == 0 {
		n++
		a.counts.Store(series, n)
	}
	return n
}

// gone is the record left where a deleted file's instance was: written
// with compare-and-set, so the removal has a revision of its own for the
// case (casemodel.SeriesFact.Seq) and Settle leaves the instance out.
var gone = []byte(`{"gone":true}`)

// removeFromSeries marks a deleted file's geometry record gone (and drops
// its frame blocks) and returns the revision of the removal, 0 when there
// was no record.
func (a *Assembler) removeFromSeries(ctx context.Context, series, sop string) (uint64, error) {
	base := recordKey(series, sop)
	for attempt := 0; ; attempt++ {
		e, err := a.series.Get(ctx, base)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("series record: %w", err)
		}
		if string(e.Value()) == string(gone) {
			return e.Revision(), nil // removed already (a repeated deletion)
		}
		var g instGeom
		if json.Unmarshal(e.Value(), &g) == nil {
			for k := 0; k < g.Blocks; k++ {
				if err := a.series.Purge(ctx, base+".f"+strconv.Itoa(k)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
					return 0, fmt.Errorf("series record: %w", err)
				}
			}
		}
		rev, err := a.series.Update(ctx, base, gone, e.Revision())
		if err == nil {
			return rev, nil
		}
		if !pipeline.IsConflict(err) || attempt >= 8 {
			return 0, fmt.Errorf("series record: %w", err)
		}
	}
}

// settled reads every record of a series and returns its exact summary and
// the newest revision it covers (deletions included).
func (a *Assembler) settled(ctx context.Context, series string) (*dicomx.Series, uint64, time.Time, error) {
	// The watch delivers the newest write of every record, deletions
	// included, then nil.
	w, err := a.series.Watch(ctx, "i."+series+".>")
	if err != nil {
		return nil, 0, time.Time{}, fmt.Errorf("series records: %w", err)
	}
	defer func() { _ = w.Stop() }()
	// A series' records are held at once, as many as its sender sent: they
	// are reserved against the memory budget the objects in flight share
	// (decoded, a record takes a few times its encoded size), and a series
	// that finds it full is settled at a later sweep.
	hold := a.cfg.Budget.Hold(a.cfg.BudgetWait)
	defer hold.Release()
	geoms := map[string]*instGeom{}
	blocks := map[string]frameBlock{}
	var last uint64
	var at time.Time
	prefix := "i." + series + "."
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return nil, 0, time.Time{}, ctx.Err()
		case x, ok := <-w.Updates():
			if !ok {
				return nil, 0, time.Time{}, errors.New("series records: the watch ended early")
			}
			e = x
		}
		if e == nil {
			break // every record as of the watch's start has been read
		}
		if err := hold.Reserve(4 * int64(len(e.Key())+len(e.Value()))); err != nil {
			return nil, 0, time.Time{}, fmt.Errorf("series records: %w", err)
		}
		if e.Revision() > last {
			last, at = e.Revision(), e.Created()
		}
		rest := strings.TrimPrefix(e.Key(), prefix)
		sop, _, isBlock := strings.Cut(rest, ".")
		if e.Operation() != jetstream.KeyValuePut {
			if !isBlock {
				delete(geoms, sop)
			}
			continue
		}
		if isBlock {
			var fb frameBlock
			if json.Unmarshal(e.Value(), &fb) == nil {
				blocks[rest] = fb
			}
			continue
		}
		var g instGeom
		if err := json.Unmarshal(e.Value(), &g); err != nil || g.UID == "" {
			// Gone (its file was deleted), or unreadable: the instance
			// is counted when it comes again.
			delete(geoms, sop)
			continue
		}
		geoms[sop] = &g
	}
	tmpl, err := a.template(ctx, series)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	legacy, lrev, err := a.legacy(ctx, series)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	extra := 0
	if legacy != nil {
		if tmpl == nil {
			tmpl = legacy.Template
		}
		for i := range legacy.Inst {
			if g := &legacy.Inst[i]; geoms[token(g.UID)] == nil {
				geoms[token(g.UID)] = g
			}
		}
		extra = legacy.Extra
		last = max(last, lrev)
	}
	if tmpl == nil && len(geoms) > 0 {
		// Records without the attributes they share: the template is not
		// readable yet (see Settle), or was lost.
		return &dicomx.Series{}, last, at, errTemplateUnread
	}
	ins := make([]*dicomx.Instance, 0, len(geoms))
	for sop, g := range geoms {
		for k := 0; k < g.Blocks; k++ {
			fb := blocks[sop+".f"+strconv.Itoa(k)]
			g.FramePos = append(g.FramePos, fb.Pos...)
			g.FrameOri = append(g.FrameOri, fb.Ori...)
		}
		if tmpl != nil {
			ins = append(ins, g.instance(tmpl))
		}
	}
	s := &dicomx.Series{}
	if ss := dicomx.BuildSeries(ins, a.cfg.Series); len(ss) > 0 {
		s = ss[0]
	}
	s.InstanceCount += extra
	return s, last, at, nil
}

// legacyRecord is the one-record-per-series geometry of earlier versions
// (keyed by the remapped series UID): a series begun before an upgrade
// settles with the instances it holds.
type legacyRecord struct {
	Template *dicomx.Instance `json:"template"`
	Extra    int              `json:"extra"`
	Inst     []instGeom       `json:"instances"`
}

func (a *Assembler) legacy(ctx context.Context, series string) (*legacyRecord, uint64, error) {
	e, err := a.series.Get(ctx, strings.ReplaceAll(series, "_", "."))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("series record: %w", err)
	}
	var r legacyRecord
	if json.Unmarshal(e.Value(), &r) != nil || r.Template == nil {
		return nil, 0, nil
	}
	return &r, e.Revision(), nil
}

// template reads a series' attributes (nil when the series has none, i.e.
// every instance was deleted before one was stored).
func (a *Assembler) template(ctx context.Context, series string) (*dicomx.Instance, error) {
	e, err := a.series.Get(ctx, templateKey(series))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("series template: %w", err)
	}
	var t dicomx.Instance
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		return nil, fmt.Errorf("series template unreadable: %w", err)
	}
	return &t, nil
}

// recordsGrace is how long after a study is due a series whose records
// read short waits for them before they are taken as lost: far longer than
// a replica needs to catch up, and no longer than the default quiet period
// the study has already waited.
const recordsGrace = 2 * time.Minute

// errTemplateUnread says a series has instance records but its template
// could not be read; settled returns the summary without instances with
// it.
var errTemplateUnread = errors.New("the series template is not readable")

// Settle implements pipeline.Settler: before a case's timer fires, the
// series due to become stable whose summary does not cover all their
// records get their exact summary.
func (a *Assembler) Settle(ctx context.Context, caseID string, state []byte, now time.Time) (any, error) {
	if state == nil {
		return nil, nil
	}
	c, err := load(caseID, state)
	if err != nil {
		return nil, err
	}
	refs := a.reg.Unsettled(c, now)
	if len(refs) == 0 {
		return nil, nil
	}
	var facts []casemodel.Fact
	for _, r := range refs {
		s, rev, at, err := a.settled(ctx, token(r.SeriesUID))
		noTemplate := errors.Is(err, errTemplateUnread)
		if err != nil && !noTemplate {
			return nil, err
		}
		if noTemplate || rev < r.Seen {
			// Records the case has seen, or the attributes they share,
			// are not readable. On a cluster that is first a replica
			// still catching up after a restart (reads may be served by
			// any replica): the series is settled at a later sweep. Still
			// missing long after the study was due, they are lost (the
			// series bucket lost data): the summary covers what is left,
			// rather than the study waiting for records that will not
			// come back.
			if now.Sub(r.Due) < recordsGrace {
				return nil, fmt.Errorf("series records: revisions up to %d of %d readable, template readable: %t; settled at a later sweep", rev, r.Seen, !noTemplate)
			}
			a.log.Warn().Str("case_id", caseID).Uint64("found", rev).Uint64("seen", r.Seen).Bool("template", !noTemplate).
				Msg("series records missing; the series is summarised from those left")
			rev = max(rev, r.Seen)
		}
		s.StudyInstanceUID, s.SeriesInstanceUID = r.StudyUID, r.SeriesUID
		f := seriesFact(casemodel.Origin{ID: r.SeriesUID, Time: at}, s)
		f.Settled = rev
		facts = append(facts, f)
	}
	return facts, nil
}

func f64(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// seriesFact maps a series summary onto the registry's series fact.
func seriesFact(origin casemodel.Origin, s *dicomx.Series) casemodel.SeriesFact {
	f := casemodel.SeriesFact{
		Origin: origin, StudyUID: s.StudyInstanceUID, SeriesUID: s.SeriesInstanceUID,
		Modality: s.Modality, SOPClassUID: s.SOPClassUID, SOPClassName: s.SOPClassName,
		InstanceCount: s.InstanceCount, SliceCount: s.SliceCount,
		SliceThicknessMM: f64(s.SliceThicknessMM), SliceSpacingMM: f64(s.SliceSpacingMM),
		Rows: s.Rows, Columns: s.Columns, ExtentMM: f64(s.ExtentMM),
		Manufacturer: s.Manufacturer, ModelName: s.ManufacturerModel, Kernel: s.ConvolutionKernel,
		KVP: f64(s.KVP), Contrast: s.ContrastBolusAgent != "", ContrastAgent: s.ContrastBolusAgent,
		BodyPart: s.BodyPartExamined, Description: s.SeriesDescription, ThinSlice: s.ThinSlice,
		Flags: casemodel.SeriesFlags{
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
