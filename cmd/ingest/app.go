package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/cli"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/assemble"
	"github.com/printreg/printreg/pkg/pipeline/embednats"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// app is what a command has once configured and connected.
type app struct {
	cfg      *loaded
	environ  []string
	log      zerolog.Logger
	stderr   io.Writer
	topo     pipeline.Topology
	buckets  assemble.Buckets
	key      *sitekey.Key
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded *embednats.Server
	// adminAddr is where the admin endpoint listens ("" when it does not).
	adminAddr string
	// dimseFallback lets the C-STORE receiver take a free port when its
	// own is in use (ingest run of the embedded default).
	dimseFallback bool
	// receiverOff says why the embedded default's receiver did not start
	// ("" when it did, or was not wanted).
	receiverOff string
	closers     []func()
}

// newApp loads the configuration and builds the logger.
func newApp(c common, environ []string, stderr *os.File) (*app, error) {
	l, err := loadConfig(c.config, environ)
	if err != nil {
		return nil, err
	}
	if c.logLevel != "" {
		l.Log.Level = c.logLevel
	}
	if c.logFormat != "" {
		l.Log.Format = c.logFormat
	}
	log, err := cli.Logger(stderr, l.Log.Level, l.Log.Format)
	if err != nil {
		return nil, err
	}
	return &app{cfg: l, environ: environ, log: log.With().Str("service", "ingest").Logger(), stderr: stderr, topo: l.topology(), buckets: assemble.DefaultBuckets()}, nil
}

// sampleAllocations keeps the runtime's sampling of allocations for heap
// profiles only where they can be fetched (admin.pprof): the runtime keeps
// every sampled call stack in a table it never frees, which a months-long
// run of a long-lived process would fill a little more each day for no
// reader. Called once, by the long-running commands, before their work.
func (a *app) sampleAllocations() {
	if !a.cfg.Admin.Pprof && runtime.MemProfileRate != 0 {
		runtime.MemProfileRate = 0
	}
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// loadKey loads the site secret, generating one in the embedded default
// (for the commands that may create the data folder: run, receive).
func (a *app) loadKey() error { return a.loadSiteKey(a.cfg.file == "") }

func (a *app) loadSiteKey(generate bool) error {
	k, generated, err := siteKey(a.cfg, a.environ, generate)
	if err != nil {
		return err
	}
	if generated != "" {
		a.log.Warn().Str("file", generated).Msg("generated a new random site secret (mode 0600); keep it: every hashed id depends on it")
	}
	a.key = k
	return nil
}

// connectMode says what to do when the configuration names no NATS server.
type connectMode int

const (
	// startEmbedded starts the in-process server (ingest run).
	startEmbedded connectMode = iota
	// useOrStartEmbedded joins a running embedded server, else starts one
	// for the duration of the command (setup).
	useOrStartEmbedded
	// useRunningEmbedded joins a running embedded server or fails (scan,
	// replay, tail, case, dlq).
	useRunningEmbedded
)

// useExisting prepares a command that reads or feeds what `ingest run`
// made (scan, replay, tail, case, dlq). It creates nothing: in the embedded
// default a missing data folder, site secret or running NATS server is an
// error that says where it looked, never a new folder, a new secret (which
// would change every id) or an empty server. needKey loads the site secret.
func (a *app) useExisting(ctx context.Context, needKey bool) error {
	if a.cfg.embedded() {
		abs, _ := filepath.Abs(a.cfg.DataDir)
		if st, err := os.Stat(a.cfg.DataDir); err != nil || !st.IsDir() {
			return fmt.Errorf("no printreg data folder at %s\n%s", abs, a.dataHint())
		}
		if needKey && lookupEnv(a.environ, envSiteSecret) == "" {
			if _, err := os.Stat(a.cfg.SiteSecretFile); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no site secret at %s: `ingest run` makes it in its data folder on the first start, and a new one would change every case id\n%s",
					a.cfg.SiteSecretFile, a.dataHint())
			}
		}
	}
	if needKey {
		if err := a.loadSiteKey(false); err != nil {
			return err
		}
	}
	return a.connect(ctx, useRunningEmbedded, false)
}

