package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/cli"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/promtext"
	"github.com/printreg/printreg/pkg/receive"
)

// pacsReceiver is the PACS receiver with its listeners open.
type pacsReceiver struct {
	r       *receive.Receiver
	dimseLn net.Listener // nil: C-STORE off
	stowLn  net.Listener // nil: STOW-RS off
	stowURL string
	// dimseWanted is the C-STORE address configured, when it was taken
	// and the receiver listens on a free port instead (see newReceiver).
	dimseWanted string
	log         zerolog.Logger
	metrics     *receiverMetrics // nil: not exported
}

// exportTo registers the receiver's metrics on reg (the admin endpoint's).
func (p *pacsReceiver) exportTo(reg *promtext.Registry) {
	p.metrics = newReceiverMetrics(reg)
}

// newReceiver builds the receiver on the raw bucket and opens its
// listeners, so that a port already taken fails the command before any
// work starts.
func (a *app) newReceiver(ctx context.Context, raw objstore.Bucket) (*pacsReceiver, error) {
	cfg := a.cfg.receiveConfig()
	r, err := receive.New(cfg, raw, a.key, a.log)
	if err != nil {
		return nil, fmt.Errorf("PACS receiver: %w", err)
	}
	p := &pacsReceiver{r: r, log: a.log.With().Str("component", "receive").Logger()}
	var lc net.ListenConfig
	if addr := cfg.DIMSE.Listen; addr != "" {
		if p.dimseLn, err = lc.Listen(ctx, "tcp", addr); err != nil {
			if !a.dimseFallback || !errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("receive.dimse.listen %s: %w", addr, err)
			}
			// The embedded default's port is taken (another ingest run,
			// a DICOM tool): a free port on the same address instead, as
			// the embedded NATS server does; the banner shows it.
			host, _, _ := net.SplitHostPort(addr)
			if p.dimseLn, err = lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0")); err != nil {
				return nil, fmt.Errorf("receive.dimse.listen %s: %w", addr, err)
			}
			p.dimseWanted = addr
			p.log.Warn().Str("wanted", addr).Str("listen", p.dimseAddr()).
				Msg("C-STORE port already in use (another ingest run, or a DICOM tool); listening on a free port instead")
		}
	}
	if addr := cfg.STOW.Listen; addr != "" {
		if p.stowLn, err = lc.Listen(ctx, "tcp", addr); err != nil {
			p.close()
			return nil, fmt.Errorf("receive.stow.listen %s: %w", addr, err)
		}
		// The endpoint's effective configuration, so that the URL shown
		// is the route served (an empty base_path means the default).
		sc := r.STOW().Config()
		scheme := "http"
		if sc.TLS.Enabled() {
			scheme = "https"
		}
		p.stowURL = scheme + "://" + p.stowLn.Addr().String() + sc.BasePath + "/studies"
	}
	if p.dimseLn == nil && p.stowLn == nil {
		return nil, errors.New("PACS receiver: neither receive.dimse.listen nor receive.stow.listen is set")
	}
	return p, nil
}

// dimseAddr is the C-STORE listener's address ("" when off).
func (p *pacsReceiver) dimseAddr() string {
	if p.dimseLn == nil {
		return ""
	}
	return p.dimseLn.Addr().String()
}

