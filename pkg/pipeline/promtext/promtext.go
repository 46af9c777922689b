// Package promtext is a small Prometheus metrics registry that writes the
// text exposition format (version 0.0.4): counters, gauges and histograms,
// with or without labels, plus Go runtime and process gauges.
//
// It exists so that printreg's binaries do not link prometheus/client_golang
// and its protobuf, procfs and common dependencies for a dozen metrics with
// fixed label sets. A Registry is a value owned by whoever creates it; there
// is no global default registry. Its tests read the output back with the
// Prometheus text parser (prometheus/common/expfmt), a test-only dependency.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Registry holds metric families and writes them in name order.
type Registry struct {
	mu       sync.Mutex
	families map[string]family
	samples  map[string]string // sample name → family writing it
	start    time.Time
	runtime  bool
}

type family interface {
	write(w *bufio.Writer)
}

// NewRegistry returns an empty registry. With runtimeMetrics, Write adds
// go_goroutines, go_memstats_*, process_resident_memory_bytes,
// process_open_fds and process_start_time_seconds.
func NewRegistry(runtimeMetrics bool) *Registry {
	r := &Registry{families: make(map[string]family), samples: make(map[string]string), start: time.Now(), runtime: runtimeMetrics}
	if runtimeMetrics {
		for _, n := range runtimeNames {
			r.samples[n] = "the runtime metrics"
		}
	}
	return r
}

// runtimeNames are the families writeRuntime may write.
var runtimeNames = []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes", "go_gc_cycles_total",
	"process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"}

// add registers family f, named name, of type typ, with the given label
// names. A name, label name or sample name that would make the output
// unreadable to Prometheus is a programming error found at start-up: it
// panics.
func (r *Registry) add(name, typ string, labels []string, f family) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !validName(name) {
		panic("promtext: invalid metric name " + strconv.Quote(name)) // programming error at start-up
	}
	if _, dup := r.families[name]; dup {
		panic("promtext: metric registered twice: " + name)
	}
	for i, l := range labels {
		if !validLabelName(l) || typ == "histogram" && l == "le" {
			panic("promtext: " + name + " has an invalid label name " + strconv.Quote(l))
		}
		if slices.Contains(labels[:i], l) {
			panic("promtext: " + name + " has label " + l + " twice")
		}
	}
	samples := []string{name}
	if typ == "histogram" {
		samples = []string{name + "_bucket", name + "_sum", name + "_count"}
	}
	check := samples
	if typ == "histogram" {
		check = append(check, name) // its family name, not a sample of its own
	}
	for _, s := range check {
		if other, dup := r.samples[s]; dup {
			panic("promtext: " + name + " writes samples named " + s + ", as " + other + " does")
		}
	}
	for _, s := range samples {
		r.samples[s] = name
	}
	r.families[name] = f
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validLabelName reports whether s is a label name of the classic
// Prometheus rules ([a-zA-Z_][a-zA-Z0-9_]*: a metric name without ':'), not
// one of the names starting with __ that Prometheus reserves.
func validLabelName(s string) bool {
	return validName(s) && !strings.Contains(s, ":") && !strings.HasPrefix(s, "__")
}

// Write writes every family in the text format.
func (r *Registry) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	r.mu.Lock()
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	slices.Sort(names)
	fams := make([]family, len(names))
	for i, n := range names {
		fams[i] = r.families[n]
	}
	r.mu.Unlock()
	for _, f := range fams {
		f.write(bw)
	}
	if r.runtime {
		r.writeRuntime(bw)
	}
	return bw.Flush()
}

// ServeHTTP serves the registry (Content-Type text/plain; version=0.0.4).
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = r.Write(w)
}