// dataHint tells a person how to point a command at the embedded default's
// data folder.
func (a *app) dataHint() string {
	where := "./printreg-data in the folder it was started from"
	switch {
	case a.cfg.file != "":
		where = "data_dir of " + a.cfg.file
	case lookupEnv(a.environ, "PRINTREG_DATA_DIR") != "":
		where = "PRINTREG_DATA_DIR"
	}
	return "  `ingest run` keeps the embedded default's data (NATS state, site secret, inbox) in " + where + ".\n" +
		"  Run this command from that folder, or name the folder with PRINTREG_DATA_DIR=/path/to/printreg-data\n" +
		"  (or data_dir, or nats.url for a NATS server of your own, in a --config file).\n" +
		"  Nothing running yet? Start `ingest run` first; this command creates nothing."
}

// connect connects to NATS (or the embedded server) and JetStream.
func (a *app) connect(ctx context.Context, mode connectMode, persistent bool) error {
	url := a.cfg.NATS.URL
	if a.cfg.embedded() {
		natsDir := filepath.Join(a.cfg.DataDir, "nats")
		running, _ := embednats.ReadURL(natsDir)
		if running != "" && !reachable(running) {
			running = ""
		}
		switch {
		case mode == startEmbedded && running != "":
			return fmt.Errorf("an embedded NATS server of another ingest run is already using %s (%s); stop it or set nats.url to share it", a.cfg.DataDir, running)
		case running != "":
			url = running
		case mode == useRunningEmbedded:
			abs, _ := filepath.Abs(a.cfg.DataDir)
			return fmt.Errorf("no embedded NATS server is running for the data folder %s (%s names none that answers)\n%s",
				abs, filepath.Join(natsDir, embednats.URLFile), a.dataHint())
		default:
			srv, err := embednats.Start(natsDir, a.cfg.NATS.Embedded.Listen, a.log)
			if err != nil {
				return err
			}
			a.embedded = srv
			a.closers = append(a.closers, srv.Shutdown)
			url = srv.URL()
		}
	}
	opts, err := a.natsOptions(persistent)
	if err != nil {
		return err
	}
	if a.cfg.embedded() {
		// The embedded server takes only clients holding its token.
		token, err := embednats.ReadToken(filepath.Join(a.cfg.DataDir, "nats"))
		if err != nil {
			return fmt.Errorf("embedded NATS token: %w", err)
		}
		opts = append(opts, nats.Token(token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("NATS %s: %w", url, err)
	}
	a.nc = nc
	a.closers = append(a.closers, func() {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
		for i := 0; i < 100 && !nc.IsClosed(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	a.js = js
	return nil
}

func reachable(url string) bool {
	hostport := strings.TrimPrefix(url, "nats://")
	c, err := net.DialTimeout("tcp", hostport, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (a *app) natsOptions(persistent bool) ([]nats.Option, error) {
	n := a.cfg.NATS
	opts := []nats.Option{nats.Name("printreg-ingest")}
	if persistent {
		opts = append(opts,
			nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond), nats.RetryOnFailedConnect(true),
			nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
				if err != nil && !c.IsClosed() && !c.IsDraining() {
					a.log.Warn().Err(err).Msg("disconnected from NATS; reconnecting")
				}
			}),
			nats.ReconnectHandler(func(c *nats.Conn) { a.log.Info().Msg("reconnected to NATS") }),
		)
	} else {
		opts = append(opts, nats.Timeout(5*time.Second))
	}
	if n.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(n.CredsFile))
	}
	if n.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(n.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats.nkey_file: %w", err)
		}
		opts = append(opts, o)
	}
	token, _, err := secret(a.environ, envNATSToken, n.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("NATS token: %w", err)
	}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	if n.User != "" {
		pw, _, err := secret(a.environ, envNATSPassword, n.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("NATS password: %w", err)
		}
		opts = append(opts, nats.UserInfo(n.User, pw))
	}
	if n.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(n.TLS.CAFile))
	}
	if n.TLS.CertFile != "" || n.TLS.KeyFile != "" {
		opts = append(opts, nats.ClientCert(n.TLS.CertFile, n.TLS.KeyFile))
	}
	return opts, nil
}

