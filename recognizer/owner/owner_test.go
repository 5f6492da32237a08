package owner

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func cams(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("cam%d", i)
	}
	return out
}

func TestOwnerIsDeterministicAndOrderFree(t *testing.T) {
	a := []string{"r1", "r2", "r3"}
	b := []string{"r3", "r1", "r2"}
	for _, c := range cams(200) {
		if Owner(c, a) != Owner(c, b) {
			t.Fatalf("%s: owner depends on member order: %s vs %s", c, Owner(c, a), Owner(c, b))
		}
	}
	if Owner("cam1", nil) != "" {
		t.Fatal("no members must give no owner")
	}
	if got := Owner("cam1", []string{"solo"}); got != "solo" {
		t.Fatalf("one member owns everything, got %q", got)
	}
}

func TestOwnerSpreadsCameras(t *testing.T) {
	members := []string{"r1", "r2", "r3"}
	n := 3000
	count := map[string]int{}
	for _, c := range cams(n) {
		count[Owner(c, members)]++
	}
	want := float64(n) / float64(len(members))
	for _, m := range members {
		if d := math.Abs(float64(count[m])-want) / want; d > 0.1 {
			t.Errorf("%s owns %d of %d cameras (%.0f%% off an even share)", m, count[m], n, 100*d)
		}
	}
	// Six cameras over three recognizers, as the scale-out e2e runs: every
	// recognizer should have work (checked here so the e2e's layout is known).
	t.Logf("3000 cameras over 3: %v", count)
}

// A member leaving moves only its own cameras; one joining takes cameras
// only for itself.
func TestOwnerMovesOnlyWhatItMust(t *testing.T) {
	before := []string{"r1", "r2", "r3"}
	after := []string{"r1", "r3"}
	joined := []string{"r1", "r2", "r3", "r4"}
	moved, took := 0, 0
	for _, c := range cams(2000) {
		o1, o2 := Owner(c, before), Owner(c, after)
		if o1 != "r2" && o1 != o2 {
			t.Fatalf("%s moved from %s to %s although %s stayed", c, o1, o2, o1)
		}
		if o1 == "r2" {
			moved++
		}
		if o3 := Owner(c, joined); o3 != o1 {
			if o3 != "r4" {
				t.Fatalf("%s moved from %s to %s when r4 joined", c, o1, o3)
			}
			took++
		}
	}
	if moved == 0 || took == 0 {
		t.Fatalf("moved %d, taken by the new member %d: want both > 0", moved, took)
	}
}

func TestSetMembership(t *testing.T) {
	s := NewSet("r1")
	if !s.Owns("cam1") {
		t.Fatal("alone, a recognizer owns every camera")
	}
	if s.Set("r1", false) {
		t.Fatal("a stale offline of self must not remove it")
	}
	if !s.Set("r2", true) || s.Set("r2", true) {
		t.Fatal("r2 online: changed once, then no change")
	}
	if got := s.Members(); fmt.Sprint(got) != "[r1 r2]" {
		t.Fatalf("members %v", got)
	}
	owned := 0
	for _, c := range cams(100) {
		if s.Owns(c) {
			owned++
		}
		if s.Owner(c) != Owner(c, []string{"r1", "r2"}) {
			t.Fatal("Set.Owner differs from Owner")
		}
	}
	if owned == 0 || owned == 100 {
		t.Fatalf("with two members r1 owns %d of 100", owned)
	}
	if !s.Set("r2", false) || !s.Owns("cam7") {
		t.Fatal("r2 offline: r1 owns everything again")
	}
	for i := 0; i < MaxMembers+10; i++ {
		s.Set(fmt.Sprintf("x%d", i), true)
	}
	if n := len(s.Members()); n > MaxMembers {
		t.Fatalf("membership grew to %d, bound %d", n, MaxMembers)
	}
}

func TestSetExpiresSilentMembers(t *testing.T) {
	s := NewSet("r1")
	s.Set("r2", true)
	s.Set("r3", true)
	if gone := s.Expire(time.Now().Add(-time.Minute)); len(gone) != 0 {
		t.Fatalf("fresh members expired: %v", gone)
	}
	time.Sleep(10 * time.Millisecond)
	cut := time.Now()
	s.Set("r3", true) // r3's heartbeat
	if gone := s.Expire(cut); fmt.Sprint(gone) != "[r2]" {
		t.Fatalf("expired %v, want [r2]", gone)
	}
	if got := fmt.Sprint(s.Members()); got != "[r1 r3]" {
		t.Fatalf("members %v", got)
	}
}
