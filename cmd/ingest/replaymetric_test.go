package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scrape returns the value of an unlabelled metric on the admin endpoint.
func scrape(t *testing.T, admin, name string) string {
	t.Helper()
	b, err := fetchMetrics(admin)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := metricValue(b, name)
	if !ok {
		t.Fatalf("/metrics has no %s:\n%s", name, b)
	}
	return v
}

// TestReplayCountedByTheWorker: `ingest replay` runs in a process of its
// own, whose counters nobody scrapes; the re-driven entries are counted on
// the /metrics of the `ingest run` whose worker takes them
// (printreg_ingest_dlq_replayed_total), once each, even when the object is
// refused again.
func TestReplayCountedByTheWorker(t *testing.T) {
	dir := t.TempDir()
	admin := loopback(t)
	env := []string{
		"PRINTREG_DATA_DIR=" + dir,
		"PRINTREG_NATS_EMBEDDED_LISTEN=127.0.0.1:0",
		"PRINTREG_ADMIN_LISTEN=" + admin,
		"PRINTREG_INBOX_POLL=100ms",
		"PRINTREG_INBOX_STABLE=300ms",
		"PRINTREG_RECEIVE_ENABLED=false",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := startBackground(t, ctx, env, "run", "--log-format", "json")
	waitListening(t, admin, cmd.done)
	const metric = "printreg_ingest_dlq_replayed_total"
	if v := scrape(t, admin, metric); v != "0" {
		t.Fatalf("%s = %s before any replay", metric, v)
	}
	inbox := filepath.Join(dir, "inbox", "ACC-R1")
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "notes.bin"), []byte("neither dicom nor a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitDLQ := func() {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			code, out, errOut := invoke(t, ctx, env, "dlq", "list", "--json")
			if code == exitOK && strings.Count(strings.TrimSpace(out), "\n") == 0 && strings.Contains(out, `"unsupported"`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the refused file never reached the DLQ: exit %d %q %s", code, out, errOut)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitMetric := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for scrape(t, admin, metric) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s = %s, want %s", metric, scrape(t, admin, metric), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for round, want := range []string{"1", "2"} {
		waitDLQ()
		code, out, errOut := invoke(t, ctx, env, "replay")
		if code != exitOK || !strings.Contains(out, `"replayed":1`) {
			t.Fatalf("replay %d: exit %d %s %s", round+1, code, out, errOut)
		}
		// Refused again, the entry returns to the DLQ; counted once.
		waitMetric(want)
	}
	waitDLQ()
	time.Sleep(500 * time.Millisecond)
	if v := scrape(t, admin, metric); v != "2" {
		t.Errorf("%s = %s after two replays of one entry", metric, v)
	}
	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("run exit %d:\n%s", code, cmd.stderr)
	}
}
