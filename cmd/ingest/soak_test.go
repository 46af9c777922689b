package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
)

// TestSoakMemoryIsBounded: a worker (`ingest run` in the production
// layout: a nats-server and MinIO of their own, the raw bucket announcing
// objects, so the figure is the worker's) handles 20,000 objects over 2,000
// cases — per case eight CT slices of one study, a model and a case.json —
// and its resident memory once idle after all of them is within 10% of
// that after the first 2,000: nothing it keeps grows with the cases it has
// seen.
func TestSoakMemoryIsBounded(t *testing.T) {
	const (
		cases       = 2000
		firstCases  = 200
		perCase     = 10
		ctPerCase   = 8
		totalObject = cases * perCase
	)
	n := testenv.StartNATS(t)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{NATS: n, Subject: "printreg.objects.notify"})
	secretFile := writeSecret(t, t.TempDir())
	admin := loopback(t)
	cfg := writeConfig(t, fmt.Sprintf(`data_dir: %s
site_secret_file: %s
admin:
  listen: %s
  pprof: %t
nats:
  url: %s
storage:
  raw: {type: s3, bucket: raw}
  deid: {type: s3, bucket: deid}
  s3:
    endpoint: %s
    path_style: true
registry:
  quiet_period: 2s
worker:
  sweep_interval: 1s
  idle_release: 5s
`, t.TempDir(), secretFile, admin, os.Getenv("SOAK_HEAP") != "", n.URL, m.Endpoint))
	env := []string{"PRINTREG_S3_ACCESS_KEY=" + m.AccessKey, "PRINTREG_S3_SECRET_KEY=" + m.SecretKey}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if code, _, errOut := invoke(t, ctx, env, "setup", "--config", cfg); code != exitOK {
		t.Fatalf("setup exit %d: %s", code, errOut)
	}
	raw, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, Bucket: "raw", PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SOAK_HEAP") != "" {
		env = append(env, "GODEBUG=memprofilerate=4096")
	}
	ing := testenv.StartChild(t, "ingest", env, "run", "--config", cfg, "--log-format", "json", "--log-level", "warn")

	// drop uploads the objects of cases [from, to), eight at a time.
	drop := func(from, to int) {
		t.Helper()
		type obj struct {
			key  string
			data []byte
		}
		objs := make(chan obj)
		errs := make(chan error, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for o := range objs {
					if _, err := raw.Put(ctx, o.key, bytes.NewReader(o.data), int64(len(o.data)), objstore.PutOptions{}); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}()
		}
		for c := from; c < to; c++ {
			acc := fmt.Sprintf("SOAK-%05d", c)
			study := "1.2.826.0.1.3680043.10.999.55." + strconv.Itoa(c)
			for i := 1; i <= ctPerCase; i++ {
				b, err := testenv.CTSlice{Accession: acc, PatientID: "P" + acc, PatientName: "SOAK^" + acc, BirthDate: "19700101",
					StudyDate: "20260301", StudyUID: study, SeriesUID: study + ".1", SeriesNumber: 1, Instance: i, ThicknessMM: 1}.Part10()
				if err != nil {
					t.Fatal(err)
				}
				objs <- obj{fmt.Sprintf("pacs/%s/ct%d.dcm", acc, i), b}
			}
			objs <- obj{acc + "/model.stl", testenv.TetrahedronSTL()}
			objs <- obj{acc + "/case.json", []byte(`{"object_type": "anatomic_model", "clinical_indication": "surgical planning"}`)}
		}
		close(objs)
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	// handled reads how many objects the worker has finished.
	handled := func() int {
		b, err := fetchMetrics(admin)
		if err != nil {
			return -1
		}
		total := 0
		for line := range strings.Lines(string(b)) {
			if !strings.HasPrefix(line, "printreg_ingest_objects_total{") || strings.Contains(line, `outcome="retried"`) {
				continue
			}
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += int(v)
		}
		return total
	}
	// idleRSS waits for n objects, then for the worker to settle (its
	// studies stable, its timers fired), and returns its resident memory:
	// the lowest of several samples, as the runtime returns freed pages.
	idleRSS := func(n int) memory {
		t.Helper()
		deadline := time.Now().Add(15 * time.Minute)
		for handled() < n {
			select {
			case <-ing.Done():
				t.Fatalf("ingest exited:\n%s", ing.Tail(30))
			case <-time.After(time.Second):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d objects handled:\n%s", handled(), n, ing.Tail(30))
			}
		}
		// Idle: no object handled for 10 s (the studies are stable, quiet
		// period 2 s), then the worker hands freed memory back
		// (idle_release 5 s).
		for last, since := handled(), time.Now(); time.Since(since) < 10*time.Second; time.Sleep(time.Second) {
			if h := handled(); h != last {
				last, since = h, time.Now()
			}
		}
		time.Sleep(5 * time.Second)
		if p := os.Getenv("SOAK_HEAP"); p != "" {
			// Heap profiles for looking into a failure (go tool pprof
			// -base): the second after a collection.
			pc := &http.Client{Timeout: time.Minute}
			for _, h := range []struct{ q, suffix string }{{"?gc=1", ""}, {"?debug=1", ".txt"}} {
				resp, err := pc.Get("http://" + admin + "/debug/pprof/heap" + h.q)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				_ = os.WriteFile(p+strconv.Itoa(n)+h.suffix, b, 0o600)
			}
		}
		// Samples over two releases: the lowest is right after one, with
		// the runtime's account of its heap at that moment.
		var low memory
		for range 12 {
			m := residentMemory(t, ing.PID())
			if b, err := fetchMetrics(admin); err == nil {
				m.live, m.inuse = bytesMetric(b, "go_memstats_heap_alloc_bytes"), bytesMetric(b, "go_memstats_heap_inuse_bytes")
			}
			if low.rss == 0 || m.rss < low.rss {
				low = m
			}
			time.Sleep(time.Second)
		}
		if low.live == 0 || low.inuse == 0 {
			t.Fatal("no go_memstats_heap_alloc_bytes or go_memstats_heap_inuse_bytes in the metrics")
		}
		return low
	}
	start := time.Now()
	drop(0, firstCases)
	first := idleRSS(firstCases * perCase)
	drop(firstCases, cases)
	last := idleRSS(totalObject)
	pct := func(a, b int64) float64 { return 100 * float64(b-a) / float64(a) }
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	t.Logf("idle after %d objects: resident %.1f MiB (anonymous %.1f MiB), heap in use %.1f MiB, allocated %.1f MiB; after %d: resident %.1f MiB (%+.1f%%), anonymous %.1f MiB (%+.1f%%), heap in use %.1f MiB (%+.1f%%), allocated %.1f MiB (%+.1f%%); %.0f s",
		firstCases*perCase, mib(first.rss), mib(first.anon), mib(first.inuse), mib(first.live), totalObject,
		mib(last.rss), pct(first.rss, last.rss), mib(last.anon), pct(first.anon, last.anon),
		mib(last.inuse), pct(first.inuse, last.inuse), mib(last.live), pct(first.live, last.live),
		time.Since(start).Seconds())
	// The resident memory is the figure held to 10%. The anonymous part
	// and the heap are logged to tell live growth (allocated) from the
	// spans around it (in use) and the program text.
	if float64(last.rss) > 1.10*float64(first.rss) {
		t.Errorf("resident memory grew from %.1f MiB to %.1f MiB over %d more objects", mib(first.rss), mib(last.rss), totalObject-firstCases*perCase)
	}
	if b, _ := os.ReadFile(ing.LogFile()); bytes.Contains(b, []byte(`"level":"error"`)) {
		t.Errorf("errors logged:\n%s", ing.Tail(20))
	}
}

// memory is a process's resident memory — all of it, and the anonymous
// part (without the mapped program text, whose resident pages depend on
// which code paths ran lately) — and its Go heap: the bytes of its objects
// (live and not yet collected) and of the spans that hold them.
type memory struct {
	rss, anon, live, inuse int64
}

// bytesMetric reads an unlabelled byte count from a metrics page (0 if
// absent).
func bytesMetric(page []byte, name string) int64 {
	v, _ := metricValue(page, name)
	f, _ := strconv.ParseFloat(v, 64)
	return int64(f)
}

// residentMemory reads a process's resident memory from /proc.
func residentMemory(t *testing.T, pid int) memory {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m memory
	kb := func(v string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		return n << 10
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			m.rss = kb(v)
		} else if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			m.anon = kb(v)
		}
	}
	if m.rss == 0 || m.anon == 0 {
		t.Fatal("no VmRSS or RssAnon in /proc/<pid>/status")
	}
	return m
}
