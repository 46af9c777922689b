package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/printreg/printreg/internal/cli"
	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/deid"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/assemble"
	"github.com/printreg/printreg/pkg/receive"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// envPrefix prefixes every environment override: PRINTREG_<SECTION>_<KEY>,
// e.g. PRINTREG_NATS_URL or PRINTREG_STORAGE_S3_ENDPOINT.
const envPrefix = "PRINTREG_"

// Secret values are read from these environment variables (or from the
// *_file settings), never from the YAML file or the command line.
const (
	envSiteSecret   = "PRINTREG_SITE_SECRET"
	envS3AccessKey  = "PRINTREG_S3_ACCESS_KEY"
	envS3SecretKey  = "PRINTREG_S3_SECRET_KEY"
	envNATSToken    = "PRINTREG_NATS_TOKEN"
	envNATSPassword = "PRINTREG_NATS_PASSWORD"
	envConfigFile   = "PRINTREG_CONFIG"
)

// Config is the ingest configuration (config/ingest.example.yaml documents
// every key). The zero value is not usable: start from defaultConfig.
type Config struct {
	DataDir        string           `yaml:"data_dir"`
	SiteSecretFile string           `yaml:"site_secret_file"`
	Log            LogConfig        `yaml:"log"`
	Admin          AdminConfig      `yaml:"admin"`
	NATS           NATSConfig       `yaml:"nats"`
	Storage        StorageConfig    `yaml:"storage"`
	Notify         NotifyConfig     `yaml:"notify"`
	Streams        StreamsConfig    `yaml:"streams"`
	Worker         WorkerConfig     `yaml:"worker"`
	Inbox          InboxConfig      `yaml:"inbox"`
	Processing     ProcessingConfig `yaml:"processing"`
	Registry       casemodel.Config `yaml:"registry"`
	Receive        ReceiveConfig    `yaml:"receive"`
	Console        ConsoleConfig    `yaml:"console"`
}

// ReceiveConfig is the PACS receiver: the DICOM C-STORE and DICOMweb
// STOW-RS front doors that land instances in the raw bucket, so that a
// hospital's routing rule can target printreg directly. Its settings are
// the receiver's own (receive.Config, with dimse.Config and stow.Config).
type ReceiveConfig struct {
	// Enabled starts the receiver inside `ingest run`; `ingest receive`
	// runs it whatever this says.
	Enabled        bool `yaml:"enabled"`
	receive.Config `yaml:",inline"`
}

// ProcessingConfig tunes what a worker does with each object.
type ProcessingConfig struct {
	// DeidProfile is a de-identification profile file (config/deid-*.yaml);
	// empty means the built-in registry profile.
	DeidProfile string `yaml:"deid_profile"`
	// ModelsPrefix is the key prefix labs drop models under; empty means
	// the first folder of any key is the case reference.
	ModelsPrefix string `yaml:"models_prefix"`
	// ThinSliceMaxMM is the thin-slice guidance (default 1.25).
	ThinSliceMaxMM float64 `yaml:"thin_slice_max_mm"`
	// ModelUnits is assumed for STL and OBJ files, which declare none.
	ModelUnits string `yaml:"model_units"`
	// SpoolDir holds outputs too large for memory (default: the system's
	// temporary folder).
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMemory is the largest output held in memory.
	SpoolMemory confval.ByteSize `yaml:"spool_memory"`
	// MemoryBudget is what the DICOM values of all objects in flight
	// (workers, associations, STOW requests) may hold at once; objects
	// wait for it, then are retried later. With the Go runtime's soft limit
	// (the budget plus 128 MiB unless GOMEMLIMIT is set) it keeps the
	// process under 512 MiB.
	MemoryBudget confval.ByteSize `yaml:"memory_budget"`
}

type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

type AdminConfig struct {
	Listen string `yaml:"listen"`
	// Pprof serves the Go runtime's profiles under /debug/pprof/, for
	// finding where memory or CPU goes; off by default.
	Pprof bool `yaml:"pprof"`
}

