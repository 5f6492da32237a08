package face

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"github.com/facemon/facemon/recognizer/internal/testenv"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPrepareBadInput(t *testing.T) {
	p := DefaultPrep
	for name, data := range map[string][]byte{
		"empty":  nil,
		"random": []byte("definitely not an image"),
		"gif":    []byte("GIF89a\x01\x00\x01\x00"),
	} {
		if _, err := p.Prepare(data); !errors.Is(err, ErrImage) {
			t.Errorf("%s: err = %v, want ErrImage", name, err)
		}
	}
	small := Prep{MaxBytes: 10}
	if _, err := small.Prepare(make([]byte, 11)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxBytes: %v", err)
	}
}

func TestPrepareTruncatedJPEGIsDecodedByGo(t *testing.T) {
	data, err := os.ReadFile(testenv.Testdata(t, "faces", "obama", "1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = DefaultPrep.Prepare(data[:len(data)/2])
	if !errors.Is(err, ErrImage) {
		t.Fatalf("truncated JPEG: err = %v, want ErrImage", err)
	}
}

func TestPrepareScales(t *testing.T) {
	big := image.NewRGBA(image.Rect(0, 0, 4000, 1000))
	p, err := DefaultPrep.Prepare(encodePNG(t, big))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(p.JPEG))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 2400 || cfg.Height != 600 || p.Scale != 0.6 {
		t.Fatalf("downscaled to %dx%d scale %v", cfg.Width, cfg.Height, p.Scale)
	}
	if r := p.Unscale(image.Rect(60, 60, 120, 120)); r != image.Rect(100, 100, 200, 200) {
		t.Fatalf("Unscale = %v", r)
	}
	tiny := image.NewGray(image.Rect(0, 0, 150, 150))
	p, err = DefaultPrep.Prepare(encodePNG(t, tiny))
	if err != nil || p.Scale != 2 {
		t.Fatalf("small image: scale %v err %v", p.Scale, err)
	}
}

func TestPreparePNGAlphaFlattensOnWhite(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 600, 600)) // fully transparent
	img.Set(10, 10, color.NRGBA{255, 0, 0, 255})
	p, err := DefaultPrep.Prepare(encodePNG(t, img))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(bytes.NewReader(p.JPEG))
	if err != nil {
		t.Fatal(err)
	}
	r, g, b, _ := out.At(300, 300).RGBA()
	if r>>8 < 250 || g>>8 < 250 || b>>8 < 250 {
		t.Fatalf("transparent pixel became %d,%d,%d, want white", r>>8, g>>8, b>>8)
	}
}

func TestPrepareJPEGPassThrough(t *testing.T) {
	data, err := os.ReadFile(testenv.Testdata(t, "edge", "obama-720p.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := DefaultPrep.Prepare(data)
	if err != nil {
		t.Fatal(err)
	}
	if &p.JPEG[0] != &data[0] || p.Scale != 1 || p.Width != 1280 {
		t.Fatal("in-bounds JPEG was re-encoded")
	}
}

// fakeEngine returns fixed faces in prepared coordinates and records calls.
type fakeEngine struct {
	faces map[Detector][]Face
	calls []Detector
}

func (f *fakeEngine) Recognize(_ []byte, d Detector) ([]Face, error) {
	f.calls = append(f.calls, d)
	return append([]Face(nil), f.faces[d]...), nil
}
func (f *fakeEngine) Close() error { return nil }

func TestAnalyzerCNNFallbackAndMinFace(t *testing.T) {
	img := encodePNG(t, image.NewGray(image.Rect(0, 0, 1000, 800)))
	e := &fakeEngine{faces: map[Detector][]Face{
		CNN: {{Box: image.Rect(10, 10, 60, 60)}, {Box: image.Rect(100, 100, 110, 110)}},
	}}
	a := DefaultAnalyzer
	a.CNNFallback, a.CNNMaxSide, a.MinFace = true, 500, 30
	res, err := a.Analyze(e, img)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.calls) != 2 || e.calls[0] != HOG || e.calls[1] != CNN {
		t.Fatalf("calls = %v", e.calls)
	}
	// CNN ran at 500/1000 = 0.5 scale: the 50 px box maps to 100 px; the
	// 10 px one (20 px original) is below MinFace.
	if !res.UsedCNN || len(res.Faces) != 1 || res.Faces[0].Box != image.Rect(20, 20, 120, 120) {
		t.Fatalf("result %+v", res)
	}
}

func TestParseDetector(t *testing.T) {
	if d, err := ParseDetector("cnn"); err != nil || d != CNN {
		t.Fatal(d, err)
	}
	if _, err := ParseDetector("yolo"); err == nil {
		t.Fatal("accepted yolo")
	}
}
