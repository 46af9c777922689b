// Command pipeline measures the ingest pipeline end to end against local
// nats-server and MinIO processes, side by side with a plain minio-go GET +
// PUT copy of the same objects (the I/O ceiling on the same machine).
//
//	go run ./bench/pipeline [-corpus DIR] [-objects N] [-size BYTES] [-workers W]
//
// It starts the servers (binaries from $PRINTREG_BIN, <repo>/.bin or PATH;
// run ./scripts/test-deps.sh first), then, each in a child process so that
// peak RSS is measured per side:
//
//  1. copy: W goroutines GET each object from a bucket and PUT it to another;
//  2. pipeline (throughput): the objects were uploaded to the raw bucket
//     while no worker ran, so their notifications queue on the work stream;
//     a worker process with W workers then drains them — GET, a processor
//     that writes the object to the deid bucket, the case compare-and-set,
//     the case event, the object's marker, the ack — and the time to the
//     last object is measured;
//  3. copy again, into a bucket of its own: the copy's figures pool the
//     runs before and after the pipeline, so that a machine whose speed
//     drifts over minutes meets both sides alike (each run is printed too);
//  4. pipeline (latency): objects are uploaded at a steady rate below the
//     measured throughput and each object's time from the end of its PUT to
//     the arrival of its case event is recorded (p50, p99).
//
// With -processor real (the default) the worker runs ingest's own domain
// step (pkg/pipeline/assemble: de-identify, store, extract, series
// geometry, registry case merge); give it a corpus of distinct DICOM
// instances (e.g. the CT studies ../shared/bench generates). With
// -processor copy it runs a stand-in that writes each object unchanged.
// Latency is measured to the object's marker, which the worker
// writes after the case update and its event (CT slices arriving while
// their study is still receiving change instance counts only, and those
// updates publish no event of their own).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/assemble"
	"github.com/printreg/printreg/pkg/sitekey"
)

const benchSecret = "printreg-bench-secret-0123456789abcdef0123456789"