type NATSConfig struct {
	URL          string         `yaml:"url"`
	CredsFile    string         `yaml:"creds_file"`
	NKeyFile     string         `yaml:"nkey_file"`
	TokenFile    string         `yaml:"token_file"`
	User         string         `yaml:"user"`
	PasswordFile string         `yaml:"password_file"`
	TLS          TLSFiles       `yaml:"tls"`
	Embedded     EmbeddedConfig `yaml:"embedded"`
}

type TLSFiles struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

type EmbeddedConfig struct {
	Listen string `yaml:"listen"`
}

type StorageConfig struct {
	Raw            BucketConfig     `yaml:"raw"`
	Deid           BucketConfig     `yaml:"deid"`
	S3             S3Config         `yaml:"s3"`
	MaxObjectBytes confval.ByteSize `yaml:"max_object_bytes"`
}

type BucketConfig struct {
	Type   string `yaml:"type"`
	Bucket string `yaml:"bucket"`
	Dir    string `yaml:"dir"`
}

type S3Config struct {
	Endpoint      string           `yaml:"endpoint"`
	Region        string           `yaml:"region"`
	Secure        bool             `yaml:"secure"`
	PathStyle     bool             `yaml:"path_style"`
	CAFile        string           `yaml:"ca_file"`
	AccessKeyFile string           `yaml:"access_key_file"`
	SecretKeyFile string           `yaml:"secret_key_file"`
	PartSize      confval.ByteSize `yaml:"part_size"`
	MaxRetries    int              `yaml:"max_retries"`
	// SignPayload signs uploaded content over plain HTTP (s3store.Config).
	SignPayload bool `yaml:"sign_payload"`
}

type NotifyConfig struct {
	Configure bool   `yaml:"configure"`
	ARN       string `yaml:"arn"`
	Prefix    string `yaml:"prefix"`
	Suffix    string `yaml:"suffix"`
}

// StreamsConfig is the streams section: the pipeline's own stream limits
// (keys, comments and defaults are in pipeline.StreamLimits and
// pipeline.DefaultTopology). It is a type of its own only so that the
// YAML decoder's messages keep naming it as they always have.
type StreamsConfig pipeline.StreamLimits

// WorkerConfig is the worker section: the pipeline's own worker settings
// (keys, comments and defaults are in pipeline.WorkerConfig and
// pipeline.DefaultWorkerConfig). It is a type of its own only so that the
// YAML decoder's messages keep naming it as they always have.
type WorkerConfig pipeline.WorkerConfig

type InboxConfig struct {
	Poll   time.Duration `yaml:"poll"`
	Stable time.Duration `yaml:"stable"`
}

