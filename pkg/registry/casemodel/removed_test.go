package casemodel

import (
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// TestRemovedFact: a deleted file's object leaves the case with an
// object_removed change; removing it again, removing what the case never
// held, or a late older revision change nothing; the file dropped again
// later comes back; the state with a removal decodes and events validate.
func TestRemovedFact(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "removed"))
	model := stlFact(r, "ACC1/liver.stl", 10, "liver", 1000, 5000)
	rejected := RejectedFact{Origin: Origin{ID: objectKey(r, "ACC1/notes.bin"), Version: "e1", Time: at(11)}, Reason: registry.ReasonUnsupported}
	gone := func(f Origin, sec int) RemovedFact { return RemovedFact{Origin: Origin{ID: f.ID, Time: at(sec)}} }
	later := model
	later.Origin.Time, later.Origin.Version = at(50), "e2"
	steps := []struct {
		name     string
		fact     Fact
		changed  bool
		kind     string
		models   int
		rejected int
	}{
		{"model", model, true, registry.KindModelAdded, 1, 0},
		{"refused file", rejected, true, registry.KindObjectRejected, 1, 1},
		{"model file deleted", gone(model.Origin, 20), true, registry.KindObjectRemoved, 0, 1},
		{"deleted again", gone(model.Origin, 20), false, "", 0, 1},
		{"the same revision arriving late", model, false, "", 0, 1},
		{"refused file deleted", gone(rejected.Origin, 21), true, registry.KindObjectRemoved, 0, 0},
		{"a file the case never held", RemovedFact{Origin: Origin{ID: objectKey(r, "ACC1/other.stl"), Time: at(22)}}, false, "", 0, 0},
		{"the model dropped again", later, true, registry.KindModelReplaced, 1, 0},
	}
	for _, s := range steps {
		ch, changed := r.Apply(c, s.fact, at(60))
		if changed != s.changed || (changed && ch.Kind != s.kind) {
			t.Fatalf("%s: changed %v kind %q, want %v %q", s.name, changed, ch.Kind, s.changed, s.kind)
		}
		snap := r.Snapshot(c)
		if len(snap.Models) != s.models || len(snap.Rejected) != s.rejected {
			t.Fatalf("%s: %d models %d rejected, want %d %d", s.name, len(snap.Models), len(snap.Rejected), s.models, s.rejected)
		}
		if changed {
			data, id, err := r.Event(c, ch)
			if err != nil {
				t.Fatal(err)
			}
			validateEvent(t, data, id)
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if c, err = Decode(b); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
}