// bucket opens one configured bucket.
func (a *app) bucket(bc BucketConfig) (objstore.Bucket, error) {
	if bc.Type == "dir" {
		s, err := dirstore.New(bc.Dir, bc.Bucket)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { s.Close() })
		return s, nil
	}
	s3 := a.cfg.Storage.S3
	ak, _, err := secret(a.environ, envS3AccessKey, s3.AccessKeyFile)
	if err != nil {
		return nil, fmt.Errorf("S3 access key: %w", err)
	}
	sk, _, err := secret(a.environ, envS3SecretKey, s3.SecretKeyFile)
	if err != nil {
		return nil, fmt.Errorf("S3 secret key: %w", err)
	}
	if (ak == "") != (sk == "") {
		return nil, errors.New("S3: set both the access key and the secret key (or neither, to use AWS_*/MINIO_* environment credentials)")
	}
	return s3store.New(s3store.Config{
		Endpoint: s3.Endpoint, Bucket: bc.Bucket, Secure: s3.Secure, Region: s3.Region, PathStyle: s3.PathStyle,
		AccessKey: ak, SecretKey: sk, CAFile: s3.CAFile, PartSize: uint64(s3.PartSize), MaxRetries: s3.MaxRetries,
		SignPayload: s3.SignPayload,
	})
}

// ping checks a bucket is reachable.
func ping(ctx context.Context, b objstore.Bucket) error {
	switch s := b.(type) {
	case *s3store.Store:
		return s.Ping(ctx)
	case *dirstore.Store:
		_, err := os.Stat(s.Dir())
		return err
	}
	return nil
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "ingest:", err)
	return exitFail
}

const runHelp = `usage: ingest run [flags]

Processes objects until SIGINT or SIGTERM, then stops fetching, lets
in-flight objects finish (worker.shutdown_grace), hands back the rest and
exits. Start more processes, on any machine, to scale out: they share one
durable consumer.

With receive.enabled, the PACS receiver runs in the same process (DICOM
C-STORE on receive.dimse.listen, STOW-RS on receive.stow.listen) and writes
what it receives into the raw bucket; see 'ingest receive --help'.

With no configuration it runs the embedded default: an in-process NATS
server (state in ./printreg-data/nats), ./printreg-data/inbox as the raw
bucket (files are taken once their size stays unchanged), ./printreg-data/deid
as the de-identified bucket, a new site secret in
./printreg-data/site.secret, and the DICOM C-STORE receiver on
127.0.0.1:11112 for AE title PRINTREG (a free port instead when that one
is taken; PRINTREG_RECEIVE_ENABLED=false turns it off). The banner says
what runs where, and how long the quiet period is: a study's first events
may count only its first instances, its study.stable event counts them all.

Flags:
`