// defaultConfig is the embedded default: in-process NATS, directories for
// both buckets, everything under ./printreg-data.
func defaultConfig() Config {
	worker := WorkerConfig(pipeline.DefaultWorkerConfig())
	// worker.idle_release is written 0s, which the worker reads as its
	// default; the settings the file cannot hold (yaml "-") are filled in
	// by the worker itself, MaxObjectBytes from storage.max_object_bytes.
	worker.IdleRelease = 0
	c := Config{
		DataDir: "printreg-data",
		Log:     LogConfig{Level: "info", Format: "auto"},
		Admin:   AdminConfig{Listen: "127.0.0.1:9464"},
		NATS:    NATSConfig{Embedded: EmbeddedConfig{Listen: "127.0.0.1:4222"}},
		Storage: StorageConfig{
			Raw:  BucketConfig{Type: "dir", Bucket: "inbox"},
			Deid: BucketConfig{Type: "dir", Bucket: "deid"},
			// Path-style requests are what MinIO and most self-hosted
			// services expect (s3store leaves the choice to minio-go).
			S3:             S3Config{PathStyle: true, PartSize: s3store.DefaultPartSize, MaxRetries: s3store.DefaultMaxRetries},
			MaxObjectBytes: confval.ByteSize(worker.MaxObjectBytes),
		},
		Notify:  NotifyConfig{Configure: true, ARN: "arn:minio:sqs::PRINTREG:nats"},
		Streams: StreamsConfig(pipeline.DefaultTopology().StreamLimits),
		Worker:  worker,
		Inbox:   InboxConfig{Poll: time.Second, Stable: 2 * time.Second},
		Processing: ProcessingConfig{
			ThinSliceMaxMM: dicomx.DefaultThinSliceMaxMM, ModelUnits: defaultModelUnits,
			SpoolMemory: assemble.DefaultSpoolMemory, MemoryBudget: cli.DefaultMemoryBudget,
		},
		Registry: casemodel.DefaultConfig(),
		Console:  defaultConsoleConfig(),
		Receive:  ReceiveConfig{Config: receive.DefaultConfig()},
	}
	// The C-STORE receiver on the DICOM port of this machine, for the
	// embedded default to turn on (embeddedReceiver).
	c.Receive.DIMSE.Listen = "127.0.0.1:11112"
	return c
}

// defaultModelUnits is processing.model_units's default: "mm", the
// spelling the file uses for mesh's own default unit (mesh.DefaultOptions,
// mesh.Millimeter), which an empty model_units also means.
const defaultModelUnits = "mm"

// EmbeddedAETitle is the called AE title the embedded default's C-STORE
// receiver serves: the one the documentation's examples send to.
const EmbeddedAETitle = "PRINTREG"

// embeddedReceiver turns on the embedded default's DICOM C-STORE receiver
// (receive.dimse.listen, 127.0.0.1:11112 unless the environment moves it,
// AE title EmbeddedAETitle), so that a first run takes instances from a
// PACS tool on this machine as well as from the inbox folder. The
// environment has the last word: PRINTREG_RECEIVE_ENABLED=false turns it
// off, PRINTREG_RECEIVE_DIMSE_AE_TITLES names other titles. It reports
// whether it turned the receiver on.
func embeddedReceiver(cfg *Config, applied []string) bool {
	r := &cfg.Receive
	if !slices.Contains(applied, "PRINTREG_RECEIVE_DIMSE_AE_TITLES") {
		r.DIMSE.AETitles = []string{EmbeddedAETitle}
	}
	if slices.Contains(applied, "PRINTREG_RECEIVE_ENABLED") || r.DIMSE.Listen == "" {
		return false
	}
	r.Enabled = true
	return true
}

// loaded is a configuration with where it came from.
type loaded struct {
	Config
	// profile is processing.deid_profile, read once by validate (nil: the
	// default profile).
	profile *deid.Profile
	// budget is the process's memory budget, made once (see memoryBudget).
	budget     *dicomx.Budget
	budgetOnce sync.Once
	// file is the YAML file read ("" for none: the embedded default).
	file string
	// env lists the environment overrides applied.
	env []string
	// autoReceive: the embedded default turned the C-STORE receiver on by
	// itself (the user did not ask for it), so `ingest run` falls back to
	// a free port when its own is taken and runs on without it if it
	// cannot start at all.
	autoReceive bool
}

