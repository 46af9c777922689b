package assemble_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/assemble"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

const testSecret = "assemble-test-secret-0123456789abcdef-0123456789"

func siteKey(t testing.TB) *sitekey.Key {
	k, err := sitekey.New([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return c
}

func testTopology() pipeline.Topology {
	topo := pipeline.DefaultTopology()
	topo.AckWait = 3 * time.Second
	topo.BackOff = []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second}
	topo.MaxDeliver = 20
	topo.MaxAckPending = 64
	return topo
}

func testWorkerConfig() pipeline.WorkerConfig {
	return pipeline.WorkerConfig{
		Workers: 4, FetchWait: 500 * time.Millisecond, Heartbeat: time.Second, ShutdownGrace: 10 * time.Second,
		RetryDelays:   []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second},
		SweepInterval: 300 * time.Millisecond, StatsInterval: time.Second,
	}
}

// testConfig makes studies stable one second after their last instance.
func testConfig() assemble.Config {
	// A budget as ingest's default: every object and model reserves
	// against it, as in production.
	cfg := assemble.Config{Registry: casemodel.DefaultConfig(), Budget: dicomx.NewBudget(256 << 20)}
	cfg.Registry.QuietPeriod = time.Second
	cfg.Registry.Source = "urn:printreg:test"
	return cfg
}

// startWorker runs a worker with an assembler; it stops on test cleanup.
func startWorker(t *testing.T, n *testenv.NATS, topo pipeline.Topology, key *sitekey.Key, raw, out objstore.Bucket, cfg assemble.Config, log zerolog.Logger, m *pipeline.Metrics) *assemble.Assembler {
	t.Helper()
	return startWorkerWith(t, n, topo, key, raw, out, cfg, log, m, nil)
}

// startWorkerWith is startWorker with the assembler wrapped by wrap (nil:
// used as it is).
func startWorkerWith(t *testing.T, n *testenv.NATS, topo pipeline.Topology, key *sitekey.Key, raw, out objstore.Bucket, cfg assemble.Config, log zerolog.Logger, m *pipeline.Metrics, wrap func(*assemble.Assembler) pipeline.Processor) *assemble.Assembler {
	t.Helper()
	nc, js := n.Connect(t)
	a, cases, err := newAssembler(ctx(t), js, topo, key, cfg, out, log, m)
	if err != nil {
		t.Fatal(err)
	}
	var p pipeline.Processor = a
	if wrap != nil {
		p = wrap(a)
	}
	w, err := pipeline.NewWorker(ctx(t), pipeline.Deps{
		Conn: nc, JS: js, Topology: topo, Raw: map[string]objstore.Bucket{raw.Name(): raw}, Deid: out,
		Processor: p, Model: a.Model(), Cases: cases, Key: key, Log: log, Metrics: m,
	}, testWorkerConfig())
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(c) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return a
}

