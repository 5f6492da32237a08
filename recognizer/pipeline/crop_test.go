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
// Faces whose index is in tilted are found by the full detector only (as
// a head tilted sideways is by dlib's, not by face.Detector.Fast).
type cropEngine struct {
	mu       sync.Mutex
	faces    []image.Rectangle
	axes     []int
	tilted   map[int]bool
	detectPx []int
	dets     []face.Detector
}

func (e *cropEngine) Recognize([]byte, face.Detector) ([]face.Face, error) { return nil, nil }
func (e *cropEngine) Close() error                                         { return nil }
func (e *cropEngine) Detect(px face.Pixels, det face.Detector, _ int) ([]image.Rectangle, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	off := 640*360*3 - cap(px.Pix)
	o := image.Pt((off%(640*3))/3, off/(640*3))
	r := image.Rect(0, 0, px.Width, px.Height).Add(o)
	e.detectPx = append(e.detectPx, px.Width*px.Height)
	e.dets = append(e.dets, det)
	var out []image.Rectangle
	for i, f := range e.faces {
		if f.In(r) && (det != det.Fast() || !e.tilted[i]) {
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
	return startCropPipelineMotion(t, MotionConfig{Threshold: 10, MinFraction: 0.01, FullEvery: time.Hour, DetectEvery: 5, IdleDetectEvery: 1, CropFullEvery: 10}, true)
}

// startCropPipelineMotion is startCropPipeline with mc; local: frames
// change in part of the view (a person moving), else all of it (a cut).
func startCropPipelineMotion(t *testing.T, mc MotionConfig, local bool) (*cropEngine, *fakePub, func(i int)) {
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
	p := New(Config{Space: topic.Space{}, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Codec: &fakeCodec{local: local},
		Motion: mc}, pool, pub, nil, nil, nil)
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
	// Frame 4's crop missed the face the last detection found, so the
	// same frame was looked at again around it, twice as far (the face
	// might have moved out of its crop), with the fast detector.
	if atMiss != 5 {
		t.Fatalf("%d detections in frames 1-4, want one per frame while the stranger is found, and a wider one after the miss", atMiss)
	}
	eng.mu.Lock()
	crop, retry, retryDet := eng.detectPx[3], eng.detectPx[4], eng.dets[4]
	eng.mu.Unlock()
	if retry <= crop || retry >= 640*360 || retryDet != face.DefaultAnalyzer.Detector.Fast() {
		t.Fatalf("detection after the miss: %d px with %v (the crop: %d px), want a wider crop with the fast detector", retry, retryDet, crop)
	}
	// Frames 5-15: 11 frames; the track lives on (MaxGap 2 s) but is
	// looked for on every 5th frame only.
	if n := detections() - atMiss; n > 3 {
		t.Fatalf("%d detections in frames 5-15 after the face was missed, want at most 3 (every 5th frame)", n)
	}
}

// Wide scans (no face tracked, or the periodic ones) use the fast
// detector, crops around tracked faces the configured one; WideFull keeps
// the configured one everywhere.
func TestWideScansUseFastDetector(t *testing.T) {
	full := face.DefaultAnalyzer.Detector
	for _, wideFull := range []bool{false, true} {
		mc := MotionConfig{Threshold: 10, MinFraction: 0.01, FullEvery: time.Hour, DetectEvery: 5, IdleDetectEvery: 1, CropFullEvery: 10, WideFull: wideFull}
		eng, _, send := startCropPipelineMotion(t, mc, false) // the whole view changes: wide scans cover the frame
		for i := 1; i <= 12; i++ {
			eng.mu.Lock()
			eng.faces, eng.axes = nil, nil
			if i > 3 {
				x := 100 + 2*i
				eng.faces, eng.axes = []image.Rectangle{image.Rect(x, 100, x+90, 190)}, []int{0}
			}
			eng.mu.Unlock()
			send(i)
		}
		eng.mu.Lock()
		var wide, crops []face.Detector
		for i, n := range eng.detectPx {
			if n == 640*360 {
				wide = append(wide, eng.dets[i])
			} else {
				crops = append(crops, eng.dets[i])
			}
		}
		eng.mu.Unlock()
		want := full.Fast()
		if wideFull {
			want = full
		}
		if len(wide) < 4 || len(crops) == 0 {
			t.Fatalf("wideFull %v: %d wide scans, %d crops; want frames 1-4 scanned wide, then crops", wideFull, len(wide), len(crops))
		}
		for _, d := range wide {
			if d != want {
				t.Fatalf("wideFull %v: a wide scan used %v, want %v", wideFull, d, want)
			}
		}
		for _, d := range crops {
			if d != full {
				t.Fatalf("wideFull %v: a crop used %v, want %v", wideFull, d, full)
			}
		}
	}
}

// A tracked face the fast wide scan cannot see (a tilted head) is looked
// for around its last box with the full detector in the same frame, so it
// does not drop out of the identities on wide-scan frames.
func TestFastScanMissFallsBackAroundTrack(t *testing.T) {
	eng, pub, send := startCropPipeline(t)
	for i := 1; i <= 25; i++ {
		eng.mu.Lock()
		x := 100 + 2*i
		eng.faces, eng.axes, eng.tilted = []image.Rectangle{image.Rect(x, 100, x+90, 190)}, []int{0}, nil
		if i > 5 {
			eng.tilted = map[int]bool{0: true}
		}
		eng.mu.Unlock()
		send(i)
	}
	track := pub.ids[4].Faces[0].Track
	for _, ids := range pub.ids[5:] {
		if len(ids.Faces) != 1 || ids.Faces[0].Track != track || ids.Faces[0].Name != "alice" {
			t.Fatalf("frame %d: %+v, want alice on track %d on every frame", ids.Seq, ids.Faces, track)
		}
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	wideThenCrop := 0
	for i := 1; i < len(eng.dets); i++ {
		if eng.detectPx[i-1] == 640*360 && eng.dets[i-1] != eng.dets[i] && eng.detectPx[i] < 640*360 {
			wideThenCrop++
		}
	}
	if wideThenCrop == 0 {
		t.Fatalf("no fallback crop after a wide scan: px %v dets %v", eng.detectPx, eng.dets)
	}
}

// A tracked face that moved out of its crop between detections is found
// in the same frame by a wider look around it, and keeps its track; after
// a cut (the whole view changed) the frame detects at once with a wide
// scan (not the crops, not DetectEvery frames later), which finds the face.
func TestCropMissWidens(t *testing.T) {
	for _, cut := range []bool{false, true} {
		t.Run(map[bool]string{false: "moved", true: "cut"}[cut], func(t *testing.T) { cropMiss(t, cut) })
	}
}

func cropMiss(t *testing.T, cut bool) {
	mc := MotionConfig{Threshold: 10, MinFraction: 0.01, FullEvery: time.Hour, DetectEvery: 5, IdleDetectEvery: 1, CropFullEvery: 4}
	eng, pub, send := startCropPipelineMotion(t, mc, !cut)
	jump := 0
	for i := 1; i <= 20; i++ {
		eng.mu.Lock()
		x := 100
		if i >= 8 {
			x = 250 // beyond the crop's margin (67 px), within relink distance (2 widths)
		}
		eng.faces, eng.axes = []image.Rectangle{image.Rect(x, 100, x+90, 190)}, []int{0}
		eng.mu.Unlock()
		send(i)
		if i >= 8 && jump == 0 && len(pub.ids[len(pub.ids)-1].Faces) == 1 && pub.ids[len(pub.ids)-1].Faces[0].Box[0] == 250 {
			jump = i
		}
	}
	// Frames 7-10 follow the track without detection (DetectEvery 5);
	// the crop detection at frame 11 (or earlier) misses, looks wider and
	// finds it; after a cut, a wide scan at once does (here the whole view
	// changes on every frame, so every other frame is a cut: a detection
	// after a cut's is not one), at frame 8 or 9.
	eng.mu.Lock()
	n := len(eng.detectPx)
	eng.mu.Unlock()
	if !cut && (jump == 0 || jump > 11) {
		t.Fatalf("face moved at frame 8, found there at frame %d; want by the next detection", jump)
	}
	if cut && (jump < 8 || jump > 9) {
		t.Fatalf("view cut at frame 8, face found there at frame %d; want at once, by a wide scan (%d detections)", jump, n)
	}
	first, last := pub.ids[5].Faces, pub.ids[len(pub.ids)-1].Faces
	if len(first) != 1 || len(last) != 1 || first[0].Track != last[0].Track || last[0].Name != "alice" {
		t.Fatalf("track before the jump %+v, after %+v: want the same track, alice", first, last)
	}
}

// A crop around a tracked face narrower than HOG's smallFace is scanned
// upsampled until the face is that wide (at most 2 levels, and within
// maxUpsampledPx); wide regions and crops around big faces keep the
// frame's own level.
func TestCropUpsampleSmallTracks(t *testing.T) {
	tr := func(x, w int) *Track { return &Track{Box: image.Rect(x, 50, x+w, 50+w)} }
	crop := func(k *Track) image.Rectangle { return k.Box.Inset(-max(32, k.Box.Dx()*3/4)) }
	for _, c := range []struct {
		what   string
		region image.Rectangle
		around []*Track
		up     int
		want   int
	}{
		{"wide region", image.Rect(0, 0, 640, 360), nil, 0, 0},
		{"big face", crop(tr(100, 90)), []*Track{tr(100, 90)}, 0, 0},
		{"50 px face", crop(tr(100, 50)), []*Track{tr(100, 50)}, 0, 1},
		{"35 px face", crop(tr(100, 35)), []*Track{tr(100, 35)}, 0, 2},
		{"35 px face, small frame already upsampled", crop(tr(100, 35)), []*Track{tr(100, 35)}, 1, 2},
		{"45 px face, small frame already upsampled", crop(tr(100, 45)), []*Track{tr(100, 45)}, 1, 1},
		{"the smallest face of a merged crop", image.Rect(0, 0, 140, 100), []*Track{tr(10, 90), tr(120, 35)}, 0, 2},
		{"a track elsewhere", crop(tr(100, 90)), []*Track{tr(100, 90), tr(500, 35)}, 0, 0},
		{"too large upsampled twice", image.Rect(0, 0, 200, 200), []*Track{tr(100, 35)}, 0, 1},
	} {
		if got := cropUpsample(c.region, c.around, c.up); got != c.want {
			t.Errorf("%s: upsample %d, want %d", c.what, got, c.want)
		}
	}
}

// A wide scan of a small part of the frame that moved is upsampled (a
// distant face below HOG's window), as far as the budget allows, with the
// margins shrunk alike; most of the frame moving, or a due scan, is not.
func TestMovedUpsample(t *testing.T) {
	r := func(w, h int) image.Rectangle { return image.Rect(0, 0, w, h) }
	for _, c := range []struct {
		what  string
		moved [2]image.Rectangle
		up    int
		frame image.Rectangle // zero: 640x360
		want  image.Rectangle
		wantU int
		ok    bool
	}{
		{"nothing moved (a due or crop scan)", [2]image.Rectangle{}, 0, image.Rectangle{}, image.Rectangle{}, 0, false},
		{"a 320x180 view in a 640x360 frame", [2]image.Rectangle{r(416, 276), r(368, 228)}, 0, image.Rectangle{}, r(416, 276), 1, true},
		{"a small region: twice", [2]image.Rectangle{r(160, 120), r(120, 100)}, 0, image.Rectangle{}, r(120, 100), 2, true},
		{"a small frame upsampled already: once more", [2]image.Rectangle{r(160, 120), r(120, 100)}, 1, image.Rectangle{}, r(160, 120), 2, true},
		{"dlib's two levels are the most", [2]image.Rectangle{r(40, 40), r(30, 30)}, 2, image.Rectangle{}, image.Rectangle{}, 0, false},
		{"too large even once", [2]image.Rectangle{r(600, 300), r(560, 280)}, 0, image.Rectangle{}, image.Rectangle{}, 0, false},
		// The bound grows with the frame: at most what a scan of the
		// whole frame at its own size costs.
		{"a 320x180 view in a 1280x720 frame (416x288 moved)", [2]image.Rectangle{r(416, 288), r(368, 232)}, 0, r(1280, 720), r(416, 288), 1, true},
		{"the same in a 640x360 frame: over twice its size", [2]image.Rectangle{r(416, 288), r(368, 232)}, 0, image.Rectangle{}, image.Rectangle{}, 0, false},
		{"half of a 1280x720 frame: too large", [2]image.Rectangle{r(640, 720), r(600, 700)}, 0, r(1280, 720), image.Rectangle{}, 0, false},
	} {
		frame := c.frame
		if frame.Empty() {
			frame = r(640, 360)
		}
		got, u, ok := movedUpsample(c.moved, c.up, frame)
		if ok != c.ok || got != c.want || u != c.wantU {
			t.Errorf("%s: %v at %d (%v), want %v at %d (%v)", c.what, got, u, ok, c.want, c.wantU, c.ok)
		}
	}
	// planScan fills moved only for a wide scan of part of the frame.
	frame := image.Rect(0, 0, 640, 360)
	thumb := Grey{Pix: make([]byte, 80*45), Width: 80, Height: 45}
	mo := motion{thumb: thumb, changed: image.Rect(30, 15, 50, 30), frac: 0.1, moved: true}
	now := time.Unix(100, 0)
	clk := scanClock{lastFull: now.Add(-time.Second), lastWide: now.Add(-time.Second)}
	sc, _ := planScan(DefaultMotion, face.HOG, true, clk, mo, false, now, frame, nil, nil)
	if sc.moved[0].Empty() || !sc.moved[1].In(sc.moved[0]) || !sc.moved[0].In(sc.regions[0]) {
		t.Fatalf("moved part: regions %v moved %v", sc.regions, sc.moved)
	}
	if sc, _ = planScan(DefaultMotion, face.HOG, true, clk, mo, true, now, frame, nil, nil); sc.moved != [2]image.Rectangle{} {
		t.Fatalf("a due scan upsamples %v", sc.moved)
	}
}
