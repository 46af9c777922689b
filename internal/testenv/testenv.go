// Package testenv starts real nats-server and MinIO processes for integration
// tests: each on free loopback ports with a temporary data directory, ready
// when the constructor returns, stopped on test cleanup, and restartable in
// the middle of a test (same ports, same data) for fault tests. StartCluster
// starts a JetStream cluster of several nats-server processes whose nodes
// can be killed and restarted one by one (failover tests).
//
// Binaries are looked up in $PRINTREG_BIN (set by `make test` to <repo>/.bin,
// where scripts/test-deps.sh builds pinned versions), then in <repo>/.bin,
// then on PATH. When one is missing the test is skipped with a message saying
// how to run it — unless PRINTREG_REQUIRE_INTEGRATION=1 (as under `make
// test`), which turns the skip into a failure so that CI never passes by
// skipping.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// T is the part of testing.TB the harness uses, so that programs (the
// throughput harness) can start servers too.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Failed() bool
}

// Environment variables read by the harness.
const (
	EnvBin     = "PRINTREG_BIN"
	EnvRequire = "PRINTREG_REQUIRE_INTEGRATION"
)

// NotifyTarget is the MinIO notification target id the harness configures;
// the bucket notification ARN is NotifyARN.
const (
	NotifyTarget = "PRINTREG"
	NotifyARN    = "arn:minio:sqs::" + NotifyTarget + ":nats"
)

// startTimeout bounds how long a server may take to become ready.
const startTimeout = 60 * time.Second

// Binary returns the path of the named test binary, or skips (fails under
// PRINTREG_REQUIRE_INTEGRATION=1) the test when it is not installed.
func Binary(t T, name string) string {
	t.Helper()
	var tried []string
	if dir := os.Getenv(EnvBin); dir != "" {
		p := filepath.Join(dir, name)
		if isExec(p) {
			return p
		}
		tried = append(tried, p)
	}
	if root := repoRoot(); root != "" {
		p := filepath.Join(root, ".bin", name)
		if isExec(p) {
			return p
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	tried = append(tried, "PATH")
	msg := fmt.Sprintf("integration test needs %s, not found in %v; run `make test` (it builds the test servers into .bin/), or ./scripts/test-deps.sh then PRINTREG_BIN=$PWD/.bin go test ./...", name, tried)
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// repoRoot walks up from the working directory to the folder with go.mod.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// WaitFor polls cond until it holds; it fails the test after a generous
// deadline (a hang, not a slow machine).
func WaitFor(t T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RandomSecret returns n random bytes as hex.
func RandomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// proc is one server process that can be stopped and started again.
type proc struct {
	t    T
	name string
	bin  string
	args []string
	env  []string
	log  string

	mu  sync.Mutex
	cmd *exec.Cmd
	dne chan struct{}
	// last is the state of the run that ended last.
	last *os.ProcessState
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s already running", p.name)
	}
	lf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "\n==== start %s %s ====\n", p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout = lf
	cmd.Stderr = lf
	// Kill the server if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		lf.Close()
		p.mu.Lock()
		p.last = cmd.ProcessState
		p.mu.Unlock()
		close(done)
	}()
	p.cmd, p.dne = cmd, done
	return nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dne == nil {
		return true
	}
	select {
	case <-p.dne:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace, then kills.
func (p *proc) stop(sig os.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.dne
	p.cmd, p.dne = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// pid returns the running process's id (0 when it is not running).
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// tail returns the last lines of the process log, for failure messages.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func (p *proc) cleanup() {
	p.stop(syscall.SIGTERM, 10*time.Second)
	if p.t.Failed() {
		p.t.Logf("testenv: last lines of the %s log:\n%s", p.name, p.tail(40))
	}
}

// NATS is a nats-server process with JetStream.
type NATS struct {
	// URL is the client URL (nats://127.0.0.1:port).
	URL string
	// Port is the client port.
	Port int
	// StoreDir holds the JetStream state; it survives Restart.
	StoreDir string
	// Name is the server name of a cluster node (see StartCluster);
	// ClusterPort its route port and MonitorPort its monitoring port.
	Name        string
	ClusterPort int
	MonitorPort int
	p           *proc
}

// StartNATS starts nats-server with JetStream on a free loopback port and
// waits until JetStream answers.
func StartNATS(t T) *NATS {
	t.Helper()
	bin := Binary(t, "nats-server")
	dir := t.TempDir()
	n := &NATS{StoreDir: filepath.Join(dir, "jetstream")}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		n.Port = FreePort(t)
		n.URL = "nats://127.0.0.1:" + strconv.Itoa(n.Port)
		n.p = &proc{t: t, name: "nats-server", bin: bin, log: filepath.Join(dir, "nats-server.log"),
			args: []string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.Port), "-js", "-sd", n.StoreDir, "-n", "printreg-test"},
			env:  []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}}
		if err = n.p.start(); err != nil {
			continue
		}
		if err = n.waitReady(); err == nil {
			break
		}
		n.p.stop(syscall.SIGKILL, time.Second)
	}
	if err != nil {
		t.Fatalf("testenv: nats-server did not start: %v\n%s", err, n.p.tail(20))
	}
	t.Cleanup(n.p.cleanup)
	return n
}

