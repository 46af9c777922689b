package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// invoke runs the command and returns its exit code, stdout and stderr.
func invoke(t *testing.T, ctx context.Context, environ []string, args ...string) (int, string, string) {
	t.Helper()
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	var out bytes.Buffer
	code := run(ctx, args, environ, &out, errf)
	b, _ := os.ReadFile(errf.Name())
	return code, out.String(), string(b)
}

func TestExitCodesAndHelp(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, ""},
		{[]string{"help"}, exitOK, "usage: ingest"},
		{[]string{"version"}, exitOK, "ingest "},
		{[]string{"nonsense"}, exitUsage, ""},
		{[]string{"config"}, exitUsage, ""},
		{[]string{"run", "--help"}, exitOK, ""},
		{[]string{"receive", "--help"}, exitOK, ""},
		{[]string{"receive", "extra-arg"}, exitUsage, ""},
		{[]string{"setup", "-h"}, exitOK, ""},
		{[]string{"scan", "--help"}, exitOK, ""},
		{[]string{"tail", "--help"}, exitOK, ""},
		{[]string{"replay", "--help"}, exitOK, ""},
		{[]string{"config", "print", "--help"}, exitOK, ""},
		{[]string{"scan", "--no-such-flag"}, exitUsage, ""},
		{[]string{"tail", "extra-arg"}, exitUsage, ""},
		{[]string{"tail", "--case", "not.a.case"}, exitUsage, ""},
		{[]string{"tail", "--case", "ACC123"}, exitUsage, ""},
		{[]string{"tail", "--case", "0123456789abcdef0123456789abcdef", "--ref", "ACC123"}, exitUsage, ""},
		{[]string{"case", "--help"}, exitOK, ""},
		{[]string{"case"}, exitUsage, ""},
		{[]string{"case", "ACC1", "ACC2"}, exitUsage, ""},
		{[]string{"case", "ACC1", "--no-such-flag"}, exitUsage, ""},
		{[]string{"resolve", "--help"}, exitOK, ""},
		{[]string{"resolve", "ACC1"}, exitUsage, ""},
		{[]string{"resolve", "ACC1", "--study", "2.25.1"}, exitUsage, ""},
		{[]string{"resolve", "ACC1", "--study", "1.2.3", "--exclude"}, exitUsage, ""},
		{[]string{"resolve", "ACC1", "--study", "2.25.1", "--exclude", "--accept"}, exitUsage, ""},
		{[]string{"dlq"}, exitUsage, ""},
		{[]string{"dlq", "--help"}, exitOK, "usage: ingest dlq list"},
		{[]string{"dlq", "purge"}, exitUsage, ""},
		{[]string{"dlq", "list", "--help"}, exitOK, ""},
		{[]string{"dlq", "list", "extra-arg"}, exitUsage, ""},
		{[]string{"dlq", "list", "--reason", "Not A Reason"}, exitUsage, ""},
		{[]string{"dlq", "show"}, exitUsage, ""},
		{[]string{"dlq", "show", "ACC123"}, exitUsage, ""},
		{[]string{"validate", "--help"}, exitOK, ""},
		{[]string{"validate"}, exitUsage, ""},
		{[]string{"config", "print", "--config", "/nonexistent.yaml"}, exitFail, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := invoke(t, ctx, nil, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Errorf("exit %d, stdout %q; want %d containing %q", code, out, tc.code, tc.out)
			}
			// A reference given where it does not belong is not repeated.
			if strings.Contains(out+errOut, "ACC") {
				t.Errorf("the output repeats an argument: %s%s", out, errOut)
			}
		})
	}
}