func header(w *bufio.Writer, name, help, typ string) {
	w.WriteString("# HELP ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(escapeHelp(help))
	w.WriteString("\n# TYPE ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(typ)
	w.WriteByte('\n')
}

// escapeHelp escapes a help text; bytes that are not UTF-8, which the
// format does not allow, are replaced with U+FFFD.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// labelString renders {a="x",b="y"} (empty for no labels); extra is added last.
func labelString(names, values []string, extra ...string) string {
	if len(names) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(values[i]))
		b.WriteByte('"')
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if len(names) > 0 || i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(extra[i])
		b.WriteString(`="`)
		b.WriteString(escapeLabel(extra[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// atomicFloat is a float64 updated with compare-and-swap.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) Add(d float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}
func (f *atomicFloat) Set(v float64) { f.bits.Store(math.Float64bits(v)) }
func (f *atomicFloat) Load() float64 { return math.Float64frombits(f.bits.Load()) }

// vec maps label values to series, creating them on first use.
type vec[T any] struct {
	name, help, typ string
	labels          []string
	mk              func() *T
	write1          func(w *bufio.Writer, name, lbl string, labelValues []string, s *T)
	mu              sync.Mutex
	series          map[string]*T
	values          map[string][]string
}

func (v *vec[T]) with(values ...string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("promtext: %s takes %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	k := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.series[k]
	if !ok {
		// Label values must be UTF-8: other bytes are replaced with U+FFFD,
		// and values that differ only there share one series. Such values
		// miss the first look-up each time and find the series here.
		if fixed, changed := validValues(values); changed {
			values = fixed
			k = strings.Join(values, "\xff")
			s, ok = v.series[k]
		}
	}
	if !ok {
		s = v.mk()
		v.series[k] = s
		v.values[k] = slices.Clone(values)
	}
	return s
}

// validValues returns values with the bytes that are not UTF-8 replaced
// with U+FFFD, and whether any were.
func validValues(values []string) ([]string, bool) {
	var fixed []string
	for i, x := range values {
		if utf8.ValidString(x) {
			continue
		}
		if fixed == nil {
			fixed = slices.Clone(values)
		}
		fixed[i] = strings.ToValidUTF8(x, "\uFFFD")
	}
	return fixed, fixed != nil
}

func (v *vec[T]) write(w *bufio.Writer) {
	header(w, v.name, v.help, v.typ)
	v.mu.Lock()
	keys := make([]string, 0, len(v.series))
	for k := range v.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type row struct {
		vals []string
		s    *T
	}
	rows := make([]row, len(keys))
	for i, k := range keys {
		rows[i] = row{v.values[k], v.series[k]}
	}
	v.mu.Unlock()
	for _, r := range rows {
		v.write1(w, v.name, labelString(v.labels, r.vals), r.vals, r.s)
	}
}

// Counter only goes up.
type Counter struct{ v atomicFloat }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds d (ignored when negative).
func (c *Counter) Add(d float64) {
	if d > 0 {
		c.v.Add(d)
	}
}

// Value returns the current count.
func (c *Counter) Value() float64 { return c.v.Load() }

// CounterVec is a counter family with labels.
type CounterVec struct{ v *vec[Counter] }

// With returns the counter for the label values (in registration order).
func (c *CounterVec) With(values ...string) *Counter { return c.v.with(values...) }

func writeSample(w *bufio.Writer, name, lbl string, v float64) {
	w.WriteString(name)
	w.WriteString(lbl)
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

// NewCounterVec registers a counter family; with no label names it has one
// series, With().
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	v := &vec[Counter]{name: name, help: help, typ: "counter", labels: labels,
		mk: func() *Counter { return &Counter{} }, series: map[string]*Counter{}, values: map[string][]string{},
		write1: func(w *bufio.Writer, name, lbl string, _ []string, s *Counter) { writeSample(w, name, lbl, s.Value()) }}
	r.add(name, "counter", labels, v)
	return &CounterVec{v}
}

// NewCounter registers a counter without labels.
func (r *Registry) NewCounter(name, help string) *Counter {
	return r.NewCounterVec(name, help).With()
}

// Gauge goes up and down.
type Gauge struct{ v atomicFloat }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.v.Set(v) }

// Add adds d (may be negative).
func (g *Gauge) Add(d float64) { g.v.Add(d) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return g.v.Load() }

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ v *vec[Gauge] }

// With returns the gauge for the label values.
func (g *GaugeVec) With(values ...string) *Gauge { return g.v.with(values...) }

// NewGaugeVec registers a gauge family.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	v := &vec[Gauge]{name: name, help: help, typ: "gauge", labels: labels,
		mk: func() *Gauge { return &Gauge{} }, series: map[string]*Gauge{}, values: map[string][]string{},
		write1: func(w *bufio.Writer, name, lbl string, _ []string, s *Gauge) { writeSample(w, name, lbl, s.Value()) }}
	r.add(name, "gauge", labels, v)
	return &GaugeVec{v}
}

// NewGauge registers a gauge without labels.
func (r *Registry) NewGauge(name, help string) *Gauge { return r.NewGaugeVec(name, help).With() }

// Histogram counts observations in cumulative buckets.
type Histogram struct {
	bounds []float64
	counts []atomic.Uint64 // per bucket (not cumulative); last is +Inf
	sum    atomicFloat
	count  atomic.Uint64
}

// Observe records v. NaN is above every bound: it counts only in +Inf.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	if math.IsNaN(v) {
		i = len(h.bounds)
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
	h.count.Add(1)
}

// ObserveSince records the seconds elapsed since t.
func (h *Histogram) ObserveSince(t time.Time) { h.Observe(time.Since(t).Seconds()) }

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// HistogramVec is a histogram family with labels.
type HistogramVec struct{ v *vec[Histogram] }

// With returns the histogram for the label values.
func (h *HistogramVec) With(values ...string) *Histogram { return h.v.with(values...) }

// NewHistogramVec registers a histogram family with the given upper bounds
// (in any order; +Inf is implicit, and dropped if given). A NaN bound
// panics.
func (r *Registry) NewHistogramVec(name, help string, bounds []float64, labels ...string) *HistogramVec {
	b := slices.Clone(bounds)
	if slices.ContainsFunc(b, math.IsNaN) {
		panic("promtext: " + name + " has a NaN bucket bound")
	}
	b = slices.DeleteFunc(b, func(x float64) bool { return math.IsInf(x, 1) })
	slices.Sort(b)
	b = slices.Compact(b)
	v := &vec[Histogram]{name: name, help: help, typ: "histogram", labels: labels,
		mk: func() *Histogram {
			return &Histogram{bounds: b, counts: make([]atomic.Uint64, len(b)+1)}
		},
		series: map[string]*Histogram{}, values: map[string][]string{},
		write1: func(w *bufio.Writer, name, _ string, vals []string, h *Histogram) {
			// _count is the +Inf bucket, so the two always agree.
			var cum uint64
			for i, ub := range h.bounds {
				cum += h.counts[i].Load()
				writeSample(w, name+"_bucket", labelString(labels, vals, "le", formatFloat(ub)), float64(cum))
			}
			cum += h.counts[len(h.bounds)].Load()
			writeSample(w, name+"_bucket", labelString(labels, vals, "le", "+Inf"), float64(cum))
			writeSample(w, name+"_sum", labelString(labels, vals), h.sum.Load())
			writeSample(w, name+"_count", labelString(labels, vals), float64(cum))
		}}
	r.add(name, "histogram", labels, v)
	return &HistogramVec{v}
}

func (r *Registry) writeRuntime(w *bufio.Writer) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g := func(name, help string, v float64) {
		header(w, name, help, "gauge")
		writeSample(w, name, "", v)
	}
	g("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	g("go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", float64(ms.HeapAlloc))
	g("go_memstats_heap_inuse_bytes", "Bytes in in-use spans.", float64(ms.HeapInuse))
	g("go_memstats_sys_bytes", "Bytes of memory obtained from the OS.", float64(ms.Sys))
	header(w, "go_gc_cycles_total", "Completed GC cycles.", "counter")
	writeSample(w, "go_gc_cycles_total", "", float64(ms.NumGC))
	if rss, ok := residentBytes(); ok {
		g("process_resident_memory_bytes", "Resident memory size in bytes.", float64(rss))
	}
	if n, err := os.ReadDir("/proc/self/fd"); err == nil {
		g("process_open_fds", "Number of open file descriptors.", float64(len(n)))
	}
	g("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", float64(r.start.UnixNano())/1e9)
}

// residentBytes reads the resident set size from /proc (Linux only).
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// Sum adds the counters whose label values satisfy match (nil: all).
func (c *CounterVec) Sum(match func(values []string) bool) float64 {
	c.v.mu.Lock()
	defer c.v.mu.Unlock()
	var n float64
	for k, s := range c.v.series {
		if match == nil || match(c.v.values[k]) {
			n += s.Value()
		}
	}
	return n
}
