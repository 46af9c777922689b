package testenv

import (
	"syscall"
	"time"
)

// Process is a program of the project run as a process of its own (an
// `ingest run` worker, say) that a fault test can kill and start again with
// the same arguments and environment. Its output goes to a log file, kept
// across restarts; a failed test shows its last lines.
type Process struct {
	p *proc
}

// ProcessOptions configures StartProcess.
type ProcessOptions struct {
	// Name names the process in messages and in the log (e.g. worker-1).
	Name string
	// Bin and Args are the program and its arguments.
	Bin  string
	Args []string
	// Env is the whole environment of the process (nothing is inherited).
	Env []string
	// Log is the file stdout and stderr are appended to (default: a file
	// in a temporary folder).
	Log string
}

// StartProcess starts the program. It is stopped (SIGTERM, then SIGKILL
// after 10 s) on test cleanup, and killed if the test binary dies.
func StartProcess(t T, o ProcessOptions) *Process {
	t.Helper()
	if o.Log == "" {
		o.Log = t.TempDir() + "/" + o.Name + ".log"
	}
	p := &Process{p: &proc{t: t, name: o.Name, bin: o.Bin, args: o.Args, env: o.Env, log: o.Log}}
	if err := p.p.start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(p.p.cleanup)
	return p
}

// Kill stops the process with SIGKILL and waits for it to end.
func (p *Process) Kill() { p.p.stop(syscall.SIGKILL, 10*time.Second) }

// Stop stops the process with SIGTERM, killing it after grace, and waits
// for it to end.
func (p *Process) Stop(grace time.Duration) { p.p.stop(syscall.SIGTERM, grace) }

// PID is the process id (0 when stopped).
func (p *Process) PID() int { return p.p.pid() }

// Done is closed when the current run of the process ends.
func (p *Process) Done() <-chan struct{} {
	p.p.mu.Lock()
	defer p.p.mu.Unlock()
	return p.p.dne
}

// LogFile is the file the process writes to.
func (p *Process) LogFile() string { return p.p.log }

// PeakRSS is the peak resident set of the run that ended last (-1 when
// none has ended or it is unknown).
func (p *Process) PeakRSS() int64 {
	p.p.mu.Lock()
	defer p.p.mu.Unlock()
	if p.p.last == nil {
		return -1
	}
	return PeakRSS(p.p.last)
}

// Start starts a stopped process again, with the same arguments and
// environment.
func (p *Process) Start(t T) {
	t.Helper()
	if err := p.p.start(); err != nil {
		t.Fatalf("testenv: restart: %v", err)
	}
}

// Running reports whether the process runs.
func (p *Process) Running() bool { return !p.p.exited() }

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string { return p.p.tail(n) }
