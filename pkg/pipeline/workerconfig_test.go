package pipeline

import (
	"reflect"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/confval/confvaltest"
)

// TestWorkerConfigDefaults pins what withDefaults makes of a zero, a
// negative and a set value of every field.
func TestWorkerConfigDefaults(t *testing.T) {
	topo := DefaultTopology()
	retry := []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}
	confvaltest.CheckFill(t, func(c WorkerConfig) WorkerConfig { return c.withDefaults(topo) }, []confvaltest.Field{
		confvaltest.F("Workers", 3, DefaultWorkers(), DefaultWorkers()),
		confvaltest.F("MaxFetch", 2, DefaultWorkers(), DefaultWorkers()),
		confvaltest.F("Prefetch", 3, max(1, DefaultWorkers()/4), 0),
		confvaltest.F("FetchWait", time.Second, 2*time.Second, 2*time.Second),
		confvaltest.F("Heartbeat", time.Second, topo.AckWait/3, topo.AckWait/3),
		confvaltest.F("ObjectTimeout", time.Second, 30*time.Minute, 30*time.Minute),
		confvaltest.F("MaxObjectBytes", int64(1<<20), int64(8<<30), int64(8<<30)),
		confvaltest.F("ShutdownGrace", time.Second, 30*time.Second, 30*time.Second),
		confvaltest.F("SweepInterval", time.Second, 5*time.Second, -time.Nanosecond),
		confvaltest.F("StatsInterval", time.Second, 15*time.Second, 15*time.Second),
		confvaltest.F("RequestTimeout", time.Second, DefaultRequestTimeout, DefaultRequestTimeout),
		confvaltest.F("StallAfter", time.Second, time.Minute, -time.Nanosecond),
		confvaltest.F("IdleRelease", time.Second, 30*time.Second, -time.Nanosecond),
	})
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