// loadConfig reads path (optional), applies PRINTREG_* environment
// overrides and validates. Unknown YAML keys are errors.
func loadConfig(path string, environ []string) (*loaded, error) {
	cfg := defaultConfig()
	l := &loaded{}
	if path == "" {
		path = lookupEnv(environ, envConfigFile)
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		l.file = path
	}
	applied, err := confval.Overlay(&cfg, envPrefix, environ)
	if err != nil {
		return nil, err
	}
	if l.file == "" && cfg.NATS.URL == "" {
		l.autoReceive = embeddedReceiver(&cfg, applied)
	}
	l.env = applied
	l.Config = cfg
	l.resolveDirs()
	if err := l.validate(); err != nil {
		return nil, err
	}
	return l, nil
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// embedded reports whether NATS runs in-process.
func (c *Config) embedded() bool { return c.NATS.URL == "" }

// resolveDirs fills the directory defaults under data_dir.
func (l *loaded) resolveDirs() {
	if l.SiteSecretFile == "" {
		l.SiteSecretFile = filepath.Join(l.DataDir, "site.secret")
	}
	if l.Storage.Raw.Type == "dir" && l.Storage.Raw.Dir == "" {
		l.Storage.Raw.Dir = filepath.Join(l.DataDir, "inbox")
	}
	if l.Storage.Deid.Type == "dir" && l.Storage.Deid.Dir == "" {
		l.Storage.Deid.Dir = filepath.Join(l.DataDir, "deid")
	}
}

func (l *loaded) topology() pipeline.Topology {
	t := pipeline.DefaultTopology()
	t.StreamLimits = pipeline.StreamLimits(l.Streams)
	return t
}

// memoryBudget is the one budget the workers and the receivers of this
// process share.
func (l *loaded) memoryBudget() *dicomx.Budget {
	l.budgetOnce.Do(func() { l.budget = cli.NewMemoryBudget(int64(l.Processing.MemoryBudget)) })
	return l.budget
}

// assembleConfig is the domain step's configuration.
func (l *loaded) assembleConfig() (assemble.Config, error) {
	p := l.Processing
	c := assemble.Config{
		Budget:   l.memoryBudget(),
		Registry: l.Registry, ModelsPrefix: p.ModelsPrefix, SpoolDir: p.SpoolDir, SpoolMemory: int(p.SpoolMemory),
		Series: dicomx.SeriesOptions{ThinSliceMaxMM: p.ThinSliceMaxMM},
	}
	c.Mesh = mesh.DefaultOptions()
	if p.ModelUnits != "" {
		c.Mesh.DefaultUnits = p.ModelUnits
	}
	if p.DeidProfile != "" && l.profile == nil {
		// The profile is read when the configuration is checked; the
		// built-in one must never stand in for a site's own unnoticed.
		return c, errors.New("processing.deid_profile: the configuration was not checked, so the profile was not read")
	}
	c.Profile = l.profile
	return c, nil
}

func (l *loaded) workerConfig() pipeline.WorkerConfig {
	w := pipeline.WorkerConfig(l.Worker)
	w.MaxObjectBytes = int64(l.Storage.MaxObjectBytes)
	return w
}

// validate lists every problem at once.
func (l *loaded) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch strings.ToLower(l.Log.Level) {
	case "debug", "info", "warn", "error", "trace":
	default:
		add("log.level %q: use debug, info, warn or error", l.Log.Level)
	}
	switch l.Log.Format {
	case "auto", "json", "console":
	default:
		add("log.format %q: use auto, json or console", l.Log.Format)
	}
	if l.DataDir == "" {
		add("data_dir is empty")
	}
	for _, b := range []struct {
		name string
		c    BucketConfig
	}{{"storage.raw", l.Storage.Raw}, {"storage.deid", l.Storage.Deid}} {
		switch b.c.Type {
		case "dir":
			if b.c.Dir == "" {
				add("%s.dir is empty", b.name)
			}
		case "s3":
			if b.c.Bucket == "" {
				add("%s.bucket is empty", b.name)
			}
			if l.Storage.S3.Endpoint == "" {
				add("%s is on S3 but storage.s3.endpoint is empty", b.name)
			}
		default:
			add("%s.type %q: use s3 or dir", b.name, b.c.Type)
		}
	}
	if l.Storage.Raw.Type == l.Storage.Deid.Type && l.Storage.Raw.Bucket == l.Storage.Deid.Bucket &&
		(l.Storage.Raw.Type == "s3" || filepath.Clean(l.Storage.Raw.Dir) == filepath.Clean(l.Storage.Deid.Dir)) {
		add("storage.raw and storage.deid name the same bucket: de-identified outputs must not land beside raw objects")
	}
	if l.Storage.MaxObjectBytes <= 0 {
		add("storage.max_object_bytes must be positive")
	}
	if l.Storage.S3.PartSize != 0 && l.Storage.S3.PartSize < s3store.MinPartSize {
		add("storage.s3.part_size %s is below the S3 minimum of 5MiB", l.Storage.S3.PartSize)
	}
	if l.Worker.Workers < 1 || l.Worker.Workers > 1024 {
		add("worker.workers %d: use 1 to 1024", l.Worker.Workers)
	}
	if l.Worker.Workers > l.Streams.MaxAckPending {
		add("worker.workers %d exceeds streams.max_ack_pending %d: workers would sit idle", l.Worker.Workers, l.Streams.MaxAckPending)
	}
	if l.Inbox.Poll <= 0 || l.Inbox.Stable <= 0 {
		add("inbox.poll and inbox.stable must be positive")
	}
	if l.Processing.MemoryBudget < 32<<20 {
		add("processing.memory_budget must be at least 32 MiB (an ordinary header needs a few MiB)")
	}
	if err := l.topology().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("streams: %w", err))
	}
	if err := l.Registry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("registry: %w", err))
	}
	if p := l.Processing; p.ThinSliceMaxMM <= 0 || p.ThinSliceMaxMM > 10 {
		add("processing.thin_slice_max_mm %g: use a value above 0 and at most 10", p.ThinSliceMaxMM)
	}
	if p := l.Processing.ModelsPrefix; p != "" && !strings.HasSuffix(p, "/") {
		add("processing.models_prefix %q must end with /", p)
	}
	if l.Processing.DeidProfile != "" {
		prof, err := deid.LoadProfile(l.Processing.DeidProfile)
		if err != nil {
			add("processing.deid_profile: %v", err)
		} else {
			l.profile = &prof
		}
	}
	errs = append(errs, l.validateReceive()...)
	errs = append(errs, l.validateConsole()...)
	if len(errs) > 0 {
		return fmt.Errorf("configuration is not valid:\n  %w", joinIndented(errs))
	}
	return nil
}

