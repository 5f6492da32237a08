package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestMailboxKeepsNewestPerCamera(t *testing.T) {
	m := NewMailboxes(1)
	for i := 0; i < 5; i++ {
		m.Put(&Frame{Camera: "a", JPEG: []byte{byte(i)}})
	}
	m.Put(&Frame{Camera: "b", JPEG: []byte{9}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f1, _ := m.Take(ctx)
	f2, _ := m.Take(ctx)
	if f1.Camera != "a" || f1.JPEG[0] != 4 || f2.Camera != "b" {
		t.Fatalf("got %v %v", f1, f2)
	}
	if m.Dropped() != 4 {
		t.Fatalf("dropped = %d", m.Dropped())
	}
	if _, err := m.Take(ctx); err == nil {
		t.Fatal("Take on empty mailboxes returned a frame")
	}
}

func TestMailboxPutNeverBlocksAndWakesWorkers(t *testing.T) {
	m := NewMailboxes(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got sync.Map
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f, err := m.Take(ctx)
				if err != nil {
					return
				}
				got.Store(f.Camera, true)
			}
		}()
	}
	start := time.Now()
	for i := 0; i < 10000; i++ {
		m.Put(&Frame{Camera: string(rune('a' + i%3))})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("10000 puts took %v", d)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		got.Range(func(_, _ any) bool { n++; return true })
		if n == 3 {
			cancel()
			wg.Wait()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("not every camera was served")
}

// With depth 2 a camera keeps its two newest frames, handed out oldest
// first and one at a time (the camera is busy until Done), while other
// cameras take turns.
func TestMailboxDepthKeepsNewestInOrder(t *testing.T) {
	m := NewMailboxes(2)
	for i := 0; i < 5; i++ {
		m.Put(&Frame{Camera: "a", JPEG: []byte{byte(i)}})
	}
	m.Put(&Frame{Camera: "b", JPEG: []byte{9}})
	if m.Dropped() != 3 {
		t.Fatalf("dropped = %d, want 3", m.Dropped())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f1, _ := m.Take(ctx)
	f2, _ := m.Take(ctx)
	if f1.Camera != "a" || f1.JPEG[0] != 3 || f2.Camera != "b" {
		t.Fatalf("got %v %v", f1, f2)
	}
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	if f, err := m.Take(short); err == nil {
		t.Fatalf("a's next frame handed out while a is busy: %v", f)
	}
	stop()
	m.Done("a")
	if f, _ := m.Take(ctx); f == nil || f.Camera != "a" || f.JPEG[0] != 4 {
		t.Fatalf("after Done: %v", f)
	}
	m.Done("a")
	m.Put(&Frame{Camera: "a", JPEG: []byte{5}})
	m.Put(&Frame{Camera: "a", JPEG: []byte{6}})
	if n := m.Evict("a", func() {}); n != 2 || m.Dropped() != 5 {
		t.Fatalf("Evict dropped %d (%d in all), want 2 (5)", n, m.Dropped())
	}
	if NewMailboxes(0).depth != 1 {
		t.Fatal("depth 0 is not 1")
	}
}
