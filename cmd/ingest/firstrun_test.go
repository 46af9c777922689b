package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/dimse"
)

// TestEmbeddedDefaultReceiverConfig: with no configuration file the C-STORE
// receiver is on, on loopback port 11112, serving AE title PRINTREG; the
// environment turns it off or names other titles; a configuration file, or
// a NATS server of one's own, leaves it as configured (off by default).
func TestEmbeddedDefaultReceiverConfig(t *testing.T) {
	l, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Receive; !r.Enabled || !l.autoReceive || r.DIMSE.Listen != "127.0.0.1:11112" || strings.Join(r.DIMSE.AETitles, ",") != "PRINTREG" || r.STOW.Listen != "" {
		t.Errorf("embedded default receiver = %+v (auto %v)", r, l.autoReceive)
	}
	if w := l.exposureWarnings(true); len(w) != 0 {
		t.Errorf("the embedded default's listeners are warned about: %v", w)
	}
	for _, tc := range []struct {
		name string
		env  []string
		on   bool
		aet  string
	}{
		{"turned off", []string{"PRINTREG_RECEIVE_ENABLED=false"}, false, "PRINTREG"},
		{"asked for", []string{"PRINTREG_RECEIVE_ENABLED=true"}, true, "PRINTREG"},
		{"no C-STORE address", []string{"PRINTREG_RECEIVE_DIMSE_LISTEN="}, false, "PRINTREG"},
		{"other titles", []string{"PRINTREG_RECEIVE_DIMSE_AE_TITLES=LAB1,LAB2"}, true, "LAB1,LAB2"},
		{"own NATS server", []string{"PRINTREG_NATS_URL=nats://127.0.0.1:4222"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := loadConfig("", tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if l.Receive.Enabled != tc.on || strings.Join(l.Receive.DIMSE.AETitles, ",") != tc.aet {
				t.Errorf("enabled %v, AE titles %v; want %v, %q", l.Receive.Enabled, l.Receive.DIMSE.AETitles, tc.on, tc.aet)
			}
			if l.autoReceive && tc.name == "asked for" {
				t.Error("a receiver the user asked for counts as the embedded default's own")
			}
		})
	}
	l, err = loadConfig(writeConfig(t, "log:\n  level: info\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Receive.Enabled || l.autoReceive || len(l.Receive.DIMSE.AETitles) != 0 {
		t.Errorf("a configuration file got the embedded default's receiver: %+v", l.Receive)
	}
}

// TestBannerSaysWhatRunsWhere: the start-up banner names the inbox, the
// receiver (or why there is none), the de-identified folder, how to follow
// events and find a case, and the quiet period, from the configuration.
func TestBannerSaysWhatRunsWhere(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		env  []string
		want []string
	}{
		{nil, []string{"A study is declared stable 2 minutes after its last instance arrives (registry.quiet_period)",
			"the study.stable event counts them all", "DICOM C-STORE receiver: not started (port test)"}},
		{[]string{"PRINTREG_REGISTRY_QUIET_PERIOD=90s", "PRINTREG_RECEIVE_ENABLED=false"},
			[]string{"declared stable 90 seconds after", "DICOM receiver: off (receive.enabled)"}},
	} {
		l, err := loadConfig("", append([]string{"PRINTREG_DATA_DIR=" + dir}, tc.env...))
		if err != nil {
			t.Fatal(err)
		}
		a := &app{cfg: l, adminAddr: "127.0.0.1:9464"}
		if l.Receive.Enabled {
			a.receiverOff = "port test"
		}
		var b bytes.Buffer
		a.banner(&b, nil)
		for _, want := range append(tc.want, "Inbox: drop DICOM, STL, 3MF, OBJ or case.json files into "+filepath.Join(dir, "inbox"),
			"De-identified copies: "+filepath.Join(dir, "deid"), "Follow case events: ingest tail --from-start",
			"Find a case: ingest case <accession number>", "Metrics and health: http://127.0.0.1:9464/metrics") {
			if !strings.Contains(b.String(), want) {
				t.Errorf("banner lacks %q:\n%s", want, b.String())
			}
		}
	}
	for d, want := range map[time.Duration]string{2 * time.Minute: "2 minutes", time.Minute: "1 minute", 30 * time.Second: "30 seconds",
		time.Hour: "1 hour", 1500 * time.Millisecond: "1.5s", 90 * time.Minute: "90 minutes"} {
		if got := spell(d); got != want {
			t.Errorf("spell(%v) = %q, want %q", d, got, want)
		}
	}
}

// runWatched runs an ingest command until ctx ends; stderr is a file the
// test may read while it runs.
func runWatched(t *testing.T, ctx context.Context, env []string, args ...string) (stderrPath string, done <-chan int) {
	t.Helper()
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan int, 1)
	go func() {
		defer errf.Close()
		var out bytes.Buffer
		ch <- run(ctx, args, env, &out, errf)
	}()
	return errf.Name(), ch
}

