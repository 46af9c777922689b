package casemodel

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// fullCase builds a case with every kind of fact, for decode and benchmark
// tests.
func fullCase(tb testing.TB, r *Registry, instances int) *Case {
	tb.Helper()
	c, _ := NewCase(CaseID(r.key, planted.AccessionNumber))
	for i := range instances {
		r.Apply(c, ctInstance(r, 1, 2, 10+i, i+1, i), at(i))
	}
	r.Apply(c, segFact(r, 1, 3, 5, 2, 100, kidneySegments()...), at(100))
	for i, n := range []string{"kidney", "tumor", "artery"} {
		r.Apply(c, stlFact(r, "models/case/"+n+".stl", 200+i, n, 1000, 1000), at(200))
	}
	r.Apply(c, sidecarFact(tb, r, "model_kidney.json", 300), at(300))
	r.Apply(c, RejectedFact{Origin: Origin{ID: objectKey(r, "bad.3mf"), Time: at(301)}, Reason: registry.ReasonTooLarge, Detail: "larger than the 2 GiB cap"}, at(301))
	r.Tick(c, at(100000))
	return c
}

func TestDecodeRoundTrip(t *testing.T) {
	r := testRegistry(t, Config{})
	c := fullCase(t, r, 20)
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := d.Encode()
	if !bytes.Equal(b, b2) || d.ID() != c.ID() || d.Version() != c.Version() {
		t.Fatal("round trip changed the state")
	}
	if !bytes.Equal(mustJSON(t, r.Snapshot(c)), mustJSON(t, r.Snapshot(d))) {
		t.Fatal("round trip changed the snapshot")
	}
	if bytes.Contains(b, []byte("Exophytic")) || bytes.Contains(b, []byte("SOMATOM")) {
		t.Error("free text is stored unsealed")
	}
}

// TestDecodeRefuses: what Encode cannot have written is refused, with an
// error that does not quote the input.
func TestDecodeRefuses(t *testing.T) {
	r := testRegistry(t, Config{})
	good, _ := fullCase(t, r, 3).Encode()
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(m map[string]any)) []byte {
		var x map[string]any
		_ = json.Unmarshal(good, &x)
		f(x)
		return mustJSON(t, x)
	}
	objects := func(x map[string]any) []any { return x["objects"].([]any) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not json", []byte("Quisling^Wilhelmina")},
		{"trailing", append(append([]byte(nil), good...), []byte(" {}")...)},
		{"too large", bytes.Repeat([]byte(" "), MaxStateBytes+1)},
		{"format", mutate(func(x map[string]any) { x["format"] = 2 })},
		{"unknown field", mutate(func(x map[string]any) { x["patient_name"] = "Quisling" })},
		{"bad case id", mutate(func(x map[string]any) { x["case_id"] = "ACC2024011733" })},
		{"unsorted aliases", mutate(func(x map[string]any) {
			x["aliases"] = []string{"ffffffffffffffffffffffffffffffff", "00000000000000000000000000000000"}
		})},
		{"plain text where sealed text belongs", mutate(func(x map[string]any) {
			found := false
			for _, o := range objects(x) {
				if f, ok := o.(map[string]any)["segmentation"].(map[string]any); ok {
					f["segments"].([]any)[0].(map[string]any)["label"] = "Quisling"
					found = true
				}
			}
			if !found {
				t.Fatal("no segmentation in the state")
			}
		})},
		{"raw object id", mutate(func(x map[string]any) { objects(x)[0].(map[string]any)["id"] = "lab-drop/Quisling.stl" })},
		{"two facts in one object", mutate(func(x map[string]any) {
			o := objects(x)
			a, b := o[0].(map[string]any), o[1].(map[string]any)
			for k, v := range b {
				if k != "id" {
					a[k] = v
				}
			}
		})},
		{"bad study status", mutate(func(x map[string]any) { x["studies"].([]any)[0].(map[string]any)["status"] = "done" })},
		{"unmapped study uid", mutate(func(x map[string]any) {
			x["studies"].([]any)[0].(map[string]any)["uid"] = planted.StudyInstanceUID
		})},
		{"instances not a digest list", mutate(func(x map[string]any) {
			x["studies"].([]any)[0].(map[string]any)["series"].([]any)[0].(map[string]any)["instances"] = "Quisling!"
		})},
		{"bad last change", mutate(func(x map[string]any) { x["last_change"].(map[string]any)["kind"] = "whatever" })},
		{"invalid stored case.json", mutate(func(x map[string]any) {
			for _, o := range objects(x) {
				if sc, ok := o.(map[string]any)["sidecar"]; ok {
					sc.(map[string]any)["sidecar"].(map[string]any)["object_type"] = "printed_thing"
				}
			}
		})},
		{"patient key in the clear", mutate(func(x map[string]any) {
			x["patients"] = []any{map[string]any{"study": uid(1), "key": "MRN-0077349:"}}
		})},
		{"patient of an unmapped study", mutate(func(x map[string]any) {
			x["patients"] = []any{map[string]any{"study": planted.StudyInstanceUID, "key": strings.Repeat("a", 32) + ":"}}
		})},
		{"unsorted patients", mutate(func(x map[string]any) {
			k := strings.Repeat("a", 32) + ":"
			x["patients"] = []any{map[string]any{"study": uid(2), "key": k}, map[string]any{"study": uid(1), "key": k}}
		})},
		{"unknown decision", mutate(func(x map[string]any) {
			x["decisions"] = []any{map[string]any{"study": uid(1), "action": "Quisling", "at": "2026-03-02T09:00:00Z"}}
		})},
		{"two decisions for one study", mutate(func(x map[string]any) {
			d := map[string]any{"study": uid(1), "action": "exclude", "at": "2026-03-02T09:00:00Z"}
			x["decisions"] = []any{d, d}
		})},
		{"rejection issue naming a field outside case.json", mutate(func(x map[string]any) {
			o := objects(x)[0].(map[string]any)
			var origin any
			for k, v := range o {
				if k != "id" {
					origin = v.(map[string]any)["origin"]
					delete(o, k)
				}
			}
			o["rejected"] = map[string]any{"origin": origin, "reason": "invalid_sidecar",
				"issues": []any{map[string]any{"field": "quisling", "rule": "enum"}}}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(strings.ToLower(err.Error()), "quisling") || strings.Contains(err.Error(), "ACC2024") {
				t.Errorf("the error quotes the input: %v", err)
			}
		})
	}
}

