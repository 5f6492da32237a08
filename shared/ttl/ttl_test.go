package ttl

import (
	"fmt"
	"testing"
	"time"
)

func TestSweepBoundsDistinctKeys(t *testing.T) {
	m := map[string]time.Time{}
	next := 0
	t0 := time.Unix(1000, 0)
	// 100,000 distinct keys, one a second, with a 10 s window: the map
	// never holds much more than the keys of the last window (plus the
	// amortization slack).
	for i := 0; i < 100000; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		m[fmt.Sprint(i)] = now
		Sweep(m, now, 10*time.Second, &next)
		if len(m) > 2*minSweep {
			t.Fatalf("after %d keys the map holds %d", i+1, len(m))
		}
	}
	// Keys within the window survive a sweep.
	now := t0.Add(200000 * time.Second)
	m = map[string]time.Time{"fresh": now.Add(-time.Second)}
	for i := 0; i < minSweep; i++ {
		m[fmt.Sprint("old", i)] = now.Add(-time.Hour)
	}
	next = 0
	Sweep(m, now, 10*time.Second, &next)
	if _, ok := m["fresh"]; !ok || len(m) != 1 {
		t.Fatalf("after a sweep: %v", m)
	}
	// Small maps are left alone.
	small := map[int]time.Time{1: now.Add(-time.Hour)}
	next = 0
	Sweep(small, now, time.Second, &next)
	if len(small) != 1 {
		t.Fatal("a small map was swept")
	}
}
