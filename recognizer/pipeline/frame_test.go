package pipeline

import (
	"context"
	"encoding/json"
	"image"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Fakes: a "JPEG" is SOI, one byte of scene id, EOI. The codec's thumbnail
// is 8x8 of that byte; the engine finds a face at x = 10*scene when the
// scene id is nonzero, and its descriptor axis is the scene id.

type fakePic struct{ scene byte }

func (p *fakePic) Pixels() face.Pixels {
	return face.Pixels{Pix: make([]byte, 640*360*3), Width: 640, Height: 360, BGR: true}
}
func (p *fakePic) Close() {}

type fakeCodec struct {
	mu                        sync.Mutex
	thumbs, decodes, annotate int
	// local: a scene change changes the thumbnail's first row only (a
	// person moving), not all of it (a cut).
	local bool
}

func scene(j []byte) byte { return j[len(j)-3] }

func (c *fakeCodec) Thumb(j []byte) (Grey, error) {
	c.mu.Lock()
	c.thumbs++
	c.mu.Unlock()
	g := Grey{Pix: make([]byte, 64), Width: 8, Height: 8}
	for i := range g.Pix {
		if !c.local || i < g.Width {
			g.Pix[i] = scene(j) * 40
		}
	}
	return g, nil
}
func (c *fakeCodec) Decode(j []byte) (Picture, error) {
	c.mu.Lock()
	c.decodes++
	c.mu.Unlock()
	return &fakePic{scene(j)}, nil
}
func (c *fakeCodec) Annotate(p Picture, fs []msg.Face, max int) ([]byte, error) {
	c.mu.Lock()
	c.annotate++
	c.mu.Unlock()
	return []byte{0xFF, 0xD8, 'A', 0xFF, 0xD9}, nil
}

type fakeEngine struct {
	mu                 sync.Mutex
	scene              byte // set by the test before each frame
	detects, described int
	batches            int
}

func (e *fakeEngine) Recognize([]byte, face.Detector) ([]face.Face, error) { return nil, nil }
func (e *fakeEngine) Close() error                                         { return nil }
func (e *fakeEngine) Detect(px face.Pixels, _ face.Detector, _ int) ([]image.Rectangle, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.detects++
	if e.scene == 0 {
		return nil, nil
	}
	x := 10 * int(e.scene)
	return []image.Rectangle{image.Rect(x, 100, x+90, 190)}, nil
}
func (e *fakeEngine) Describe(px face.Pixels, boxes []image.Rectangle) ([]face.Face, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.batches++
	out := make([]face.Face, len(boxes))
	for i, b := range boxes {
		e.described++
		out[i].Box = b
		out[i].Descriptor[0] = 1 // everyone is alice
	}
	return out, nil
}

type fakePub struct {
	mu  sync.Mutex
	ids []*msg.Identities
	ann [][]byte
	got chan struct{}
}

func (p *fakePub) Publish(t string, _ byte, _ bool, b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if strings.HasSuffix(t, "/identities") {
		var ids msg.Identities
		json.Unmarshal(b, &ids)
		p.ids = append(p.ids, &ids)
		p.got <- struct{}{}
	} else {
		p.ann = append(p.ann, b)
	}
	return nil
}

func TestDecodeOnceGateTrackBudget(t *testing.T) {
	eng := &fakeEngine{}
	pool, err := face.NewPool(1, func() (face.Engine, error) { return eng, nil })
	if err != nil {
		t.Fatal(err)
	}
	codec := &fakeCodec{}
	pub := &fakePub{got: make(chan struct{}, 1000)}
	g := gallery.New()
	var d face.Descriptor
	d[0] = 1
	g.Add("alice", gallery.Sample{Descriptor: d, Source: "a.jpg"})
	p := New(Config{Space: topic.Space{}, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Codec: codec,
		Motion: MotionConfig{Threshold: 10, MinFraction: 0.01, FullEvery: time.Hour, DetectEvery: 1}}, pool, pub, nil, nil, nil)
	p.SetGallery(g)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go p.Run(ctx)
	t0 := time.Unix(1000, 0)
	send := func(i int, sc byte) {
		eng.mu.Lock()
		eng.scene = sc
		eng.mu.Unlock()
		submit(ctx, t, p, pub, i, sc, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	// 10 still frames of an empty scene: one detection (the first), then
	// gated; identities still published, the received JPEG forwarded.
	for i := 1; i <= 10; i++ {
		send(i, 0)
	}
	if eng.detects != 1 || codec.decodes != 1 || codec.annotate != 0 {
		t.Fatalf("empty still scene: %d detections, %d decodes, %d annotations; want 1, 1, 0", eng.detects, codec.decodes, codec.annotate)
	}
	if len(pub.ids) != 10 || len(pub.ann) != 10 || pub.ann[9][len(pub.ann[9])-3] != 0 {
		t.Fatalf("published %d identities, %d frames", len(pub.ids), len(pub.ann))
	}
	// A face walks in and moves every frame: detected each frame (scene
	// changes), described every frame until named (3 agreeing attempts)
	// and then only every Every frames.
	for i := 11; i <= 40; i++ {
		send(i, byte(1+i%2))
	}
	var named, firstNamed, firstShown, track int
	var verdicts []string
	for _, ids := range pub.ids[10:] {
		if len(ids.Faces) != 1 {
			t.Fatalf("seq %d: %d faces", ids.Seq, len(ids.Faces))
		}
		f := ids.Faces[0]
		if track == 0 {
			track = f.Track
		} else if f.Track != track {
			t.Fatalf("seq %d: track %d, want %d (box continuity)", ids.Seq, f.Track, track)
		}
		if f.Name == "alice" && firstShown == 0 {
			firstShown = int(ids.Seq)
		}
		if f.Name == "alice" && !f.Tentative {
			named++
			if firstNamed == 0 {
				firstNamed = int(ids.Seq)
			}
		}
		if f.Tentative && (f.Name != "alice" || int(ids.Seq) >= 13) {
			t.Fatalf("seq %d: %q tentative", ids.Seq, f.Name)
		}
		if f.Verdict != "" {
			verdicts = append(verdicts, f.Verdict)
		}
	}
	// Shown (tentatively) from its first attempt, named on the third.
	if firstShown != 11 || firstNamed != 13 || named != 28 {
		t.Fatalf("first shown at seq %d, named at %d, %d named frames; want 11, 13 and 28", firstShown, firstNamed, named)
	}
	if len(verdicts) != 1 || verdicts[0] != msg.VerdictKnown {
		t.Fatalf("verdicts %v, want one known", verdicts)
	}
	// 3 attempts to name it, then at most NamedBudget (6) in total.
	if eng.described > DefaultTrack.NamedBudget || eng.described < 3 {
		t.Fatalf("%d descriptors for one track over 30 frames", eng.described)
	}
	// In order, one camera.
	for i, ids := range pub.ids {
		if ids.Seq != uint64(i+1) {
			t.Fatalf("identities %d has seq %d", i, ids.Seq)
		}
	}
}

func TestMailboxOneCameraInOrder(t *testing.T) {
	m := NewMailboxes(1)
	m.Put(&Frame{Camera: "a", JPEG: []byte{1}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	f, _ := m.Take(ctx)
	m.Put(&Frame{Camera: "a", JPEG: []byte{2}})
	m.Put(&Frame{Camera: "b", JPEG: []byte{3}})
	// a is busy: b comes next, then a's frame only after Done.
	if g, _ := m.Take(ctx); g.Camera != "b" {
		t.Fatalf("took %s while a was busy", g.Camera)
	}
	if _, err := m.Take(ctx); err == nil {
		t.Fatal("took a second frame of a busy camera")
	}
	m.Done(f.Camera)
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if g, _ := m.Take(ctx2); g == nil || g.JPEG[0] != 2 {
		t.Fatalf("after Done: %v", g)
	}
}

func TestTrackNeverByDescriptorAlone(t *testing.T) {
	tr := NewTracker(DefaultTrack)
	now := time.Unix(1000, 0)
	// Same descriptor, far apart boxes: two tracks.
	ids1 := trackIDs(tr, "cam", now, []face.Face{fc(0, 0)}, []gallery.Match{named("a")})
	ids2 := trackIDs(tr, "cam", now.Add(100*time.Millisecond), []face.Face{fc(500, 0)}, []gallery.Match{named("a")})
	if ids1[0] == ids2[0] {
		t.Fatal("linked by descriptor across the frame")
	}
	// Same box, far descriptor: the track splits.
	ids3 := trackIDs(tr, "cam", now.Add(200*time.Millisecond), []face.Face{fc(502, 7)}, []gallery.Match{named("b")})
	if ids3[0] == ids2[0] {
		t.Fatal("another person inherited the track")
	}
}

func TestUnknownVerdictAfterBudget(t *testing.T) {
	tr := NewTracker(DefaultTrack)
	now := time.Unix(1000, 0)
	var got []int
	for i := 0; i < 20; i++ {
		at := now.Add(time.Duration(i) * 100 * time.Millisecond)
		trs := tr.UpdateTracks("cam", at, []face.Face{fc(100+i, 3)}, []gallery.Match{named(msg.Unknown)})
		if v := tr.Verdict(trs[0], at); v != "" {
			if v != msg.VerdictUnknown {
				t.Fatalf("verdict %q", v)
			}
			got = append(got, i)
		}
	}
	if len(got) != 1 || got[0] != DefaultTrack.Budget-1 {
		t.Fatalf("unknown verdicts at %v, want once at attempt %d", got, DefaultTrack.Budget)
	}
}

func TestChangedRectAndRegion(t *testing.T) {
	c := MotionConfig{Threshold: 10, MinFraction: 0.01}
	ref := Grey{Pix: make([]byte, 80*45), Width: 80, Height: 45}
	g := Grey{Pix: append([]byte(nil), ref.Pix...), Width: 80, Height: 45}
	if _, _, moved := c.changedRect(ref, g); moved {
		t.Fatal("still frame moved")
	}
	for y := 10; y < 20; y++ {
		for x := 30; x < 40; x++ {
			g.Pix[y*80+x] = 200
		}
	}
	r, frac, moved := c.changedRect(ref, g)
	if !moved || r != image.Rect(30, 10, 40, 20) {
		t.Fatalf("changed %v %v", r, moved)
	}
	if frac != 100.0/(80*45) {
		t.Fatalf("changed fraction %v, want 100 of %d pixels", frac, 80*45)
	}
	if _, f, _ := c.changedRect(Grey{}, g); f != 1 {
		t.Fatalf("changed fraction without a reference %v, want 1", f)
	}
	frame := image.Rect(0, 0, 640, 360)
	reg := detectRegion(frame, g, r, nil, regionMargin)
	if !reg.In(frame) || !image.Rect(240, 80, 320, 160).In(reg) || reg.Dx() > 80+2*regionMargin {
		t.Fatalf("region %v", reg)
	}
	px := face.Pixels{Pix: make([]byte, 640*360*3), Width: 640, Height: 360}
	sub := px.Sub(reg)
	if sub.Check() != nil || sub.Width != reg.Dx() || sub.Stride != 640*3 {
		t.Fatalf("sub %+v", sub)
	}
}

// A motionless stranger: detected and described once, then followed on
// gated frames; the unknown verdict (after UnknownAfter) falls on a frame
// without a descriptor of its own, and the result handed to history still
// carries one (the track's mean) — a still face once made history refuse
// the record ("descriptor missing") and no unknown group appeared.
func TestUnknownVerdictOnFollowedFrameCarriesDescriptor(t *testing.T) {
	eng := &fakeEngine{scene: 3}
	pool, err := face.NewPool(1, func() (face.Engine, error) { return eng, nil })
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePub{got: make(chan struct{}, 100)}
	tc := DefaultTrack
	tc.UnknownAfter = 500 * time.Millisecond
	p := New(Config{Space: topic.Space{}, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Codec: &fakeCodec{}, Track: tc,
		Motion: MotionConfig{Threshold: 10, MinFraction: 0.01, FullEvery: time.Hour, DetectEvery: 100}}, pool, pub, nil, nil, nil)
	var mu sync.Mutex
	var verdict *Result
	p.OnResult(func(r *Result) {
		mu.Lock()
		defer mu.Unlock()
		if len(r.Identities.Faces) == 1 && r.Identities.Faces[0].Verdict == msg.VerdictUnknown {
			verdict = r
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go p.Run(ctx)
	t0 := time.Unix(1000, 0)
	for i := 1; i <= 10; i++ {
		j, _ := msg.EmbedMeta([]byte{0xFF, 0xD8, 3, 0xFF, 0xD9}, msg.FrameMeta{Camera: "c", Seq: uint64(i), Captured: t0.Add(time.Duration(i) * 100 * time.Millisecond)})
		p.HandleFrame("cam/c/frames", j)
		select {
		case <-pub.got:
		case <-ctx.Done():
			t.Fatalf("frame %d: no identities", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if eng.described != 1 {
		t.Fatalf("%d descriptors for a motionless face, want 1 (then followed)", eng.described)
	}
	if verdict == nil {
		t.Fatal("no unknown verdict within 1 s of a stranger in view (UnknownAfter 500 ms)")
	}
	if verdict.Faces[0].Descriptor[0] != 1 {
		t.Fatalf("the unknown verdict's face has no descriptor (%v...)", verdict.Faces[0].Descriptor[:3])
	}
}
