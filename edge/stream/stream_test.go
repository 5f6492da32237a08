package stream

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/msg"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// tinyJPEG is a structurally valid JPEG (SOI ... EOI); the hub never decodes.
var tinyJPEG = []byte{0xFF, 0xD8, 0xFF, 0xD9}

func frameAt(t *testing.T, seq uint64, captured time.Time) []byte {
	t.Helper()
	b, err := msg.EmbedMeta(tinyJPEG, msg.FrameMeta{Camera: "c1", Seq: seq, Captured: captured})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func take(t *testing.T, s *Sub) *Frame {
	t.Helper()
	select {
	case f := <-s.C():
		return f
	default:
		t.Fatal("mailbox empty")
		return nil
	}
}

func empty(t *testing.T, s *Sub) {
	t.Helper()
	select {
	case f := <-s.C():
		t.Fatalf("mailbox holds %s frame seq %d, want empty", f.Mode, f.Seq)
	default:
	}
}

func TestSwitchRawToAnnotatedAndBack(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	h := New(Options{Freshness: time.Second, Now: clk.Now})
	s := h.Subscribe("c1")
	defer s.Close()
	empty(t, s)
	if m := h.Mode("c1"); m != ModeNone {
		t.Fatalf("mode before frames = %q", m)
	}

	// Raw only: raw frames flow.
	h.PutRaw("c1", frameAt(t, 1, clk.Now()))
	if f := take(t, s); f.Mode != ModeRaw || f.Seq != 1 || !f.HasMeta {
		t.Fatalf("got %+v", f)
	}
	if m := h.Mode("c1"); m != ModeRaw {
		t.Fatalf("mode = %q, want raw", m)
	}

	// A fresh annotated frame takes over; raw frames are then held back.
	clk.Add(100 * time.Millisecond)
	h.PutAnnotated("c1", frameAt(t, 1, clk.Now().Add(-50*time.Millisecond)))
	if f := take(t, s); f.Mode != ModeAnnotated || f.Seq != 1 {
		t.Fatalf("got %+v", f)
	}
	clk.Add(100 * time.Millisecond)
	h.PutRaw("c1", frameAt(t, 2, clk.Now()))
	empty(t, s)
	if m := h.Mode("c1"); m != ModeAnnotated {
		t.Fatalf("mode = %q, want annotated", m)
	}
	if f, _ := h.LatestRaw("c1"); f.Seq != 2 {
		t.Fatalf("LatestRaw seq = %d", f.Seq)
	}

	// The recognizer stops: once the annotated frame is older than the
	// window, raw frames flow again.
	clk.Add(950 * time.Millisecond)
	if m := h.Mode("c1"); m != ModeRaw {
		t.Fatalf("mode after window = %q, want raw", m)
	}
	h.PutRaw("c1", frameAt(t, 3, clk.Now()))
	if f := take(t, s); f.Mode != ModeRaw || f.Seq != 3 {
		t.Fatalf("got %+v", f)
	}

	// A stale annotated frame (recognizer far behind) does not take over.
	h.PutAnnotated("c1", frameAt(t, 2, clk.Now().Add(-2*time.Second)))
	empty(t, s)
	if m := h.Mode("c1"); m != ModeRaw {
		t.Fatalf("mode = %q, want raw", m)
	}

	// The recognizer comes back.
	h.PutAnnotated("c1", frameAt(t, 3, clk.Now()))
	if f := take(t, s); f.Mode != ModeAnnotated || f.Seq != 3 {
		t.Fatalf("got %+v", f)
	}
}

func TestAnnotatedWithoutMetaUsesArrival(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	h := New(Options{Freshness: time.Second, Now: clk.Now})
	h.PutRaw("c1", frameAt(t, 1, clk.Now()))
	h.PutAnnotated("c1", tinyJPEG)
	f, ok := h.Current("c1")
	if !ok || f.Mode != ModeAnnotated || f.HasMeta {
		t.Fatalf("got %+v", f)
	}
	clk.Add(1500 * time.Millisecond)
	if m := h.Mode("c1"); m != ModeRaw {
		t.Fatalf("mode = %q, want raw", m)
	}
}

func TestFutureCaptureTimeNotTrusted(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	h := New(Options{Freshness: time.Second, Now: clk.Now})
	h.PutRaw("c1", frameAt(t, 1, clk.Now()))
	h.PutAnnotated("c1", frameAt(t, 1, clk.Now().Add(time.Hour)))
	clk.Add(1500 * time.Millisecond)
	if m := h.Mode("c1"); m != ModeRaw {
		t.Fatalf("mode = %q, want raw (skewed clock must not keep annotated live)", m)
	}
}

func TestSlowConsumerDropsNeverQueues(t *testing.T) {
	h := New(Options{})
	s := h.Subscribe("c1")
	defer s.Close()
	fast := h.Subscribe("c1")
	defer fast.Close()
	for i := uint64(1); i <= 100; i++ {
		h.PutRaw("c1", frameAt(t, i, time.Now()))
		if f := take(t, fast); f.Seq != i {
			t.Fatalf("fast consumer got seq %d, want %d", f.Seq, i)
		}
	}
	if f := take(t, s); f.Seq != 100 {
		t.Fatalf("slow consumer got seq %d, want newest (100)", f.Seq)
	}
	empty(t, s)
	if d := s.Dropped(); d != 99 {
		t.Fatalf("dropped = %d, want 99", d)
	}
}

func TestSubscribeGetsCurrentAndClose(t *testing.T) {
	h := New(Options{})
	h.PutRaw("c1", frameAt(t, 7, time.Now()))
	s := h.Subscribe("c1")
	if f := take(t, s); f.Seq != 7 {
		t.Fatalf("seq = %d", f.Seq)
	}
	s.Close()
	s.Close()
	h.PutRaw("c1", frameAt(t, 8, time.Now()))
	empty(t, s)
	other := h.Subscribe("c2")
	defer other.Close()
	empty(t, other)
	if ids := h.Cameras(); len(ids) != 1 || ids[0] != "c1" {
		t.Fatalf("Cameras = %v", ids)
	}
}

// Concurrent subscribers each get a whole frame of their camera, and closing
// removes them (run under -race by `make test`).
func TestConcurrentPutAndSubscribe(t *testing.T) {
	h := New(Options{})
	var wg sync.WaitGroup
	var bad atomic.Int32
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := h.Subscribe("c1")
				h.PutRaw("c1", tinyJPEG)
				h.PutAnnotated("c1", tinyJPEG)
				select {
				case f := <-s.C():
					if f == nil || f.Camera != "c1" || !bytes.Equal(f.JPEG, tinyJPEG) {
						bad.Add(1)
					}
				case <-time.After(5 * time.Second):
					bad.Add(1) // a subscriber that never gets a frame
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of 800 subscriptions got no frame or a wrong one", bad.Load())
	}
	h.mu.Lock()
	left := len(h.cams["c1"].subs)
	h.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d subscribers left after every one closed", left)
	}
}
