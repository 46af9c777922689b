package loglimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &Limiter{Window: 10 * time.Second, MaxKeys: 2}
	l.SetClock(func() time.Time { return now })
	steps := []struct {
		advance    time.Duration
		key        string
		ok         bool
		suppressed uint64
	}{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0},
		{8 * time.Second, "a", true, 2}, // window over: two held back
		{0, "c", true, 0},               // full: the overflow key
		{0, "d", false, 0},              // full: the overflow key again
		{2 * time.Second, "b", true, 0}, // b's window is over
		{10 * time.Second, "e", true, 0},
		{0, "e", false, 0},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, n := l.Allow(s.key)
		if ok != s.ok || n != s.suppressed {
			t.Errorf("step %d (%s): Allow = %v, %d; want %v, %d", i, s.key, ok, n, s.ok, s.suppressed)
		}
	}
	if len(l.keys) > 3 {
		t.Errorf("%d keys kept with MaxKeys 2", len(l.keys))
	}
}