func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = strings.ReplaceAll(e.Error(), "\n", "\n  ")
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// secret reads a secret value from the named environment variable, or else
// from file (trimmed). It reports where it came from, never the value.
func secret(environ []string, env, file string) (value, source string, err error) {
	if v := lookupEnv(environ, env); v != "" {
		return v, "environment " + env, nil
	}
	if file == "" {
		return "", "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), "file " + file, nil
}

// siteKey loads the site secret: PRINTREG_SITE_SECRET, else
// site_secret_file. With generate (the embedded default) a missing file is
// created with a random secret, mode 0600.
func siteKey(l *loaded, environ []string, generate bool) (*sitekey.Key, string, error) {
	if v := lookupEnv(environ, envSiteSecret); v != "" {
		k, err := sitekey.New([]byte(v))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", envSiteSecret, err)
		}
		return k, "", nil
	}
	path := l.SiteSecretFile
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && generate {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, "", fmt.Errorf("site secret: %w", err)
		}
		raw := make([]byte, 48)
		if _, err := rand.Read(raw); err != nil {
			return nil, "", err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, "", fmt.Errorf("site secret: %w", err)
		}
		if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
			f.Close()
			return nil, "", fmt.Errorf("site secret: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, "", fmt.Errorf("site secret: %w", err)
		}
		k, err := sitekey.Load(path)
		return k, path, err
	} else if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("site secret file %s does not exist; create it with `head -c 48 /dev/urandom | base64 > %s && chmod 600 %s`, or set %s", path, path, path, envSiteSecret)
	}
	k, err := sitekey.Load(path) // refuses a file others can read
	return k, "", err
}