func (n *NATS) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if n.p.exited() {
			return errors.New("process exited")
		}
		nc, err := nats.Connect(n.URL, nats.Timeout(time.Second), nats.NoReconnect())
		if err == nil {
			js, jerr := jetstream.New(nc)
			if jerr == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, jerr = js.AccountInfo(ctx)
				cancel()
			}
			nc.Close()
			if jerr == nil {
				return nil
			}
			err = jerr
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", startTimeout, last)
}

// PID is the server's process id (0 when stopped); benchmarks read its CPU
// time from /proc.
func (n *NATS) PID() int { return n.p.pid() }

// Stop stops the server (SIGTERM; the JetStream state is kept).
func (n *NATS) Stop() { n.p.stop(syscall.SIGTERM, 10*time.Second) }

// Kill stops the server with SIGKILL.
func (n *NATS) Kill() { n.p.stop(syscall.SIGKILL, 10*time.Second) }

// Start starts a stopped server again on the same port and state.
func (n *NATS) Start(t T) {
	t.Helper()
	if err := n.p.start(); err != nil {
		t.Fatalf("testenv: restart nats-server: %v", err)
	}
	if err := n.waitReady(); err != nil {
		t.Fatalf("testenv: nats-server not ready after restart: %v\n%s", err, n.p.tail(20))
	}
}

// Restart stops and starts the server.
func (n *NATS) Restart(t T) {
	t.Helper()
	n.Stop()
	n.Start(t)
}

