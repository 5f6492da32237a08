package pipeline

import (
	"context"
	"image"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// cropEngine finds the faces of its scene (absolute boxes) that lie inside
// the part of the 640x360 frame it is given (fakePic's buffer; the part's
// origin is recovered from the slice offset).
type cropEngine struct {
	mu       sync.Mutex
	faces    []image.Rectangle
	axes     []int
	detectPx []int
}

func (e *cropEngine) Recognize([]byte, face.Detector) ([]face.Face, error) { return nil, nil }
func (e *cropEngine) Close() error                                         { return nil }
func (e *cropEngine) Detect(px face.Pixels, _ face.Detector, _ int) ([]image.Rectangle, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	off := 640*360*3 - cap(px.Pix)
	o := image.Pt((off%(640*3))/3, off/(640*3))
	r := image.Rect(0, 0, px.Width, px.Height).Add(o)
	e.detectPx = append(e.detectPx, px.Width*px.Height)
	var out []image.Rectangle
	for _, f := range e.faces {
		if f.In(r) {
			out = append(out, f.Sub(o))
		}
	}
	return out, nil
}
func (e *cropEngine) Describe(px face.Pixels, boxes []image.Rectangle) ([]face.Face, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]face.Face, len(boxes))
	for i, b := range boxes {
		out[i].Box = b
		for j, f := range e.faces {
			if f == b {
				out[i].Descriptor[e.axes[j]] = 1
			}
		}
	}
	return out, nil
}

// startCropPipeline runs a pipeline on a cropEngine with alice (axis 0)
// in the gallery; send(i) submits frame i (100 ms apart, every frame
// moves) and waits for its identities.
func startCropPipeline(t *testing.T) (*cropEngine, *fakePub, func(i int)) {
	t.Helper()
	eng := &cropEngine{}
	pool, err := face.NewPool(1, func() (face.Engine, error) { return eng, nil })
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePub{got: make(chan struct{}, 1000)}
	g := gallery.New()
	var d face.Descriptor
	d[0] = 1
	g.Add("alice", gallery.Sample{Descriptor: d, Source: "a.jpg"})
	p := New(Config{Space: topic.Space{}, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Codec: &fakeCodec{},
		Motion: MotionConfig{Threshold: 10, MinFraction: 0.01, FullEvery: time.Hour, DetectEvery: 5, IdleDetectEvery: 1, CropFullEvery: 10}}, pool, pub, nil, nil, nil)
	p.SetGallery(g)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	go p.Run(ctx)
	t0 := time.Unix(1000, 0)
	send := func(i int) {
		t.Helper()
		submit(ctx, t, p, pub, i, byte(1+i%2), t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	return eng, pub, send
}

// submit hands the pipeline frame seq of camera "c" (a fake JPEG whose
// scene byte the fake codec reads), captured at, and waits for its
// identities.
func submit(ctx context.Context, t *testing.T, p *Pipeline, pub *fakePub, seq int, scene byte, at time.Time) {
	t.Helper()
	j, _ := msg.EmbedMeta([]byte{0xFF, 0xD8, scene, 0xFF, 0xD9}, msg.FrameMeta{Camera: "c", Seq: uint64(seq), Captured: at})
	p.HandleFrame("cam/c/frames", j)
	select {
	case <-pub.got:
	case <-ctx.Done():
		t.Fatalf("frame %d: no identities", seq)
	}
}

// While a face is tracked, detection looks around it only, and a face
// that enters elsewhere is still found within a second.
func TestTrackCropsFindNewFaceWithinASecond(t *testing.T) {
	eng, pub, send := startCropPipeline(t)
	const enter = 20
	for i := 1; i <= 40; i++ {
		eng.mu.Lock()
		x := 100 + 2*i
		eng.faces, eng.axes = []image.Rectangle{image.Rect(x, 100, x+90, 190)}, []int{0}
		if i >= enter {
			eng.faces, eng.axes = append(eng.faces, image.Rect(450, 150, 540, 240)), append(eng.axes, 1)
		}
		eng.mu.Unlock()
		send(i)
	}
	found := 0
	for _, ids := range pub.ids {
		if int(ids.Seq) >= enter && len(ids.Faces) == 2 {
			found = int(ids.Seq)
			break
		}
	}
	if found == 0 || found-enter > 10 {
		t.Fatalf("second face entering at frame %d found at frame %d; want within 10 frames (1 s)", enter, found)
	}
	crops := 0
	for _, n := range eng.detectPx {
		if n < 640*360/2 {
			crops++
		}
	}
	if crops == 0 {
		t.Fatalf("no detection on a track crop: %v", eng.detectPx)
	}
	// The first face stays one track, named alice.
	last := pub.ids[len(pub.ids)-1]
	if len(last.Faces) != 2 || last.Faces[0].Name != "alice" || last.Faces[0].Track != pub.ids[enter-2].Faces[0].Track {
		t.Fatalf("last identities %+v", last.Faces)
	}
	t.Logf("second face found %d frames after it entered; %d of %d detections on crops", found-enter, crops, len(eng.detectPx))
}

// An unknown face wants an attempt on every frame, but once a detection
// misses it (it left, or turned away) its track coasts: detection goes back
// to every DetectEvery-th frame until the track ends, instead of running
// on every frame for the track's MaxGap.
func TestMissedUnknownTrackDoesNotHoldDetectionOnEveryFrame(t *testing.T) {
	eng, _, send := startCropPipeline(t)
	detections := func() int { eng.mu.Lock(); defer eng.mu.Unlock(); return len(eng.detectPx) }
	var atMiss int
	for i := 1; i <= 15; i++ {
		eng.mu.Lock()
		eng.faces, eng.axes = nil, nil
		if i <= 3 { // a stranger (not alice) for three frames
			eng.faces, eng.axes = []image.Rectangle{image.Rect(200, 100, 290, 190)}, []int{5}
		}
		eng.mu.Unlock()
		if i == 5 {
			atMiss = detections() // frame 4's detection missed the face
		}
		send(i)
	}
	if atMiss != 4 {
		t.Fatalf("%d detections in frames 1-4, want one per frame while the stranger is found", atMiss)
	}
	// Frames 5-15: 11 frames; the track lives on (MaxGap 2 s) but is
	// looked for on every 5th frame only.
	if n := detections() - atMiss; n > 3 {
		t.Fatalf("%d detections in frames 5-15 after the face was missed, want at most 3 (every 5th frame)", n)
	}
}
