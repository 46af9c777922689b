package pipeline

import (
	"time"

	"github.com/printreg/printreg/pkg/pipeline/promtext"
)

// Metrics are the pipeline's Prometheus metrics, on a registry of their own
// (no global state). No label ever holds an identifier: labels are outcomes,
// reason codes, object kinds, stage names and sources, all from small fixed
// sets.
//
// The exposition is written by package promtext rather than
// prometheus/client_golang: a dozen metrics with fixed labels do not justify
// linking client_golang's protobuf, procfs and common dependencies into every
// binary, and the text format is small and stable.
//
// A nil *Metrics is valid and records nothing.
type Metrics struct {
	reg          *promtext.Registry
	objects      *promtext.CounterVec
	stage        *promtext.HistogramVec
	inflight     *promtext.Gauge
	dlqDepth     *promtext.Gauge
	workPending  *promtext.Gauge
	events       *promtext.Counter
	casConflicts *promtext.Counter
	redeliveries *promtext.Counter
	enqueued     *promtext.CounterVec
	bytesRead    *promtext.Counter
	timers       *promtext.Counter
	replayed     *promtext.Counter
}

// Object outcomes (the outcome label).
const (
	OutcomeProcessed  = "processed"  // processed; the case changed or the object has no case
	OutcomeDuplicate  = "duplicate"  // already processed (marker found, or the merge changed nothing)
	OutcomeSuperseded = "superseded" // a newer version replaced the object before it was read, or a deleted object was created again
	OutcomeGone       = "gone"       // deleted before it was read
	OutcomeRejected   = "rejected"   // permanent failure, sent to the DLQ
	OutcomeRetried    = "retried"    // transient failure, redelivered later
	OutcomeIgnored    = "ignored"    // a record needing no work (removal of an object never handled, test event)
	OutcomeRetracted  = "retracted"  // deleted; what it left in its case was retracted
)

// NewMetrics registers the pipeline metrics, Go runtime and process gauges
// and printreg_build_info{version} on a new registry.
func NewMetrics(version string) *Metrics {
	r := promtext.NewRegistry(true)
	m := &Metrics{
		reg: r,
		objects: r.NewCounterVec("printreg_ingest_objects_total",
			"Objects handled by the workers, by outcome, reason code (rejected and retried) and kind.",
			"outcome", "reason", "kind"),
		stage: r.NewHistogramVec("printreg_ingest_stage_duration_seconds",
			"Time per object in each stage: marker, stat, process, outputs, case, ack, total.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}, "stage"),
		inflight:     r.NewGauge("printreg_ingest_inflight_objects", "Work items being processed by this process."),
		dlqDepth:     r.NewGauge("printreg_ingest_dlq_messages", "Entries in the dead-letter stream (sampled)."),
		workPending:  r.NewGauge("printreg_ingest_work_pending_messages", "Work items waiting for the shared consumer (sampled)."),
		events:       r.NewCounter("printreg_ingest_case_events_published_total", "Case events published (including repeats JetStream deduplicated)."),
		casConflicts: r.NewCounter("printreg_ingest_case_cas_conflicts_total", "Case updates retried because another worker changed the case first."),
		redeliveries: r.NewCounter("printreg_ingest_redeliveries_total", "Work items received on a second or later delivery."),
		enqueued:     r.NewCounterVec("printreg_ingest_enqueued_total", "Work items published by scan, the inbox watcher and replay.", "source"),
		bytesRead:    r.NewCounter("printreg_ingest_bytes_read_total", "Bytes read from raw objects."),
		timers:       r.NewCounter("printreg_ingest_timers_fired_total", "Completeness timers that changed a case (counted once, by the worker that won)."),
		replayed:     r.NewCounter("printreg_ingest_dlq_replayed_total", "Re-driven DLQ entries taken from the work stream by this process's workers, counted once each."),
	}
	r.NewGaugeVec("printreg_build_info", "Build of the running binary.", "version").With(version).Set(1)
	return m
}

// Registry returns the registry to serve on /metrics.
func (m *Metrics) Registry() *promtext.Registry {
	if m == nil {
		return promtext.NewRegistry(false)
	}
	return m.reg
}

func (m *Metrics) object(outcome, reason, kind string) {
	if m != nil {
		m.objects.With(outcome, reason, cleanKind(kind)).Inc()
	}
}

// Objects returns the count of objects with an outcome (all reasons and
// kinds), for tests and the throughput harness.
func (m *Metrics) Objects(outcome string) float64 {
	if m == nil {
		return 0
	}
	return m.objects.Sum(func(v []string) bool { return v[0] == outcome })
}

func (m *Metrics) observe(stage string, since time.Time) {
	if m != nil {
		m.stage.With(stage).ObserveSince(since)
	}
}

func (m *Metrics) addInflight(d float64) {
	if m != nil {
		m.inflight.Add(d)
	}
}

func (m *Metrics) eventPublished() {
	if m != nil {
		m.events.Inc()
	}
}

func (m *Metrics) casConflict() {
	if m != nil {
		m.casConflicts.Inc()
	}
}

func (m *Metrics) redelivered() {
	if m != nil {
		m.redeliveries.Inc()
	}
}

func (m *Metrics) enqueue(source string) {
	if m != nil {
		m.enqueued.With(source).Inc()
	}
}

func (m *Metrics) readBytes(n int) {
	if m != nil && n > 0 {
		m.bytesRead.Add(float64(n))
	}
}

func (m *Metrics) timerFired() {
	if m != nil {
		m.timers.Inc()
	}
}

func (m *Metrics) replay() {
	if m != nil {
		m.replayed.Inc()
	}
}

func (m *Metrics) setDepths(dlq, pending float64) {
	if m == nil {
		return
	}
	if dlq >= 0 {
		m.dlqDepth.Set(dlq)
	}
	if pending >= 0 {
		m.workPending.Set(pending)
	}
}

// cleanKind keeps the kind label to short lower-case codes.
func cleanKind(k string) string {
	if k == "" {
		return "unknown"
	}
	if len(k) > 16 {
		return "other"
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return "other"
		}
	}
	return k
}