func TestExampleConfigLoads(t *testing.T) {
	l, err := loadConfig("../../config/ingest.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Storage.Raw.Type != "s3" || l.Streams.Replicas != 3 || l.Storage.MaxObjectBytes != 8<<30 || len(l.Streams.BackOff) != 5 {
		t.Errorf("example config = %+v", l.Config)
	}
	if l.topology().Validate() != nil {
		t.Error("example topology invalid")
	}
	if r := l.Receive; !r.Enabled || r.DIMSE.Listen != ":11112" || len(r.DIMSE.Sources) != 2 || r.DIMSE.MaxPDULength != 256<<10 ||
		r.STOW.Listen != "" || r.STOW.MaxRequestBytes != 16<<30 {
		t.Errorf("example receive section = %+v", r)
	}
}

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "ingest.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "worker:\n  wokers: 3\n", "wokers"},
		{"bad duration", "streams:\n  ack_wait: soon\n", "line 2"},
		{"bad size", "storage:\n  max_object_bytes: huge\n", "not a size"},
		{"bad type", "storage:\n  raw:\n    type: ftp\n", "use s3 or dir"},
		{"s3 without endpoint", "storage:\n  raw:\n    type: s3\n    bucket: r\n", "endpoint is empty"},
		{"same bucket", "storage:\n  s3:\n    endpoint: h:9000\n  raw:\n    type: s3\n    bucket: x\n  deid:\n    type: s3\n    bucket: x\n", "same bucket"},
		{"backoff mismatch", "streams:\n  ack_wait: 30s\n", "first backoff step"},
		{"several at once", "log:\n  level: loud\n  format: xml\n", "log.format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tc.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	env := []string{
		"PRINTREG_NATS_URL=nats://x:4222",
		"PRINTREG_WORKER_WORKERS=7",
		"PRINTREG_STREAMS_BACKOFF=30s, 1m",
		"PRINTREG_STREAMS_ACK_WAIT=30s",
		"PRINTREG_STORAGE_MAX_OBJECT_BYTES=512MiB",
		"PRINTREG_STORAGE_S3_SECURE=true",
		"PRINTREG_BIN=/ignored", // not a configuration key
	}
	l, err := loadConfig(writeConfig(t, "worker:\n  workers: 2\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if l.NATS.URL != "nats://x:4222" || l.Worker.Workers != 7 || len(l.Streams.BackOff) != 2 ||
		l.Streams.BackOff[1] != time.Minute || l.Storage.MaxObjectBytes != 512<<20 || !l.Storage.S3.Secure {
		t.Errorf("overrides not applied: %+v", l.Config)
	}
	if _, err := loadConfig("", []string{"PRINTREG_WORKER_WORKERS=many"}); err == nil || !strings.Contains(err.Error(), "PRINTREG_WORKER_WORKERS") {
		t.Errorf("bad override: %v", err)
	}
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	env := []string{"PRINTREG_S3_SECRET_KEY=CANARY-SECRET-1", "PRINTREG_SITE_SECRET=CANARY-SITE-SECRET-0123456789abcdef0123456789", "PRINTREG_NATS_TOKEN=CANARY-TOKEN"}
	code, out, errOut := invoke(t, context.Background(), env, "config", "print")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "CANARY") {
		t.Errorf("config print shows a secret:\n%s", out)
	}
	for _, want := range []string{"set from PRINTREG_S3_SECRET_KEY (redacted)", "set from PRINTREG_SITE_SECRET (redacted)", "data_dir:"} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q", want)
		}
	}
}

