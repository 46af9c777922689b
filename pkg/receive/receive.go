// Package receive lands instances received over DICOM networking (C-STORE,
// package dimse) and DICOMweb (STOW-RS, package stow) in the raw bucket,
// where the pipeline's workers pick them up.
//
// Each instance is spooled to an unlinked temporary file as it arrives
// (never held whole in memory), its header checked, and put to the store
// under a key built from keyed hashes of its study, series and SOP instance
// UIDs: pacs/<study>/<series>/<sop>.dcm with 32 hex digits each. The key
// carries no identifier (the pipeline links a study to its case through the
// content, not the key), and an instance sent twice — by either protocol —
// lands on the same key. The sender's success status is sent only after
// the store said the object is durable.
package receive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/sitekey"
	"github.com/printreg/printreg/pkg/stow"
)

// Key domains of the object key hashes (sitekey domain separation).
const (
	domainStudy  = "receive.key.study"
	domainSeries = "receive.key.series"
	domainSOP    = "receive.key.sop"
)

// Defaults of Config.
const (
	// DefaultKeyPrefix is where received instances land in the raw bucket.
	DefaultKeyPrefix = "pacs/"
	// DefaultMinFreeBytes is the default of MinSpoolFreeBytes and
	// MinStoreFreeBytes.
	DefaultMinFreeBytes  = 1 << 30
	DefaultReadyCacheTTL = 2 * time.Second
	DefaultPutTimeout    = 10 * time.Minute
	DefaultBudgetWait    = 5 * time.Second
)

// Config configures the receiver. Zero fields take their defaults.
type Config struct {
	// KeyPrefix prefixes object keys (default "pacs/").
	KeyPrefix string `yaml:"key_prefix"`
	// SpoolDir holds instances while they arrive (default the system
	// temporary directory). Spool files are unlinked at creation, so a
	// crash leaves nothing behind.
	SpoolDir string `yaml:"spool_dir"`
	// MinSpoolFreeBytes: associations and requests are refused when the
	// spool file system has less free space (default 1 GiB).
	MinSpoolFreeBytes confval.ByteSize `yaml:"min_spool_free_bytes" confval:"positive"`
	// MinStoreFreeBytes: the same for a directory store (default 1 GiB).
	MinStoreFreeBytes confval.ByteSize `yaml:"min_store_free_bytes" confval:"positive"`
	// ReadyCacheTTL is how long a store health check is reused (default
	// 2 s), so an association storm does not become a health-check storm.
	ReadyCacheTTL time.Duration `yaml:"ready_cache_ttl" confval:"positive"`
	// PutTimeout bounds one put to the store (default 10 min).
	PutTimeout time.Duration `yaml:"put_timeout" confval:"positive"`
	// DIMSE configures the C-STORE receiver; it is served by Run when
	// DIMSE.Listen is set.
	DIMSE dimse.Config `yaml:"dimse"`
	// STOW configures the STOW-RS endpoint; it is served by Run when
	// STOW.Listen is set.
	STOW stow.Config `yaml:"stow"`
	// Budget, when set, is the memory shared by every object read at once
	// in the process (workers included): an instance whose header does not
	// fit within BudgetWait is answered "out of resources, retry later".
	Budget *dicomx.Budget `yaml:"-"`
	// BudgetWait is how long an instance waits for the budget (default 5 s).
	BudgetWait time.Duration `yaml:"-" confval:"positive"`
}

// DefaultConfig returns the defaults of Config, with the DIMSE and
// STOW-RS defaults of their packages. SpoolDir (the system temporary
// directory) is left empty and filled in by New; the listeners have no
// default.
func DefaultConfig() Config {
	return Config{
		KeyPrefix: DefaultKeyPrefix, MinSpoolFreeBytes: DefaultMinFreeBytes, MinStoreFreeBytes: DefaultMinFreeBytes,
		ReadyCacheTTL: DefaultReadyCacheTTL, PutTimeout: DefaultPutTimeout, BudgetWait: DefaultBudgetWait,
		DIMSE: dimse.DefaultConfig(), STOW: stow.DefaultConfig(),
	}
}

