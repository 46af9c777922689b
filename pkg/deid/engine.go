package deid

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
	"github.com/printreg/printreg/pkg/sitekey"
)

// ImplementationClassUID identifies printreg's de-identifier in the file meta
// it writes (a fixed UUID-derived UID under 2.25).
const ImplementationClassUID = "2.25.207316180451356553451342163305932452551"

// mediaStorageDirectory is the SOP class of a DICOMDIR.
const mediaStorageDirectory = "1.2.840.10008.1.3.10"

// readBuffer is the reader's buffer size (dicomx's default is 16 KiB).
const readBuffer = 4 << 10

// ImplementationVersionName is written in the file meta (at most 16 characters).
const ImplementationVersionName = "PRINTREG_DEID_1"

// Engine de-identifies DICOM objects under one profile and site key. It holds
// no per-object state and is safe for concurrent use.
type Engine struct {
	key       *sitekey.Key
	prof      Profile
	vocab     vocabulary
	allow     map[dicomx.Tag]bool
	refuseSOP map[string]bool
	refuseMod map[string]bool
	// declareMod are modalities refused unless Burned In Annotation is NO.
	declareMod map[string]bool
	on         [numOptions]bool
	limits     dicomx.Limits
	method     string
	writers    sync.Pool         // *bufio.Writer, 64 KiB
	copyBufs   sync.Pool         // *[]byte, 32 KiB: tailWriter's copy between two plain streams
	matchers   sync.Pool         // *matcher, reused by the residue scan
	states     sync.Pool         // *state
	memo       memo              // keyed values met again in the next objects of a study
	inserts    []*dicomx.Element // provenance elements of an object without method codes
}

// New returns an engine for a profile. The key is the site secret every
// keyed derivation (UIDs, pseudonyms, date offsets) uses.
func New(key *sitekey.Key, p Profile) (*Engine, error) {
	if key == nil {
		return nil, errors.New("deid: no site key")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		key:        key,
		prof:       p,
		vocab:      newVocabulary(p.Vocabulary),
		allow:      map[dicomx.Tag]bool{},
		refuseSOP:  map[string]bool{},
		refuseMod:  map[string]bool{},
		declareMod: map[string]bool{},
		on:         p.enabled(),
	}
	for _, t := range DefaultTextAllowlist {
		e.allow[t] = true
	}
	for _, s := range p.TextAllowlist {
		t, _ := ParseTag(s)
		e.allow[t] = true
	}
	for _, s := range p.BurnedIn.RefuseSOPClasses {
		e.refuseSOP[strings.TrimSpace(s)] = true
	}
	for _, s := range p.BurnedIn.RefuseModalities {
		e.refuseMod[strings.ToUpper(strings.TrimSpace(s))] = true
	}
	for _, s := range p.BurnedIn.UnlessDeclaredClean {
		e.declareMod[strings.ToUpper(strings.TrimSpace(s))] = true
	}
	e.writers.New = func() any { return bufio.NewWriterSize(nil, 64<<10) }
	e.copyBufs.New = func() any { b := make([]byte, 32<<10); return &b }
	e.matchers.New = func() any { return &matcher{} }
	name := p.Name
	if name == "" {
		name = "custom"
	}
	e.method = fmt.Sprintf("printreg deid; PS3.15 %s Table E.1-1; profile %s", TableEdition, name)
	if len(e.method) > 64 {
		e.method = e.method[:64]
	}
	e.inserts = provenance(&e.prof, e.method, nil)
	return e, nil
}

// Profile returns the engine's profile.
func (e *Engine) Profile() Profile { return e.prof }

// SetLimits replaces the reader limits (zero fields mean dicomx defaults).
func (e *Engine) SetLimits(l dicomx.Limits) { e.limits = l }

// Step is one line of Explain: an element, what was done and why. It never
// holds a value.
type Step struct {
	Path    string `json:"path"`
	Keyword string `json:"keyword,omitempty"`
	VR      string `json:"vr"`
	Action  string `json:"action"`
	Rule    string `json:"rule"`
}

// Result describes one de-identified object by its new identifiers.
type Result struct {
	SOPClassUID       string         `json:"sop_class_uid"`
	SOPInstanceUID    string         `json:"sop_instance_uid"`
	SeriesInstanceUID string         `json:"series_instance_uid"`
	StudyInstanceUID  string         `json:"study_instance_uid"`
	Modality          string         `json:"modality,omitempty"`
	TransferSyntaxUID string         `json:"transfer_syntax_uid"`
	Actions           map[string]int `json:"actions"`
	BulkBytesCopied   int64          `json:"bulk_bytes_copied"`
	Written           int64          `json:"written"`
	Steps             []Step         `json:"steps,omitempty"`
}