// waitBanner waits for the banner line matching re and returns its groups.
func waitBanner(t *testing.T, path string, re *regexp.Regexp, done <-chan int) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if m := re.FindStringSubmatch(string(b)); m != nil {
			return m
		}
		select {
		case code := <-done:
			t.Fatalf("ingest exited with %d before its banner:\n%s", code, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner line %v:\n%s", re, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// echo opens an association to addr with called AE title aet and sends a
// C-ECHO.
func echo(ctx context.Context, addr, aet string) error {
	c, err := dimse.Dial(ctx, addr, dimse.ClientConfig{CallingAE: "FIRSTRUN", CalledAE: aet, Timeout: 10 * time.Second,
		Contexts: []dimse.ContextRQ{{AbstractSyntax: dimse.VerificationSOPClass, TransferSyntaxes: []string{dicomx.ImplicitVRLittleEndian}}}})
	if err != nil {
		return err
	}
	defer c.Release(ctx)
	_, err = c.Echo(ctx)
	return err
}

// TestEmbeddedDefaultPortTaken: the embedded default's C-STORE port held
// by something else does not stop `ingest run`: the receiver takes a free
// port on the same address, the banner says which and why, and it answers
// C-ECHO for AE title PRINTREG (and refuses another title). With a
// configuration file the same taken port fails the run at start.
func TestEmbeddedDefaultPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	env := []string{
		"PRINTREG_DATA_DIR=" + dir,
		"PRINTREG_NATS_EMBEDDED_LISTEN=127.0.0.1:0",
		"PRINTREG_ADMIN_LISTEN=",
		"PRINTREG_RECEIVE_DIMSE_LISTEN=" + taken.Addr().String(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderrPath, done := runWatched(t, ctx, env, "run", "--log-format", "json")
	re := regexp.MustCompile(`DICOM C-STORE receiver: (127\.0\.0\.1:\d+) \(` + regexp.QuoteMeta(taken.Addr().String()) + ` was in use\), AE title PRINTREG \(e\.g\. storescu -aec PRINTREG 127\.0\.0\.1 \d+ files…\)`)
	addr := waitBanner(t, stderrPath, re, done)[1]
	if addr == taken.Addr().String() {
		t.Fatalf("the receiver claims the taken port %s", addr)
	}
	ectx, ecancel := context.WithTimeout(ctx, 30*time.Second)
	defer ecancel()
	if err := echo(ectx, addr, "PRINTREG"); err != nil {
		t.Errorf("C-ECHO to PRINTREG at %s: %v", addr, err)
	}
	if err := echo(ectx, addr, "ANY-SCP"); err == nil {
		t.Error("the embedded default's receiver accepted a called AE title other than PRINTREG")
	}
	cancel()
	if code := <-done; code != exitOK {
		b, _ := os.ReadFile(stderrPath)
		t.Errorf("run exit %d:\n%s", code, b)
	}
	b, _ := os.ReadFile(stderrPath)
	if !strings.Contains(string(b), "C-STORE port already in use") {
		t.Errorf("no warning about the taken port:\n%s", b)
	}

	// A configuration file asks for that port: taken, the run fails.
	cfg := writeConfig(t, "data_dir: "+t.TempDir()+"\nadmin: {listen: \"\"}\nnats:\n  embedded: {listen: \"127.0.0.1:0\"}\nreceive:\n  enabled: true\n  dimse: {listen: \""+taken.Addr().String()+"\"}\n")
	fctx, fcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer fcancel()
	if code, _, errOut := invoke(t, fctx, []string{"PRINTREG_SITE_SECRET=" + strings.Repeat("k", 48)}, "run", "--config", cfg); code != exitFail || !strings.Contains(errOut, "receive.dimse.listen "+taken.Addr().String()) {
		t.Errorf("run with a configuration file on a taken port: exit %d\n%s", code, errOut)
	}
}
