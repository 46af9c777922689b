package casemodel

import (
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/registry"
)

// TestCompleteness walks a study through receiving, stable and amended with
// an injected clock: quiet period 120 s, hard cap 600 s.
func TestCompleteness(t *testing.T) {
	cfg := Config{QuietPeriod: 120 * time.Second, HardCap: 600 * time.Second}
	type ev struct {
		sec    int
		inst   int // apply instance inst arriving at sec (0: tick at sec)
		status string
		event  bool   // a change is reported
		next   string // NextTick afterwards ("" = none), as seconds
	}
	tests := []struct {
		name  string
		steps []ev
	}{
		{"quiet period", []ev{
			{0, 1, registry.StatusReceiving, true, "120"},
			{100, 0, registry.StatusReceiving, false, "120"},
			{110, 2, registry.StatusReceiving, true, "230"},
			{229, 0, registry.StatusReceiving, false, "230"},
			{230, 0, registry.StatusStable, true, ""},
			{231, 0, registry.StatusStable, false, ""},
		}},
		{"hard cap while instances trickle", []ev{
			{0, 1, registry.StatusReceiving, true, "120"},
			{100, 2, registry.StatusReceiving, true, "220"},
			{200, 3, registry.StatusReceiving, true, "320"},
			{300, 4, registry.StatusReceiving, true, "420"},
			{400, 5, registry.StatusReceiving, true, "520"},
			{500, 6, registry.StatusReceiving, true, "600"}, // cap: 0 + 600
			{599, 0, registry.StatusReceiving, false, "600"},
			{600, 0, registry.StatusStable, true, ""},
			{650, 7, registry.StatusAmended, true, "770"},
			{650, 7, registry.StatusAmended, false, "770"}, // the same instance again
			{770, 0, registry.StatusStable, true, ""},
		}},
		{"late tick fires once", []ev{
			{0, 1, registry.StatusReceiving, true, "120"},
			{5000, 0, registry.StatusStable, true, ""},
			{5001, 0, registry.StatusStable, false, ""},
		}},
		{"backlog instance after stable", []ev{
			{10, 2, registry.StatusReceiving, true, "130"},
			{130, 0, registry.StatusStable, true, ""},
			{140, -5, registry.StatusAmended, true, "130"}, // landed at 5 s but processed late: due at once
			{140, 0, registry.StatusStable, true, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRegistry(t, cfg)
			c, _ := NewCase(CaseID(r.key, "completeness"))
			for i, s := range tt.steps {
				var changed bool
				var ch registry.Change
				if s.inst == 0 {
					ch, changed = r.Tick(c, at(s.sec))
				} else {
					arrival := s.sec
					inst := s.inst
					if inst < 0 {
						inst, arrival = -inst, -inst
					}
					ch, changed = r.Apply(c, ctInstance(r, 1, 2, inst, inst, arrival), at(s.sec))
				}
				if changed != s.event {
					t.Fatalf("step %d: changed %v, want %v (%+v)", i, changed, s.event, ch)
				}
				if got := c.studies[0].Status; got != s.status {
					t.Fatalf("step %d: status %s, want %s", i, got, s.status)
				}
				next, ok := r.NextTick(c)
				got := ""
				if ok {
					got = itoa(int(next.Sub(t0) / time.Second))
				}
				if got != s.next {
					t.Fatalf("step %d: next tick %q, want %q", i, got, s.next)
				}
			}
		})
	}
}

// TestTickIsDeterministic: two workers ticking the same stored state at
// different moments after the due time compute the same state (so
// compare-and-set lets exactly one win) and the same event id.
func TestTickIsDeterministic(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "tick"))
	r.Apply(c, ctInstance(r, 1, 2, 3, 1, 0), at(0))
	stored, _ := c.Encode()
	a, _ := Decode(stored)
	b, _ := Decode(stored)
	cha, _ := r.Tick(a, at(500))
	chb, _ := r.Tick(b, at(900))
	ea, _ := canonicalNoLast(a)
	eb, _ := canonicalNoLast(b)
	if string(ea) != string(eb) || registry.EventID(a.ID(), cha) != registry.EventID(b.ID(), chb) {
		t.Error("ticks at different moments disagree")
	}
	if a.studies[0].StableAt != at(120) {
		t.Errorf("stable at %v, want the due time", a.studies[0].StableAt)
	}
}

func canonicalNoLast(c *Case) ([]byte, error) {
	cp := *c
	cp.last = nil
	return cp.Encode()
}
