package casemodel

import (
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// tracked is an instance fact of a series recorded one by one: seq is its
// record's revision, count the provisional count it carries.
func tracked(r *Registry, inst int, seq uint64, count, sec int) SeriesFact {
	f := ctInstance(r, 1, 2, inst, count, sec)
	f.Seq = seq
	f.SliceSpacingMM, f.ExtentMM = 0, 0
	return f
}

// settledFact is the exact summary of the series covering revisions up to rev.
func settledFact(r *Registry, count int, rev uint64) SeriesFact {
	f := ctInstance(r, 1, 2, 2, count, 0)
	f.Origin = Origin{ID: uid(2), Time: at(0)}
	f.Settled = rev
	return f
}

// TestTrackedSeries walks a series recorded one by one through the study's
// life: provisional until settled, never declared stable before its exact
// summary is merged, repeats and out-of-order facts change nothing, a record
// newer than the summary (an instance or a deletion) amends a stable study.
func TestTrackedSeries(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "tracked"))
	series := func() *series { return c.studies[0].Series[0] }
	type step struct {
		name     string
		fact     *SeriesFact // nil: tick
		sec      int
		changed  bool
		status   string
		received int
		prov     bool
		unsett   int // Unsettled at sec
	}
	f := func(x SeriesFact) *SeriesFact { return &x }
	steps := []step{
		{"first instance", f(tracked(r, 10, 5, 1, 0)), 0, true, registry.StatusReceiving, 1, true, 0},
		{"second", f(tracked(r, 11, 7, 2, 1)), 1, true, registry.StatusReceiving, 2, true, 0},
		{"repeat of the first", f(tracked(r, 10, 5, 1, 0)), 2, false, registry.StatusReceiving, 2, true, 0},
		{"third, from another worker (lower count)", f(tracked(r, 12, 9, 1, 2)), 3, true, registry.StatusReceiving, 2, true, 0},
		{"tick when due waits for the summary", nil, 200, false, registry.StatusReceiving, 2, true, 1},
		{"exact summary", f(settledFact(r, 3, 9)), 200, true, registry.StatusReceiving, 3, false, 0},
		{"tick", nil, 200, true, registry.StatusStable, 3, false, 0},
		{"summary again", f(settledFact(r, 3, 9)), 201, false, registry.StatusStable, 3, false, 0},
		{"older record after the summary", f(tracked(r, 11, 7, 2, 1)), 202, false, registry.StatusStable, 3, false, 0},
		{"a deletion (newer record)", f(tracked(r, 12, 12, 0, 300)), 300, true, registry.StatusAmended, 3, true, 0},
		{"tick when due waits again", nil, 500, false, registry.StatusAmended, 3, true, 1},
		{"summary without it", f(settledFact(r, 2, 12)), 500, true, registry.StatusAmended, 2, false, 0},
		{"tick", nil, 500, true, registry.StatusStable, 2, false, 0},
		{"a stale summary", f(settledFact(r, 3, 9)), 501, false, registry.StatusStable, 2, false, 0},
	}
	for _, s := range steps {
		var changed bool
		if s.fact == nil {
			_, changed = r.Tick(c, at(s.sec))
		} else {
			_, changed = r.Apply(c, *s.fact, at(s.sec))
		}
		if changed != s.changed {
			t.Fatalf("%s: changed %v, want %v", s.name, changed, s.changed)
		}
		st := c.studies[0]
		snap := r.Snapshot(c).Studies[0]
		if st.Status != s.status || series().received() != s.received || snap.Series[0].Provisional != s.prov ||
			snap.Series[0].InstancesReceived != s.received {
			t.Fatalf("%s: status %s received %d provisional %v, want %s %d %v", s.name, st.Status, series().received(), snap.Series[0].Provisional, s.status, s.received, s.prov)
		}
		if got := len(r.Unsettled(c, at(s.sec))); got != s.unsett {
			t.Fatalf("%s: %d unsettled, want %d", s.name, got, s.unsett)
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: state does not decode: %v", s.name, err)
		}
		c = back
	}
	if c.studies[0].Amendments != 1 || c.studies[0].Stabilized != 2 {
		t.Errorf("amendments %d stabilized %d, want 1 and 2", c.studies[0].Amendments, c.studies[0].Stabilized)
	}
}

// TestTrackedStateStaysSmall: a series recorded one by one keeps no digest
// per instance, so 20,000 instances leave the state the size one does.
func TestTrackedStateStaysSmall(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "long"))
	var first int
	for i := 1; i <= 20000; i++ {
		r.Apply(c, tracked(r, 1000+i, uint64(i), i, i/100), at(i/100))
		if i == 1 {
			b, _ := c.Encode()
			first = len(b)
		}
	}
	r.Apply(c, settledFact(r, 20000, 20000), at(400))
	b, _ := c.Encode()
	if len(b) > first+512 {
		t.Errorf("state after 20,000 instances is %d bytes, after one %d", len(b), first)
	}
	if got := r.Snapshot(c).Studies[0].Series[0].InstanceCount; got != 20000 {
		t.Errorf("instance count %d", got)
	}
}

// TestTrackedMerge: a case merged into another brings its series' newest
// record along, and a stable study receiving records its summary does not
// cover is amended.
func TestTrackedMerge(t *testing.T) {
	r := testRegistry(t, Config{})
	dst, _ := NewCase(CaseID(r.key, "dst"))
	src, _ := NewCase(CaseID(r.key, "src"))
	r.Apply(dst, tracked(r, 10, 3, 1, 0), at(0))
	r.Apply(dst, settledFact(r, 1, 3), at(200))
	r.Tick(dst, at(200))
	r.Apply(src, tracked(r, 11, 8, 1, 100), at(100))
	if _, ok := r.Merge(dst, src, at(250)); !ok {
		t.Fatal("merge changed nothing")
	}
	st := dst.studies[0]
	if st.Series[0].Seen != 8 || st.Status != registry.StatusAmended || !st.Series[0].unsettled() {
		t.Errorf("after merge: seen %d status %s", st.Series[0].Seen, st.Status)
	}
}

// TestTrackedSeriesEmptied: when every instance's file is deleted, the
// summary found empty takes the series — and the study it was alone in —
// out of the case; a removal for a series the case does not hold changes
// nothing.
func TestTrackedSeriesEmptied(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "emptied"))
	r.Apply(c, stlFact(r, "EMPTIED/liver.stl", 0, "liver", 100, 50), at(0))
	r.Apply(c, tracked(r, 10, 3, 1, 0), at(0))
	r.Apply(c, settledFact(r, 1, 3), at(200))
	r.Tick(c, at(200))
	removal := tracked(r, 10, 4, 0, 300)
	if _, ok := r.Apply(c, removal, at(300)); !ok || c.studies[0].Status != registry.StatusAmended {
		t.Fatalf("removal: %v %s", ok, c.studies[0].Status)
	}
	empty := settledFact(r, 0, 4)
	if _, ok := r.Apply(c, empty, at(500)); !ok || len(c.studies) != 0 {
		t.Fatalf("the emptied series left %d studies", len(c.studies))
	}
	if _, ok := r.Apply(c, removal, at(501)); ok || len(c.studies) != 0 {
		t.Fatal("a removal for a study the case does not hold changed it")
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b); err != nil {
		t.Fatal(err)
	}
	if snap := r.Snapshot(c); len(snap.Studies) != 0 || len(snap.Models) != 1 {
		t.Errorf("snapshot: %d studies %d models", len(snap.Studies), len(snap.Models))
	}
}
