package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// blockCodec is fakeCodec whose Decode of a scene-9 frame waits for
// release (a frame that waits long for an engine, as during training).
type blockCodec struct {
	fakeCodec
	entered chan struct{}
	release chan struct{}
}

func (c *blockCodec) Decode(j []byte) (Picture, error) {
	if scene(j) == 9 {
		c.entered <- struct{}{}
		<-c.release
	}
	return c.fakeCodec.Decode(j)
}

func camFrame(cam string, seq int, sc byte) []byte {
	j, _ := msg.EmbedMeta([]byte{0xFF, 0xD8, sc, 0xFF, 0xD9}, msg.FrameMeta{Camera: cam, Seq: uint64(seq), Captured: time.Now()})
	return j
}

// A camera evicted at the --max-cameras bound while a worker is inside
// processFrame for it: its state is freed only after that frame is
// published (the old forget closed the output channel at once, and the
// frame's send on it panicked), the OnCameraGone hooks run after its last
// result, and no tracks or output stage of it are left.
func TestEvictWaitsForFrameInProcessing(t *testing.T) {
	pool, err := face.NewPool(1, func() (face.Engine, error) { return &fakeEngine{scene: 1}, nil })
	if err != nil {
		t.Fatal(err)
	}
	codec := &blockCodec{entered: make(chan struct{}, 1), release: make(chan struct{})}
	pub := &fakePub{got: make(chan struct{}, 100)}
	p := New(Config{Space: topic.Space{}, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Codec: codec,
		MaxCameras: 1, CameraIdle: time.Millisecond}, pool, pub, nil, nil, nil)
	var mu sync.Mutex
	var events []string
	p.OnResult(func(r *Result) {
		mu.Lock()
		events = append(events, "result "+r.Frame.Camera)
		mu.Unlock()
	})
	p.OnCameraGone(func(cam string) {
		mu.Lock()
		events = append(events, "gone "+cam)
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	var release sync.Once
	defer func() { release.Do(func() { close(codec.release) }); cancel(); <-done }()

	p.HandleFrame("cam/a/frames", camFrame("a", 1, 9))
	select {
	case <-codec.entered:
	case <-ctx.Done():
		t.Fatal("camera a's frame never reached the engine stage")
	}
	time.Sleep(5 * time.Millisecond) // a is now idle for longer than CameraIdle
	p.HandleFrame("cam/b/frames", camFrame("b", 1, 1))
	if p.reg.count() != 1 {
		t.Fatalf("%d cameras registered, want 1 (b took a's slot)", p.reg.count())
	}
	mu.Lock()
	early := slices.Contains(events, "gone a")
	mu.Unlock()
	release.Do(func() { close(codec.release) }) // the old forget had closed a's output channel: this send panicked
	if early {
		t.Fatal("camera a reported gone while its frame was being processed")
	}
	for i := 0; i < 2; i++ {
		select {
		case <-pub.got:
		case <-ctx.Done():
			t.Fatalf("%d identities published, want a's and b's", i)
		}
	}
	for ctx.Err() == nil {
		mu.Lock()
		gone := slices.Index(events, "gone a")
		res := slices.Index(events, "result a")
		mu.Unlock()
		if gone >= 0 {
			if res < 0 || res > gone {
				t.Fatalf("events %v: a gone before its last result", events)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.camMu.Lock()
	_, aState := p.cams["a"]
	p.camMu.Unlock()
	p.trk.mu.Lock()
	_, aTracks := p.trk.tracks["a"]
	p.trk.mu.Unlock()
	if aState || aTracks {
		t.Fatalf("evicted camera a kept state (output stage %v, tracks %v)", aState, aTracks)
	}
}

// Many cameras over a bound of 2 with an idle time of 1 ns (every new
// camera evicts the oldest) from concurrent handlers, two workers: no
// panic, and once idle, only registered cameras have tracks or an output
// stage, at most the bound.
func TestEvictUnderConcurrentFrames(t *testing.T) {
	pool, err := face.NewPool(2, func() (face.Engine, error) { return &fakeEngine{scene: 1}, nil })
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePub{got: make(chan struct{}, 1<<20)}
	p := New(Config{Space: topic.Space{}, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Codec: &fakeCodec{},
		MaxCameras: 2, CameraIdle: time.Nanosecond}, pool, pub, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var gone atomic.Int64
	p.OnCameraGone(func(string) { gone.Add(1) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				cam := fmt.Sprintf("c%d", (g*7+i)%10)
				p.HandleFrame("cam/"+cam+"/frames", camFrame(cam, i, byte(1+i%3)))
				if i%50 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	for { // until the workers are idle
		p.mb.mu.Lock()
		idle := len(p.mb.busy) == 0 && len(p.mb.slots) == 0
		p.mb.mu.Unlock()
		if idle {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("workers never became idle")
		}
		time.Sleep(time.Millisecond)
	}
	p.reg.mu.Lock()
	registered := make(map[string]bool)
	for cam := range p.reg.last {
		registered[cam] = true
	}
	p.reg.mu.Unlock()
	p.camMu.Lock()
	var states []string
	for cam := range p.cams {
		states = append(states, cam)
	}
	p.camMu.Unlock()
	p.trk.mu.Lock()
	var tracked []string
	for cam := range p.trk.tracks {
		tracked = append(tracked, cam)
	}
	p.trk.mu.Unlock()
	for _, cam := range append(states, tracked...) {
		if !registered[cam] {
			t.Errorf("camera %s has state (output stages %v, tracks %v) but is not registered (%v)", cam, states, tracked, registered)
		}
	}
	if len(states) > 2 || len(registered) > 2 {
		t.Fatalf("%d cameras with an output stage, %d registered; bound 2", len(states), len(registered))
	}
	if p.processed.Load() == 0 || gone.Load() == 0 {
		t.Fatalf("%d frames processed, %d cameras gone: the test evicted nothing", p.processed.Load(), gone.Load())
	}
	t.Logf("%d frames processed, %d dropped, %d cameras gone", p.processed.Load(), p.mb.Dropped(), gone.Load())
}

// Evict of a camera not being processed frees at once and drops its
// waiting frame; of a busy one, frees in Done before the camera's next
// frame (Put after Evict) can be taken.
func TestMailboxEvict(t *testing.T) {
	m := NewMailboxes(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	m.Put(&Frame{Camera: "a"})
	freed := 0
	if m.Evict("a", func() { freed++ }) != 1 || freed != 1 {
		t.Fatalf("idle camera: dropped frame not reported or not freed at once (freed %d)", freed)
	}
	m.Put(&Frame{Camera: "b", JPEG: []byte{1}})
	f, err := m.Take(ctx)
	if err != nil || f.Camera != "b" {
		t.Fatalf("Take = %v, %v; want b's frame (a's was dropped)", f, err)
	}
	if m.Evict("b", func() { freed++ }) != 0 || freed != 1 {
		t.Fatal("busy camera freed while its frame is being processed")
	}
	m.Put(&Frame{Camera: "b", JPEG: []byte{2}}) // b admitted again
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	if _, err := m.Take(short); err == nil {
		t.Fatal("a busy camera's next frame was handed out")
	}
	cancelShort()
	var order []string
	m.Evict("b", func() { order = append(order, "freed") }) // once more while busy: dropped the new frame
	m.Put(&Frame{Camera: "b", JPEG: []byte{3}})
	m.Done("b")
	order = append(order, "done")
	if freed != 2 || !slices.Equal(order, []string{"freed", "done"}) {
		t.Fatalf("freed %d, order %v", freed, order)
	}
	f, err = m.Take(ctx)
	if err != nil || f.JPEG[0] != 3 {
		t.Fatalf("after Done: %v, %v; want b's newest frame", f, err)
	}
	if m.Dropped() != 2 {
		t.Fatalf("dropped = %d, want 2", m.Dropped())
	}
}