// close releases listeners that were never served.
func (p *pacsReceiver) close() {
	for _, ln := range []net.Listener{p.dimseLn, p.stowLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// serve serves both front doors until ctx is cancelled (then instances in
// flight finish within receive.dimse.shutdown_grace) or one of them fails.
func (p *pacsReceiver) serve(ctx context.Context) error {
	ev := p.log.Info()
	if p.dimseLn != nil {
		ev = ev.Str("dimse", p.dimseAddr())
	}
	if p.stowLn != nil {
		ev = ev.Str("stow", p.stowURL)
	}
	ev.Msg("PACS receiver listening")
	if p.metrics != nil {
		mctx, mstop := context.WithCancel(context.Background())
		mdone := make(chan struct{})
		go func() { defer close(mdone); p.metrics.run(mctx, p, time.Second) }()
		defer func() { mstop(); <-mdone }()
	}
	if err := p.r.Serve(ctx, p.dimseLn, p.stowLn); err != nil {
		return fmt.Errorf("PACS receiver: %w", err)
	}
	s := p.r.DIMSE().Stats()
	ev = p.log.Info().Uint64("dimse_stored", s.Stored).Uint64("dimse_failed", s.Failed)
	if st := p.r.STOW(); st != nil {
		ss := st.Stats()
		ev = ev.Uint64("stow_stored", ss.Stored).Uint64("stow_failed", ss.Failed)
	}
	ev.Msg("PACS receiver stopped")
	return nil
}

// check is the receiver's readiness for /readyz: the raw bucket reachable
// and with room, the spool with room.
func (p *pacsReceiver) check() pipeline.Check {
	return pipeline.Check{Name: "receiver", Fn: p.r.Ready}
}

// bannerLines tell a person where to point a PACS.
func (p *pacsReceiver) bannerLines(a *app) string {
	var b strings.Builder
	if p.dimseLn != nil {
		aet := "any called AE title"
		if t := a.cfg.Receive.DIMSE.AETitles; len(t) > 0 {
			aet = "AE title " + strings.Join(t, " or ")
		}
		host, port, _ := net.SplitHostPort(p.dimseAddr())
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "<this host>"
		}
		moved := ""
		if p.dimseWanted != "" {
			moved = " (" + p.dimseWanted + " was in use)"
		}
		fmt.Fprintf(&b, "  DICOM C-STORE receiver: %s%s, %s (e.g. storescu -aec %s %s %s files…)\n",
			p.dimseAddr(), moved, aet, firstOr(a.cfg.Receive.DIMSE.AETitles, EmbeddedAETitle), host, port)
	}
	if p.stowLn != nil {
		fmt.Fprintf(&b, "  DICOMweb STOW-RS: POST %s\n", p.stowURL)
	}
	return b.String()
}

func firstOr(ss []string, def string) string {
	if len(ss) > 0 {
		return ss[0]
	}
	return def
}

const receiveHelp = `usage: ingest receive [flags]

Runs only the PACS receiver, for a machine at the PACS edge while the
workers run elsewhere: a DICOM C-STORE receiver on receive.dimse.listen
(default 127.0.0.1:11112) and, when receive.stow.listen is set, a DICOMweb
STOW-RS endpoint. Each instance is written to the raw bucket (storage.raw)
under receive.key_prefix and its sender gets success only once it is
durable there; the workers of 'ingest run' pick it up through the bucket
notification (or 'ingest scan'). It runs whatever receive.enabled says and
needs no NATS connection. To run the receiver and the workers in one
process, set receive.enabled and use 'ingest run'.

With no configuration the raw bucket is ./printreg-data/inbox, the folder
that 'ingest run' of the embedded default watches, and the called AE title
served is PRINTREG. 'ingest run' of the embedded default runs this receiver
itself: this command then finds its port taken.

On SIGINT or SIGTERM new associations and requests are refused, instances
in flight finish (receive.dimse.shutdown_grace), then it exits. Health is
on the admin endpoint's /readyz.

Flags:
`

func cmdReceive(ctx context.Context, args, environ []string, _ io.Writer, stderr *os.File) int {
	var c common
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	c.register(fs)
	if code, ok := parse(fs, args, stderr, receiveHelp); !ok {
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
	raw, err := a.bucket(a.cfg.Storage.Raw)
	if err != nil {
		return fail(stderr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := ping(pctx, raw); err != nil {
		// Not fatal: the receiver refuses associations until the store
		// is back, and the sender retries.
		a.log.Warn().Err(err).Msg("raw bucket not reachable yet; senders are refused until it is")
	}
	cancel()
	rcv, err := a.newReceiver(ctx, raw)
	if err != nil {
		return fail(stderr, err)
	}
	defer rcv.close()
	if a.cfg.Admin.Listen != "" {
		m := pipeline.NewMetrics(cli.Version)
		rcv.exportTo(m.Registry())
		stopAdmin, err := a.startAdmin(m, rcv.check(), rawCheck(raw))
		if err != nil {
			return fail(stderr, err)
		}
		defer stopAdmin()
	}
	a.warnExposure(true)
	var b strings.Builder
	fmt.Fprintln(&b, "printreg PACS receiver is running.")
	b.WriteString(rcv.bannerLines(a))
	fmt.Fprintf(&b, "  Instances land in %s under %s\n", a.rawDescription(), a.cfg.Receive.KeyPrefix)
	if a.adminAddr != "" {
		fmt.Fprintf(&b, "  Health: http://%s/readyz\n", a.adminAddr)
	}
	fmt.Fprintln(&b, "  Stop with Ctrl-C (instances in flight finish first).")
	fmt.Fprint(stderr, b.String())
	if err := rcv.serve(ctx); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}