// Connect returns a client connection closed on test cleanup.
func (n *NATS) Connect(t T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("testenv: connect to nats-server: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// MinIOOptions configures StartMinIO.
type MinIOOptions struct {
	// NATS, when set, enables MinIO's JetStream notification target
	// NotifyTarget, publishing to Subject on this server.
	NATS *NATS
	// Subject is the notification subject (default printreg.objects.notify).
	Subject string
	// NoQueueDir disables MinIO's on-disk event queue: events are then sent
	// at once but lost while NATS is unreachable (with the queue, MinIO
	// retries stored events every 3 s, which adds up to 3 s of latency).
	NoQueueDir bool
}

// MinIO is a MinIO server process.
type MinIO struct {
	// Endpoint is host:port of the S3 API.
	Endpoint string
	// AccessKey and SecretKey are the random root credentials.
	AccessKey, SecretKey string
	// DataDir holds the objects; it survives Restart.
	DataDir string
	p       *proc
}

// StartMinIO starts a single-drive MinIO on free loopback ports with random
// root credentials and waits until it serves requests. With opts.NATS set,
// every bucket event configured with NotifyARN is published to JetStream
// (queued on disk while NATS is unreachable).
func StartMinIO(t T, opts MinIOOptions) *MinIO {
	t.Helper()
	bin := Binary(t, "minio")
	dir := t.TempDir()
	m := &MinIO{
		AccessKey: "printreg-" + RandomSecret(6),
		SecretKey: RandomSecret(20),
		DataDir:   filepath.Join(dir, "data"),
	}
	if opts.Subject == "" {
		opts.Subject = "printreg.objects.notify"
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		port, console := FreePort(t), FreePort(t)
		m.Endpoint = "127.0.0.1:" + strconv.Itoa(port)
		env := []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"MINIO_ROOT_USER=" + m.AccessKey,
			"MINIO_ROOT_PASSWORD=" + m.SecretKey,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
			"MINIO_CI_CD=on",
		}
		if opts.NATS != nil {
			queue := filepath.Join(dir, "events")
			if opts.NoQueueDir {
				queue = ""
			}
			env = append(env, NotifyEnv(NotifyTarget, "127.0.0.1:"+strconv.Itoa(opts.NATS.Port), opts.Subject, queue)...)
		}
		m.p = &proc{t: t, name: "minio", bin: bin, log: filepath.Join(dir, "minio.log"), env: env,
			args: []string{"server", "--quiet", "--address", m.Endpoint, "--console-address", "127.0.0.1:" + strconv.Itoa(console), m.DataDir}}
		if err = m.p.start(); err != nil {
			continue
		}
		if err = m.waitReady(); err == nil {
			break
		}
		m.p.stop(syscall.SIGKILL, time.Second)
	}
	if err != nil {
		t.Fatalf("testenv: minio did not start: %v\n%s", err, m.p.tail(20))
	}
	t.Cleanup(m.p.cleanup)
	return m
}

// NotifyEnv returns the MinIO server environment that enables the JetStream
// notification target id: events go to subject on the NATS server at addr
// (host:port), queued in queueDir while NATS is unreachable (no queue when
// queueDir is empty).
func NotifyEnv(id, addr, subject, queueDir string) []string {
	env := []string{
		"MINIO_NOTIFY_NATS_ENABLE_" + id + "=on",
		"MINIO_NOTIFY_NATS_ADDRESS_" + id + "=" + addr,
		"MINIO_NOTIFY_NATS_SUBJECT_" + id + "=" + subject,
		"MINIO_NOTIFY_NATS_JETSTREAM_" + id + "=on",
		"MINIO_NOTIFY_NATS_PING_INTERVAL_" + id + "=1",
	}
	if queueDir != "" {
		env = append(env, "MINIO_NOTIFY_NATS_QUEUE_DIR_"+id+"="+queueDir)
	}
	return env
}

func (m *MinIO) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		if m.p.exited() {
			return errors.New("process exited")
		}
		resp, err := client.Get("http://" + m.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// The health probe can answer before the object layer is
				// initialised; an authenticated listing proves it is.
				if err = m.listBuckets(); err == nil {
					return nil
				}
			} else {
				err = fmt.Errorf("health: HTTP %d", resp.StatusCode)
			}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", startTimeout, last)
}

func (m *MinIO) listBuckets() error {
	c, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""), MaxRetries: 1})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.ListBuckets(ctx)
	return err
}

// Client returns an administrator's minio-go client, for what tests do to a
// bucket behind the store's back (dropping its notification rules, say).
func (m *MinIO) Client(t T) *minio.Client {
	t.Helper()
	c, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatalf("testenv: minio client: %v", err)
	}
	return c
}

// PID is MinIO's process id (0 when stopped).
func (m *MinIO) PID() int { return m.p.pid() }

// Stop stops MinIO (SIGTERM; data is kept).
func (m *MinIO) Stop() { m.p.stop(syscall.SIGTERM, 10*time.Second) }

// Start starts a stopped MinIO again on the same port and data.
func (m *MinIO) Start(t T) {
	t.Helper()
	if err := m.p.start(); err != nil {
		t.Fatalf("testenv: restart minio: %v", err)
	}
	if err := m.waitReady(); err != nil {
		t.Fatalf("testenv: minio not ready after restart: %v\n%s", err, m.p.tail(20))
	}
}

// Restart stops and starts MinIO.
func (m *MinIO) Restart(t T) {
	t.Helper()
	m.Stop()
	m.Start(t)
}

// Buffer is a bytes.Buffer safe for concurrent writers: a zerolog sink
// whose output a test scans for identifiers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TetrahedronSTL returns a closed four-triangle ASCII STL: the smallest
// model a test can drop.
func TetrahedronSTL() []byte {
	return []byte(`solid t
facet normal 0 0 -1
outer loop
vertex 0 0 0
vertex 0 1 0
vertex 1 0 0
endloop
endfacet
facet normal 0 -1 0
outer loop
vertex 0 0 0
vertex 1 0 0
vertex 0 0 1
endloop
endfacet
facet normal -1 0 0
outer loop
vertex 0 0 0
vertex 0 0 1
vertex 0 1 0
endloop
endfacet
facet normal 1 1 1
outer loop
vertex 1 0 0
vertex 0 1 0
vertex 0 0 1
endloop
endfacet
endsolid t
`)
}