func TestSiteSecretGeneratedOnlyForTheDefault(t *testing.T) {
	dir := t.TempDir()
	l, err := loadConfig("", []string{"PRINTREG_DATA_DIR=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	k, gen, err := siteKey(l, nil, true)
	if err != nil || k == nil || gen == "" {
		t.Fatalf("siteKey = %v, %q, %v", k, gen, err)
	}
	st, err := os.Stat(filepath.Join(dir, "site.secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v", err, st.Mode().Perm())
	}
	k2, gen2, err := siteKey(l, nil, true)
	if err != nil || gen2 != "" || k2.Hex(0, "x") != k.Hex(0, "x") {
		t.Error("second load did not reuse the secret")
	}
	other := filepath.Join(t.TempDir(), "missing.secret")
	l.SiteSecretFile = other
	if _, _, err := siteKey(l, nil, false); err == nil || !strings.Contains(err.Error(), "head -c 48") {
		t.Errorf("missing secret with a configuration: %v", err)
	}
	if err := os.WriteFile(other, []byte(strings.Repeat("s", 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := siteKey(l, nil, false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable secret accepted: %v", err)
	}
}

// TestEmbeddedDefault: `ingest run` with no configuration starts NATS
// in-process, takes a file dropped in the inbox, and `ingest tail` shows
// the case event.
func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	env := []string{
		"PRINTREG_DATA_DIR=" + dir,
		"PRINTREG_NATS_EMBEDDED_LISTEN=127.0.0.1:0",
		"PRINTREG_ADMIN_LISTEN=127.0.0.1:0",
		"PRINTREG_INBOX_POLL=100ms",
		"PRINTREG_INBOX_STABLE=300ms",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := startBackground(t, ctx, env, "run", "--log-format", "json")
	inbox := filepath.Join(dir, "inbox", "ACC-CANARY-4711")
	waitFile(t, filepath.Join(dir, "nats", "nats.url"))
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "DOE JOHN model.stl"), testenv.TetrahedronSTL(), 0o600); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()
	code, out, errOut := invoke(t, tctx, env, "tail", "--from-start", "--limit", "1")
	if code != exitOK {
		t.Fatalf("tail exit %d: %s", code, errOut)
	}
	var ev struct {
		Type    string `json:"type"`
		Subject string `json:"subject"`
		Data    struct {
			Case struct {
				Models []struct {
					Triangles int `json:"triangles"`
				} `json:"models"`
			} `json:"case"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.Type != registry.TypeCaseUpdated || !pipeline.ValidCaseID(ev.Subject) ||
		len(ev.Data.Case.Models) != 1 || ev.Data.Case.Models[0].Triangles != 4 {
		t.Errorf("tail printed %q (%v)", out, err)
	}
	models, _ := filepath.Glob(filepath.Join(dir, "deid", ev.Subject, "models", "*.stl"))
	if len(models) != 1 {
		t.Errorf("the sanitised model is not in the de-identified folder: %v", models)
	}
	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("run exit %d:\n%s", code, cmd.stderr)
	}
	st, err := os.Stat(filepath.Join(dir, "site.secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("site secret: %v", err)
	}
	for _, s := range []string{"CANARY", "DOE", "JOHN"} {
		if strings.Contains(cmd.stderr, s) || strings.Contains(out, s) {
			t.Errorf("output holds %q from the object key", s)
		}
	}
	if !strings.Contains(cmd.stderr, "Follow case events: ingest tail --from-start") || !strings.Contains(cmd.stderr, filepath.Join(dir, "inbox")) {
		t.Errorf("the startup banner does not say where the inbox is and how to follow events:\n%s", cmd.stderr)
	}
	// The C-STORE receiver runs too, on loopback (port 11112, or a free one
	// when another process holds it), and the banner says when a study's
	// counts are complete.
	for _, want := range []string{"DICOM C-STORE receiver: 127.0.0.1:", "AE title PRINTREG", "Find a case: ingest case <accession number>",
		"A study is declared stable 2 minutes after its last instance arrives"} {
		if !strings.Contains(cmd.stderr, want) {
			t.Errorf("the startup banner lacks %q:\n%s", want, cmd.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nats", "nats.url")); err == nil {
		t.Error("the embedded server's URL file was left behind")
	}
}

// background is an ingest command running until its context ends.
type background struct {
	// done receives the exit code; stderr is complete once it has.
	done   chan int
	stderr string
}

func startBackground(t *testing.T, ctx context.Context, env []string, args ...string) *background {
	b := &background{done: make(chan int, 1)}
	go func() {
		code, _, errOut := invoke(t, ctx, env, args...)
		b.stderr = errOut
		b.done <- code
	}()
	return b
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(p); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCommandsAgainstMinIO drives setup (twice), run, tail and replay
// against real nats-server and MinIO processes, with credentials from the
// environment and the notification configured by setup.
func TestCommandsAgainstMinIO(t *testing.T) {
	n := testenv.StartNATS(t)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{NATS: n, Subject: "printreg.objects.notify"})
	secretFile := writeSecret(t, t.TempDir())
	cfg := writeConfig(t, fmt.Sprintf(`data_dir: %s
site_secret_file: %s
admin:
  listen: ""
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
  ack_wait: 2s
  backoff: [2s, 2s]
  max_deliver: 4
worker:
  fetch_wait: 500ms
  retry_delays: [200ms]
`, t.TempDir(), secretFile, n.URL, m.Endpoint))
	env := []string{"PRINTREG_S3_ACCESS_KEY=" + m.AccessKey, "PRINTREG_S3_SECRET_KEY=" + m.SecretKey}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		if code, _, errOut := invoke(t, ctx, env, "setup", "--config", cfg); code != exitOK {
			t.Fatalf("setup exit %d: %s", code, errOut)
		}
	}
	cmd := startBackground(t, ctx, env, "run", "--config", cfg)
	raw, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, Bucket: "raw", PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, data []byte) {
		if _, err := raw.Put(ctx, key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("ACC1/model.stl", testenv.TetrahedronSTL())
	put("ACC1/notes.bin", []byte("neither dicom nor a model"))
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()
	code, out, errOut := invoke(t, tctx, env, "tail", "--config", cfg, "--from-start", "--limit", "2")
	if code != exitOK || strings.Count(out, "\n") != 2 {
		t.Fatalf("tail exit %d, %q: %s", code, out, errOut)
	}
	key, _ := sitekey.Load(secretFile)
	code, out, errOut = invoke(t, ctx, env, "dlq", "list", "--config", cfg, "--json")
	if code != exitOK || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"reason":"unsupported"`) ||
		!strings.Contains(out, pipeline.ObjectID(key, "raw", "ACC1/notes.bin")) || strings.Contains(out, "ACC1") {
		t.Errorf("dlq list exit %d, %q: %s", code, out, errOut)
	}
	code, out, errOut = invoke(t, ctx, env, "case", "--config", cfg, "ACC1", "--summary")
	if code != exitOK || !strings.Contains(out, "case "+casemodel.CaseID(key, "ACC1")) || !strings.Contains(out, "rejected: unsupported ×1") {
		t.Errorf("case exit %d, %q: %s", code, out, errOut)
	}
	code, out, errOut = invoke(t, ctx, env, "replay", "--config", cfg, "--reason", "unsupported")
	if code != exitOK || !strings.Contains(out, `"replayed":1`) {
		t.Errorf("replay exit %d, %q: %s", code, out, errOut)
	}
	code, out, errOut = invoke(t, ctx, env, "scan", "--config", cfg)
	if code != exitOK || !strings.Contains(out, `"listed":2`) {
		t.Errorf("scan exit %d, %q: %s", code, out, errOut)
	}
	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("run exit %d", code)
	}
}

// TestExampleDocumentsEveryKey: every key of the configuration appears in
// config/ingest.example.yaml.
func TestExampleDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../config/ingest.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v reflect.Type, path []string)
	walk = func(v reflect.Type, path []string) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && strings.Contains(opts, "inline") {
				walk(f.Type, path)
				continue
			}
			p := append(append([]string(nil), path...), name)
			var node any = doc
			for _, k := range p {
				m, ok := node.(map[string]any)
				if !ok {
					node = nil
					break
				}
				if node, ok = m[k]; !ok {
					t.Errorf("the example configuration lacks %s", strings.Join(p, "."))
					return
				}
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, p)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), nil)
}

