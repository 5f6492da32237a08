package bench

import (
	"bytes"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/internal/testenv"
)

// --resize and --pad: frames of the shared clip scaled to 320x180 and
// centred on a black 640x360 canvas; boxes map the same way and back, and
// a ground truth written in the video's pixels maps onto the new frames.
func TestXformFramesAndTruth(t *testing.T) {
	video := testenv.Testdata(t, "video", "short_hamilton_clip.mp4")
	frames, at, err := LoadFramesAt(video, 1, 2*time.Second, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := VideoSize(video)
	if err != nil || src != image.Pt(640, 360) {
		t.Fatalf("video size %v, %v", src, err)
	}
	x := Xform{Size: image.Pt(320, 180), Canvas: image.Pt(640, 360)}
	out, _, err := x.Apply(frames)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(out[0]))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Size() != image.Pt(640, 360) {
		t.Fatalf("frame %v, want 640x360", img.Bounds())
	}
	if r, g, b, _ := img.At(10, 10).RGBA(); r>>8 > 8 || g>>8 > 8 || b>>8 > 8 {
		t.Fatalf("canvas corner (%d,%d,%d), want black", r>>8, g>>8, b>>8)
	}
	box := [4]int{200, 100, 288, 188}
	if got := x.Box(box, src); got != [4]int{260, 140, 304, 184} {
		t.Fatalf("box %v mapped to %v", box, got)
	}
	if back := x.Unbox(x.Box(box, src), src); back != box {
		t.Fatalf("box %v back as %v", box, back)
	}
	// A truth written in video pixels reads back and maps onto the frames.
	truth := Truth{frameKey(camName(0), 1): {{Box: x.Box(box, src), Name: "alice"}}, frameKey(camName(0), 2): {}}
	var buf bytes.Buffer
	if err := WriteTruth(&buf, truth, at, x, src, false); err != nil {
		t.Fatal(err)
	}
	gt, err := ParseGroundTruth(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("%v:\n%s", err, buf.String())
	}
	if fs := gt[at[0]]; len(fs) != 1 || fs[0].Box != box || fs[0].Name != "alice" {
		t.Fatalf("truth at frame %d: %+v, want %v alice", at[0], fs, box)
	}
	if fs, ok := gt[at[1]]; !ok || len(fs) != 0 {
		t.Fatalf("truth at frame %d: %+v, want an empty frame", at[1], fs)
	}
	if m := x.MapTruth(gt, src)[at[0]]; m[0].Box != x.Box(box, src) {
		t.Fatalf("mapped truth %v", m)
	}
	// A naive reference judges every frame: one it found no face on shows nobody.
	buf.Reset()
	delete(truth, frameKey(camName(0), 2))
	if err := WriteTruth(&buf, truth, at, x, src, true); err != nil {
		t.Fatal(err)
	}
	if gt, err = ParseGroundTruth(strings.NewReader(buf.String())); err != nil {
		t.Fatal(err)
	}
	if fs, ok := gt[at[1]]; !ok || len(fs) != 0 {
		t.Fatalf("naive truth at frame %d: %+v, want an empty frame", at[1], fs)
	}
	if _, err := ParseSize("320x"); err == nil {
		t.Fatal("ParseSize accepted 320x")
	}
	if _, _, err := (Xform{Size: image.Pt(800, 450), Canvas: image.Pt(640, 360)}).Apply(frames[:1]); err == nil {
		t.Fatal("a canvas smaller than the frame was accepted")
	}
}
