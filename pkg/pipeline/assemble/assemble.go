package assemble

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/deid"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// Config tunes the domain step. The zero value takes the defaults.
type Config struct {
	// Registry is the case model's configuration.
	Registry casemodel.Config
	// Profile is the de-identification profile (default deid.RegistryProfile).
	Profile *deid.Profile
	// Series tunes series geometry (thin-slice guidance).
	Series dicomx.SeriesOptions
	// Limits bound the DICOM reader, per object.
	Limits dicomx.Limits
	// Budget, when set, is the memory all objects in flight share: what a
	// DICOM object holds in memory is reserved against it, and an object
	// that finds it full for BudgetWait is retried later.
	Budget *dicomx.Budget
	// BudgetWait is how long an object waits for the budget (default 30 s).
	BudgetWait time.Duration
	// Mesh tunes model measurement (default units for STL and OBJ, limits).
	Mesh mesh.Options
	// ModelsPrefix is the key prefix labs drop models under
	// (<prefix><case-ref>/…). Empty: the first folder of any key is the
	// case reference.
	ModelsPrefix string
	// SpoolDir holds outputs too large for memory (default os.TempDir()).
	SpoolDir string
	// SpoolMemory is the largest output held in memory (default 8 MiB;
	// larger outputs go to SpoolDir, so workers in flight do not add up).
	SpoolMemory int
}

// Assembler implements pipeline.Processor and pipeline.Rejecter; Model
// returns the matching pipeline.CaseModel.
type Assembler struct {
	cfg     Config
	key     *sitekey.Key
	reg     *casemodel.Registry
	eng     *deid.Engine
	deid    objstore.Bucket
	cases   Cases
	series  jetstream.KeyValue
	aliases jetstream.KeyValue
	log     zerolog.Logger

	bufs    sync.Pool
	headers sync.Pool
	readers sync.Pool // *bufio.Reader, one per object in flight
	// pointers caches alias → case pointers (they never change once set);
	// folded remembers aliases whose case was already retired and merged.
	// Both are bounded: a worker runs for months.
	pointers *lru
	folded   *lru
	// templates remembers series whose attributes are stored; counts the
	// instances this process recorded per series (provisional counts).
	templates *lru
	countMu   sync.Mutex
	counts    *lru
	caseCache caseCache
}

// New builds the domain step over the stores it is given (see OpenStores)
// and the de-identified bucket.
func New(cfg Config, key *sitekey.Key, st Stores, out objstore.Bucket, log zerolog.Logger) (*Assembler, error) {
	if key == nil || st.Cases == nil || st.Series == nil || st.Aliases == nil || out == nil {
		return nil, errors.New("assemble: site key, the case, series and alias stores and the de-identified bucket are required")
	}
	reg, err := casemodel.New(cfg.Registry, key)
	if err != nil {
		return nil, fmt.Errorf("assemble: registry: %w", err)
	}
	prof := deid.RegistryProfile()
	if cfg.Profile != nil {
		prof = *cfg.Profile
	}
	eng, err := deid.New(key, prof)
	if err != nil {
		return nil, fmt.Errorf("assemble: de-identification: %w", err)
	}
	eng.SetLimits(cfg.Limits)
	if cfg.BudgetWait <= 0 {
		cfg.BudgetWait = 30 * time.Second
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	}
	if cfg.SpoolMemory <= 0 {
		cfg.SpoolMemory = DefaultSpoolMemory
	}
	if cfg.Mesh.DefaultUnits == "" {
		cfg.Mesh.DefaultUnits = mesh.DefaultOptions().DefaultUnits
	}
	a := &Assembler{cfg: cfg, key: key, reg: reg, eng: eng, deid: out, cases: st.Cases, series: st.Series, aliases: st.Aliases, log: log,
		pointers: newLRU(maxCachedAliases), folded: newLRU(maxCachedAliases),
		templates: newLRU(maxCachedSeries), counts: newLRU(maxCachedSeries)}
	a.bufs.New = func() any { return new(bytes.Buffer) }
	a.readers.New = func() any { return bufio.NewReaderSize(nil, readAhead) }
	a.headers.New = func() any { return &prefix{b: make([]byte, 0, headerCapture), max: headerCapture} }
	return a, nil
}

// DefaultSpoolMemory is Config.SpoolMemory's default: the largest output
// held in memory rather than in a temporary file.
const DefaultSpoolMemory = 8 << 20

// readAhead is the buffer an object is read through: enough to sniff its
// format and read a DICOM header in few calls.
const readAhead = 64 << 10

