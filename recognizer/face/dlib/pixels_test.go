package dlib_test

import (
	"bytes"
	"errors"
	"image"
	"image/draw"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/internal/testenv"
)

func rgbPixels(t *testing.T, path string) ([]byte, face.Pixels) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	pix := make([]byte, 0, b.Dx()*b.Dy()*3)
	for i := 0; i < len(rgba.Pix); i += 4 {
		pix = append(pix, rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2])
	}
	return data, face.Pixels{Pix: pix, Width: b.Dx(), Height: b.Dy()}
}

// Detect+Describe on decoded pixels (one ResNet batch) finds the faces
// Recognize finds on the JPEG, with descriptors close to its (Go's JPEG
// decoder rounds differently from libjpeg; small faces move most); the
// batch gives what one face at a time gives; BGR input gives the same
// result as RGB.
func TestDetectDescribeMatchRecognize(t *testing.T) {
	e := openEngine(t)
	data, px := rgbPixels(t, testenv.Testdata(t, "groups", "obama_and_biden.jpg"))
	want, err := e.Recognize(data, face.HOG)
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := e.Detect(px, face.HOG, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(boxes) != len(want) || len(boxes) < 2 {
		t.Fatalf("Detect found %d faces, Recognize %d", len(boxes), len(want))
	}
	got, err := e.Describe(px, boxes)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i].Box != want[i].Box {
			t.Errorf("face %d: box %v, want %v", i, got[i].Box, want[i].Box)
		}
		if d := face.Distance(got[i].Descriptor, want[i].Descriptor); d > 0.2 {
			t.Errorf("face %d: descriptor %.3f from Recognize's", i, d)
		}
		if len(got[i].Landmarks) != len(want[i].Landmarks) || len(got[i].Landmarks) == 0 {
			t.Errorf("face %d: %d landmarks, Recognize %d", i, len(got[i].Landmarks), len(want[i].Landmarks))
		}
		single, err := e.Describe(px, boxes[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		if d := face.Distance(single[0].Descriptor, got[i].Descriptor); d > 1e-3 {
			t.Errorf("face %d: batch descriptor %.5f from the single one", i, d)
		}
	}
	bgr := face.Pixels{Pix: append([]byte(nil), px.Pix...), Width: px.Width, Height: px.Height, BGR: true}
	for i := 0; i < len(bgr.Pix); i += 3 {
		bgr.Pix[i], bgr.Pix[i+2] = bgr.Pix[i+2], bgr.Pix[i]
	}
	one, err := e.Describe(bgr, boxes[:1])
	if err != nil {
		t.Fatal(err)
	}
	if d := face.Distance(one[0].Descriptor, got[0].Descriptor); d > 1e-4 {
		t.Errorf("BGR descriptor %.5f from RGB's", d)
	}
	// A region (shared buffer, stride) finds the face inside it.
	r := boxes[0].Inset(-boxes[0].Dx() / 2).Intersect(image.Rect(0, 0, px.Width, px.Height))
	sub, err := e.Detect(px.Sub(r), face.HOG, 0)
	if err != nil || len(sub) != 1 {
		t.Fatalf("region detect: %v %v", sub, err)
	}
	if grey, err := e.Detect(px, face.HOGGrey, 0); err != nil || len(grey) != len(boxes) {
		t.Errorf("grey HOG: %d faces, err %v", len(grey), err)
	}
	if e.CNNLoaded() {
		t.Error("CNN detector loaded without a CNN call")
	}
}

func TestPixelsBadInputAndClosed(t *testing.T) {
	e := openEngine(t)
	bad := []face.Pixels{
		{Pix: make([]byte, 10), Width: 100, Height: 100},
		{Pix: make([]byte, 300), Width: 0, Height: 100},
		{Pix: make([]byte, 300), Width: 10, Height: 10, Stride: 5},
	}
	for _, p := range bad {
		if _, err := e.Detect(p, face.HOG, 0); !errors.Is(err, face.ErrImage) {
			t.Errorf("%dx%d stride %d: %v", p.Width, p.Height, p.Stride, err)
		}
	}
	ok := face.Pixels{Pix: make([]byte, 100*100*3), Width: 100, Height: 100}
	if _, err := e.Detect(ok, face.HOG, 3); !errors.Is(err, face.ErrImage) {
		t.Errorf("upsample 3: %v", err)
	}
	if _, err := e.Describe(ok, []image.Rectangle{{}}); !errors.Is(err, face.ErrImage) {
		t.Errorf("empty box: %v", err)
	}
	e.Close()
	if _, err := e.Detect(ok, face.HOG, 0); !errors.Is(err, face.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := e.Describe(ok, nil); !errors.Is(err, face.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
}

// The fast detector (wide scans) finds nearly every face the full one
// finds on the shared photos (up to 150 of each of faces/, groups/,
// noface/ and LFW), each at about the same place, and nothing on noface/.
func TestFastDetectorFindsWhatFullFinds(t *testing.T) {
	e := openEngine(t)
	var files []string
	for _, g := range [][]string{{"faces", "*", "*.jpg"}, {"groups", "*.jpg"}, {"noface", "*.jpg"}, {"lfw", "*", "*.jpg"}} {
		m, err := filepath.Glob(testenv.Testdata(t, g...))
		if err != nil || len(m) == 0 {
			t.Fatalf("no test photos for %v: %v", g, err)
		}
		files = append(files, m[:min(len(m), 150)]...)
	}
	full, fast, near := 0, 0, 0
	for _, f := range files {
		_, px := rgbPixels(t, f)
		for _, grey := range []bool{true, false} {
			if !grey && !strings.Contains(f, "/groups/") {
				continue // colour on the group photos only (grey is serve's default)
			}
			fd, sd := face.HOG, face.HOGFast
			if grey {
				fd, sd = face.HOGGrey, face.HOGGreyFast
			}
			want, err := e.Detect(px, fd, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Detect(px, sd, 0)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(f, "/noface/") && len(got) > 0 {
				t.Errorf("%s: fast detector found %v on a photo without faces", f, got)
			}
			full += len(want)
			fast += len(got)
			for _, b := range got {
				for _, w := range want {
					if c := b.Intersect(w); c.Dx()*c.Dy()*2 > w.Dx()*w.Dy() {
						near++
						break
					}
				}
			}
		}
	}
	t.Logf("%d photos (grey, and colour for groups/): full detector %d faces, fast %d (%.1f %%), %d of them where the full one found one",
		len(files), full, fast, 100*float64(fast)/float64(full), near)
	if full < 300 || fast*100 < full*97 || near*100 < fast*98 {
		t.Fatalf("fast detector: %d faces (%d near the full one's) of %d; want at least 97 %% of them, in place", fast, near, full)
	}
}
