package promtext

import (
	"bytes"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestExposition(t *testing.T) {
	r := NewRegistry(false)
	objs := r.NewCounterVec("app_objects_total", "Objects by outcome.\nSecond line with \\ backslash.", "outcome", "reason")
	objs.With("processed", "").Inc()
	objs.With("rejected", `over "size"`).Add(2)
	objs.With("rejected", `over "size"`).Add(-5) // ignored
	g := r.NewGauge("app_inflight", "In flight.")
	g.Add(3)
	g.Add(-1)
	h := r.NewHistogramVec("app_seconds", "Stage time.", []float64{0.5, 0.1, 1}, "stage")
	h.With("get").Observe(0.05)
	h.With("get").Observe(0.7)
	h.With("get").Observe(5)
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	want := `# HELP app_inflight In flight.
# TYPE app_inflight gauge
app_inflight 2
# HELP app_objects_total Objects by outcome.\nSecond line with \\ backslash.
# TYPE app_objects_total counter
app_objects_total{outcome="processed",reason=""} 1
app_objects_total{outcome="rejected",reason="over \"size\""} 2
# HELP app_seconds Stage time.
# TYPE app_seconds histogram
app_seconds_bucket{stage="get",le="0.1"} 1
app_seconds_bucket{stage="get",le="0.5"} 1
app_seconds_bucket{stage="get",le="1"} 2
app_seconds_bucket{stage="get",le="+Inf"} 3
app_seconds_sum{stage="get"} 5.75
app_seconds_count{stage="get"} 3
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestHistogramWithoutLabels(t *testing.T) {
	r := NewRegistry(false)
	h := r.NewHistogramVec("lat_seconds", "x", []float64{1}).With()
	h.Observe(1) // on the bound: counted in le="1"
	var buf bytes.Buffer
	_ = r.Write(&buf)
	for _, line := range []string{`lat_seconds_bucket{le="1"} 1`, `lat_seconds_bucket{le="+Inf"} 1`, `lat_seconds_sum 1`, `lat_seconds_count 1`} {
		if !strings.Contains(buf.String(), line+"\n") {
			t.Errorf("missing %q in\n%s", line, buf.String())
		}
	}
}

func TestRuntimeAndHTTP(t *testing.T) {
	r := NewRegistry(true)
	r.NewCounter("a_total", "a").Inc()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, name := range []string{"a_total 1", "go_goroutines ", "process_resident_memory_bytes ", "process_start_time_seconds "} {
		if !strings.Contains(rec.Body.String(), "\n"+name) && !strings.HasPrefix(rec.Body.String(), name) {
			t.Errorf("missing %q", name)
		}
	}
}

func TestConcurrentUpdates(t *testing.T) {
	r := NewRegistry(false)
	c := r.NewCounterVec("c_total", "c", "k")
	h := r.NewHistogramVec("h_seconds", "h", []float64{1}, "k")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 1000 {
				c.With([]string{"a", "b"}[i%2]).Inc()
				h.With("x").Observe(0.5)
			}
			var buf bytes.Buffer
			_ = r.Write(&buf)
		})
	}
	wg.Wait()
	if got := c.With("a").Value() + c.With("b").Value(); got != 8000 {
		t.Errorf("counted %v, want 8000", got)
	}
	if got := h.With("x").Count(); got != 8000 {
		t.Errorf("observed %d, want 8000", got)
	}
}

func TestRegistrationErrorsPanic(t *testing.T) {
	for name, c := range map[string]struct {
		fn   func(r *Registry)
		want string // in the panic message
	}{
		"bad name":  {func(r *Registry) { r.NewCounter("9bad", "x") }, "invalid metric name"},
		"duplicate": {func(r *Registry) { r.NewCounter("dup", "x"); r.NewGauge("dup", "x") }, "registered twice"},
		"label arity": {func(r *Registry) {
			r.NewCounterVec("l_total", "x", "a").With("1", "2")
		}, "takes 1 label values"},
		// label and sample names the Prometheus parser would refuse
		"label name with a dash":   {func(r *Registry) { r.NewCounterVec("l_total", "x", "a-b") }, "invalid label name"},
		"label name with a colon":  {func(r *Registry) { r.NewGaugeVec("l", "x", "a:b") }, "invalid label name"},
		"label name with a digit":  {func(r *Registry) { r.NewGaugeVec("l", "x", "1a") }, "invalid label name"},
		"empty label name":         {func(r *Registry) { r.NewGaugeVec("l", "x", "") }, "invalid label name"},
		"reserved label name":      {func(r *Registry) { r.NewGaugeVec("l", "x", "__name__") }, "invalid label name"},
		"label twice":              {func(r *Registry) { r.NewCounterVec("l_total", "x", "a", "b", "a") }, "label a twice"},
		"le on a histogram":        {func(r *Registry) { r.NewHistogramVec("h", "x", []float64{1}, "le") }, "invalid label name"},
		"NaN bound":                {func(r *Registry) { r.NewHistogramVec("h", "x", []float64{1, math.NaN()}) }, "NaN bucket bound"},
		"histogram, then _count":   {func(r *Registry) { r.NewHistogramVec("h", "x", nil); r.NewCounter("h_count", "x") }, "as h does"},
		"_bucket, then histogram":  {func(r *Registry) { r.NewGauge("h_bucket", "x"); r.NewHistogramVec("h", "x", nil) }, "as h_bucket does"},
		"histogram named a sample": {func(r *Registry) { r.NewHistogramVec("h", "x", nil); r.NewHistogramVec("h_sum", "x", nil) }, "as h does"},
		"runtime name":             {func(r *Registry) { r.NewGauge("go_goroutines", "x") }, "as the runtime metrics do"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if e := recover(); e == nil {
					t.Error("no panic")
				} else if !strings.Contains(fmt.Sprint(e), c.want) {
					t.Errorf("panic %q, want one about %q", e, c.want)
				}
			}()
			c.fn(NewRegistry(true))
		})
	}
	// le is an ordinary label name on a counter, and the runtime names are
	// free in a registry without runtime metrics
	r := NewRegistry(false)
	r.NewCounterVec("le_total", "x", "le").With("1").Inc()
	r.NewGauge("go_goroutines", "x")
}

func BenchmarkCounterWith(b *testing.B) {
	r := NewRegistry(false)
	c := r.NewCounterVec("c_total", "c", "outcome", "reason", "kind")
	b.ReportAllocs()
	for b.Loop() {
		c.With("processed", "", "dicom").Inc()
	}
}