// printRedacted writes the effective configuration as YAML, then where
// each secret comes from (never its value).
func printRedacted(w io.Writer, l *loaded, environ []string) error {
	fmt.Fprintln(w, "# effective configuration")
	if l.file != "" {
		fmt.Fprintf(w, "# file: %s\n", l.file)
	} else {
		fmt.Fprintln(w, "# file: none (embedded default)")
	}
	if len(l.env) > 0 {
		fmt.Fprintf(w, "# environment overrides: %s\n", strings.Join(l.env, ", "))
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(l.Config); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	fmt.Fprintln(w, "# secrets (values redacted)")
	src := func(env, file string) string {
		if lookupEnv(environ, env) != "" {
			return "set from " + env + " (redacted)"
		}
		if file != "" {
			return "read from " + file + " (redacted)"
		}
		return "not set"
	}
	fmt.Fprintf(w, "#   site secret: %s\n", src(envSiteSecret, l.SiteSecretFile))
	fmt.Fprintf(w, "#   S3 access key: %s\n", src(envS3AccessKey, l.Storage.S3.AccessKeyFile))
	fmt.Fprintf(w, "#   S3 secret key: %s\n", src(envS3SecretKey, l.Storage.S3.SecretKeyFile))
	fmt.Fprintf(w, "#   NATS token: %s\n", src(envNATSToken, l.NATS.TokenFile))
	fmt.Fprintf(w, "#   NATS password: %s\n", src(envNATSPassword, l.NATS.PasswordFile))
	return nil
}

// receiveConfig is the receiver's configuration, with the process's
// memory budget.
func (l *loaded) receiveConfig() receive.Config {
	c := l.Receive.Config
	c.Budget = l.memoryBudget()
	return c
}

// validateReceive checks the receive section. It is checked even when the
// receiver is off in `ingest run`, because `ingest receive` runs it anyway.
func (l *loaded) validateReceive() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	r := l.Receive
	p := r.KeyPrefix
	switch {
	case p == "" || !strings.HasSuffix(p, "/"):
		add("receive.key_prefix %q must be a folder ending with / (e.g. pacs/)", p)
	case strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || slices.Contains(strings.Split(p, "/"), ".."):
		add("receive.key_prefix %q must be a relative key prefix without .. or backslashes", p)
	}
	if l.Storage.Raw.Type == "s3" && l.Notify.Prefix != "" && !strings.HasPrefix(p, l.Notify.Prefix) {
		add("receive.key_prefix %q is outside notify.prefix %q: received instances would never be announced to the workers", p, l.Notify.Prefix)
	}
	if r.Enabled && r.DIMSE.Listen == "" && r.STOW.Listen == "" {
		add("receive is enabled but neither receive.dimse.listen nor receive.stow.listen is set")
	}
	for _, a := range []struct{ name, addr string }{{"receive.dimse.listen", r.DIMSE.Listen}, {"receive.stow.listen", r.STOW.Listen}} {
		if a.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			add("%s %q: use host:port, e.g. 127.0.0.1:11112 or :11112", a.name, a.addr)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			add("%s %q: the port must be a number from 0 to 65535", a.name, a.addr)
		}
	}
	if r.DIMSE.Listen != "" && r.DIMSE.Listen == r.STOW.Listen {
		add("receive.dimse.listen and receive.stow.listen are the same address %q", r.DIMSE.Listen)
	}
	// The settings the receivers read as their default when zero or
	// negative (tagged positive): a negative one in the file is a mistake.
	for _, name := range confval.Negatives(r, "receive") {
		add("%s must not be negative (0 means the default)", name)
	}
	// The DIMSE receiver checks its own section (PDU length, TLS files…);
	// STOW-RS's TLS files are read when it starts.
	if err := r.DIMSE.Validate(); err != nil {
		// Each of its problems is one line, and each names its key.
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			add("receive.%w", e)
		}
	}
	if r.STOW.TLS.Enabled() {
		if err := r.STOW.TLS.Check(); err != nil {
			add("receive.stow.tls: %w", err)
		}
	}
	s := r.STOW
	if s.Listen != "" && !s.Authenticated() && !s.AllowUnauthenticated {
		add("receive.stow.listen is set but STOW-RS has no authentication: set receive.stow.tokens_file or receive.stow.tls.client_ca_file (or allow_unauthenticated on a closed test network)")
	}
	if s.Listen != "" && s.AllowUnauthenticated && !s.Authenticated() && !loopbackOnly(s.Listen) && !s.ForceUnauthenticatedBeyondLoopback {
		add("receive.stow.allow_unauthenticated on %s, which is reachable beyond this machine: anyone on the network could store instances; listen on 127.0.0.1, add tokens_file or tls.client_ca_file, or set force_unauthenticated_beyond_loopback on a closed test network", s.Listen)
	}
	if s.BasePath != "" && !strings.HasPrefix(s.BasePath, "/") {
		add("receive.stow.base_path %q must start with /", s.BasePath)
	}
	return errs
}

