package promtext

import (
	"bytes"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// labelValues are values a label may take that the text format has to
// escape or carry through as they are.
var labelValues = []string{
	"", "plain", `say "hi"`, `back\slash`, `ends in \`, `\n is not a newline`, `\"`,
	"two\nlines", "\n", "tab\there", "carriage\rreturn", "{a=\"b\",c}", "#HELP x y",
	"Zürich", "日本語", "🦷 implant", "line\u2028separator", "nul\x00byte",
	// not UTF-8, which the format requires: written with U+FFFD instead
	"Latin-1 Z\xfcrich", "cut \xe6\x97", "\xff",
}

// valid is v as promtext writes it: bytes that are not UTF-8 replaced.
func valid(v string) string { return strings.ToValidUTF8(v, "\uFFFD") }

type wantSeries struct {
	labels  map[string]string
	value   float64   // counter and gauge
	buckets []float64 // histogram: cumulative counts, one per bound and +Inf
	sum     float64
}

type wantFamily struct {
	help   string
	typ    dto.MetricType
	bounds []float64 // histogram upper bounds, without +Inf
	series []wantSeries
}

// parse reads exposition text with the Prometheus text parser, with the
// classic metric and label name rules.
func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("the Prometheus parser refuses the output: %v\n%s", err, text)
	}
	return fams
}

func sameFloat(a, b float64) bool {
	return a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b)
}

func labelsOf(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// sameLabels compares label sets as Prometheus does, where a label with
// an empty value is the same as no label.
func sameLabels(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// check compares parsed families with the expected ones, series by series.
func check(t *testing.T, fams map[string]*dto.MetricFamily, want map[string]wantFamily) {
	t.Helper()
	for name, w := range want {
		f := fams[name]
		if f == nil {
			t.Errorf("family %s missing", name)
			continue
		}
		if f.GetHelp() != w.help {
			t.Errorf("%s: help %q, want %q", name, f.GetHelp(), w.help)
		}
		if f.GetType() != w.typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), w.typ)
		}
		if len(f.GetMetric()) != len(w.series) {
			t.Errorf("%s: %d series, want %d", name, len(f.GetMetric()), len(w.series))
		}
		for _, ws := range w.series {
			i := slices.IndexFunc(f.GetMetric(), func(m *dto.Metric) bool { return sameLabels(labelsOf(m), ws.labels) })
			if i < 0 {
				t.Errorf("%s: no series with labels %q", name, ws.labels)
				continue
			}
			m := f.GetMetric()[i]
			switch w.typ {
			case dto.MetricType_COUNTER:
				if got := m.GetCounter().GetValue(); !sameFloat(got, ws.value) {
					t.Errorf("%s%q = %v, want %v", name, ws.labels, got, ws.value)
				}
			case dto.MetricType_GAUGE:
				if got := m.GetGauge().GetValue(); !sameFloat(got, ws.value) {
					t.Errorf("%s%q = %v, want %v", name, ws.labels, got, ws.value)
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				bs := h.GetBucket()
				if len(bs) != len(w.bounds)+1 {
					t.Errorf("%s%q: %d buckets, want %d", name, ws.labels, len(bs), len(w.bounds)+1)
					continue
				}
				for j, b := range bs {
					ub := math.Inf(1)
					if j < len(w.bounds) {
						ub = w.bounds[j]
					}
					if !sameFloat(b.GetUpperBound(), ub) || float64(b.GetCumulativeCount()) != ws.buckets[j] {
						t.Errorf("%s%q: bucket %d is le=%v count %d, want le=%v count %v", name, ws.labels, j, b.GetUpperBound(), b.GetCumulativeCount(), ub, ws.buckets[j])
					}
				}
				if n := ws.buckets[len(ws.buckets)-1]; float64(h.GetSampleCount()) != n {
					t.Errorf("%s%q: count %d, want %v", name, ws.labels, h.GetSampleCount(), n)
				}
				if !sameFloat(h.GetSampleSum(), ws.sum) {
					t.Errorf("%s%q: sum %v, want %v", name, ws.labels, h.GetSampleSum(), ws.sum)
				}
			}
		}
	}
}