// ErrRefused is wrapped by every refusal: the object is not passed on.
var ErrRefused = errors.New("de-identification refused")

// RefusedError says why an object was refused, in words that carry no value
// from the object. Reason is a stable code for reports.
type RefusedError struct {
	Reason string
	Detail string
}

func (e *RefusedError) Error() string { return "de-identification refused: " + e.Detail }

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Refusal reasons.
const (
	ReasonBurnedIn        = "burned_in_annotation"
	ReasonBurnedInSOP     = "burned_in_risk_sop_class"
	ReasonBurnedInModal   = "burned_in_risk_modality"
	ReasonOverlayInPixels = "overlay_in_pixel_data"
	ReasonResidue         = "phi_residue"
	ReasonNoInstanceUID   = "no_sop_instance_uid"
	ReasonModelUnreadable = "model_unreadable"
	ReasonDICOMDIR        = "dicomdir"
)

// Deidentify reads one DICOM object of size bytes (-1 when unknown) from r
// and writes its de-identified Part 10 form to w, in the same transfer
// syntax. Bulk values (pixel data, large binary values) are copied byte for
// byte without being held in memory. On any error the bytes already written
// to w are not a usable object and must be discarded: a refused object
// (errors.Is(err, ErrRefused)) has failed a policy, anything else could not
// be read or written.
func (e *Engine) Deidentify(ctx context.Context, w io.Writer, r io.Reader, size int64) (*Result, error) {
	return e.run(ctx, fixed(w), r, size, false)
}

// DeidentifyTo is Deidentify for callers that name the output after the new
// identifiers: open is called once, with the new SOP, series and study UIDs
// filled in, before the first byte is written. It is not called when the
// object is refused before that (burned-in text risk, no SOP Instance UID);
// the same rules about discarding output on error apply.
func (e *Engine) DeidentifyTo(ctx context.Context, r io.Reader, size int64, open func(*Result) (io.Writer, error)) (*Result, error) {
	return e.run(ctx, open, r, size, false)
}

func fixed(w io.Writer) func(*Result) (io.Writer, error) {
	return func(*Result) (io.Writer, error) { return w, nil }
}

// Explain de-identifies like Deidentify and also returns, in Result.Steps,
// every element path with the action taken and the rule behind it.
func (e *Engine) Explain(ctx context.Context, w io.Writer, r io.Reader, size int64) (*Result, error) {
	return e.run(ctx, fixed(w), r, size, true)
}

