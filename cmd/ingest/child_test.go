package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
)

// child is an ingest command run as a process of its own, built without the
// race detector (volume and memory tests), its stderr kept in a file.
type child struct {
	cmd    *exec.Cmd
	stderr string
	// exited is closed when the process has ended.
	exited chan struct{}
}

// startChild runs ingest with args and env (added to this process's
// environment); it is stopped on test cleanup if still running.
func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := &child{stderr: filepath.Join(t.TempDir(), "stderr"), exited: make(chan struct{})}
	errf, err := os.Create(c.stderr)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(testenv.NoRaceTestBinary(t), append([]string{"-test.run=^$", "--"}, args...)...)
	c.cmd.Env = append(append(os.Environ(), testenv.ChildEnv+"=ingest"), env...)
	c.cmd.Stdout, c.cmd.Stderr = io.Discard, errf
	if err := c.cmd.Start(); err != nil {
		errf.Close()
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); errf.Close(); close(c.exited) }()
	t.Cleanup(c.stop)
	return c
}

// stop ends the process (SIGTERM, SIGKILL after a minute) and waits for it.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// lastLog returns the last n lines of its stderr.
func (c *child) lastLog(n int) string {
	b, _ := os.ReadFile(c.stderr)
	return lastLines(string(b), n)
}