// loopbackOnly reports a listen address that only this machine can reach:
// a loopback IP or localhost. An empty host, 0.0.0.0 and :: are every
// interface.
func loopbackOnly(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// exposureWarnings lists the listeners of this configuration that other
// machines can reach without the protection they need: said loudly at
// start and in `config print`, since each is a door into the hospital's
// data or into printreg's.
// receiving says whether the receivers run (ingest receive runs them
// whatever receive.enabled says).
func (l *loaded) exposureWarnings(receiving bool) []string {
	var w []string
	r := l.Receive
	if receiving && r.DIMSE.Listen != "" && !loopbackOnly(r.DIMSE.Listen) {
		if !r.DIMSE.TLS.Enabled() {
			w = append(w, fmt.Sprintf("receive.dimse.listen %s is reachable beyond this machine without TLS: C-STORE traffic (patient data) crosses the network in clear; set receive.dimse.tls or keep it to a trusted network segment", r.DIMSE.Listen))
		}
		if len(r.DIMSE.Sources) == 0 {
			w = append(w, fmt.Sprintf("receive.dimse.listen %s has no sources allow-list: any host that knows an AE title can send; list the PACS in receive.dimse.sources", r.DIMSE.Listen))
		}
	}
	if receiving && r.STOW.Listen != "" && !loopbackOnly(r.STOW.Listen) {
		if !r.STOW.TLS.Enabled() {
			w = append(w, fmt.Sprintf("receive.stow.listen %s is reachable beyond this machine without TLS: bearer tokens and instances cross the network in clear; set receive.stow.tls", r.STOW.Listen))
		}
		if r.STOW.AllowUnauthenticated && !r.STOW.Authenticated() {
			w = append(w, fmt.Sprintf("receive.stow.listen %s accepts unauthenticated requests from the network (force_unauthenticated_beyond_loopback)", r.STOW.Listen))
		}
	}
	if l.embedded() && !loopbackOnly(l.NATS.Embedded.Listen) {
		w = append(w, fmt.Sprintf("nats.embedded.listen %s is reachable beyond this machine without TLS (its token guards it, in clear); keep the embedded server on 127.0.0.1", l.NATS.Embedded.Listen))
	}
	if c := l.Console; c.Listen != "" && c.Listen != "off" && !loopbackOnly(c.Listen) && c.TLS.CertFile == "" {
		w = append(w, fmt.Sprintf("console.listen %s is reachable beyond this machine without TLS: sign-ins and sessions cross the network in clear; set console.tls or put it behind a TLS proxy", c.Listen))
	}
	if l.Admin.Listen != "" && !loopbackOnly(l.Admin.Listen) {
		w = append(w, fmt.Sprintf("admin.listen %s is reachable beyond this machine: /metrics and /readyz need no authentication; firewall it or listen on 127.0.0.1", l.Admin.Listen))
	}
	return w
}