// TestParsedByPrometheus renders every kind of metric promtext has, with
// label values and help text that need escaping, and reads the output back
// with the Prometheus text parser: names, types, help, label values and
// sample values come back as they went in.
func TestParsedByPrometheus(t *testing.T) {
	r := NewRegistry(false)
	want := map[string]wantFamily{}

	// a counter without labels
	help := `Objects seen; a help text with a \ backslash, "quotes",` + "\na second line and UTF-8: Zürich 🦷, and not: \xfe."
	c := r.NewCounter("app_seen_total", help)
	help = valid(help)
	a, b := 0.1, 0.2
	c.Add(a)
	c.Add(b)
	want["app_seen_total"] = wantFamily{help: help, typ: dto.MetricType_COUNTER,
		series: []wantSeries{{labels: map[string]string{}, value: a + b}}}

	// a counter with two labels, every awkward value in each
	cv := r.NewCounterVec("app_objects_total", "Objects by outcome and reason.", "outcome", "reason")
	w := wantFamily{help: "Objects by outcome and reason.", typ: dto.MetricType_COUNTER}
	for i, v := range labelValues {
		n := float64(i + 1)
		cv.With("rejected", v).Add(n)
		cv.With(v, "x").Add(n * 1000)
		w.series = append(w.series,
			wantSeries{labels: map[string]string{"outcome": "rejected", "reason": valid(v)}, value: n},
			wantSeries{labels: map[string]string{"outcome": valid(v), "reason": "x"}, value: n * 1000})
	}
	// ("rejected", "x") is not among the values, so no series is counted twice
	want["app_objects_total"] = w

	// gauges without labels: awkward numbers
	for name, v := range map[string]float64{
		"app_zero": 0, "app_negative_zero": math.Copysign(0, -1), "app_negative": -1.5, "app_tiny": 5e-324,
		"app_huge": math.MaxFloat64, "app_sum": a + b, "app_big_integer": 1<<53 + 2, "app_third": 1.0 / 3,
		"app_plus_inf": math.Inf(1), "app_minus_inf": math.Inf(-1), "app_nan": math.NaN(),
	} {
		r.NewGauge(name, "A gauge.").Set(v)
		want[name] = wantFamily{help: "A gauge.", typ: dto.MetricType_GAUGE, series: []wantSeries{{labels: map[string]string{}, value: v}}}
	}
	// a gauge with a label and an empty help text
	gv := r.NewGaugeVec("app_build_info", "", "version")
	gv.With("v1.2.3-rc.1+dirty \"local\"").Set(1)
	gv.With("").Add(-2)
	want["app_build_info"] = wantFamily{typ: dto.MetricType_GAUGE, series: []wantSeries{
		{labels: map[string]string{"version": "v1.2.3-rc.1+dirty \"local\""}, value: 1},
		{labels: map[string]string{}, value: -2},
	}}

	// a histogram with labels, bounds given out of order and repeated, and
	// +Inf, which is always there
	bounds := []float64{0.5, 0.1, math.Inf(1), 1, 0.5, 2.5e-3, 1e6}
	hv := r.NewHistogramVec("app_stage_seconds", "Stage time.", bounds, "stage", "bucket")
	sorted := []float64{2.5e-3, 0.1, 0.5, 1, 1e6}
	w = wantFamily{help: "Stage time.", typ: dto.MetricType_HISTOGRAM, bounds: sorted}
	for i, v := range labelValues {
		h := hv.With(v, "b\"\\\n")
		obs := []float64{0.001, 0.1, 0.7, float64(i), 2e6}[:1+i%5]
		cum := make([]float64, len(sorted)+1)
		var sum float64
		for _, o := range obs {
			h.Observe(o)
			sum += o
			for j := range cum {
				if j == len(sorted) || o <= sorted[j] {
					cum[j]++
				}
			}
		}
		w.series = append(w.series, wantSeries{labels: map[string]string{"stage": valid(v), "bucket": "b\"\\\n"}, buckets: cum, sum: sum})
	}
	// NaN is counted in +Inf alone
	h := hv.With("nan", "")
	h.Observe(0.05)
	h.Observe(math.NaN())
	w.series = append(w.series, wantSeries{labels: map[string]string{"stage": "nan"}, buckets: []float64{0, 1, 1, 1, 1, 2}, sum: math.NaN()})
	want["app_stage_seconds"] = w
	// a histogram without labels and without observations
	r.NewHistogramVec("app_idle_seconds", "Idle.", []float64{1, 2}).With()
	want["app_idle_seconds"] = wantFamily{help: "Idle.", typ: dto.MetricType_HISTOGRAM, bounds: []float64{1, 2},
		series: []wantSeries{{labels: map[string]string{}, buckets: []float64{0, 0, 0}}}}

	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	fams := parse(t, buf.Bytes())
	check(t, fams, want)
	for name := range fams {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected family %s", name)
		}
	}
}