// fetchMetrics reads an admin endpoint's /metrics, each request bounded so
// that a hung process fails the test's own wait instead of hanging it.
func fetchMetrics(addr string) ([]byte, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// metricValue returns the value of an unlabelled metric in a /metrics page.
func metricValue(page []byte, name string) (string, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(page)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// writeSecret writes a random site secret (mode 0600) into dir and returns
// its path.
func writeSecret(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "site.secret")
	if err := os.WriteFile(p, []byte(testenv.RandomSecret(24)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDeidProfileReachesTheDomainStep: processing.deid_profile, read when
// the configuration is checked, is the profile the domain step gets.
func TestDeidProfileReachesTheDomainStep(t *testing.T) {
	l, err := loadConfig(writeConfig(t, "processing:\n  deid_profile: ../../config/deid-basic.yaml\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.assembleConfig()
	if err != nil || c.Profile == nil {
		t.Fatalf("assembleConfig: profile %v, %v", c.Profile, err)
	}
	if c.Profile.Name == "" {
		t.Error("the profile read has no name")
	}
	if _, err := loadConfig(writeConfig(t, "processing:\n  deid_profile: /nonexistent.yaml\n"), nil); err == nil || !strings.Contains(err.Error(), "processing.deid_profile") {
		t.Errorf("a missing profile: %v", err)
	}
}
