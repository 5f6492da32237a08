package service

import (
	"testing"
	"time"
)

func TestUnknownTrackExtras(t *testing.T) {
	u := newUnknownTracks()
	t0 := time.Unix(1000, 0)
	if ok, _ := u.extra("door", 7, t0); ok {
		t.Fatal("a face of a track without an unknown verdict was taken")
	}
	u.verdict("door", 7, t0)
	var taken []int
	for s := 1; s <= 20; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		if ok, g := u.extra("door", 7, now); ok {
			taken = append(taken, s)
			if s == 2 && g != 0 {
				t.Fatalf("group %d before the verdict face was recorded", g)
			}
			if s > 2 && g != 42 {
				t.Fatalf("extra at %d s: group %d, want 42", s, g)
			}
		}
		if s == 2 {
			u.recorded("door", 7, 42)
		}
	}
	if len(taken) != ExtraCrops || taken[0] != 2 || taken[1] != 4 || taken[2] != 6 {
		t.Fatalf("extras at %v s, want %d of them 2 s apart from 2 s", taken, ExtraCrops)
	}
	if ok, _ := u.extra("yard", 7, t0.Add(time.Hour)); ok {
		t.Fatal("another camera's track 7 was taken")
	}
	// Tracks that come and go leave a bounded map.
	for i := 0; i < 10000; i++ {
		u.verdict("door", 100+i, t0.Add(time.Duration(i)*time.Second))
	}
	u.mu.Lock()
	n, m := len(u.m), len(u.seen)
	u.mu.Unlock()
	if n > 200 || m > 200 {
		t.Fatalf("%d tracks remembered after 10,000 (seen %d)", n, m)
	}
}