// TestRuntimeParsedByPrometheus: the Go runtime and process metrics parse
// with the types their names promise, served over HTTP with a Content-Type
// that a Prometheus client reads as the text format.
func TestRuntimeParsedByPrometheus(t *testing.T) {
	r := NewRegistry(true)
	r.NewCounter("app_total", "App.").Inc()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	format := expfmt.ResponseFormat(rec.Header())
	if format.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("Content-Type %q is read as %q, not the text format", rec.Header().Get("Content-Type"), format)
	}
	dec := expfmt.NewDecoder(bytes.NewReader(rec.Body.Bytes()), format)
	fams := map[string]*dto.MetricFamily{}
	for {
		var f dto.MetricFamily
		if err := dec.Decode(&f); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("decoding: %v\n%s", err, rec.Body.String())
			}
			break
		}
		fams[f.GetName()] = &f
	}
	types := map[string]dto.MetricType{
		"app_total":                     dto.MetricType_COUNTER,
		"go_goroutines":                 dto.MetricType_GAUGE,
		"go_memstats_heap_alloc_bytes":  dto.MetricType_GAUGE,
		"go_memstats_heap_inuse_bytes":  dto.MetricType_GAUGE,
		"go_memstats_sys_bytes":         dto.MetricType_GAUGE,
		"go_gc_cycles_total":            dto.MetricType_COUNTER,
		"process_resident_memory_bytes": dto.MetricType_GAUGE,
		"process_open_fds":              dto.MetricType_GAUGE,
		"process_start_time_seconds":    dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		f := fams[name]
		if f == nil {
			if strings.HasPrefix(name, "process_") && name != "process_start_time_seconds" {
				continue // read from /proc, which not every system has
			}
			t.Errorf("family %s missing", name)
			continue
		}
		if f.GetType() != typ || len(f.GetMetric()) != 1 || f.GetHelp() == "" {
			t.Errorf("%s: type %v, %d series, help %q", name, f.GetType(), len(f.GetMetric()), f.GetHelp())
		}
	}
	if n := fams["go_goroutines"].GetMetric()[0].GetGauge().GetValue(); n < 1 {
		t.Errorf("go_goroutines %v", n)
	}
	start := fams["process_start_time_seconds"].GetMetric()[0].GetGauge().GetValue()
	if d := start - float64(r.start.UnixNano())/1e9; math.Abs(d) > 1e-3 {
		t.Errorf("process_start_time_seconds off by %v s", d)
	}
	for name := range types {
		if name != "app_total" && !slices.Contains(runtimeNames, name) {
			t.Errorf("%s is not among the names reserved for the runtime metrics", name)
		}
	}
	for name := range fams {
		if _, ok := types[name]; !ok {
			t.Errorf("unexpected family %s", name)
		}
	}
}

// TestNotUTF8SharesSeries: label values that differ only in bytes that are
// not UTF-8 are written alike, so they count in one series, and label
// values are never confused by the bytes that separate them in the series
// key.
func TestNotUTF8SharesSeries(t *testing.T) {
	r := NewRegistry(false)
	c := r.NewCounterVec("app_total", "x", "a", "b")
	c.With("\xff", "").Inc()
	c.With("\xfe", "").Inc()
	c.With("\xfe", "").Inc()
	c.With("z\xff", "y").Inc() // the raw key of both is z\xff\xffy
	c.With("z", "\xffy").Add(10)
	if got := c.With("\uFFFD", "").Value(); got != 3 {
		t.Errorf("the U+FFFD series counts %v, want 3", got)
	}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	check(t, parse(t, buf.Bytes()), map[string]wantFamily{"app_total": {help: "x", typ: dto.MetricType_COUNTER, series: []wantSeries{
		{labels: map[string]string{"a": "\uFFFD"}, value: 3},
		{labels: map[string]string{"a": "z\uFFFD", "b": "y"}, value: 1},
		{labels: map[string]string{"a": "z", "b": "\uFFFDy"}, value: 10},
	}}})
	if got := c.Sum(nil); got != 14 {
		t.Errorf("Sum %v, want 14", got)
	}
}