// TestRedeliveryRepublishesLastEvent: a fact applied again changes nothing;
// the stored last change gives the same event (same id) to publish again.
func TestRedeliveryRepublishesLastEvent(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "x"))
	f := ctInstance(r, 1, 2, 3, 1, 0)
	ch, _ := r.Apply(c, f, at(5))
	b1, id1, _ := r.Event(c, ch)
	if _, changed := r.Apply(c, f, at(50)); changed {
		t.Fatal("a redelivered fact changed the case")
	}
	last, ok := c.LastChange()
	b2, id2, _ := r.Event(c, last)
	if !ok || id1 != id2 || !bytes.Equal(b1, b2) {
		t.Fatal("the republished event differs")
	}
}

func TestRetiredCaseRefusesFacts(t *testing.T) {
	r := testRegistry(t, Config{})
	a, _ := NewCase(CaseID(r.key, "a"))
	b, _ := NewCase(CaseID(r.key, "b"))
	r.Apply(b, stlFact(r, "m.stl", 0, "m", 1, 1), t0)
	if _, ok := r.Merge(a, b, t0); !ok {
		t.Fatal("merge changed nothing")
	}
	if _, ok := r.Retire(b, a.ID(), t0); !ok || b.MergedInto() != a.ID() {
		t.Fatal("retire")
	}
	if _, ok := r.Apply(b, stlFact(r, "n.stl", 0, "n", 1, 1), t0); ok {
		t.Error("a retired case accepted a fact")
	}
	if _, ok := r.Tick(b, at(1e6)); ok {
		t.Error("a retired case ticked")
	}
	if _, ok := r.Merge(a, b, t0); ok {
		t.Error("merging again changed the case")
	}
	if !slicesContains(a.Aliases(), b.ID()) {
		t.Error("the merged case id is not an alias")
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestEventIDDeterministic: same case and change, same id; anything else,
// another id.
func TestEventIDDeterministic(t *testing.T) {
	ch := registry.Change{Kind: registry.KindModelAdded, Version: 3, Object: "0123456789abcdef"}
	a := registry.EventID("9be848846331c87db38b17fe09e15d6c", ch)
	if a != registry.EventID("9be848846331c87db38b17fe09e15d6c", ch) || len(a) != 32 {
		t.Fatal(a)
	}
	other := ch
	other.Version = 4
	if a == registry.EventID("9be848846331c87db38b17fe09e15d6c", other) || a == registry.EventID("0be848846331c87db38b17fe09e15d6c", ch) {
		t.Error("ids collide")
	}
}

// TestRegistryConcurrentUse: one Registry serves many workers at once (run
// with -race).
func TestRegistryConcurrentUse(t *testing.T) {
	r := testRegistry(t, Config{})
	sc := sidecarFact(t, r, "model_kidney.json", 30)
	done := make(chan []byte)
	for w := range 4 {
		go func() {
			c, _ := NewCase(CaseID(r.key, "concurrent"))
			for i := range 20 {
				r.Apply(c, ctInstance(r, 1, 2, 10+i, i+1, i), at(i))
			}
			r.Apply(c, sc, at(30))
			r.Tick(c, at(1000+w))
			last, _ := c.LastChange()
			_, _, _ = r.Event(c, last)
			b, _ := json.Marshal(r.Snapshot(c))
			done <- b
		}()
	}
	first := <-done
	for range 3 {
		if got := <-done; !bytes.Equal(got, first) {
			t.Error("workers computed different snapshots")
		}
	}
}

func TestApplyNilFacts(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "nil"))
	for _, f := range []Fact{nil, (*SeriesFact)(nil), (*SegmentationFact)(nil), (*ModelFact)(nil), (*SidecarFact)(nil), (*RejectedFact)(nil), (*IdentityFact)(nil)} {
		if _, changed := r.Apply(c, f, t0); changed {
			t.Errorf("%T changed the case", f)
		}
	}
	if _, changed := r.Apply(nil, IdentityFact{}, t0); changed {
		t.Error("nil case")
	}
	f := ctInstance(r, 1, 2, 3, 1, 0)
	if _, changed := r.Apply(c, &f, t0); !changed {
		t.Error("a pointer fact was ignored")
	}
}