func (e *Engine) run(ctx context.Context, open func(*Result) (io.Writer, error), r io.Reader, size int64, explain bool) (*Result, error) {
	// A small read buffer: a header rarely needs more, and whatever the
	// buffer holds past it is pixel data that would pass through user
	// space instead of being copied by the kernel.
	// The object's values are reserved against the process's memory
	// budget when the caller's context carries a hold (dicomx.WithHold).
	rd, err := dicomx.NewReader(r, size, dicomx.Options{Limits: e.limits, BufferSize: readBuffer, Hold: dicomx.HoldFrom(ctx)})
	if err != nil {
		return nil, fmt.Errorf("deid: reading DICOM: %w", err)
	}
	st, _ := e.states.Get().(*state)
	if st == nil {
		st = &state{}
	}
	st.reset(e, explain, rd.Syntax())
	defer func() {
		st.reset(e, false, dicomx.Syntax{}) // drop references to this object
		e.states.Put(st)
	}()
	st.ctx = ctx
	st.meta = rd.Meta()
	bw := e.writers.Get().(*bufio.Writer)
	defer func() {
		bw.Reset(nil)
		e.writers.Put(bw)
	}()
	dw := dicomx.NewWriter(bw, rd.Syntax())
	// A native bulk value goes straight to the output once the header is
	// flushed (a file-to-file copy stays in the kernel: copy_file_range),
	// see tailWriter; fragments go through bw (many small item headers),
	// and a deflated dataset through the writer's compressor.
	var dst io.Writer
	var direct int64
	started := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seg, stream, err := st.readSegment(rd)
		if err != nil {
			return nil, fmt.Errorf("deid: reading DICOM: %w", err)
		}
		if !started {
			if err := st.prepare(seg); err != nil {
				return nil, err
			}
		}
		out := st.processList(seg, nil, &st.top)
		if st.err != nil {
			return nil, st.err
		}
		if !started {
			meta, err := st.newMeta()
			if err != nil {
				return nil, err
			}
			w, err := open(st.res)
			if err != nil {
				return nil, err
			}
			dst = w
			bw.Reset(w)
			if err := dw.WriteFileHeader(nil, meta); err != nil {
				return nil, fmt.Errorf("deid: writing: %w", err)
			}
			// The file meta is rebuilt by the engine: nothing in it is searched.
			started = true
		}
		for _, el := range out {
			if err := st.writeInserts(dw, el.Tag); err != nil {
				return nil, err
			}
			if err := dw.WriteElement(el); err != nil {
				return nil, fmt.Errorf("deid: writing %s: %w", el.Tag, err)
			}
		}
		st.outValues(out)
		if stream == nil {
			break
		}
		if err := st.writeInserts(dw, stream.Tag); err != nil {
			return nil, err
		}
		length := stream.Length
		if stream.Encapsulated {
			length = -1
		}
		if err := dw.WriteHeader(stream.Tag, stream.VR, length); err != nil {
			return nil, fmt.Errorf("deid: writing %s: %w", stream.Tag, err)
		}
		var n int64
		var scan *streamScan
		switch {
		case scannedBulk(stream):
			// A kept value too large to hold (an ICC profile, a private
			// blob) is searched as it is copied, for what is known to be
			// removed so far: the identity is in the first segment.
			var to io.Writer = bw
			if rd.Syntax().Deflated {
				to = dw.Raw()
			}
			if m := st.residueMatcher(); m != nil {
				scan = newStreamScan(to, m, st.residueOK(stream.VR))
				to = scan
				defer st.eng.matchers.Put(m)
			}
			n, err = rd.CopyValue(to)
			if !rd.Syntax().Deflated {
				direct += n
			}
		case rd.Syntax().Deflated:
			n, err = rd.CopyValue(dw.Raw())
		case stream.Encapsulated:
			n, err = rd.CopyValue(bw)
			direct += n
		default:
			n, err = rd.CopyValue(&tailWriter{bw: bw, dst: dst, bufs: &e.copyBufs})
			direct += n
		}
		if err != nil {
			return nil, fmt.Errorf("deid: copying %s: %w", stream.Tag, err)
		}
		if scan != nil {
			if i, hit := scan.finish(); hit {
				return nil, st.residueError(i, pos{nil, stream.Tag})
			}
		}
		st.res.BulkBytesCopied += n
	}
	if err := st.writeInserts(dw, 0xFFFFFFFF); err != nil {
		return nil, err
	}
	if err := dw.Close(); err != nil {
		return nil, fmt.Errorf("deid: writing: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("deid: writing: %w", err)
	}
	st.res.Written = dw.Written() + direct
	if err := st.residue(); err != nil {
		return nil, err
	}
	st.res.Actions = make(map[string]int, 8)
	for v, n := range st.counts {
		if n > 0 {
			st.res.Actions[verdict(v).String()] = n
		}
	}
	// Steps of bulk values are noted when read; order all by top-level tag.
	sort.SliceStable(st.res.Steps, func(i, j int) bool { return topTag(st.res.Steps[i].Path) < topTag(st.res.Steps[j].Path) })
	return st.res, nil
}

// tailWriter takes a native bulk value: the bytes the reader already holds
// join the header in the buffered writer, and the rest goes from the input
// straight to the output with the header in one write before it (between
// files, io.Copy is copy_file_range).
type tailWriter struct {
	bw   *bufio.Writer
	dst  io.Writer
	bufs *sync.Pool // copy buffers, for streams that copy through user space
}

func (t *tailWriter) Write(p []byte) (int, error) { return t.bw.Write(p) }

func (t *tailWriter) ReadFrom(r io.Reader) (int64, error) {
	if err := t.bw.Flush(); err != nil {
		return 0, err
	}
	// io.CopyBuffer still hands the copy to the kernel when either side
	// can (ReaderFrom, WriterTo); the buffer serves only the others.
	bp := t.bufs.Get().(*[]byte)
	defer t.bufs.Put(bp)
	return io.CopyBuffer(t.dst, r, *bp)
}

// topTag is the "(gggg,eeee)" prefix of an element path.
func topTag(path string) string {
	if len(path) >= 11 {
		return path[:11]
	}
	return path
}

// modelReason keeps pkg/mesh's reason, which names formats and counts, never
// model text.
func modelReason(err error) string {
	var fe *mesh.FormatError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	switch {
	case errors.Is(err, mesh.ErrMalformed):
		return "malformed model"
	case errors.Is(err, mesh.ErrTooLarge):
		return "model over a size limit"
	}
	return "unreadable model"
}

// scannedBulk reports a kept bulk value that is searched for residue as it is
// copied: any but pixel and waveform samples, whose bytes are numbers in
// which a short pattern turns up by chance.
func scannedBulk(el *dicomx.Element) bool {
	switch el.Tag {
	case dicomx.TagPixelData, dicomx.TagFloatPixelData, dicomx.TagDoubleFloatPixelData, dicomx.TagWaveformData:
		return false
	}
	return !el.Encapsulated
}
