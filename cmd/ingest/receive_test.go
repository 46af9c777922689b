package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/sitekey"
	"github.com/printreg/printreg/pkg/stow"
	"github.com/printreg/printreg/pkg/tlsconf"
)

// ctSeries is a five-slice CT series; ctIdentifiers are identifiers its
// files carry (checked below to be there), which no event, log line or
// de-identified object may hold.
const ctSeries = "../../testdata/dicom/series_pydicom_CT5N_5slices"

var ctIdentifiers = []string{
	"Doe^Peter", "98890234", // PatientName, PatientID
	"1.3.6.1.4.1.5962.1.1.0.0.0.1194734704", // root of the study, series and SOP instance UIDs
}

// ctFiles returns the series' files, having checked that each holds every
// identifier the tests look for.
func ctFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(ctSeries, "*.dcm"))
	if err != nil || len(files) != 5 {
		t.Fatalf("test series: %d files, %v", len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ctIdentifiers {
			if !bytes.Contains(b, []byte(id)) {
				t.Fatalf("%s lacks %q: the identifier checks would prove nothing", filepath.Base(f), id)
			}
		}
	}
	return files
}

func TestReceiveConfig(t *testing.T) {
	l, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The embedded default turns the C-STORE receiver on (see
	// TestEmbeddedDefaultReceiverConfig); a configuration file does not.
	if r := l.Receive; !r.Enabled || r.DIMSE.Listen != "127.0.0.1:11112" || r.STOW.Listen != "" || r.KeyPrefix != "pacs/" {
		t.Errorf("receive defaults = %+v", r)
	}
	l, err = loadConfig(writeConfig(t, `receive:
  enabled: true
  key_prefix: dicom/in/
  spool_dir: /var/spool/printreg
  min_spool_free_bytes: 2GiB
  put_timeout: 1m
  dimse:
    listen: ":104"
    ae_titles: [PRINTREG, PRINTREG2]
    sources:
      - {ae_title: PACS_MAIN, networks: [10.20.0.0/16], max_associations: 4, max_object_bytes: 1GiB}
      - ae_title: ORTHANC
    max_pdu_length: 64KiB
  stow:
    listen: 127.0.0.1:8104
    tokens_file: /etc/printreg/stow-tokens
    base_path: /dw
    max_parts: 10
`), []string{"PRINTREG_RECEIVE_DIMSE_MAX_ASSOCIATIONS=5", "PRINTREG_RECEIVE_STOW_MAX_INSTANCE_BYTES=8MiB"})
	if err != nil {
		t.Fatal(err)
	}
	c := l.receiveConfig()
	d, s := c.DIMSE, c.STOW
	if c.KeyPrefix != "dicom/in/" || c.SpoolDir != "/var/spool/printreg" || c.MinSpoolFreeBytes != 2<<30 || c.PutTimeout != time.Minute ||
		d.Listen != ":104" || len(d.AETitles) != 2 || len(d.Sources) != 2 || d.Sources[0].MaxObjectBytes != 1<<30 ||
		d.Sources[0].Networks[0] != "10.20.0.0/16" || d.Sources[1].AETitle != "ORTHANC" || d.MaxPDULength != 64<<10 ||
		d.MaxAssociations != 5 || d.TLS.Enabled() ||
		s.Listen != "127.0.0.1:8104" || s.TokensFile == "" || s.BasePath != "/dw" || s.MaxParts != 10 ||
		s.MaxInstanceBytes != 8<<20 || s.TLS.Enabled() {
		t.Errorf("receive configuration = %+v", c)
	}
	// TLS files are loaded when the configuration is validated; the
	// settings alone are checked here.
	tl := &loaded{Config: defaultConfig()}
	if c := tl.receiveConfig(); c.DIMSE.TLS.Enabled() || c.STOW.TLS.Enabled() {
		t.Error("TLS is on without a certificate")
	}
	tl.Receive.DIMSE.TLS = tlsconf.Config{CertFile: "d.crt", KeyFile: "d.key", ClientCAFile: "ca.pem"}
	if c := tl.receiveConfig(); !c.DIMSE.TLS.Enabled() || c.DIMSE.TLS.ClientCAFile != "ca.pem" || c.STOW.TLS.Enabled() {
		t.Errorf("DIMSE TLS = %+v, STOW TLS = %+v", c.DIMSE.TLS, c.STOW.TLS)
	}
	l, err = loadConfig("", []string{"PRINTREG_RECEIVE_ENABLED=true", "PRINTREG_RECEIVE_DIMSE_AE_TITLES=A, B", "PRINTREG_RECEIVE_DIMSE_LISTEN=", "PRINTREG_RECEIVE_STOW_LISTEN=127.0.0.1:8104", "PRINTREG_RECEIVE_STOW_ALLOW_UNAUTHENTICATED=1"})
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Receive; !r.Enabled || strings.Join(r.DIMSE.AETitles, "|") != "A|B" || r.DIMSE.Listen != "" || r.STOW.Listen != "127.0.0.1:8104" {
		t.Errorf("environment overrides not applied: %+v", r)
	}
}

func TestReceiveConfigErrors(t *testing.T) {
	s3 := "storage:\n  s3: {endpoint: h:9000}\n  raw: {type: s3, bucket: r}\n  deid: {type: s3, bucket: d}\n"
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "receive:\n  dimse:\n    ae_title: X\n", "ae_title"},
		{"nothing to listen on", "receive:\n  enabled: true\n  dimse: {listen: \"\"}\n", "neither receive.dimse.listen nor receive.stow.listen"},
		{"listen without port", "receive:\n  dimse: {listen: localhost}\n", "receive.dimse.listen \"localhost\": use host:port"},
		{"listen bad port", "receive:\n  dimse: {listen: \":http\"}\n", "the port must be a number"},
		{"same address", "receive:\n  dimse: {listen: \":8104\"}\n  stow: {listen: \":8104\", allow_unauthenticated: true}\n", "the same address"},
		{"STOW without authentication", "receive:\n  stow: {listen: \":8104\"}\n", "STOW-RS has no authentication"},
		{"unauthenticated beyond loopback", "receive:\n  stow: {listen: \"0.0.0.0:8104\", allow_unauthenticated: true}\n", "reachable beyond this machine"},
		{"AE title too long", "receive:\n  dimse: {ae_titles: [WAY_TOO_LONG_AE_TITLE]}\n", "not a valid AE title"},
		{"bad source network", "receive:\n  dimse:\n    sources: [{ae_title: PACS, networks: [somewhere]}]\n", "neither a CIDR prefix nor an address"},
		{"PDU too small", "receive:\n  dimse: {max_pdu_length: 1KiB}\n", "receive.dimse"},
		{"PDU too large", "receive:\n  dimse: {max_pdu_length: 1GiB}\n", "use 4KiB to 16MiB"},
		{"absolute prefix", "receive:\n  key_prefix: /pacs/\n", "relative key prefix"},
		{"prefix climbs", "receive:\n  key_prefix: a/../../b/\n", "without .."},
		{"prefix not a folder", "receive:\n  key_prefix: pacs\n", "ending with /"},
		{"prefix outside notification", s3 + "notify: {prefix: lab/}\nreceive:\n  key_prefix: pacs/\n", "outside notify.prefix"},
		{"certificate without key", "receive:\n  dimse:\n    tls: {cert_file: c.pem}\n", "receive.dimse.tls: set both"},
		{"every DIMSE problem named", "receive:\n  dimse:\n    max_pdu_length: 1GiB\n    tls: {cert_file: c.pem}\n", "receive.dimse.tls: set both"},
		{"negative duration", "receive:\n  dimse: {idle_timeout: -1s}\n", "receive.dimse.idle_timeout must not be negative"},
		{"base path", "receive:\n  stow: {base_path: dicomweb}\n", "must start with /"},
		{"bad environment list", "", "PRINTREG_RECEIVE_DIMSE_SOURCES"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var env []string
			if tc.yaml == "" {
				env = []string{"PRINTREG_RECEIVE_DIMSE_SOURCES=PACS"}
			}
			_, err := loadConfig(writeConfig(t, tc.yaml), env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// Everything above at once, in one message.
	_, err := loadConfig(writeConfig(t, "receive:\n  key_prefix: /x\n  stow: {listen: \":1\"}\n  dimse: {listen: nohost}\n"), nil)
	if err == nil || strings.Count(err.Error(), "receive.") < 3 {
		t.Errorf("several problems, not all reported: %v", err)
	}
}

// lineWatch is a writer that collects JSON lines and calls stop once a
// line satisfies done.
type lineWatch struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	matched string
	done    func(line string) bool
	stop    func()
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.lines = append(w.lines, line)
		if w.matched == "" && w.done(line) {
			w.matched = line
			w.stop()
		}
	}
}

