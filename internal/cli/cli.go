// Package cli holds what the printreg commands share: logging setup, terminal
// detection and the progress line.
package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/dicomx"
)

// Version is set at build time with -ldflags "-X github.com/printreg/printreg/internal/cli.Version=…".
var Version = "dev"

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Logger returns a zerolog logger on w: JSON, or human-readable console
// output when format is "console" (or "auto" and w is a terminal).
func Logger(w *os.File, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("unknown log level %q (use debug, info, warn, error)", level)
	}
	var out io.Writer = w
	switch format {
	case "console":
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	case "auto", "":
		if IsTerminal(w) {
			out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
		}
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("unknown log format %q (use json, console or auto)", format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}

// Progress prints a one-line status to a terminal at most every 200 ms and
// erases it when done. It prints nothing when w is not a terminal.
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
	label   string
	start   time.Time
	last    time.Time
	done    int
	failed  int
	printed bool
}

// NewProgress returns a progress line on f, active only when f is a terminal
// (or when force is set).
func NewProgress(f *os.File, label string, force bool) *Progress {
	return &Progress{w: f, on: force || IsTerminal(f), label: label, start: time.Now()}
}

// Add counts one finished item.
func (p *Progress) Add(failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if failed {
		p.failed++
	}
	if !p.on {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.print()
	}
}

func (p *Progress) print() {
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r%s: %d files, %d failed, %.0f files/s\x1b[K", p.label, p.done, p.failed, rate)
	p.printed = true
}

// Finish prints the final count and ends the line.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		p.print()
		fmt.Fprintln(p.w)
	}
}

// DefaultMemoryBudget is what the values of all objects a command reads at
// once may hold (dicomx.Budget): with the Go runtime's soft limit below, it
// keeps a process under 512 MiB whatever its inputs claim.
const DefaultMemoryBudget = 256 << 20

// softMemoryHeadroom is what the Go runtime's soft memory limit adds to the
// budget when GOMEMLIMIT is not set: the collector then works harder rather
// than let the heap double over the budget.
const softMemoryHeadroom = 128 << 20

// MemoryBudget returns the process's memory budget and sets the runtime's
// soft memory limit unless GOMEMLIMIT is set.
func MemoryBudget() *dicomx.Budget { return NewMemoryBudget(DefaultMemoryBudget) }

// NewMemoryBudget is MemoryBudget of max bytes; the soft limit is max plus
// 128 MiB for everything else the process holds.
func NewMemoryBudget(max int64) *dicomx.Budget {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(max + softMemoryHeadroom)
	}
	return dicomx.NewBudget(max)
}
