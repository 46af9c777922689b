package main

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.MainChild(map[string]func([]string) int{
		"ingest": func(args []string) int {
			ctx, stop := signalContext()
			defer stop()
			return run(ctx, args, os.Environ(), os.Stdout, os.Stderr)
		},
	})
	os.Exit(m.Run())
}

// signalContext ends on SIGTERM, as the command's own main does.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() {
		<-ch
		cancel()
	}()
	return ctx, cancel
}

// TestHostileDoorsPeakRSS: deflate bombs dropped into the inbox, sent over
// C-STORE and posted to STOW-RS of one `ingest run` (embedded default with
// both receivers) are refused as too large, dead-lettered and counted,
// while the process stays under 512 MiB (a worker reached 4.4 GB and a
// receiver 4 GB before).
func TestHostileDoorsPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("generates several GB of inflated text")
	}
	storescuBin := testenv.Binary(t, "storescu")
	dir := t.TempDir()
	bombs := t.TempDir()
	big := testenv.WriteDeflateBomb(t, bombs, 8, 200<<20)                    // 1.6 MB, 1.6 GB inflated
	many := testenv.WriteDeflateBomb(t, t.TempDir(), 40, 60<<20, "many.dcm") // 2.4 GB inflated
	dimseAddr, stowAddr := loopback(t), loopback(t)
	stderrPath := filepath.Join(t.TempDir(), "stderr")
	errf, _ := os.Create(stderrPath)
	cmd := exec.Command(testenv.NoRaceTestBinary(t), "-test.run=^$", "--", "run", "--log-format", "json")
	cmd.Env = append(os.Environ(), testenv.ChildEnv+"=ingest",
		"PRINTREG_DATA_DIR="+dir,
		"PRINTREG_NATS_EMBEDDED_LISTEN=127.0.0.1:0",
		"PRINTREG_ADMIN_LISTEN=",
		"PRINTREG_INBOX_POLL=100ms",
		"PRINTREG_INBOX_STABLE=300ms",
		"PRINTREG_RECEIVE_ENABLED=true",
		"PRINTREG_RECEIVE_DIMSE_LISTEN="+dimseAddr,
		"PRINTREG_RECEIVE_STOW_LISTEN="+stowAddr,
		"PRINTREG_RECEIVE_STOW_ALLOW_UNAUTHENTICATED=true",
		"PRINTREG_RECEIVE_MIN_SPOOL_FREE_BYTES=1",
		"PRINTREG_RECEIVE_MIN_STORE_FREE_BYTES=1",
	)
	cmd.Stdout, cmd.Stderr = io.Discard, errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan int, 1)
	go func() {
		cmd.Wait()
		exited <- cmd.ProcessState.ExitCode()
	}()
	defer cmd.Process.Kill()
	waitListening(t, dimseAddr, exited)
	waitListening(t, stowAddr, exited)

	// The inbox.
	inbox := filepath.Join(dir, "inbox", "HOSTILE1")
	os.MkdirAll(inbox, 0o750)
	b, _ := os.ReadFile(big)
	os.WriteFile(filepath.Join(inbox, "bomb.dcm"), b, 0o600)
	// C-STORE, in the object's own (deflated) transfer syntax.
	out, err := exec.Command(storescuBin, "-aet", "HOSTILE", "-aec", "PRINTREG", "-v", "-xd", "--required", strings.Split(dimseAddr, ":")[0], strings.Split(dimseAddr, ":")[1], big).CombinedOutput()
	if !strings.Contains(string(out), "Received Store Response (Error: CannotUnderstand)") {
		t.Errorf("C-STORE was not refused at the door: %v\n%s", err, out)
	}
	// STOW-RS.
	m, _ := os.ReadFile(many)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreatePart(map[string][]string{"Content-Type": {"application/dicom"}})
	part.Write(m)
	mw.Close()
	resp, err := http.Post("http://"+stowAddr+"/dicomweb/studies", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary(), &body)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("STOW-RS answered %d, want 409 (the instance refused)", resp.StatusCode)
	}

	// Each door refuses its bomb as too large: the receivers before they
	// answer, the worker before it writes anything.
	deadline := time.Now().Add(3 * time.Minute)
	const want = 3
	for {
		log, _ := os.ReadFile(stderrPath)
		if n := strings.Count(string(log), `"reason":"too_large"`); n >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d too_large refusals:\n%s", want, lastLines(string(log), 30))
		}
		select {
		case code := <-exited:
			t.Fatalf("ingest exited (%d) under hostile input:\n%s", code, lastLines(string(log), 30))
		case <-time.After(200 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("ingest did not stop")
	}
	peak := testenv.PeakRSS(cmd.ProcessState)
	t.Logf("ingest run (worker and receivers) over %d deflate bombs: peak RSS %d MiB", want, peak>>20)
	if peak <= 0 || peak > 512<<20 {
		t.Errorf("peak RSS %d MiB, over the 512 MiB bound", peak>>20)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func signalNotify(ch chan os.Signal) { signal.Notify(ch, syscall.SIGTERM, os.Interrupt) }
