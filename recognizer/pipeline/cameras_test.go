package pipeline

import (
	"fmt"
	"github.com/facemon/facemon/shared/topic"
	"testing"
	"time"
)

func TestCamerasBound(t *testing.T) {
	c := newCameras(3, time.Minute, CameraPolicy{})
	t0 := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if ok, ev, _ := c.admit(fmt.Sprintf("c%d", i), t0); !ok || ev != "" {
			t.Fatalf("camera %d refused (%v, %q)", i, ok, ev)
		}
	}
	// At the limit, with every camera active: refused, nothing evicted.
	if ok, _, why := c.admit("fake", t0.Add(30*time.Second)); ok || why != refusedBound {
		t.Fatal("a fourth camera admitted while three are active")
	}
	// Known cameras keep being admitted.
	if ok, _, _ := c.admit("c1", t0.Add(90*time.Second)); !ok {
		t.Fatal("known camera refused")
	}
	// c0 and c2 have now been idle 90 s: the oldest gives its slot.
	ok, ev, _ := c.admit("new", t0.Add(90*time.Second))
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
	if ok, _, _ := c.admit("c1", t0.Add(92*time.Second)); !ok {
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

// The registry: with Auto, only cameras whose edge announced itself
// online get state; offline or an empty retained status unregisters; a
// configured id needs no status; a flood of online statuses is bounded.
func TestCameraRegistry(t *testing.T) {
	pol, err := ParseCameraPolicy("auto,door")
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Space: topic.Space{}, MaxCameras: 4, Cameras: pol}, nil, nil, nil, nil, nil)
	jpeg := []byte{0xFF, 0xD8, 0x01, 0xFF, 0xD9}
	p.HandleFrame("cam/garden/frames", jpeg)
	if n := p.Cameras(); n != 0 {
		t.Fatalf("unregistered camera got state (%d cameras)", n)
	}
	p.HandleFrame("cam/door/frames", jpeg) // configured
	p.HandleEdgeStatus("facemon/status/edge/garden", []byte("online"))
	p.HandleFrame("cam/garden/frames", jpeg)
	if n := p.Cameras(); n != 2 {
		t.Fatalf("%d cameras with state, want door and garden", n)
	}
	// A recognizer's status, a malformed topic: ignored.
	p.HandleEdgeStatus("facemon/status/recognizer/yard", []byte("online"))
	p.HandleEdgeStatus("facemon/status/edge/", []byte("online"))
	p.HandleFrame("cam/yard/frames", jpeg)
	// Offline, and an empty retained message: no new state.
	p.HandleEdgeStatus("facemon/status/edge/shed", []byte("online"))
	p.HandleEdgeStatus("facemon/status/edge/shed", []byte("offline"))
	p.HandleEdgeStatus("facemon/status/edge/attic", []byte("online"))
	p.HandleEdgeStatus("facemon/status/edge/attic", nil)
	p.HandleFrame("cam/shed/frames", jpeg)
	p.HandleFrame("cam/attic/frames", jpeg)
	if n := p.Cameras(); n != 2 {
		t.Fatalf("%d cameras with state after offline/empty statuses, want 2", n)
	}
	// 10,000 online statuses: the registry holds at most its bound.
	for i := 0; i < 10000; i++ {
		p.HandleEdgeStatus(fmt.Sprintf("facemon/status/edge/x%05d", i), []byte("online"))
	}
	p.reg.mu.Lock()
	online := len(p.reg.online)
	p.reg.mu.Unlock()
	if online > p.reg.maxOnline || p.reg.maxOnline > 1000 {
		t.Fatalf("%d edges registered (bound %d)", online, p.reg.maxOnline)
	}
	for i := 0; i < 100; i++ {
		p.HandleFrame(fmt.Sprintf("cam/x%05d/frames", i), jpeg)
	}
	if n := p.Cameras(); n != 4 {
		t.Fatalf("%d cameras with state, want the bound 4", n)
	}
}

func TestParseCameraPolicy(t *testing.T) {
	for in, want := range map[string]string{"auto": "auto", "any": "any", "a,b,a": "a,b", " auto , cam1": "auto,cam1"} {
		p, err := ParseCameraPolicy(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseCameraPolicy(%q) = %q, %v; want %q", in, p.String(), err, want)
		}
	}
	for _, bad := range []string{"", "any,auto", "cam/1", "a,,b", "any,cam1"} {
		if _, err := ParseCameraPolicy(bad); err == nil {
			t.Errorf("ParseCameraPolicy(%q): no error", bad)
		}
	}
}