func main() {
	mode := flag.String("mode", "", "internal: child process role (copy or worker)")
	dst := flag.String("dst", "dst", "internal: the copy child's destination bucket")
	corpus := flag.String("corpus", "", "directories of objects to use, comma-separated, each measured in turn (first folder = case); default: synthetic objects")
	rounds := flag.Int("rounds", 1, "rounds over the corpora; with more than one, medians are printed side by side")
	n := flag.Int("objects", 1000, "objects per phase (cycled from the corpus if it has fewer)")
	size := flag.Int("size", 512<<10, "size of synthetic objects")
	workers := flag.Int("workers", pipeline.DefaultWorkers(), "concurrent objects, for the copy and for the worker (default: ingest's default on this machine)")
	cases := flag.Int("cases", 4, "cases the synthetic objects are spread over")
	latencyN := flag.Int("latency-objects", 300, "objects in the latency phase")
	latencyRate := flag.Float64("latency-rate", 0, "objects/s uploaded in the latency phase (0: 40% of the measured pipeline throughput)")
	queueDir := flag.Bool("queue-dir", true, "MinIO keeps undelivered notifications on disk (durable; retried every 3 s)")
	proc := flag.String("processor", "real", "real (ingest's domain step) or copy (stand-in)")
	prefetch := flag.Int("prefetch", 0, "work items the worker pulls ahead of a free slot (0: ingest's default; negative: none)")
	natsDelay := flag.Duration("nats-delay", 0, "one-way delay between the worker and NATS, through a proxy in this process (a NATS cluster across a network); the copy uses no NATS")
	copySign := flag.Bool("copy-sign", true, "the copy signs what it uploads, as minio-go does by default over plain HTTP (false: UNSIGNED-PAYLOAD, as ingest uploads)")
	flag.Parse()
	if *mode == "" {
		// Read by the copy child, which inherits the environment.
		_ = os.Setenv("BENCH_COPY_SIGN", strconv.FormatBool(*copySign))
	}
	var err error
	switch *mode {
	case "copy":
		err = childCopy(*n, *workers, *dst)
	case "worker":
		err = childWorker(*n, *workers, *proc, *prefetch)
	case "":
		var corpora []string
		if *corpus != "" {
			corpora = strings.Split(*corpus, ",")
		}
		err = orchestrate(corpora, *n, *size, *workers, *cases, *latencyN, *latencyRate, *queueDir, *proc, *prefetch, *natsDelay, max(*rounds, 1))
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// harness adapts testenv to a program.
type harness struct {
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
	failed   bool
}

func (h *harness) Helper()           {}
func (h *harness) Fatal(args ...any) { h.failed = true; panic(fmt.Sprint(args...)) }
func (h *harness) Fatalf(format string, args ...any) {
	h.failed = true
	panic(fmt.Sprintf(format, args...))
}
func (h *harness) Skip(args ...any)                { h.Fatal(args...) }
func (h *harness) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (h *harness) Cleanup(f func())                { h.mu.Lock(); h.cleanups = append(h.cleanups, f); h.mu.Unlock() }
func (h *harness) Failed() bool                    { return h.failed }
func (h *harness) TempDir() string {
	d, err := os.MkdirTemp("", "printreg-bench-")
	if err != nil {
		panic(err)
	}
	h.mu.Lock()
	h.dirs = append(h.dirs, d)
	h.mu.Unlock()
	return d
}
func (h *harness) close() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	for _, d := range h.dirs {
		_ = os.RemoveAll(d)
	}
}

type object struct {
	key  string
	data []byte
}

func loadObjects(corpus string, n, size, cases int) ([]object, error) {
	var src []object
	if corpus != "" {
		err := filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(corpus, p)
			src = append(src, object{key: filepath.ToSlash(rel), data: b})
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(src) == 0 {
			return nil, errors.New("corpus is empty")
		}
	}
	out := make([]object, n)
	r := rand.NewChaCha8([32]byte{7})
	for i := range out {
		if len(src) > 0 {
			o := src[i%len(src)]
			key := o.key
			if i >= len(src) {
				key = fmt.Sprintf("%s.%d", key, i/len(src))
			}
			out[i] = object{key: key, data: o.data}
			continue
		}
		b := make([]byte, size)
		_, _ = r.Read(b)
		out[i] = object{key: fmt.Sprintf("case-%02d/series/slice-%05d.dcm", i%cases, i), data: b}
	}
	return out, nil
}

// servers are the shared environment of one run.
type servers struct {
	nats  *testenv.NATS
	minio *testenv.MinIO
	// processor and prefetch are passed on to the worker children.
	processor string
	prefetch  int
	// workerNATS is the URL the worker children connect to: the server's,
	// or a delaying proxy's (-nats-delay).
	workerNATS string
}

func (s servers) env(extra ...string) []string {
	return append(os.Environ(),
		"BENCH_NATS="+s.nats.URL, "BENCH_NATS_WORKER="+s.workerNATS, "BENCH_S3="+s.minio.Endpoint,
		"BENCH_S3_ACCESS="+s.minio.AccessKey, "BENCH_S3_SECRET="+s.minio.SecretKey)
}

// store opens a bucket of the bench's MinIO; sign signs uploaded content
// (minio-go's default over plain HTTP; ingest's stores do not).
func store(bucket string, sign bool) (*s3store.Store, error) {
	return s3store.New(s3store.Config{Endpoint: os.Getenv("BENCH_S3"), Bucket: bucket, PathStyle: true,
		AccessKey: os.Getenv("BENCH_S3_ACCESS"), SecretKey: os.Getenv("BENCH_S3_SECRET"), MaxRetries: 3, SignPayload: sign})
}

// copySigns says whether the copy signs its uploads (-copy-sign).
func copySigns() bool { return os.Getenv("BENCH_COPY_SIGN") != "false" }

func copyLabel() string {
	if copySigns() {
		return "minio-go GET+PUT copy (signed)"
	}
	return "minio-go GET+PUT copy (unsigned)"
}

func topology() pipeline.Topology {
	t := pipeline.DefaultTopology()
	t.AckWait = 30 * time.Second
	t.BackOff = []time.Duration{30 * time.Second}
	return t
}

// childResult is what a child prints on stdout.
type childResult struct {
	Objects int     `json:"objects"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
	// MaxRSS is the child's peak resident set (VmHWM). Read by the child
	// itself: the rusage a parent gets keeps the high-water mark of the
	// parent's memory the child shared before exec.
	MaxRSS int64 `json:"max_rss"`
	// Settle is the time the final sweep took to settle and declare
	// stable every study (in Seconds too); Settled counts the cases.
	Settle  float64 `json:"settle_s,omitempty"`
	Settled int     `json:"settled,omitempty"`
}

type childRun struct {
	childResult
	// CPU is the child's user + system time; MinIO and NATS are the
	// servers' CPU time over the same span.
	CPU, MinIO, NATS time.Duration
}

// cpuPerObject is the CPU a run spent per object, in milliseconds, by
// process and in total: a figure that holds on a busy machine, where
// objects/s does not.
func (r childRun) cpuPerObject() (client, minio, nats, total float64) {
	per := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(max(r.Objects, 1)) }
	return per(r.CPU), per(r.MinIO), per(r.NATS), per(r.CPU + r.MinIO + r.NATS)
}

// procCPU reads a process's user + system time from /proc/PID/stat (Linux;
// 0 elsewhere). /proc reports clock ticks of USER_HZ, 100 on Linux.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte(") "))
	if !ok {
		return 0
	}
	f := strings.Fields(string(rest)) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

// peakRSS reads VmHWM from /proc/self/status (Linux), in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// spawn runs this program in a mode and returns its result and peak RSS.
func spawn(s servers, mode string, n, workers int, started chan<- struct{}, args ...string) (childRun, error) {
	cmd := exec.Command(os.Args[0], append([]string{"-mode", mode, "-objects", strconv.Itoa(n), "-workers", strconv.Itoa(workers), "-processor", s.processor, "-prefetch", strconv.Itoa(s.prefetch)}, args...)...)
	cmd.Env = s.env()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return childRun{}, err
	}
	if started != nil {
		close(started)
	}
	m0, n0 := procCPU(s.minio.PID()), procCPU(s.nats.PID())
	if err := cmd.Wait(); err != nil {
		return childRun{}, fmt.Errorf("%s child: %w", mode, err)
	}
	var r childRun
	if err := json.Unmarshal(out.Bytes(), &r.childResult); err != nil {
		return childRun{}, fmt.Errorf("%s child output %q: %w", mode, out.String(), err)
	}
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.MinIO, r.NATS = procCPU(s.minio.PID())-m0, procCPU(s.nats.PID())-n0
	return r, nil
}

// corpusRun is one round's figures for one corpus. The copy runs before
// and after the pipeline (cp1, cp2) and cp pools the two: a machine whose
// speed drifts over minutes then meets the copy on both sides of the
// pipeline, and the ratio compares like with like.
type corpusRun struct {
	cp, cp1, cp2, pl childRun
	lat              latencies
	rate             float64
}

// pool adds two runs of the same work: objects, time, bytes and CPU add
// up; the peak RSS is the higher.
func pool(a, b childRun) childRun {
	return childRun{
		childResult: childResult{Objects: a.Objects + b.Objects, Seconds: a.Seconds + b.Seconds, Bytes: a.Bytes + b.Bytes, MaxRSS: max(a.MaxRSS, b.MaxRSS)},
		CPU:         a.CPU + b.CPU, MinIO: a.MinIO + b.MinIO, NATS: a.NATS + b.NATS,
	}
}

func (r corpusRun) ratio() float64 {
	return (float64(r.pl.Objects) / r.pl.Seconds) / (float64(r.cp.Objects) / r.cp.Seconds)
}

// orchestrate runs every corpus once per round, in turn, each against fresh
// servers, so that the corpora meet the same machine state and a busy spell
// touches each of them; it prints each run, then the medians side by side.
func orchestrate(corpora []string, n, size, workers, cases, latencyN int, latencyRate float64, queueDir bool, processor string, prefetch int, natsDelay time.Duration, rounds int) error {
	names := corpora
	if len(names) == 0 {
		names = []string{""}
	}
	sets := make([][]object, len(names))
	for i, c := range names {
		objs, err := loadObjects(c, n, size, cases)
		if err != nil {
			return err
		}
		sets[i] = objs
	}
	runs := make([][]corpusRun, len(names))
	for r := range rounds {
		for i, objs := range sets {
			fmt.Fprintf(os.Stderr, "bench: round %d/%d, %s\n", r+1, rounds, label(names[i]))
			cr, err := runCorpus(objs, workers, latencyN, latencyRate, queueDir, processor, prefetch, natsDelay)
			if err != nil {
				return fmt.Errorf("%s: %w", label(names[i]), err)
			}
			runs[i] = append(runs[i], cr)
			printRun(names[i], objs, workers, processor, queueDir, cr)
		}
	}
	if rounds > 1 || len(names) > 1 {
		printMedians(names, runs, processor)
	}
	return nil
}

func label(corpus string) string {
	if corpus == "" {
		return "synthetic objects"
	}
	return filepath.Base(filepath.Clean(corpus))
}

// runCorpus starts nats-server and MinIO, and measures the copy, the
// pipeline from a backlog and, unless latencyN is 0, the latency.
func runCorpus(objs []object, workers, latencyN int, latencyRate float64, queueDir bool, processor string, prefetch int, natsDelay time.Duration) (cr corpusRun, err error) {
	h := &harness{}
	defer h.close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	nts := testenv.StartNATS(h)
	s := servers{nats: nts, processor: processor, prefetch: prefetch, minio: testenv.StartMinIO(h, testenv.MinIOOptions{NATS: nts, Subject: topology().WorkSubjectFor(pipeline.SourceNotify), NoQueueDir: !queueDir})}
	s.workerNATS = nts.URL
	if natsDelay > 0 {
		addr, err := delayProxy(h, strings.TrimPrefix(nts.URL, "nats://"), natsDelay)
		if err != nil {
			return cr, err
		}
		s.workerNATS = "nats://" + addr
	}
	for _, kv := range s.env()[len(os.Environ()):] {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	ctx := context.Background()
	nc, err := nats.Connect(nts.URL)
	if err != nil {
		return cr, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	topo := topology()
	if err := pipeline.Setup(ctx, js, topo); err != nil {
		return cr, err
	}
	if err := assemble.Setup(ctx, js, assemble.DefaultBuckets(), topo); err != nil {
		return cr, err
	}
	buckets := map[string]*s3store.Store{}
	for _, b := range []string{"src", "dst", "dst2", "raw", "deid"} {
		st, err := store(b, false)
		if err != nil {
			return cr, err
		}
		if err := st.EnsureBucket(ctx); err != nil {
			return cr, err
		}
		buckets[b] = st
	}
	if err := buckets["raw"].ConfigureNotification(ctx, objstore.NotifyConfig{ARN: testenv.NotifyARN}); err != nil {
		return cr, err
	}

	// The copy's source, and the pipeline's backlog of notifications.
	if err := upload(ctx, buckets["src"], objs, workers); err != nil {
		return cr, err
	}
	if err := upload(ctx, buckets["raw"], objs, workers); err != nil {
		return cr, err
	}
	ws, _ := js.Stream(ctx, topo.WorkStream)
	if err := waitUntil(2*time.Minute, func() bool {
		info, err := ws.Info(ctx)
		return err == nil && info.State.Msgs >= uint64(len(objs))
	}); err != nil {
		return cr, fmt.Errorf("notifications did not all arrive: %w", err)
	}

	// Phase 1: the copy, then the pipeline from the backlog up to the
	// settling of every study (see childWorker), then the copy again
	// into a bucket of its own.
	if cr.cp1, err = spawn(s, "copy", len(objs), workers, nil, "-dst", "dst"); err != nil {
		return cr, err
	}
	stopSniff := sniff(nc)
	if cr.pl, err = spawn(s, "worker", len(objs), workers, nil); err != nil {
		return cr, err
	}
	stopSniff(len(objs))
	if cr.cp2, err = spawn(s, "copy", len(objs), workers, nil, "-dst", "dst2"); err != nil {
		return cr, err
	}
	cr.cp = pool(cr.cp1, cr.cp2)
	if latencyN == 0 {
		return cr, nil
	}

	// Phase 2: latency at a steady rate the machine sustains: 40% of the
	// throughput measured from a backlog, because here the uploads run at
	// the same time and take about as much of MinIO and of the cores as
	// the worker's own requests (at 60% the queue grows on 2 cores).
	cr.rate = 0.4 * float64(cr.pl.Objects) / cr.pl.Seconds
	if latencyRate > 0 {
		cr.rate = latencyRate
	}
	cr.lat, err = latencyRun(ctx, s, js, topo, buckets["raw"], objs, latencyN, workers, cr.rate)
	return cr, err
}

func printRun(corpus string, objs []object, workers int, processor string, queueDir bool, cr corpusRun) {
	var total int64
	for _, o := range objs {
		total += int64(len(o.data))
	}
	cp, pl := cr.cp, cr.pl
	cpRate := float64(cp.Objects) / cp.Seconds
	plRate := float64(pl.Objects) / pl.Seconds
	fmt.Printf("== %s\n", label(corpus))
	fmt.Printf("objects: %d (%.1f MiB, mean %.0f KiB), workers: %d, cores: %d\n", len(objs), float64(total)/(1<<20), float64(total)/float64(len(objs))/1024, workers, runtime.NumCPU())
	fmt.Printf("%-34s %10s %10s %12s\n", "", "objects/s", "MiB/s", "peak RSS")
	line := func(name string, r childRun) {
		fmt.Printf("%-34s %10.1f %10.1f %9.1f MiB\n", name, float64(r.Objects)/r.Seconds, float64(r.Bytes)/(1<<20)/r.Seconds, float64(r.MaxRSS)/(1<<20))
	}
	line("  copy before the pipeline", cr.cp1)
	line("  copy after the pipeline", cr.cp2)
	line(copyLabel(), cp)
	line("pipeline ("+processor+" processor)", pl)
	fmt.Printf("ratio pipeline/copy: %.2f (against the copy before it alone: %.2f, after it: %.2f)\n", plRate/cpRate,
		plRate/(float64(cr.cp1.Objects)/cr.cp1.Seconds), plRate/(float64(cr.cp2.Objects)/cr.cp2.Seconds))
	fmt.Printf("%-34s %10s %10s %10s %10s\n", "CPU ms per object", "client", "MinIO", "NATS", "total")
	for _, r := range []struct {
		name string
		run  childRun
	}{{copyLabel(), cp}, {"pipeline (" + processor + " processor)", pl}} {
		c, m, n, t := r.run.cpuPerObject()
		fmt.Printf("%-34s %10.2f %10.2f %10.2f %10.2f\n", r.name, c, m, n, t)
	}
	if pl.Settle > 0 {
		fmt.Printf("settling %d studies at the end: %.2f s (in the pipeline's time and CPU)\n", pl.Settled, pl.Settle)
	}
	res := map[string]any{
		"corpus": label(corpus), "objects": len(objs), "bytes": total, "workers": workers,
		"processor": processor, "copy_objects_per_s": cpRate, "pipeline_objects_per_s": plRate, "ratio": plRate / cpRate,
		"copy_before_objects_per_s": float64(cr.cp1.Objects) / cr.cp1.Seconds, "copy_after_objects_per_s": float64(cr.cp2.Objects) / cr.cp2.Seconds,
		"copy_peak_rss_bytes": cp.MaxRSS, "pipeline_peak_rss_bytes": pl.MaxRSS,
		"copy_cpu_ms_per_object": cpuTotal(cp), "copy_signs": copySigns(), "pipeline_cpu_ms_per_object": cpuTotal(pl),
		"settle_s": pl.Settle, "minio_queue_dir": queueDir,
	}
	if len(cr.lat.samples) > 0 {
		fmt.Printf("latency, PUT done -> case updated (MinIO queue_dir %v), %d objects at %.0f objects/s: p50 %s, p99 %s, max %s\n",
			queueDir, len(cr.lat.samples), cr.rate, cr.lat.p(0.50).Round(time.Millisecond), cr.lat.p(0.99).Round(time.Millisecond), cr.lat.p(1).Round(time.Millisecond))
		res["latency_p50_ms"] = cr.lat.p(0.5).Seconds() * 1000
		res["latency_p99_ms"] = cr.lat.p(0.99).Seconds() * 1000
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

// printMedians prints each corpus's medians over the rounds side by side,
// and the per-object CPU of each corpus relative to the first.
func printMedians(corpora []string, runs [][]corpusRun, processor string) {
	med := func(rs []corpusRun, f func(corpusRun) float64) (m, lo, hi float64) {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			m = v[len(v)/2]
		} else {
			m = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return m, v[0], v[len(v)-1]
	}
	rows := []struct {
		name string
		f    func(corpusRun) float64
		unit string
	}{
		{"copy objects/s, before and after", func(r corpusRun) float64 { return float64(r.cp.Objects) / r.cp.Seconds }, "%.1f"},
		{"  copy before the pipeline", func(r corpusRun) float64 { return float64(r.cp1.Objects) / r.cp1.Seconds }, "%.1f"},
		{"  copy after the pipeline", func(r corpusRun) float64 { return float64(r.cp2.Objects) / r.cp2.Seconds }, "%.1f"},
		{"pipeline objects/s", func(r corpusRun) float64 { return float64(r.pl.Objects) / r.pl.Seconds }, "%.1f"},
		{"ratio pipeline/copy", corpusRun.ratio, "%.2f"},
		{"pipeline CPU ms/object, total", func(r corpusRun) float64 { return cpuTotal(r.pl) }, "%.2f"},
		{"  worker process", func(r corpusRun) float64 { c, _, _, _ := r.pl.cpuPerObject(); return c }, "%.2f"},
		{"  MinIO", func(r corpusRun) float64 { _, m, _, _ := r.pl.cpuPerObject(); return m }, "%.2f"},
		{"  nats-server", func(r corpusRun) float64 { _, _, n, _ := r.pl.cpuPerObject(); return n }, "%.2f"},
		{"copy CPU ms/object, total", func(r corpusRun) float64 { return cpuTotal(r.cp) }, "%.2f"},
		{"settling at the end, s", func(r corpusRun) float64 { return r.pl.Settle }, "%.2f"},
		{"pipeline peak RSS, MiB", func(r corpusRun) float64 { return float64(r.pl.MaxRSS) / (1 << 20) }, "%.0f"},
	}
	if len(runs[0]) > 0 && len(runs[0][0].lat.samples) > 0 {
		rows = append(rows,
			struct {
				name string
				f    func(corpusRun) float64
				unit string
			}{"latency p50, ms", func(r corpusRun) float64 { return r.lat.p(0.5).Seconds() * 1000 }, "%.0f"},
			struct {
				name string
				f    func(corpusRun) float64
				unit string
			}{"latency p99, ms", func(r corpusRun) float64 { return r.lat.p(0.99).Seconds() * 1000 }, "%.0f"})
	}
	fmt.Printf("\n== medians of %d rounds (%s processor; range in brackets)\n", len(runs[0]), processor)
	fmt.Printf("%-32s", "")
	for _, c := range corpora {
		fmt.Printf(" %28s", label(c))
	}
	fmt.Println()
	for _, row := range rows {
		fmt.Printf("%-32s", row.name)
		for _, rs := range runs {
			m, lo, hi := med(rs, row.f)
			cell := fmt.Sprintf(row.unit+" ("+row.unit+"–"+row.unit+")", m, lo, hi)
			fmt.Printf(" %28s", cell)
		}
		fmt.Println()
	}
	if len(runs) > 1 {
		base, _, _ := med(runs[0], func(r corpusRun) float64 { return cpuTotal(r.pl) })
		for i := 1; i < len(runs); i++ {
			m, _, _ := med(runs[i], func(r corpusRun) float64 { return cpuTotal(r.pl) })
			fmt.Printf("pipeline CPU per object, %s / %s: %.2f\n", label(corpora[i]), label(corpora[0]), m/base)
		}
	}
}

func cpuTotal(r childRun) float64 { _, _, _, t := r.cpuPerObject(); return t }

func upload(ctx context.Context, b *s3store.Store, objs []object, workers int) error {
	return parallel(len(objs), workers, func(i int) error {
		_, err := b.Put(ctx, objs[i].key, bytes.NewReader(objs[i].data), int64(len(objs[i].data)), objstore.PutOptions{ContentType: "application/dicom"})
		return err
	})
}

func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func waitUntil(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// childCopy GETs every object of src and PUTs it to bucket dstName.
func childCopy(n, workers int, dstName string) error {
	ctx := context.Background()
	src, err := store("src", copySigns())
	if err != nil {
		return err
	}
	dst, err := store(dstName, copySigns())
	if err != nil {
		return err
	}
	var keys []string
	if err := src.List(ctx, "", func(oi objstore.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		return err
	}
	var bytesCopied atomic.Int64
	start := time.Now()
	err = parallel(len(keys), workers, func(i int) error {
		// One GET, its size from the response (as the pipeline reads).
		rc, st, err := objstore.OpenCapped(ctx, src, keys[i], 0)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = dst.Put(ctx, keys[i], rc, st.Size, objstore.PutOptions{ContentType: "application/dicom"})
		bytesCopied.Add(st.Size)
		return err
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(childResult{Objects: len(keys), Seconds: time.Since(start).Seconds(), Bytes: bytesCopied.Load(), MaxRSS: peakRSS()})
}

// copyProcessor is the stand-in processor: it reads the object and writes
// it unchanged to the deid bucket, under the case.
type copyProcessor struct {
	key  *sitekey.Key
	pool sync.Pool
}

func (p *copyProcessor) Process(ctx context.Context, in pipeline.Input) (pipeline.Result, error) {
	rc, err := in.Open(ctx)
	if err != nil {
		return pipeline.Result{}, err
	}
	defer rc.Close()
	bp, _ := p.pool.Get().(*[]byte)
	if bp == nil || int64(cap(*bp)) < in.Size {
		b := make([]byte, in.Size)
		bp = &b
	}
	buf := (*bp)[:in.Size]
	if _, err := io.ReadFull(rc, buf); err != nil {
		p.pool.Put(bp)
		return pipeline.Result{}, err
	}
	ref, _, _ := strings.Cut(in.Ref.Key, "/")
	caseID := p.key.Hex(16, "bench/case", ref)
	out := pipeline.Output{Key: caseID + "/" + in.ObjectID + ".dcm", Size: in.Size, ContentType: "application/dicom",
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }}
	// The buffer returns to the pool when the worker closes the output reader.
	out.Open = func() (io.ReadCloser, error) {
		return &poolReader{Reader: bytes.NewReader(buf), put: func() { p.pool.Put(bp) }}, nil
	}
	return pipeline.Result{CaseID: caseID, Facts: in.ObjectID + "@" + in.ETag, Outputs: []pipeline.Output{out}, Kind: "dicom"}, nil
}

type poolReader struct {
	*bytes.Reader
	put  func()
	once sync.Once
}

func (r *poolReader) Close() error { r.once.Do(r.put); return nil }

// countModel keeps the set of objects per case and announces each new one.
type countModel struct{}

type countState struct {
	Objects []string `json:"objects"`
}

type benchEvent struct {
	Case   string `json:"case"`
	Object string `json:"object"`
	Count  int    `json:"count"`
}

func (countModel) Apply(caseID string, state []byte, facts any, now time.Time) (pipeline.Mutation, error) {
	var st countState
	if state != nil {
		if err := json.Unmarshal(state, &st); err != nil {
			return pipeline.Mutation{}, err
		}
	}
	f := facts.(string)
	i, found := slices.BinarySearch(st.Objects, f)
	if found {
		return pipeline.Mutation{}, nil
	}
	st.Objects = slices.Insert(st.Objects, i, f)
	b, _ := json.Marshal(st)
	obj, _, _ := strings.Cut(f, "@")
	ev, _ := json.Marshal(benchEvent{Case: caseID, Object: obj, Count: len(st.Objects)})
	return pipeline.Mutation{State: b, Events: []pipeline.Event{{ID: caseID + "-" + f[:min(len(f), 40)], Data: ev}}}, nil
}

func (countModel) Tick(string, []byte, time.Time) (pipeline.Mutation, error) {
	return pipeline.Mutation{}, nil
}

// childWorker runs the worker until n objects were processed.
func childWorker(n, workers int, processor string, prefetch int) error {
	nc, err := nats.Connect(os.Getenv("BENCH_NATS_WORKER"), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	key, _ := sitekey.New([]byte(benchSecret))
	raw, err := store("raw", false)
	if err != nil {
		return err
	}
	deid, err := store("deid", false)
	if err != nil {
		return err
	}
	m := pipeline.NewMetrics("bench")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel)
	var proc pipeline.Processor = &copyProcessor{key: key}
	var model pipeline.CaseModel = countModel{}
	cases, err := pipeline.OpenCaseStore(ctx, js, topology(), m, log)
	if err != nil {
		return err
	}
	if processor == "real" {
		stores, err := assemble.OpenStores(ctx, js, assemble.DefaultBuckets(), cases)
		if err != nil {
			return err
		}
		asm, err := assemble.New(assemble.Config{}, key, stores, deid, log)
		if err != nil {
			return err
		}
		proc, model = asm, asm.Model()
	}
	w, err := pipeline.NewWorker(ctx, pipeline.Deps{
		Conn: nc, JS: js, Topology: topology(),
		Raw: map[string]objstore.Bucket{"raw": raw}, Deid: deid,
		Processor: proc, Model: model, Cases: cases, Key: key, Log: log, Metrics: m,
	}, pipeline.WorkerConfig{Workers: workers, SweepInterval: -1, Prefetch: prefetch})
	if err != nil {
		return err
	}
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p + "." + strconv.Itoa(n))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// A repeated instance (the latency phase re-sends the corpus under new
	// keys) is handled in full and counted as a duplicate of its case.
	if err := waitUntil(10*time.Minute, func() bool {
		return m.Objects(pipeline.OutcomeProcessed)+m.Objects(pipeline.OutcomeDuplicate) >= float64(n)
	}); err != nil {
		return err
	}
	// The studies' series are settled by the sweep that declares them
	// stable, a quiet period after their last instance (the bench runs no
	// sweep loop): one sweep as if that time had passed is part of the cost
	// of the objects.
	settleStart := time.Now()
	var settled int
	for range 20 {
		res, err := cases.Sweep(ctx, time.Now().Add(24*time.Hour), model.Tick, pipeline.SettleWith(proc, model))
		if err != nil {
			return err
		}
		settled += res.Fired
		if res.Due == 0 || res.Fired == 0 && res.Errors == 0 {
			break
		}
	}
	settle := time.Since(settleStart)
	elapsed := time.Since(start)
	var bytesRead float64
	var metrics bytes.Buffer
	_ = m.Registry().Write(&metrics)
	for line := range strings.SplitSeq(metrics.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "printreg_ingest_bytes_read_total "); ok {
			bytesRead, _ = strconv.ParseFloat(v, 64)
		}
		if strings.HasPrefix(line, "printreg_ingest_case_cas_conflicts_total") || strings.HasPrefix(line, "printreg_ingest_case_events_published_total") ||
			strings.HasPrefix(line, "printreg_ingest_stage_duration_seconds_sum") {
			fmt.Fprintln(os.Stderr, "worker:", line)
		}
	}
	if p := os.Getenv("BENCH_MEMPROFILE"); p != "" {
		// alloc_space in this profile is what the objects allocated.
		if f, err := os.Create(p + "." + strconv.Itoa(n)); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	st := nc.Stats()
	fmt.Fprintf(os.Stderr, "worker: NATS messages per object: %.1f out, %.1f in\n", float64(st.OutMsgs)/float64(n), float64(st.InMsgs)/float64(n))
	cancel()
	<-done
	return json.NewEncoder(os.Stdout).Encode(childResult{Objects: n, Seconds: elapsed.Seconds(), Bytes: int64(bytesRead), MaxRSS: peakRSS(), Settle: settle.Seconds(), Settled: settled})
}

type latencies struct{ samples []time.Duration }

func (l latencies) p(q float64) time.Duration {
	if len(l.samples) == 0 {
		return 0
	}
	s := slices.Clone(l.samples)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// latencyRun uploads objects at rate per second while a worker process
// runs, and measures PUT completion to case event.
func latencyRun(ctx context.Context, s servers, js jetstream.JetStream, topo pipeline.Topology, raw *s3store.Store, objs []object, n, workers int, rate float64) (latencies, error) {
	key, _ := sitekey.New([]byte(benchSecret))
	n = min(n, len(objs))
	kv, err := js.KeyValue(ctx, topo.ProcessedBucket)
	if err != nil {
		return latencies{}, err
	}
	watch, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return latencies{}, err
	}
	defer watch.Stop()
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	go func() {
		for e := range watch.Updates() {
			// Each object is put once: its marker's first write is its version's.
			if e != nil {
				mu.Lock()
				arrived[e.Key()] = time.Now()
				mu.Unlock()
			}
		}
	}()
	started := make(chan struct{})
	childErr := make(chan error, 1)
	go func() {
		_, err := spawn(s, "worker", n, workers, started)
		childErr <- err
	}()
	<-started
	time.Sleep(500 * time.Millisecond) // let the worker connect before the first object
	putDone := map[string]time.Time{}
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	var pmu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		o := objs[i]
		o.key = "latency/" + o.key
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		wg.Go(func() {
			if _, err := raw.Put(ctx, o.key, bytes.NewReader(o.data), int64(len(o.data)), objstore.PutOptions{}); err == nil {
				pmu.Lock()
				putDone["o."+pipeline.ObjectID(key, "raw", o.key)] = time.Now()
				pmu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := <-childErr; err != nil {
		return latencies{}, err
	}
	_ = waitUntil(30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(arrived) >= n })
	var l latencies
	mu.Lock()
	defer mu.Unlock()
	for id, t := range putDone {
		if a, ok := arrived[id]; ok {
			l.samples = append(l.samples, a.Sub(t))
		}
	}
	return l, nil
}

// sniff, when BENCH_SNIFF is set, counts the messages of the pipeline phase
// by kind of subject (stream, API, KV bucket and first letter of the key,
// reply), to see what the pipeline sends per object. A subscriber to every
// subject sees what is published and what is delivered to inboxes: a
// consumer's delivery is counted under its stream subject (a KV watch's
// under the key), a reply under _INBOX. The copy of every message it takes
// costs nats-server CPU, so the phase's figures are not comparable.
func sniff(nc *nats.Conn) func(objects int) {
	if os.Getenv("BENCH_SNIFF") == "" {
		return func(int) {}
	}
	var mu sync.Mutex
	counts := map[string]int{}
	sub, err := nc.Subscribe(">", func(m *nats.Msg) {
		t := strings.Split(m.Subject, ".")
		k := t[0]
		switch {
		case strings.HasPrefix(k, "_INBOX"):
			k = "_INBOX"
		case k == "$KV" && len(t) > 2:
			k = t[0] + "." + t[1] + "." + strings.SplitN(t[2], "", 2)[0]
		case k == "$JS" && len(t) > 3:
			k = strings.Join(t[:4], ".")
		case len(t) > 1:
			k = t[0] + "." + t[1]
		}
		mu.Lock()
		counts[k]++
		mu.Unlock()
	})
	if err != nil {
		return func(int) {}
	}
	return func(objects int) {
		_ = sub.Unsubscribe()
		mu.Lock()
		defer mu.Unlock()
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(os.Stderr, "sniff: %-50s %6.2f per object\n", k, float64(counts[k])/float64(objects))
		}
	}
}

// delayProxy forwards TCP connections on a loopback port to target and
// holds every chunk of bytes for delay in each direction: a server across
// a network, for the worker only. It stops with the harness.
func delayProxy(h *harness, target string, delay time.Duration) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	h.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				s, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go delayLine(s, c, delay)
				delayLine(c, s, delay)
			}()
		}
	}()
	return ln.Addr().String(), nil
}

// delayLine copies src to dst, each chunk written delay after it was read,
// in order; it closes both when either side ends.
func delayLine(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		due time.Time
		b   []byte
	}
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				// A copy of what was read, not a whole buffer per NATS
				// message: the proxy shares the cores it measures.
				q <- chunk{time.Now().Add(delay), slices.Clone(buf[:n])}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		if w := time.Until(c.due); w > 0 {
			time.Sleep(w)
		}
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	for range q { // the reader ends once src is closed
	}
}
