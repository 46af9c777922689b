package main

import (
	"context"
	"time"

	"github.com/printreg/printreg/pkg/dimse"
	"github.com/printreg/printreg/pkg/pipeline/promtext"
	"github.com/printreg/printreg/pkg/stow"
)

// receiverMetrics export the receiver's counters on the admin endpoint's
// /metrics. The DIMSE and STOW-RS servers keep cumulative counts of their
// own; they are sampled every second (and once more at stop) and the
// differences added, so the exposition needs no hook into the servers.
// Labels are fixed words, never AE titles or addresses.
type receiverMetrics struct {
	assoc     *promtext.CounterVec
	instances *promtext.CounterVec
	bytes     *promtext.Counter
	stowReqs  *promtext.Counter
	stowRefs  *promtext.CounterVec
	lastDIMSE dimse.Stats
	lastSTOW  stow.Stats
}

func newReceiverMetrics(reg *promtext.Registry) *receiverMetrics {
	return &receiverMetrics{
		assoc:     reg.NewCounterVec("printreg_receive_associations_total", "DICOM connections and associations by outcome (refused: closed at accept by the per-address cap, the allow-list or the reserve; accepted, rejected, aborted, released).", "outcome"),
		instances: reg.NewCounterVec("printreg_receive_instances_total", "Instances received, by protocol (dimse, stow) and outcome (stored, failed).", "protocol", "outcome"),
		bytes:     reg.NewCounter("printreg_receive_dimse_bytes_total", "Bytes of data sets received over DICOM networking."),
		stowReqs:  reg.NewCounter("printreg_receive_stow_requests_total", "STOW-RS requests."),
		stowRefs:  reg.NewCounterVec("printreg_receive_stow_refused_total", "STOW-RS requests refused before reading them, by reason (unauthorized: 401; busy: 503, over the concurrent or per-address limit).", "reason"),
	}
}

func delta(now, last uint64) float64 {
	if now < last {
		return 0
	}
	return float64(now - last)
}

// sample adds what the servers counted since the last sample. It is called
// from one goroutine at a time.
func (m *receiverMetrics) sample(p *pacsReceiver) {
	if d := p.r.DIMSE(); d != nil {
		s := d.Stats()
		l := m.lastDIMSE
		m.assoc.With("refused").Add(delta(s.Refused, l.Refused))
		m.assoc.With("accepted").Add(delta(s.Accepted, l.Accepted))
		m.assoc.With("rejected").Add(delta(s.Rejected, l.Rejected))
		m.assoc.With("aborted").Add(delta(s.Aborted, l.Aborted))
		m.assoc.With("released").Add(delta(s.Released, l.Released))
		m.instances.With("dimse", "stored").Add(delta(s.Stored, l.Stored))
		m.instances.With("dimse", "failed").Add(delta(s.Failed, l.Failed))
		m.bytes.Add(delta(s.BytesReceived, l.BytesReceived))
		m.lastDIMSE = s
	}
	if st := p.r.STOW(); st != nil {
		s := st.Stats()
		l := m.lastSTOW
		m.stowReqs.Add(delta(s.Requests, l.Requests))
		m.stowRefs.With("unauthorized").Add(delta(s.Unauthorized, l.Unauthorized))
		m.stowRefs.With("busy").Add(delta(s.Busy, l.Busy))
		m.instances.With("stow", "stored").Add(delta(s.Stored, l.Stored))
		m.instances.With("stow", "failed").Add(delta(s.Failed, l.Failed))
		m.lastSTOW = s
	}
}

// run samples every interval until ctx ends, then once more.
func (m *receiverMetrics) run(ctx context.Context, p *pacsReceiver, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.sample(p)
			return
		case <-t.C:
			m.sample(p)
		}
	}
}