func cmdRun(ctx context.Context, args, environ []string, _ io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	c.register(fs)
	setup := fs.Bool("setup", false, "run setup first (always done for the embedded default)")
	if code, ok := parse(fs, args, stderr, runHelp); !ok {
		return code
	}
	a, err := newApp(c, environ, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	defer a.close()
	a.sampleAllocations()
	if err := a.loadKey(); err != nil {
		return fail(stderr, err)
	}
	if err := a.connect(ctx, startEmbedded, true); err != nil {
		return fail(stderr, err)
	}
	raw, err := a.bucket(a.cfg.Storage.Raw)
	if err != nil {
		return fail(stderr, err)
	}
	deid, err := a.bucket(a.cfg.Storage.Deid)
	if err != nil {
		return fail(stderr, err)
	}
	if a.cfg.embedded() || *setup {
		if err := a.setup(ctx, raw, deid); err != nil {
			return fail(stderr, err)
		}
	}
	metrics := pipeline.NewMetrics(cli.Version)
	acfg, err := a.cfg.assembleConfig()
	if err != nil {
		return fail(stderr, err)
	}
	// The domain step's own buckets get bounded, repeated requests too, and
	// opening them waits while the cluster elects leaders.
	rjs := pipeline.WithRequestTimeout(a.js, a.cfg.Worker.RequestTimeout, a.log)
	// The worker and the domain step share one case store.
	cases, err := pipeline.OpenCaseStore(ctx, rjs, a.topo, metrics, a.log)
	if err != nil {
		return fail(stderr, err)
	}
	stores, err := assemble.OpenStores(ctx, rjs, a.buckets, cases)
	if err != nil {
		return fail(stderr, err)
	}
	proc, err := assemble.New(acfg, a.key, stores, deid, a.log)
	if err != nil {
		return fail(stderr, err)
	}
	w, err := pipeline.NewWorker(ctx, pipeline.Deps{
		Conn: a.nc, JS: a.js, Topology: a.topo,
		Raw: map[string]objstore.Bucket{raw.Name(): raw}, Deid: deid,
		Processor: proc, Model: proc.Model(), Cases: cases,
		Key: a.key, Log: a.log, Metrics: metrics,
	}, a.cfg.workerConfig())
	if err != nil {
		return fail(stderr, err)
	}
	// The receiver writes into the raw bucket the workers read; with a
	// directory that is the inbox, whose watcher enqueues what lands.
	// The embedded default's own receiver must not stop a first run: its
	// port taken, it takes a free one; unable to start, the run goes on
	// without it and says so.
	var rcv *pacsReceiver
	if a.cfg.Receive.Enabled {
		a.dimseFallback = a.cfg.file == ""
		if rcv, err = a.newReceiver(ctx, raw); err != nil {
			if !a.cfg.autoReceive {
				return fail(stderr, err)
			}
			a.log.Warn().Err(err).Msg("DICOM C-STORE receiver not started; the inbox folder works without it")
			a.receiverOff, rcv = err.Error(), nil
		} else {
			defer rcv.close()
			rcv.exportTo(metrics.Registry())
		}
	}
	var bg sync.WaitGroup
	checks := []pipeline.Check{{Name: "worker", Fn: func(context.Context) error { return w.Ready() }}, rawCheck(raw)}
	if rcv != nil {
		checks = append(checks, rcv.check())
	}
	stopAdmin, err := a.startAdmin(metrics, checks...)
	if err != nil {
		return fail(stderr, err)
	}
	defer stopAdmin()
	con, err := a.startConsole(ctx, raw, deid, metrics, checks)
	if err != nil {
		return fail(stderr, err)
	}
	defer con.stop()
	// runCtx ends the run on SIGTERM, or when the receiver fails.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	if a.cfg.Storage.Raw.Type == "dir" {
		scanner, err := pipeline.NewScanner(ctx, a.js, a.topo, a.key, a.log, metrics)
		if err != nil {
			return fail(stderr, err)
		}
		in := &pipeline.Inbox{Bucket: raw, Scanner: scanner, Poll: a.cfg.Inbox.Poll, Stable: a.cfg.Inbox.Stable, Log: a.log,
			State: filepath.Join(a.cfg.DataDir, "inbox.state")}
		bg.Go(func() { _ = in.Run(runCtx) })
	}
	var rcvErr error
	if rcv != nil {
		bg.Go(func() {
			if rcvErr = rcv.serve(runCtx); rcvErr != nil {
				a.log.Error().Err(rcvErr).Msg("PACS receiver failed; stopping")
				stopRun()
			}
		})
	}
	a.warnExposure(rcv != nil)
	a.banner(stderr, rcv)
	con.banner(stderr)
	err = w.Run(runCtx)
	stopRun()
	bg.Wait()
	if err = errors.Join(err, rcvErr); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

// startAdmin serves /metrics, /livez and /readyz when admin.listen is set
// and returns the function that stops it. A port that cannot be bound is
// an error with a configuration file, and only a warning for the embedded
// default (another checkout may hold its port).
func (a *app) startAdmin(m *pipeline.Metrics, checks ...pipeline.Check) (stop func(), err error) {
	if a.cfg.Admin.Listen == "" {
		return func() {}, nil
	}
	srv, err := a.serveAdmin(m, checks...)
	if err != nil {
		if a.cfg.file != "" {
			return nil, err
		}
		a.log.Warn().Err(err).Msg("admin endpoint not started")
		return func() {}, nil
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// rawCheck is the readiness check of the raw bucket.
func rawCheck(raw objstore.Bucket) pipeline.Check {
	return pipeline.Check{Name: "raw_bucket", Fn: func(ctx context.Context) error { return ping(ctx, raw) }}
}

// rawDescription names the raw bucket for a person.
func (a *app) rawDescription() string {
	if a.cfg.Storage.Raw.Type == "dir" {
		abs, _ := filepath.Abs(a.cfg.Storage.Raw.Dir)
		return abs
	}
	return "bucket " + a.cfg.Storage.Raw.Bucket + " on " + a.cfg.Storage.S3.Endpoint
}

func (a *app) serveAdmin(m *pipeline.Metrics, checks ...pipeline.Check) (*http.Server, error) {
	l, err := net.Listen("tcp", a.cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", a.cfg.Admin.Listen, err)
	}
	var h http.Handler = pipeline.AdminHandler(m, checks...)
	if a.cfg.Admin.Pprof {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		h = mux
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	a.adminAddr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	a.log.Info().Str("listen", l.Addr().String()).Msg("admin endpoint: /metrics /livez /readyz")
	return srv, nil
}

// warnExposure logs, loudly, each listener other machines can reach without
// the protection it needs (see exposureWarnings).
func (a *app) warnExposure(receiving bool) {
	for _, w := range a.cfg.exposureWarnings(receiving) {
		a.log.Warn().Str("exposure", "network").Msg(w)
	}
}

// banner tells a person what runs where: the inbox or raw bucket, the
// DICOM receiver, the admin endpoint, how to follow events and find a
// case, and when a study's counts are complete.
func (a *app) banner(stderr io.Writer, rcv *pacsReceiver) {
	var b strings.Builder
	if a.cfg.file == "" && a.embedded != nil {
		fmt.Fprintln(&b, "printreg ingest is running (embedded default: no configuration file).")
	} else {
		fmt.Fprintln(&b, "printreg ingest is running.")
	}
	if a.embedded != nil {
		fmt.Fprintf(&b, "  NATS (embedded): %s   state: %s\n", a.embedded.URL(), filepath.Join(a.cfg.DataDir, "nats"))
	} else {
		fmt.Fprintf(&b, "  NATS: %s\n", a.cfg.NATS.URL)
	}
	if a.cfg.Storage.Raw.Type == "dir" {
		abs, _ := filepath.Abs(a.cfg.Storage.Raw.Dir)
		fmt.Fprintf(&b, "  Inbox: drop DICOM, STL, 3MF, OBJ or case.json files into %s/<case reference>/\n", abs)
	} else {
		fmt.Fprintf(&b, "  Raw bucket: %s on %s\n", a.cfg.Storage.Raw.Bucket, a.cfg.Storage.S3.Endpoint)
	}
	switch {
	case rcv != nil:
		b.WriteString(rcv.bannerLines(a))
	case a.receiverOff != "":
		fmt.Fprintf(&b, "  DICOM C-STORE receiver: not started (%s)\n", a.receiverOff)
	default:
		fmt.Fprintln(&b, "  DICOM receiver: off (receive.enabled)")
	}
	if a.cfg.Storage.Deid.Type == "dir" {
		abs, _ := filepath.Abs(a.cfg.Storage.Deid.Dir)
		fmt.Fprintf(&b, "  De-identified copies: %s/<case id>/\n", abs)
	}
	cfgFlag := ""
	if a.cfg.file != "" {
		cfgFlag = " --config " + a.cfg.file
	}
	fmt.Fprintf(&b, "  Follow case events: ingest tail --from-start%s   (from a checkout: go run ./cmd/ingest tail --from-start)\n", cfgFlag)
	fmt.Fprintf(&b, "  Find a case: ingest case <accession number>%s --summary   Refused objects: ingest dlq list%s\n", cfgFlag, cfgFlag)
	q := a.cfg.Registry.WithDefaults().QuietPeriod
	fmt.Fprintf(&b, "  A study is declared stable %s after its last instance arrives (registry.quiet_period):\n", spell(q))
	fmt.Fprintf(&b, "    until then its events may count only the first instances; the study.stable event counts them all.\n")
	if a.adminAddr != "" {
		fmt.Fprintf(&b, "  Metrics and health: http://%s/metrics  /livez  /readyz\n", a.adminAddr)
	}
	fmt.Fprintln(&b, "  Stop with Ctrl-C (in-flight objects finish first).")
	fmt.Fprint(stderr, b.String())
}

// spell writes a duration for a person: "2 minutes", "90 seconds",
// "1h30m0s".
func spell(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	case d >= time.Second && d%time.Second == 0:
		return unit(int64(d/time.Second), "second")
	}
	return d.String()
}

// setup creates the topology, the S3 buckets and the raw bucket's
// notification.
func (a *app) setup(ctx context.Context, raw, deid objstore.Bucket) error {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := pipeline.Setup(sctx, a.js, a.topo); err != nil {
		return err
	}
	if err := assemble.Setup(sctx, a.js, a.buckets, a.topo); err != nil {
		return err
	}
	for _, b := range []objstore.Bucket{raw, deid} {
		if s, ok := b.(*s3store.Store); ok {
			if err := s.EnsureBucket(sctx); err != nil {
				return fmt.Errorf("bucket %s: %w", s.Name(), err)
			}
		}
	}
	if n, ok := raw.(objstore.Notifier); ok && a.cfg.Notify.Configure {
		if err := n.ConfigureNotification(sctx, objstore.NotifyConfig{
			ARN: a.cfg.Notify.ARN, Prefix: a.cfg.Notify.Prefix, Suffix: a.cfg.Notify.Suffix,
		}); err != nil {
			return err
		}
	}
	return nil
}

func cmdSetup(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	c.register(fs)
	help := `usage: ingest setup [flags]

Creates or updates, idempotently: the work stream, case-event stream and DLQ
stream; the case, timer and processed-marker KV buckets; the shared durable
consumer; the S3 buckets; and the raw bucket's notification to the MinIO NATS
target (notify.arn). Safe to run on every deployment.

Flags:
`
	if code, ok := parse(fs, args, stderr, help); !ok {
		return code
	}
	a, err := newApp(c, environ, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	defer a.close()
	if err := a.connect(ctx, useOrStartEmbedded, false); err != nil {
		return fail(stderr, err)
	}
	raw, err := a.bucket(a.cfg.Storage.Raw)
	if err != nil {
		return fail(stderr, err)
	}
	deid, err := a.bucket(a.cfg.Storage.Deid)
	if err != nil {
		return fail(stderr, err)
	}
	if err := a.setup(ctx, raw, deid); err != nil {
		return fail(stderr, err)
	}
	t := a.topo
	fmt.Fprintf(stdout, "streams %s, %s, %s; KV %s, %s, %s, %s, %s; consumer %s: ready\n",
		t.WorkStream, t.RegistryStream, t.DLQStream, t.CasesBucket, t.TimersBucket, t.ProcessedBucket, a.buckets.Series, a.buckets.Aliases, t.Consumer)
	return exitOK
}

func cmdScan(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	c.register(fs)
	prefix := fs.String("prefix", "", "scan only keys starting with this prefix")
	help := `usage: ingest scan [--prefix P] [flags]

Lists the raw bucket and enqueues every object version that has not been
processed: a backfill of objects stored before the notification was set up,
and the repair of notifications the S3 service dropped. Objects already
processed, rejected or waiting are not enqueued again. Prints counts as JSON.

Flags:
`
	if code, ok := parse(fs, args, stderr, help); !ok {
		return code
	}
	a, err := newApp(c, environ, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	defer a.close()
	if err := a.useExisting(ctx, true); err != nil {
		return fail(stderr, err)
	}
	if r := a.cfg.Storage.Raw; r.Type == "dir" {
		// The directory store would make a missing folder: say so instead.
		if st, err := os.Stat(r.Dir); err != nil || !st.IsDir() {
			abs, _ := filepath.Abs(r.Dir)
			return fail(stderr, fmt.Errorf("the raw folder %s does not exist: nothing to scan (`ingest run` makes it)", abs))
		}
	}
	raw, err := a.bucket(a.cfg.Storage.Raw)
	if err != nil {
		return fail(stderr, err)
	}
	s, err := pipeline.NewScanner(ctx, a.js, a.topo, a.key, a.log, nil)
	if err != nil {
		return fail(stderr, err)
	}
	st, err := s.Scan(ctx, raw, *prefix, pipeline.SourceScan)
	if err != nil {
		return fail(stderr, err)
	}
	_ = json.NewEncoder(stdout).Encode(st)
	return exitOK
}

func cmdTail(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	c.register(fs)
	caseID := fs.String("case", "", "print only this case's events (a case id: 32 hexadecimal characters)")
	ref := fs.String("ref", "", "print only the events of the case of this accession number or StudyInstanceUID (hashed here with the site secret; never shown; - reads it from standard input)")
	fromStart := fs.Bool("from-start", false, "print stored events first (default: new events only)")
	limit := fs.Int("limit", 0, "exit after this many events (0: until interrupted)")
	help := `usage: ingest tail [--case ID | --ref REF] [--from-start] [--limit N] [flags]

Prints case events (CloudEvents JSON, one per line) from the case-event
stream until interrupted. --case follows one case by its id (the events'
subject); --ref follows the case of an accession number or StudyInstanceUID,
exactly as the hospital has it (letter case matters; padding does not).

Flags:
`
	if code, ok := parse(fs, args, stderr, help); !ok {
		return code
	}
	if *caseID != "" && *ref != "" {
		fmt.Fprintln(stderr, "ingest tail: give --case or --ref, not both")
		return exitUsage
	}
	if *caseID != "" && !registry.IsCaseID(*caseID) {
		// The value is not repeated: it may be an accession number.
		fmt.Fprintln(stderr, "ingest tail: --case takes a case id (32 lower-case hexadecimal characters, the subject of the case's events);\n  to follow a case by its accession number or StudyInstanceUID, use --ref REF")
		return exitUsage
	}
	if *limit < 0 {
		fmt.Fprintln(stderr, "ingest tail: --limit must not be negative")
		return exitUsage
	}
	a, err := newApp(c, environ, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	defer a.close()
	if err := a.useExisting(ctx, *ref != ""); err != nil {
		return fail(stderr, err)
	}
	id := *caseID
	if *ref != "" {
		refText, err := readRef(*ref)
		if err != nil {
			return fail(stderr, err)
		}
		if id = casemodel.CaseID(a.key, refText); id == "" {
			fmt.Fprintln(stderr, "ingest tail: --ref is empty")
			return exitUsage
		}
		r, err := a.resolveCase(ctx, id)
		if err != nil {
			return fail(stderr, err)
		}
		for _, n := range r.notes {
			fmt.Fprintln(stderr, "ingest tail:", n)
		}
		id = r.id
		fmt.Fprintf(stderr, "ingest tail: following case %s\n", id)
	}
	if err := pipeline.Tail(ctx, a.js, a.topo, pipeline.TailOptions{CaseID: id, FromStart: *fromStart, Limit: *limit}, stdout); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

func cmdReplay(ctx context.Context, args, environ []string, stdout io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	c.register(fs)
	reason := fs.String("reason", "", "replay only entries with this reason code (e.g. malformed, too_large)")
	help := `usage: ingest replay [--reason R] [flags]

Re-drives dead-lettered work items (after a fix): each entry is copied back
to the work stream, then deleted from the DLQ. Running it twice, or after an
interruption, does not enqueue an entry twice. Prints counts as JSON.

Flags:
`
	if code, ok := parse(fs, args, stderr, help); !ok {
		return code
	}
	a, err := newApp(c, environ, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	defer a.close()
	if err := a.useExisting(ctx, false); err != nil {
		return fail(stderr, err)
	}
	st, err := pipeline.Replay(ctx, a.js, a.topo, *reason, a.log, nil)
	if err != nil {
		return fail(stderr, err)
	}
	_ = json.NewEncoder(stdout).Encode(st)
	return exitOK
}
