package bench

import (
	"bytes"
	"context"
	"image"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/internal/testenv"
)

// TestDistantFace: the shared clip scaled to 320x180 (faces 43-56 px) and
// centred on a black 640x360 canvas, as a distant camera sees a person in
// a corner of its view, judged by the full-size naive run's faces (the
// bench's --resize 320x180 --pad 640x360 --truth). HOG's window is 80 px:
// the wide scan of what moved is upsampled (pipeline movedUpsample), a
// track starts and its crops keep the face found; without that no face
// was ever found here (0 %).
func TestDistantFace(t *testing.T) {
	pool, _ := setup(t)
	video := testenv.Testdata(t, "video", "short_hamilton_clip.mp4")
	frames, at, err := LoadFramesAt(video, 10, 10*time.Second, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := VideoSize(video)
	if err != nil {
		t.Fatal(err)
	}
	g := enrol(t, pool, "lin_manuel_miranda", "alex_lacamoire", "obama")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := opts(pool, frames, g)
	o.At, o.FPS = at, 10
	naive, err := Run(ctx, o, Variants[0])
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTruth(&buf, ScoreReports([]*Report{naive}, nil, 10, 1), at, Xform{}, src, true); err != nil {
		t.Fatal(err)
	}
	gt, err := ParseGroundTruth(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// The 640x360 canvas measured 87 % over the 30 s clip at 10 fps, the
	// 1280x720 one 86.5 % (docs/bench.md); this is their first 10 s,
	// with three people enrolled (the 640x360 one gave 0 % before moved
	// regions were upsampled; the 1280x720 one 79 % with and without the
	// frame-sized bound of movedUpsample, which TestMovedUpsample checks).
	for _, canvas := range []image.Point{{640, 360}, {1280, 720}} {
		x := Xform{Size: image.Pt(320, 180), Canvas: canvas}
		far, _, err := x.Apply(frames)
		if err != nil {
			t.Fatal(err)
		}
		o = opts(pool, far, g)
		o.At, o.FPS = at, 10
		fm, err := Run(ctx, o, Variant{Name: "facemon"})
		if err != nil {
			t.Fatal(err)
		}
		ScoreReports([]*Report{fm}, x.MapTruth(gt, src), 10, 1)
		m := fm.Metrics
		t.Logf("distant face (320x180 on %dx%d): %d of %d enrolled faces with their confirmed name (%.0f %%), %.0f %% after the first; %d wrong, %d flicker, %d strangers named",
			canvas.X, canvas.Y, m.Confirmed, m.KnownFaces, 100*m.Coverage(), 100*m.CoverageAfterFirst(), m.Wrong, m.Flicker, m.StrangerNmd)
		if m.KnownFaces < 20 {
			t.Fatalf("only %d enrolled faces in the reference: video or gallery changed?", m.KnownFaces)
		}
		if c := m.Coverage(); c < 0.7 {
			t.Errorf("%dx%d: confirmed-name coverage %.0f %%, want >= 70 %%", canvas.X, canvas.Y, 100*c)
		}
		if m.Wrong != 0 || m.StrangerNmd != 0 {
			t.Errorf("%dx%d: %d wrong names, %d strangers named; want 0", canvas.X, canvas.Y, m.Wrong, m.StrangerNmd)
		}
	}
}