// caseEvent is the part of a case event the tests read.
type caseEvent struct {
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Data    struct {
		Case struct {
			Studies []struct {
				StudyUID string `json:"study_uid"`
				Series   []struct {
					SeriesUID         string `json:"series_uid"`
					Modality          string `json:"modality"`
					InstanceCount     int    `json:"instance_count"`
					InstancesReceived int    `json:"instances_received"`
				} `json:"series"`
			} `json:"studies"`
		} `json:"case"`
	} `json:"data"`
}

// ctSeriesIn returns how many instances of a CT series an event's snapshot
// counts as received (-1: no CT series, or not an event).
func ctSeriesIn(line string) (eventType string, received int) {
	var ev caseEvent
	if json.Unmarshal([]byte(line), &ev) != nil {
		return "", -1
	}
	for _, st := range ev.Data.Case.Studies {
		for _, se := range st.Series {
			if se.Modality == "CT" && se.InstanceCount >= se.InstancesReceived {
				return ev.Type, se.InstancesReceived
			}
		}
	}
	return ev.Type, -1
}

// wholeCTSeries reports whether an event's snapshot holds all five
// instances of the CT series. The registry publishes case.updated when a
// series first appears and study.stable once the study is quiet (with
// every instance counted), so the latter is what this waits for.
func wholeCTSeries(line string) bool {
	_, n := ctSeriesIn(line)
	return n == 5
}