func dirBucket(t *testing.T, name string) *dirstore.Store {
	s, err := dirstore.New(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// repo is the repository root (test data lives in testdata/ and in the
// domain packages' testdata).
func repo(p string) string { return filepath.Join("..", "..", "..", p) }

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plant rewrites a DICOM object's identifying attributes (and adds those it
// lacks), leaving everything else byte for byte.
func plant(t testing.TB, in []byte, vals map[dicomx.Tag]string) []byte {
	t.Helper()
	rd, err := dicomx.NewReader(bytes.NewReader(in), int64(len(in)), dicomx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := dicomx.NewWriter(&out, rd.Syntax())
	if err := w.WriteFileHeader(rd.Preamble(), rd.Meta()); err != nil {
		t.Fatal(err)
	}
	tags := make([]dicomx.Tag, 0, len(vals))
	for tg := range vals {
		tags = append(tags, tg)
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i] < tags[j] })
	text := func(tg dicomx.Tag) *dicomx.Element {
		e, _ := dicomx.Lookup(tg)
		return dicomx.NewText(tg, e.VR, vals[tg])
	}
	for {
		el, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for len(tags) > 0 && tags[0] < el.Tag {
			if err := w.WriteElement(text(tags[0])); err != nil {
				t.Fatal(err)
			}
			tags = tags[1:]
		}
		if len(tags) > 0 && tags[0] == el.Tag {
			if el.Bulk {
				if err := rd.SkipValue(); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.WriteElement(text(tags[0])); err != nil {
				t.Fatal(err)
			}
			tags = tags[1:]
			continue
		}
		if el.Bulk {
			if err := w.WriteHeader(el.Tag, el.VR, el.Length); err != nil {
				t.Fatal(err)
			}
			if _, err := rd.CopyValue(w.Raw()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := w.WriteElement(el); err != nil {
			t.Fatal(err)
		}
	}
	for _, tg := range tags {
		if err := w.WriteElement(text(tg)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// rezip rebuilds a zip package with each entry's content passed through
// edit.
func rezip(t testing.TB, in []byte, edit func(name string, b []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(edit(f.Name, b))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unzipAll returns every entry of a zip package, for scanning.
func unzipAll(t testing.TB, in []byte) []byte {
	t.Helper()
	var out []byte
	rezip(t, in, func(name string, b []byte) []byte {
		out = append(append(out, name...), b...)
		return b
	})
	return out
}

// zipBomb rebuilds a 3MF package with 8 MiB of blanks in its model part:
// it deflates to a few KiB, a ratio no mesh has.
func zipBomb(t testing.TB, in []byte) []byte {
	return rezip(t, in, func(name string, b []byte) []byte {
		if strings.HasSuffix(name, ".model") {
			b = bytes.Replace(b, []byte("<resources>"), append([]byte("<resources>"), bytes.Repeat([]byte(" "), 8<<20)...), 1)
		}
		return b
	})
}

// startServers starts nats-server and MinIO (with notifications to the
// work stream) and creates the topology and buckets.
func startServers(t *testing.T, topo pipeline.Topology) (*testenv.NATS, *testenv.MinIO, jetstream.JetStream) {
	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	if err := setupAll(ctx(t), js, topo); err != nil {
		t.Fatal(err)
	}
	m := testenv.StartMinIO(t, testenv.MinIOOptions{NATS: n, Subject: topo.WorkSubjectFor(pipeline.SourceNotify)})
	return n, m, js
}

// minioBuckets creates the raw and deid buckets on m, with the raw bucket's
// notifications going to the work stream.
func minioBuckets(t *testing.T, m *testenv.MinIO) (raw, out *s3store.Store) {
	t.Helper()
	bucket := func(name string) *s3store.Store {
		s, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, Bucket: name, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey, MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureBucket(ctx(t)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	raw, out = bucket("raw"), bucket("deid")
	if err := raw.ConfigureNotification(ctx(t), objstore.NotifyConfig{ARN: testenv.NotifyARN}); err != nil {
		t.Fatal(err)
	}
	return raw, out
}

// lastCase returns the case snapshot of a case's latest event, or nil when
// it has none yet.
func lastCase(t *testing.T, js jetstream.JetStream, topo pipeline.Topology, caseID string) *registry.Snapshot {
	t.Helper()
	s, err := js.Stream(ctx(t), topo.RegistryStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx(t), topo.CaseSubject(caseID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Data registry.EventData `json:"data"`
	}
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	return &ev.Data.Case
}

// setupAll creates the pipeline's streams and buckets and the domain
// step's.
func setupAll(ctx context.Context, js jetstream.JetStream, topo pipeline.Topology) error {
	if err := pipeline.Setup(ctx, js, topo); err != nil {
		return err
	}
	return assemble.Setup(ctx, js, assemble.DefaultBuckets(), topo)
}

// newAssembler builds the domain step over a case store it returns for the
// worker to share, as ingest does.
func newAssembler(ctx context.Context, js jetstream.JetStream, topo pipeline.Topology, key *sitekey.Key, cfg assemble.Config, out objstore.Bucket, log zerolog.Logger, m *pipeline.Metrics) (*assemble.Assembler, *pipeline.CaseStore, error) {
	cases, err := pipeline.OpenCaseStore(ctx, js, topo, m, log)
	if err != nil {
		return nil, nil, err
	}
	st, err := assemble.OpenStores(ctx, js, assemble.DefaultBuckets(), cases)
	if err != nil {
		return nil, nil, err
	}
	a, err := assemble.New(cfg, key, st, out, log)
	return a, cases, err
}
