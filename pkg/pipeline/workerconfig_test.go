package pipeline

import (
	"reflect"
	"testing"
	"time"
)

// TestWorkerConfigDefaults pins what withDefaults makes of a zero, a
// negative and a set value of every field.
func TestWorkerConfigDefaults(t *testing.T) {
	topo := DefaultTopology()
	retry := []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}
	tests := []struct {
		field string
		// zero and neg are what a zero and a negative value become; set
		// is kept as it is.
		set, zero, neg any
	}{
		{"Workers", 3, DefaultWorkers(), DefaultWorkers()},
		{"MaxFetch", 2, DefaultWorkers(), DefaultWorkers()},
		{"FetchWait", time.Second, 2 * time.Second, 2 * time.Second},
		{"Heartbeat", time.Second, topo.AckWait / 3, topo.AckWait / 3},
		{"ObjectTimeout", time.Second, 30 * time.Minute, 30 * time.Minute},
		{"MaxObjectBytes", int64(1 << 20), int64(8 << 30), int64(8 << 30)},
		{"ShutdownGrace", time.Second, 30 * time.Second, 30 * time.Second},
		{"SweepInterval", time.Second, 5 * time.Second, -time.Nanosecond},
		{"StatsInterval", time.Second, 15 * time.Second, 15 * time.Second},
		{"RequestTimeout", time.Second, DefaultRequestTimeout, DefaultRequestTimeout},
		{"StallAfter", time.Second, time.Minute, -time.Nanosecond},
		{"IdleRelease", time.Second, 30 * time.Second, -time.Nanosecond},
	}
	for _, tc := range tests {
		for _, c := range []struct {
			name    string
			in, out any
		}{{"zero", nil, tc.zero}, {"negative", minusOne(tc.set), tc.neg}, {"set", tc.set, tc.set}} {
			var cfg WorkerConfig
			if c.in != nil {
				reflect.ValueOf(&cfg).Elem().FieldByName(tc.field).Set(reflect.ValueOf(c.in))
			}
			got := reflect.ValueOf(cfg.withDefaults(topo)).FieldByName(tc.field).Interface()
			if got != c.out {
				t.Errorf("%s %s: got %v, want %v", tc.field, c.name, got, c.out)
			}
		}
	}
	if got := (WorkerConfig{}).withDefaults(topo).RetryDelays; !reflect.DeepEqual(got, retry) {
		t.Errorf("RetryDelays zero: %v", got)
	}
	if got := (WorkerConfig{RetryDelays: []time.Duration{}}).withDefaults(topo).RetryDelays; !reflect.DeepEqual(got, retry) {
		t.Errorf("RetryDelays empty: %v", got)
	}
	if got := (WorkerConfig{RetryDelays: []time.Duration{time.Second}}).withDefaults(topo).RetryDelays; !reflect.DeepEqual(got, []time.Duration{time.Second}) {
		t.Errorf("RetryDelays set: %v", got)
	}
	// MaxFetch is at most Workers; Heartbeat follows the topology's
	// AckWait, but not below 100ms.
	if got := (WorkerConfig{Workers: 3, MaxFetch: 5}).withDefaults(topo).MaxFetch; got != 3 {
		t.Errorf("MaxFetch above Workers: %d", got)
	}
	short := topo
	short.AckWait = 200 * time.Millisecond
	if got := (WorkerConfig{}).withDefaults(short).Heartbeat; got != 100*time.Millisecond {
		t.Errorf("Heartbeat with a short AckWait: %v", got)
	}
}

// minusOne returns -1 of the type of v, a number.
func minusOne(v any) any {
	r := reflect.New(reflect.TypeOf(v)).Elem()
	r.SetInt(-1)
	return r.Interface()
}