// tailUntil runs `ingest tail --from-start` until an event satisfies done
// and returns that event and every line printed.
func tailUntil(t *testing.T, ctx context.Context, env []string, args []string, done func(string) bool) (string, []string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	w := &lineWatch{done: done, stop: cancel}
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	code := run(tctx, append([]string{"tail", "--from-start"}, args...), env, w, errf)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.matched == "" {
		b, _ := os.ReadFile(errf.Name())
		t.Fatalf("tail (exit %d) printed no event with the whole series; %d lines:\n%s\n%s", code, len(w.lines), strings.Join(w.lines, "\n"), b)
	}
	return w.matched, w.lines
}

// storescu sends files to a C-STORE receiver with dcmtk.
func storescu(t *testing.T, addr, calledAE string, files ...string) {
	t.Helper()
	storescuWith(t, addr, calledAE, nil, files...)
}

// storescuWith is storescu with extra options (e.g. -xr: propose RLE
// Lossless besides the uncompressed syntaxes, so RLE files go as they are).
func storescuWith(t *testing.T, addr, calledAE string, opts []string, files ...string) {
	t.Helper()
	bin := testenv.Binary(t, "storescu")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append(append(append([]string{"-aet", "PACS_MAIN", "-aec", calledAE}, opts...), host, port), files...)
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
}

