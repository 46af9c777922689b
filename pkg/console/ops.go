package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
)

// dlqEntry is one dead-letter entry as the console shows it: hashed ids,
// reason codes and the worker's error text, which holds no identifier.
// The object key the entry's body names is never read into it.
type dlqEntry struct {
	ID         uint64
	FailedAt   time.Time
	Reason     string
	Detail     string
	Object     string
	Deliveries string
	Raw        bool
}

// maxDLQShown bounds the entries read for one page.
const maxDLQShown = 5000

// dlqEntries reads the DLQ's entries (with reason, only those) up to the
// last one stored when it started, keeping the newest maxDLQShown; capped
// says older ones were left out.
func (s *Server) dlqEntries(ctx context.Context, reason string) (out []dlqEntry, capped bool, err error) {
	err = pipeline.EachDLQ(ctx, s.deps.JS, s.deps.Topology, reason, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		h := msg.Headers()
		e := dlqEntry{ID: meta.Sequence.Stream, FailedAt: meta.Timestamp, Reason: h.Get(pipeline.HeaderReason), Detail: h.Get(pipeline.HeaderError),
			Object: h.Get(pipeline.HeaderObject), Deliveries: h.Get(pipeline.HeaderDeliveries), Raw: h.Get(pipeline.HeaderRaw) != ""}
		if t, err := time.Parse(time.RFC3339Nano, h.Get(pipeline.HeaderFailedAt)); err == nil {
			e.FailedAt = t
		}
		out = append(out, e)
		if len(out) > maxDLQShown {
			out, capped = out[1:], true
		}
		return true, nil
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, false, nil
	}
	return out, capped, err
}

type dlqData struct {
	Entries []dlqEntry
	Reasons []string
	Reason  string
	Err     string
	Capped  bool
}

func (s *Server) dlqPage(w http.ResponseWriter, r *http.Request, sess *session) {
	reason := r.URL.Query().Get("reason")
	if reason != "" && !pipeline.ValidReason(reason) {
		reason = ""
	}
	d := dlqData{Reason: reason, Reasons: registry.Reasons()}
	// A bounded wait: the page walks the whole stream.
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	entries, capped, err := s.dlqEntries(ctx, reason)
	if err != nil {
		s.log.Warn().Err(err).Msg("reading the DLQ")
		d.Err = "The dead-letter stream could not be read; try again."
	}
	// Newest first.
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	d.Entries, d.Capped = entries, capped
	s.render(w, http.StatusOK, "dlq", sess, view{Title: "Dead-letter entries", Nav: "dlq", Data: d})
}

// dlqReplay re-drives one entry (id) or all entries (all, optionally of one
// reason) with the pipeline's replay.
func (s *Server) dlqReplay(w http.ResponseWriter, r *http.Request, sess *session) {
	back := r.PostForm.Get("back")
	if !strings.HasPrefix(back, "/cases/") || !registry.IsCaseID(strings.TrimPrefix(back, "/cases/")) {
		back = "/dlq"
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	if r.PostForm.Get("all") != "" {
		reason := r.PostForm.Get("reason")
		if reason != "" && !pipeline.ValidReason(reason) {
			reason = ""
		}
		st, err := pipeline.Replay(ctx, s.deps.JS, s.deps.Topology, reason, s.log, s.deps.Metrics)
		fields := map[string]string{"replayed": strconv.Itoa(st.Replayed), "skipped": strconv.Itoa(st.Skipped)}
		if reason != "" {
			fields["reason"] = reason
		}
		if err != nil {
			s.audit.record(r, sess.user, "replay_all", "failed", fields)
			sess.flash = "Replay stopped: the dead-letter stream could not be read or written. " + strconv.Itoa(st.Replayed) + " re-driven."
		} else {
			s.audit.record(r, sess.user, "replay_all", "ok", fields)
			sess.flash = "Re-driven " + plural(st.Replayed, "entry", "entries") + skippedText(st.Skipped) + ". Entries that fail again come back here."
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	seq, err := strconv.ParseUint(r.PostForm.Get("id"), 10, 64)
	if err != nil || seq == 0 {
		http.Error(w, "no entry named", http.StatusBadRequest)
		return
	}
	id := strconv.FormatUint(seq, 10)
	err = pipeline.ReplayEntry(ctx, s.deps.JS, s.deps.Topology, seq, s.log)
	switch {
	case errors.Is(err, pipeline.ErrNoDLQEntry):
		s.audit.record(r, sess.user, "replay", "not_found", map[string]string{"dlq_id": id})
		sess.flash = "Entry " + id + " is no longer in the dead-letter stream (already re-driven, or expired)."
	case err != nil:
		s.log.Warn().Err(err).Uint64("dlq_seq", seq).Msg("replay from the console failed")
		s.audit.record(r, sess.user, "replay", "failed", map[string]string{"dlq_id": id})
		sess.flash = "Entry " + id + " could not be re-driven; it stays in the dead-letter stream."
	default:
		s.audit.record(r, sess.user, "replay", "ok", map[string]string{"dlq_id": id})
		sess.flash = "Entry " + id + " re-driven: its object is being processed again. If it fails again it comes back with a new id."
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func skippedText(n int) string {
	if n == 0 {
		return ""
	}
	return " (" + plural(n, "entry", "entries") + " could not be read and stayed)"
}

// healthCheck is one line of the health page.
type healthCheck struct {
	Name, State string
	OK          bool
}

type healthData struct {
	Checks  []healthCheck
	Streams []streamState
	Ready   bool
}

type streamState struct {
	Name, What string
	Messages   uint64
	Extra      string
}

func (s *Server) healthPage(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	d := healthData{Ready: true}
	natsState := "connected"
	natsOK := s.deps.Conn != nil && s.deps.Conn.IsConnected()
	if !natsOK {
		natsState = "not connected"
		if s.deps.Conn != nil {
			natsState = strings.ToLower(s.deps.Conn.Status().String())
		}
	}
	d.Checks = append(d.Checks, healthCheck{Name: "nats", State: natsState, OK: natsOK})
	for _, c := range s.deps.Checks {
		hc := healthCheck{Name: c.Name, State: "ok", OK: true}
		if err := c.Fn(ctx); err != nil {
			hc.State, hc.OK = err.Error(), false
		}
		d.Checks = append(d.Checks, hc)
	}
	for _, c := range d.Checks {
		d.Ready = d.Ready && c.OK
	}
	topo := s.deps.Topology
	for _, st := range []struct{ name, what string }{
		{topo.WorkStream, "work items waiting"}, {topo.RegistryStream, "case events"}, {topo.DLQStream, "dead-letter entries"},
	} {
		ss := streamState{Name: st.name, What: st.what}
		stream, err := s.deps.JS.Stream(ctx, st.name)
		if err != nil {
			ss.Extra = "not readable: " + err.Error()
			d.Streams = append(d.Streams, ss)
			continue
		}
		if info, err := stream.Info(ctx); err == nil {
			ss.Messages = info.State.Msgs
		}
		if st.name == topo.WorkStream {
			if c, err := stream.Consumer(ctx, topo.Consumer); err == nil {
				if ci, err := c.Info(ctx); err == nil {
					ss.Extra = strconv.Itoa(ci.NumAckPending) + " in progress, " + strconv.FormatUint(ci.NumPending, 10) + " not yet fetched"
				}
			}
		}
		d.Streams = append(d.Streams, ss)
	}
	s.render(w, http.StatusOK, "health", sess, view{Title: "Health", Nav: "health", Data: d})
}