// withDefaults fills unset fields from DefaultConfig (see
// confval.FillDefaults: a field tagged positive is unset when zero or
// negative) and SpoolDir with the system temporary directory. The DIMSE
// and STOW-RS sections are left to their servers.
func (c Config) withDefaults() Config {
	confval.FillDefaults(&c, DefaultConfig())
	if c.SpoolDir == "" {
		c.SpoolDir = os.TempDir()
	}
	return c
}

// Receiver ties the DIMSE and STOW-RS front doors to the store.
type Receiver struct {
	cfg    Config
	bucket objstore.Bucket
	key    *sitekey.Key
	log    zerolog.Logger
	dimse  *dimse.Server
	stow   *stow.Server

	// writers recycles the spool files' write buffers.
	writers sync.Pool

	readyMu   sync.Mutex
	readyAt   time.Time
	readyErr  error
	readyBusy chan struct{}
}

// New validates cfg and builds the receiver, which puts instances into
// bucket (the raw bucket) under keys hashed with key.
func New(cfg Config, bucket objstore.Bucket, key *sitekey.Key, log zerolog.Logger) (*Receiver, error) {
	if bucket == nil {
		return nil, errors.New("receive: a bucket is required")
	}
	if key == nil {
		return nil, errors.New("receive: a site key is required")
	}
	cfg = cfg.withDefaults()
	if strings.HasPrefix(cfg.KeyPrefix, "/") || strings.Contains(cfg.KeyPrefix, "..") {
		return nil, errors.New("receive: key_prefix must be relative and without ..")
	}
	if st, err := os.Stat(cfg.SpoolDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("receive: spool_dir is not a directory: %w", errors.Join(err, errors.New("not usable")))
	}
	r := &Receiver{cfg: cfg, bucket: bucket, key: key, log: log.With().Str("component", "receive").Logger()}
	var errs []error
	ds, err := dimse.NewServer(cfg.DIMSE, dimseHandler{r}, log)
	if err != nil {
		errs = append(errs, err)
	}
	r.dimse = ds
	if stowWanted(cfg.STOW) {
		ss, err := stow.NewServer(cfg.STOW, stowStorer{r}, log)
		if err != nil {
			errs = append(errs, err)
		}
		r.stow = ss
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// stowWanted reports whether the STOW-RS endpoint is configured: it has a
// listen address or any authentication or TLS setting. A receiver that
// serves C-STORE only then needs no STOW-RS authentication, while a
// STOW-RS endpoint that is served always does.
func stowWanted(c stow.Config) bool {
	return c.Listen != "" || c.TokensFile != "" || c.TLS.Enabled() || c.AllowUnauthenticated
}

// DIMSE returns the C-STORE server (for Serve, Stats, Active).
func (r *Receiver) DIMSE() *dimse.Server { return r.dimse }

// STOW returns the STOW-RS endpoint (for Handler, Serve, Stats), or nil
// when the configuration has none (no listen address, no authentication).
func (r *Receiver) STOW() *stow.Server { return r.stow }

// ServeDIMSE serves C-STORE on ln until ctx is cancelled.
func (r *Receiver) ServeDIMSE(ctx context.Context, ln net.Listener) error {
	return r.dimse.Serve(ctx, ln)
}

// ServeSTOW serves STOW-RS on ln until ctx is cancelled.
func (r *Receiver) ServeSTOW(ctx context.Context, ln net.Listener) error {
	if r.stow == nil {
		ln.Close()
		return errors.New("receive: STOW-RS is not configured (set stow.listen and its authentication)")
	}
	return r.stow.Serve(ctx, ln)
}

// Run listens on the configured addresses (DIMSE.Listen, STOW.Listen;
// empty disables one) and serves until ctx is cancelled or one fails.
func (r *Receiver) Run(ctx context.Context) error {
	var lc net.ListenConfig
	var dimseLn, stowLn net.Listener
	var err error
	if addr := r.cfg.DIMSE.Listen; addr != "" {
		if dimseLn, err = lc.Listen(ctx, "tcp", addr); err != nil {
			return fmt.Errorf("receive: listening on %s: %w", addr, err)
		}
	}
	if addr := r.cfg.STOW.Listen; addr != "" {
		if stowLn, err = lc.Listen(ctx, "tcp", addr); err != nil {
			if dimseLn != nil {
				dimseLn.Close()
			}
			return fmt.Errorf("receive: listening on %s: %w", addr, err)
		}
	}
	return r.Serve(ctx, dimseLn, stowLn)
}

// Serve serves C-STORE on dimseLn and STOW-RS on stowLn (a nil listener
// leaves that front door off) until ctx is cancelled or one fails; the
// first failure stops the other, and is returned once both have stopped.
// Callers that open their own listeners (to know the bound addresses, or
// to fail on a taken port before other work starts) serve them here.
func (r *Receiver) Serve(ctx context.Context, dimseLn, stowLn net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type serve func(context.Context, net.Listener) error
	var n int
	errc := make(chan error, 2)
	for _, s := range []struct {
		ln net.Listener
		fn serve
	}{{dimseLn, r.ServeDIMSE}, {stowLn, r.ServeSTOW}} {
		if s.ln == nil {
			continue
		}
		n++
		go func() { errc <- s.fn(ctx, s.ln) }()
	}
	if n == 0 {
		return errors.New("receive: neither dimse.listen nor stow.listen is set")
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// ObjectKey is the raw-bucket key of an instance: prefix + keyed hashes of
// its study, series and SOP instance UIDs.
func ObjectKey(key *sitekey.Key, prefix, study, series, sop string) string {
	return prefix + key.Hex(16, domainStudy, study) + "/" + key.Hex(16, domainSeries, series) + "/" +
		key.Hex(16, domainSOP, sop) + ".dcm"
}

// Ready checks the store (cached for ReadyCacheTTL; one check at a time)
// and the spool's free space.
func (r *Receiver) Ready(ctx context.Context) error {
	free, err := freeBytes(r.cfg.SpoolDir)
	if err != nil {
		return err
	}
	if free < int64(r.cfg.MinSpoolFreeBytes) {
		return fmt.Errorf("receive: spool directory has %d bytes free, under the %d minimum: %w", free, r.cfg.MinSpoolFreeBytes, ErrStoreFull)
	}
	for {
		r.readyMu.Lock()
		if !r.readyAt.IsZero() && time.Since(r.readyAt) < r.cfg.ReadyCacheTTL {
			err := r.readyErr
			r.readyMu.Unlock()
			return err
		}
		if busy := r.readyBusy; busy != nil {
			r.readyMu.Unlock()
			select {
			case <-busy:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		busy := make(chan struct{})
		r.readyBusy = busy
		r.readyMu.Unlock()
		err := r.storeHealth(ctx)
		r.readyMu.Lock()
		r.readyAt, r.readyErr, r.readyBusy = time.Now(), err, nil
		r.readyMu.Unlock()
		close(busy)
		return err
	}
}

// spool is an unlinked temporary file receiving one instance.
type spool struct {
	f   *os.File
	w   *bufio.Writer
	n   int64 // bytes written, file meta included
	max int64 // data bytes allowed after the header
	hdr int64 // header bytes

	pool *sync.Pool
}

func (r *Receiver) newSpool(max int64) (*spool, error) {
	f, err := os.CreateTemp(r.cfg.SpoolDir, "printreg-spool-*")
	if err != nil {
		return nil, fmt.Errorf("receive: creating a spool file: %w", err)
	}
	// Unlinked at once: the open file is all that holds the bytes.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("receive: unlinking a spool file: %w", err)
	}
	w, _ := r.writers.Get().(*bufio.Writer)
	if w == nil {
		w = bufio.NewWriterSize(f, 256<<10)
	} else {
		w.Reset(f)
	}
	return &spool{f: f, w: w, max: max, pool: &r.writers}, nil
}

var errTooLarge = errors.New("instance larger than the configured limit")

func (s *spool) Write(p []byte) (int, error) {
	if s.max > 0 && s.n-s.hdr+int64(len(p)) > s.max {
		return 0, errTooLarge
	}
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}

// close releases the spool file (its bytes go with it) and the buffer.
func (s *spool) close() {
	if s.w != nil {
		s.w.Reset(nil)
		s.pool.Put(s.w)
		s.w = nil
	}
	s.f.Close()
}

// finish flushes the spool and returns a reader over the whole object.
func (s *spool) finish() (*io.SectionReader, error) {
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("receive: writing the spool file: %w", err)
	}
	return io.NewSectionReader(s.f, 0, s.n), nil
}

// ids are the identifiers read from an instance's header.
type ids struct {
	sopClass, sopInstance, study, series, syntax string
	meta                                         *dicomx.Dataset
}

// headerLimits bound what reading an instance's header may hold: values
// within the reader's defaults, all of it reserved against the process's
// memory budget, so a hostile (deflated) header is refused at the door.
var headerLimits = dicomx.Limits{MaxValueBytes: 64 << 20, MaxElements: 1_000_000}

// readIDs reads the header of the spooled object (so that a damaged one is
// refused to its sender) and returns its identifiers. It keeps no value
// but the identifiers.
func readIDs(obj *io.SectionReader, hold *dicomx.Hold) (*ids, error) {
	rd, err := dicomx.NewReader(io.NewSectionReader(obj, 0, obj.Size()), obj.Size(), dicomx.Options{Limits: headerLimits, Hold: hold})
	if err != nil {
		return nil, err
	}
	id := &ids{syntax: rd.Meta().Str(dicomx.TagTransferSyntaxUID), meta: rd.Meta()}
	for {
		el, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return id, nil
		}
		if err != nil {
			return nil, err
		}
		if el.Bulk {
			if el.Tag == dicomx.TagPixelData || el.Tag == dicomx.TagFloatPixelData || el.Tag == dicomx.TagDoubleFloatPixelData {
				return id, nil
			}
			if err := rd.SkipValue(); err != nil {
				return nil, err
			}
			continue
		}
		switch el.Tag {
		case dicomx.TagSOPClassUID:
			id.sopClass = el.Str()
		case dicomx.TagSOPInstanceUID:
			id.sopInstance = el.Str()
		case dicomx.TagStudyInstanceUID:
			id.study = el.Str()
		case dicomx.TagSeriesInstanceUID:
			id.series = el.Str()
		}
	}
}

// refusalReason names why an instance's header could not be read, for the
// log: too_large (over a limit), busy (memory budget full) or malformed.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, dicomx.ErrBusy):
		return "busy"
	case errors.Is(err, dicomx.ErrTooLarge):
		return "too_large"
	case errors.Is(err, dicomx.ErrNotDICOM):
		return "not_dicom"
	}
	return "malformed"
}

func validUID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// checkIDs verifies the identifiers a key is built from.
func checkIDs(id *ids) (dicomstatus.Code, string) {
	if !validUID(id.sopClass) || !validUID(id.sopInstance) {
		return dicomstatus.DataSetMismatch, "SOP class or instance UID missing or invalid"
	}
	if !validUID(id.study) || !validUID(id.series) {
		return dicomstatus.DataSetMismatch, "study or series instance UID missing or invalid"
	}
	return dicomstatus.Success, ""
}

// put stores the spooled object under its key.
func (r *Receiver) put(ctx context.Context, obj *io.SectionReader, id *ids) (string, error) {
	key := ObjectKey(r.key, r.cfg.KeyPrefix, id.study, id.series, id.sopInstance)
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PutTimeout)
	defer cancel()
	if _, err := r.bucket.Put(pctx, key, io.NewSectionReader(obj, 0, obj.Size()), obj.Size(),
		objstore.PutOptions{ContentType: "application/dicom"}); err != nil {
		// A failed put means the store may be down: recheck before the
		// next association.
		r.readyMu.Lock()
		r.readyAt = time.Time{}
		r.readyMu.Unlock()
		return key, err
	}
	return key, nil
}