// TestReceiverSTOWURL: the STOW-RS URL shown to a person is the route the
// endpoint serves, the default base path included.
func TestReceiverSTOWURL(t *testing.T) {
	key, err := sitekey.New([]byte(testenv.RandomSecret(24)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dirstore.New(t.TempDir(), "inbox")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, c := range []struct{ basePath, route string }{
		{"/dicomweb", "/dicomweb/studies"},
		{"/dw/", "/dw/studies"},
		{"", "/dicomweb/studies"},
		{"/", "/studies"},
	} {
		l := &loaded{Config: defaultConfig()}
		l.Receive.DIMSE.Listen = ""
		l.Receive.STOW = stow.Config{Listen: "127.0.0.1:0", BasePath: c.basePath, AllowUnauthenticated: true}
		a := &app{cfg: l, key: key, log: zerolog.Nop()}
		rcv, err := a.newReceiver(context.Background(), raw)
		if err != nil {
			t.Fatalf("base path %q: %v", c.basePath, err)
		}
		rcv.close()
		if want := "http://" + rcv.stowLn.Addr().String() + c.route; rcv.stowURL != want {
			t.Errorf("base path %q: URL %s, want %s", c.basePath, rcv.stowURL, want)
		}
	}
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string, exited <-chan int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case code := <-exited:
			t.Fatalf("ingest exited with %d before listening on %s", code, addr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func loopback(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) }

// rleSyntax is RLE Lossless.
const rleSyntax = "1.2.840.10008.1.2.5"

// withRLESlices returns the CT series with its last two slices compressed
// to RLE Lossless by dcmtk's dcmcrle (a series in two transfer syntaxes, as
// a PACS may hold one).
func withRLESlices(t *testing.T, files []string) []string {
	t.Helper()
	bin := testenv.Binary(t, "dcmcrle")
	out := slices.Clone(files)
	dir := t.TempDir()
	for i := len(out) - 2; i < len(out); i++ {
		dst := filepath.Join(dir, filepath.Base(out[i]))
		if b, err := exec.Command(bin, out[i], dst).CombinedOutput(); err != nil {
			t.Fatalf("dcmcrle: %v\n%s", err, b)
		}
		out[i] = dst
	}
	return out
}

// TestRunReceivesFromStorescu: `ingest run` with the receiver enabled, on
// real MinIO and nats-server; dcmtk's storescu sends a five-slice CT series,
// two of its slices RLE-compressed; `ingest tail` shows a case event whose
// snapshot holds the series, the raw and de-identified buckets hold the five
// instances (the two in RLE Lossless still), and no identifier from the
// files appears in an event, a log line, a key or a de-identified object.
func TestRunReceivesFromStorescu(t *testing.T) {
	files := withRLESlices(t, ctFiles(t))
	testenv.Binary(t, "storescu")
	n := testenv.StartNATS(t)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{NATS: n, Subject: "printreg.objects.notify"})
	secretFile := writeSecret(t, t.TempDir())
	dimseAddr, adminAddr := loopback(t), loopback(t)
	cfg := writeConfig(t, fmt.Sprintf(`data_dir: %s
site_secret_file: %s
admin:
  listen: %s
nats:
  url: %s
storage:
  raw: {type: s3, bucket: raw}
  deid: {type: s3, bucket: deid}
  s3:
    endpoint: %s
    path_style: true
    max_retries: 1
streams:
  replicas: 1
  ack_wait: 2s
  backoff: [2s, 2s]
  max_deliver: 4
worker:
  fetch_wait: 500ms
  retry_delays: [200ms]
registry:
  quiet_period: 1s
receive:
  enabled: true
  spool_dir: %s
  min_spool_free_bytes: 1
  dimse:
    listen: %s
    ae_titles: [PRINTREG]
    sources: [{ae_title: PACS_MAIN, networks: [127.0.0.1]}]
`, t.TempDir(), secretFile, adminAddr, n.URL, m.Endpoint, t.TempDir(), dimseAddr))
	env := []string{"PRINTREG_S3_ACCESS_KEY=" + m.AccessKey, "PRINTREG_S3_SECRET_KEY=" + m.SecretKey}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := startBackground(t, ctx, env, "run", "--setup", "--config", cfg, "--log-format", "json", "--log-level", "debug")
	waitListening(t, dimseAddr, cmd.done)
	storescuWith(t, dimseAddr, "PRINTREG", []string{"-xr"}, files...)

	line, lines := tailUntil(t, ctx, env, []string{"--config", cfg}, wholeCTSeries)
	var ev caseEvent
	if err := json.Unmarshal([]byte(line), &ev); err != nil || !pipeline.ValidCaseID(ev.Subject) {
		t.Fatalf("event %q: %v", line, err)
	}
	updated := false
	for _, l := range lines {
		var e caseEvent
		if typ, n := ctSeriesIn(l); typ == registry.TypeCaseUpdated && n > 0 && json.Unmarshal([]byte(l), &e) == nil && e.Subject == ev.Subject {
			updated = true
		}
	}
	if !updated {
		t.Errorf("no case.updated event of that case holds the CT series:\n%s", strings.Join(lines, "\n"))
	}
	for _, s := range ev.Data.Case.Studies {
		if !strings.HasPrefix(s.StudyUID, "2.25.") {
			t.Errorf("study UID %q is not remapped", s.StudyUID)
		}
	}

	// The receiver's readiness is part of /readyz.
	resp, err := http.Get("http://" + adminAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "receiver") {
		t.Errorf("/readyz: %d %s", resp.StatusCode, body)
	}
	// The receiver's counters are on /metrics (sampled every second).
	want := fmt.Sprintf(`printreg_receive_instances_total{protocol="dimse",outcome="stored"} %d`, len(files))
	var metrics string
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := fetchMetrics(adminAddr)
		if err != nil {
			t.Fatal(err)
		}
		metrics = string(b)
		if strings.Contains(metrics, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(metrics, want) || !strings.Contains(metrics, `printreg_receive_associations_total{outcome="accepted"}`) {
		t.Errorf("/metrics lacks the receiver's counters (want %s):\n%s", want, metrics)
	}

	bucket := func(name string) objstore.Bucket {
		b, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, Bucket: name, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rawKeys, rawData := readBucket(t, ctx, bucket("raw"))
	deidKeys, deidData := readBucket(t, ctx, bucket("deid"))
	if rawRLE := countSyntax(t, rawData, rleSyntax); rawRLE != 2 {
		t.Errorf("raw bucket holds %d RLE Lossless instances, want the 2 sent so (stored as received)", rawRLE)
	}
	if len(rawKeys) != 5 {
		t.Errorf("raw bucket holds %d objects, want the 5 instances", len(rawKeys))
	}
	for _, k := range rawKeys {
		if !strings.HasPrefix(k, "pacs/") {
			t.Errorf("received instance stored outside pacs/")
		}
	}
	if len(deidKeys) != 5 {
		t.Errorf("de-identified bucket holds %d objects, want 5", len(deidKeys))
	}
	if deidRLE := countSyntax(t, deidData, rleSyntax); deidRLE != 2 {
		t.Errorf("de-identified bucket holds %d RLE Lossless instances, want 2 (de-identification keeps the syntax)", deidRLE)
	}
	for _, k := range deidKeys {
		if !strings.HasPrefix(k, ev.Subject+"/") || !strings.HasSuffix(k, ".dcm") {
			t.Errorf("de-identified object outside its case folder")
		}
	}

	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("run exit %d:\n%s", code, cmd.stderr)
	}
	if !strings.Contains(cmd.stderr, "PACS receiver listening") || !strings.Contains(cmd.stderr, "DICOM C-STORE receiver: "+dimseAddr) ||
		!strings.Contains(cmd.stderr, `"dimse_stored":5`) {
		t.Errorf("the run's log does not show the receiver start, its banner and its stop:\n%s", cmd.stderr)
	}
	outputs := map[string]string{"events": strings.Join(lines, "\n"), "log": cmd.stderr,
		"raw keys": strings.Join(rawKeys, "\n"), "de-identified keys": strings.Join(deidKeys, "\n")}
	for i, b := range deidData {
		outputs["de-identified object "+strconv.Itoa(i)] = string(b)
	}
	for what, out := range outputs {
		for _, id := range append(ctIdentifiers, "Peter") {
			if strings.Contains(out, id) {
				t.Errorf("%s hold %q from the sent files", what, id)
			}
		}
	}
}

// TestReceiveCommand: `ingest receive` alone, on the embedded default's
// inbox folder and without NATS, takes a series by C-STORE and an instance
// by STOW-RS, and stops on cancel; a port already taken fails it at once.
func TestReceiveCommand(t *testing.T) {
	files := ctFiles(t)
	testenv.Binary(t, "storescu")
	dir := t.TempDir()
	dimseAddr, stowAddr := loopback(t), loopback(t)
	env := []string{
		"PRINTREG_DATA_DIR=" + dir,
		"PRINTREG_ADMIN_LISTEN=127.0.0.1:0",
		"PRINTREG_RECEIVE_DIMSE_LISTEN=" + dimseAddr,
		"PRINTREG_RECEIVE_STOW_LISTEN=" + stowAddr,
		"PRINTREG_RECEIVE_STOW_ALLOW_UNAUTHENTICATED=true",
		"PRINTREG_RECEIVE_MIN_SPOOL_FREE_BYTES=1",
		"PRINTREG_RECEIVE_MIN_STORE_FREE_BYTES=1",
		"PRINTREG_RECEIVE_SPOOL_DIR=" + t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := startBackground(t, ctx, env, "receive", "--log-format", "json")
	waitListening(t, dimseAddr, cmd.done)
	waitListening(t, stowAddr, cmd.done)

	// A second receiver on the same ports fails at once.
	if code, _, errOut := invoke(t, ctx, env, "receive"); code != exitFail || !strings.Contains(errOut, "receive.dimse.listen") {
		t.Errorf("second receiver: exit %d, %s", code, errOut)
	}

	storescu(t, dimseAddr, EmbeddedAETitle, files[:4]...)
	last, err := os.ReadFile(files[4])
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreatePart(map[string][]string{"Content-Type": {"application/dicom"}})
	if err != nil {
		t.Fatal(err)
	}
	part.Write(last)
	mw.Close()
	resp, err := http.Post("http://"+stowAddr+"/dicomweb/studies", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary(), &body)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("STOW-RS: %d %s", resp.StatusCode, rb)
	}

	got, _ := filepath.Glob(filepath.Join(dir, "inbox", "pacs", "*", "*", "*.dcm"))
	if len(got) != 5 {
		t.Errorf("%d instances in the inbox, want 5: %v", len(got), got)
	}
	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("receive exit %d:\n%s", code, cmd.stderr)
	}
	if !strings.Contains(cmd.stderr, "printreg PACS receiver is running") || !strings.Contains(cmd.stderr, "DICOMweb STOW-RS: POST http://"+stowAddr+"/dicomweb/studies") ||
		!strings.Contains(cmd.stderr, `"dimse_stored":4`) || !strings.Contains(cmd.stderr, `"stow_stored":1`) {
		t.Errorf("log lacks the banner or the counts:\n%s", cmd.stderr)
	}
	for _, id := range ctIdentifiers {
		if strings.Contains(cmd.stderr, id) {
			t.Errorf("log holds %q", id)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nats")); err == nil {
		t.Error("receive started a NATS server")
	}
}

// TestEmbeddedDefaultReceives: the embedded default with the receiver
// enabled; instances sent by storescu land in the inbox folder, whose
// watcher enqueues them, and become case events.
func TestEmbeddedDefaultReceives(t *testing.T) {
	files := ctFiles(t)
	testenv.Binary(t, "storescu")
	dir := t.TempDir()
	dimseAddr := loopback(t)
	env := []string{
		"PRINTREG_DATA_DIR=" + dir,
		"PRINTREG_NATS_EMBEDDED_LISTEN=127.0.0.1:0",
		"PRINTREG_ADMIN_LISTEN=",
		"PRINTREG_INBOX_POLL=100ms",
		"PRINTREG_INBOX_STABLE=300ms",
		"PRINTREG_REGISTRY_QUIET_PERIOD=1s",
		"PRINTREG_RECEIVE_ENABLED=true",
		"PRINTREG_RECEIVE_DIMSE_LISTEN=" + dimseAddr,
		"PRINTREG_RECEIVE_MIN_SPOOL_FREE_BYTES=1",
		"PRINTREG_RECEIVE_MIN_STORE_FREE_BYTES=1",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := startBackground(t, ctx, env, "run", "--log-format", "json")
	waitListening(t, dimseAddr, cmd.done)
	storescu(t, dimseAddr, "PRINTREG", files...)
	line, lines := tailUntil(t, ctx, env, nil, wholeCTSeries)
	var ev caseEvent
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	deid, _ := filepath.Glob(filepath.Join(dir, "deid", ev.Subject, "*", "*", "*.dcm"))
	if len(deid) != 5 {
		t.Errorf("%d de-identified instances in the case folder, want 5", len(deid))
	}
	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("run exit %d:\n%s", code, cmd.stderr)
	}
	for _, id := range append(ctIdentifiers, "Peter") {
		if strings.Contains(cmd.stderr, id) || strings.Contains(strings.Join(lines, "\n"), id) {
			t.Errorf("log or events hold %q", id)
		}
	}
}

// countSyntax counts the Part 10 objects in transfer syntax uid.
func countSyntax(t *testing.T, objects [][]byte, uid string) int {
	t.Helper()
	n := 0
	for _, b := range objects {
		if transferSyntax(t, b) == uid {
			n++
		}
	}
	return n
}

// transferSyntax reads a Part 10 object's transfer syntax UID.
func transferSyntax(t *testing.T, b []byte) string {
	t.Helper()
	obj, err := dicomx.ReadMeta(bytes.NewReader(b), int64(len(b)), dicomx.Options{})
	if err != nil {
		t.Errorf("stored object does not read: %v", err)
		return ""
	}
	return obj.Syntax.UID
}

// readBucket returns every object of b: keys and contents.
func readBucket(t *testing.T, ctx context.Context, b objstore.Bucket) (keys []string, data [][]byte) {
	t.Helper()
	if err := b.List(ctx, "", func(o objstore.ObjectInfo) error {
		rc, err := b.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		d, err := io.ReadAll(rc)
		keys, data = append(keys, o.Key), append(data, d)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return keys, data
}

// TestExposureWarnings: a receiver, the embedded NATS server or the admin
// endpoint reachable beyond this machine without TLS or an allow-list is
// said loudly, at start and in config print; loopback-only listeners are
// not; unauthenticated STOW-RS beyond loopback needs an explicit force.
func TestExposureWarnings(t *testing.T) {
	l, err := loadConfig(writeConfig(t, "receive:\n  enabled: true\n  dimse: {listen: \"127.0.0.1:11112\"}\n  stow: {listen: \"127.0.0.1:8104\", allow_unauthenticated: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := l.exposureWarnings(true); len(w) != 0 {
		t.Errorf("loopback listeners warned about: %v", w)
	}
	l, err = loadConfig(writeConfig(t, "admin: {listen: \":9090\"}\nnats:\n  embedded: {listen: \"0.0.0.0:4222\"}\nreceive:\n  enabled: true\n  dimse: {listen: \":11112\"}\n  stow: {listen: \"[::]:8104\", allow_unauthenticated: true, force_unauthenticated_beyond_loopback: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(l.exposureWarnings(true), "\n")
	for _, want := range []string{"receive.dimse.listen :11112 is reachable beyond this machine without TLS", "has no sources allow-list",
		"receive.stow.listen [::]:8104 is reachable beyond this machine without TLS", "accepts unauthenticated requests",
		"nats.embedded.listen 0.0.0.0:4222", "admin.listen :9090"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	var out bytes.Buffer
	errf, _ := os.CreateTemp(t.TempDir(), "stderr")
	defer errf.Close()
	if code := cmdConfigPrint([]string{"--config", l.file}, nil, &out, errf); code != exitOK {
		t.Fatalf("config print: exit %d", code)
	}
	if strings.Count(out.String(), "# WARNING: ") != 6 {
		t.Errorf("config print does not warn six times:\n%s", out.String())
	}
	// The console, beyond loopback without TLS.
	l.Console.Listen = "0.0.0.0:9465"
	if w := strings.Join(l.exposureWarnings(true), "\n"); !strings.Contains(w, "console.listen 0.0.0.0:9465 is reachable beyond this machine without TLS") {
		t.Errorf("no console warning:\n%s", w)
	}
	l.Console.TLS.CertFile = "c.pem"
	if w := strings.Join(l.exposureWarnings(true), "\n"); strings.Contains(w, "console.listen") {
		t.Errorf("a console with TLS warned about:\n%s", w)
	}
}