// maxCachedAliases bounds each alias cache: the studies being received now
// (a few per worker), with room to spare. An alias forgotten costs one KV
// read when it comes back.
const maxCachedAliases = 256

// maxCachedSeries bounds the per-series caches: the series being received.
const maxCachedSeries = 256

// sniffBytes is how much of an object is looked at to tell its type.
const sniffBytes = 4096

// Kinds label objects in metrics.
const (
	KindDICOM   = "dicom"
	KindSidecar = "sidecar"
	KindUnknown = "unknown"
)

var errUnsupported = errors.New("not DICOM, STL, 3MF, OBJ or case.json")

// Process reads one raw object. See the package documentation.
func (a *Assembler) Process(ctx context.Context, in pipeline.Input) (pipeline.Result, error) {
	rc, err := in.Open(ctx)
	if err != nil {
		return pipeline.Result{}, err
	}
	defer rc.Close()
	src := &watched{r: rc}
	br := a.readers.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() {
		br.Reset(nil) // drop the object's reader
		a.readers.Put(br)
	}()
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return pipeline.Result{}, fmt.Errorf("reading the object: %w", err)
	}
	name := path.Base(in.Ref.Key)
	switch {
	case dicomx.Sniff(head):
		return a.dicom(ctx, in, br, src)
	case strings.EqualFold(name, "case.json"), strings.EqualFold(name, "case.jsonc"):
		return a.sidecar(ctx, in, br)
	}
	if f := mesh.Sniff(head, in.Size, name); f != "" {
		return a.model(ctx, in, f, br, src)
	}
	res := pipeline.Result{Kind: KindUnknown}
	if c, err := a.inFileCase(ctx, in.Ref.Key, &res); err == nil && c != "" {
		res.Facts = []casemodel.Fact{a.rejected(in, registry.ReasonUnsupported, errUnsupported.Error())}
	}
	return res, pipeline.Permanent(registry.ReasonUnsupported, errUnsupported)
}

// Reject records, in the object's case when its key names one, an object
// the worker refused before reading it (over the size cap, say). A DICOM
// object's case is known only from its content, so such an object is only
// in the dead-letter stream.
func (a *Assembler) Reject(ctx context.Context, in pipeline.Input, reason string) (pipeline.Result, error) {
	res := pipeline.Result{Kind: kindOfName(in.Ref.Key)}
	if res.Kind == KindDICOM || res.Kind == KindUnknown {
		return res, nil
	}
	c, err := a.inFileCase(ctx, in.Ref.Key, &res)
	if err != nil || c == "" {
		return res, err
	}
	res.Facts = []casemodel.Fact{a.rejected(in, reason, "")}
	return res, nil
}

// kindOfName guesses an object's kind from its name alone (for objects
// refused unread).
func kindOfName(key string) string {
	name := strings.ToLower(path.Base(key))
	switch {
	case name == "case.json" || name == "case.jsonc":
		return KindSidecar
	case strings.HasSuffix(name, ".stl"):
		return string(mesh.STL)
	case strings.HasSuffix(name, ".3mf"):
		return string(mesh.ThreeMF)
	case strings.HasSuffix(name, ".obj"):
		return string(mesh.OBJ)
	case strings.HasSuffix(name, ".dcm") || !strings.Contains(name, "."):
		return KindDICOM
	}
	return KindUnknown
}

// origin names the object revision a file fact comes from.
func (a *Assembler) origin(in pipeline.Input) casemodel.Origin {
	v := in.ETag
	if in.Ref.VersionID != "" {
		v = in.Ref.VersionID + "/" + v
	}
	return casemodel.Origin{ID: in.ObjectID, Version: v, Time: in.Modified}
}

func (a *Assembler) rejected(in pipeline.Input, reason, detail string) casemodel.RejectedFact {
	return casemodel.RejectedFact{Origin: a.origin(in), Reason: reason, Detail: detail}
}

// transient tells whether a processing error came from the network or the
// context rather than from the content.
func transient(ctx context.Context, src *watched) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if src != nil && src.err != nil {
		return src.err
	}
	return nil
}

// put writes a spooled output to the de-identified bucket.
func (a *Assembler) put(ctx context.Context, key, contentType string, sp *spool) error {
	if _, err := a.deid.Put(ctx, key, sp.Reader(), sp.Size(), objstore.PutOptions{ContentType: contentType}); err != nil {
		if errors.Is(err, objstore.ErrInvalidKey) {
			return pipeline.Permanent(pipeline.ReasonOther, fmt.Errorf("output key: %w", err))
		}
		return fmt.Errorf("writing the de-identified output: %w", err)
	}
	return nil
}
