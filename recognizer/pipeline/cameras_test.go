package pipeline

import (
	"fmt"
	"github.com/facemon/facemon/shared/topic"
	"testing"
	"time"
)

func TestCamerasBound(t *testing.T) {
	c := newCameras(3, time.Minute)
	t0 := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if ok, ev := c.admit(fmt.Sprintf("c%d", i), t0); !ok || ev != "" {
			t.Fatalf("camera %d refused (%v, %q)", i, ok, ev)
		}
	}
	// At the limit, with every camera active: refused, nothing evicted.
	if ok, _ := c.admit("fake", t0.Add(30*time.Second)); ok {
		t.Fatal("a fourth camera admitted while three are active")
	}
	// Known cameras keep being admitted.
	if ok, _ := c.admit("c1", t0.Add(90*time.Second)); !ok {
		t.Fatal("known camera refused")
	}
	// c0 and c2 have now been idle 90 s: the oldest gives its slot.
	ok, ev := c.admit("new", t0.Add(90*time.Second))
	if !ok || (ev != "c0" && ev != "c2") {
		t.Fatalf("admit new = %v, evicted %q", ok, ev)
	}
	if n := c.count(); n != 3 {
		t.Fatalf("%d cameras known, want 3", n)
	}
	// 10,000 ids at once: never more than the bound.
	for i := 0; i < 10000; i++ {
		c.admit(fmt.Sprintf("x%d", i), t0.Add(91*time.Second))
	}
	if n := c.count(); n != 3 {
		t.Fatalf("%d cameras known after a flood, want 3", n)
	}
	if ok, _ := c.admit("c1", t0.Add(92*time.Second)); !ok {
		t.Fatal("the active camera lost its slot to the flood")
	}
}

// 10,000 camera ids on cam/+/frames, one small JPEG each: at most
// MaxCameras of them get a mailbox and state; the rest are refused and
// counted, and a camera that keeps sending is never among them.
func TestHandleFrameBoundsCameras(t *testing.T) {
	p := New(Config{Space: topic.Space{}, MaxCameras: 8}, nil, nil, nil, nil, nil)
	jpeg := []byte{0xFF, 0xD8, 0x01, 0xFF, 0xD9}
	p.HandleFrame("cam/real/frames", jpeg)
	for i := 0; i < 10000; i++ {
		p.HandleFrame(fmt.Sprintf("cam/fake%05d/frames", i), jpeg)
		if i%1000 == 0 {
			p.HandleFrame("cam/real/frames", jpeg)
		}
	}
	if n := p.Cameras(); n != 8 {
		t.Fatalf("%d cameras with state, want the bound 8", n)
	}
	p.mb.mu.Lock()
	slots := len(p.mb.slots)
	_, real := p.mb.slots["real"]
	p.mb.mu.Unlock()
	if slots > 8 || !real {
		t.Fatalf("%d mailbox slots (real camera's: %v)", slots, real)
	}
}
