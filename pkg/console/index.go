package console

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
)

// caseSummary is what the cases list shows of a case, from its last event.
type caseSummary struct {
	ID         string
	Version    uint64
	Type       string
	Kind       string
	Time       time.Time
	Status     string
	Receiving  bool
	Ready      bool
	Missing    []string
	Conflicts  int
	Rejected   int
	Reasons    []string
	MergedInto string
	Counts     registry.Counts
	ObjectType string
}

// caseIndex follows the case-event stream: the last event of every case
// first, then each new one. It keeps a summary per case for the list and
// wakes the pages that follow a case.
type caseIndex struct {
	js   jetstream.JetStream
	topo pipeline.Topology
	log  zerolog.Logger

	mu     sync.RWMutex
	cases  map[string]*caseSummary
	synced bool
	err    string
	subs   map[string]map[chan struct{}]struct{}
}

func newCaseIndex(js jetstream.JetStream, topo pipeline.Topology, log zerolog.Logger) *caseIndex {
	return &caseIndex{js: js, topo: topo, log: log, cases: map[string]*caseSummary{}, subs: map[string]map[chan struct{}]struct{}{}}
}

// run follows the stream until ctx ends, starting over after an error.
func (x *caseIndex) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := x.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			x.mu.Lock()
			x.err = err.Error()
			x.mu.Unlock()
			x.log.Warn().Err(err).Msg("following case events; starting again")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (x *caseIndex) follow(ctx context.Context) error {
	stream, err := x.js.Stream(ctx, x.topo.RegistryStream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil // not set up yet: try again
		}
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		x.markSynced()
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{x.topo.RegistrySubject + ".>"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return err
		}
		x.add(msg.Data())
		if meta, err := msg.Metadata(); err == nil && meta.NumPending == 0 {
			x.markSynced()
		}
	}
}

func (x *caseIndex) markSynced() {
	x.mu.Lock()
	x.synced, x.err = true, ""
	x.mu.Unlock()
}

// caseEvent is the part of a case event the console reads.
type caseEvent struct {
	Type    string    `json:"type"`
	Subject string    `json:"subject"`
	Time    time.Time `json:"time"`
	Data    struct {
		Case   registry.Snapshot `json:"case"`
		Change struct {
			Kind string `json:"kind"`
		} `json:"change"`
	} `json:"data"`
}

func (x *caseIndex) add(data []byte) {
	var ev caseEvent
	if json.Unmarshal(data, &ev) != nil || !registry.IsCaseID(ev.Data.Case.CaseID) {
		return
	}
	sum := summarize(&ev)
	x.mu.Lock()
	if old := x.cases[sum.ID]; old != nil && old.Version > sum.Version {
		x.mu.Unlock()
		return
	}
	x.cases[sum.ID] = sum
	subs := make([]chan struct{}, 0, len(x.subs[sum.ID]))
	for c := range x.subs[sum.ID] {
		subs = append(subs, c)
	}
	x.mu.Unlock()
	for _, c := range subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// summarize reads the list's facts from an event.
func summarize(ev *caseEvent) *caseSummary {
	s := &ev.Data.Case
	sum := &caseSummary{
		ID: s.CaseID, Version: s.Version, Type: ev.Type, Kind: ev.Data.Change.Kind, Time: ev.Time, Ready: s.RegistryReady,
		Missing: s.Missing, Conflicts: len(s.Conflicts), Rejected: len(s.Rejected), MergedInto: s.MergedInto,
		Counts: s.Counts, Status: caseStatus(s),
	}
	for _, st := range s.Studies {
		if st.Status == "receiving" {
			sum.Receiving = true
		}
	}
	for _, r := range s.Rejected {
		if !slices.Contains(sum.Reasons, r.Reason) {
			sum.Reasons = append(sum.Reasons, r.Reason)
		}
	}
	slices.Sort(sum.Reasons)
	if s.Lab != nil {
		sum.ObjectType = s.Lab.ObjectType
	}
	return sum
}

// caseStatus names where a case stands: its studies' completeness, or
// that it waits for imaging.
func caseStatus(s *registry.Snapshot) string {
	if s.MergedInto != "" {
		return "merged"
	}
	if len(s.Studies) == 0 {
		if s.Counts.Models+s.Counts.Sidecars > 0 {
			return "waiting for imaging"
		}
		return "no imaging yet"
	}
	seen := map[string]bool{}
	for _, st := range s.Studies {
		seen[st.Status] = true
	}
	for _, st := range []string{"receiving", "amended", "stable"} {
		if seen[st] {
			return st
		}
	}
	return s.Studies[0].Status
}

// listFilter selects cases for the list.
type listFilter struct {
	NotReady, Rejections, Receiving bool
}

func (f listFilter) Any() bool { return f.NotReady || f.Rejections || f.Receiving }

// list returns the cases the filter keeps, most recently changed first,
// and how many merged cases it left out.
func (x *caseIndex) list(f listFilter) (out []caseSummary, merged int, synced bool, errText string) {
	x.mu.RLock()
	for _, c := range x.cases {
		if c.MergedInto != "" {
			merged++
			continue
		}
		if (f.NotReady && c.Ready) || (f.Rejections && c.Rejected == 0) || (f.Receiving && !c.Receiving) {
			continue
		}
		out = append(out, *c)
	}
	synced, errText = x.synced, x.err
	x.mu.RUnlock()
	slices.SortFunc(out, func(a, b caseSummary) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, merged, synced, errText
}

// ready returns the ids of the cases the index holds as registry-ready.
func (x *caseIndex) ready() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var ids []string
	for id, c := range x.cases {
		if c.Ready && c.MergedInto == "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (x *caseIndex) get(id string) (caseSummary, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.cases[id]
	if !ok {
		return caseSummary{}, false
	}
	return *c, true
}

// subscribe returns a channel that receives a signal after each new event
// of the case, and the function that ends the subscription.
func (x *caseIndex) subscribe(id string) (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	x.mu.Lock()
	if x.subs[id] == nil {
		x.subs[id] = map[chan struct{}]struct{}{}
	}
	x.subs[id][c] = struct{}{}
	x.mu.Unlock()
	return c, func() {
		x.mu.Lock()
		delete(x.subs[id], c)
		if len(x.subs[id]) == 0 {
			delete(x.subs, id)
		}
		x.mu.Unlock()
	}
}
