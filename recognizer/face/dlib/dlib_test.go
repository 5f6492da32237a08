package dlib_test

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/internal/cmykjpeg"
	"github.com/facemon/facemon/recognizer/internal/testenv"
)

func openEngine(t testing.TB) *dlib.Engine {
	t.Helper()
	e, err := dlib.Open(testenv.Models(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func analyze(t *testing.T, e face.Engine, a face.Analyzer, path string) (*face.Result, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a.Analyze(e, data)
}

// Face counts expected in the shared fixtures (see testdata/MANIFEST.tsv).
func TestFaceCounts(t *testing.T) {
	e := openEngine(t)
	cases := []struct {
		path string
		want int
	}{
		{"groups/two_people.jpg", 2},
		{"groups/kit_with_rose.jpg", 2},
		{"groups/pristin.jpg", 10},
		{"groups/obama_and_biden.jpg", 3},
		{"noface/dogs.jpg", 0},
		{"noface/frame_000100.jpg", 0},
		{"noface/mmod_cars_test_image.jpg", 0},
		{"noface/mmod_cars_test_image2.jpg", 0},
		{"edge/obama-240p.jpg", 1},
		{"edge/obama-480p.jpg", 1},
		{"edge/obama-720p.jpg", 1},
		{"edge/obama-1080p.jpg", 1},
		{"edge/obama_partial_face.jpg", 1},
		{"edge/obama_partial_face2.jpg", 1},
		{"edge/32bit.png", 1},          // RGBA PNG
		{"faces/chaeyeon/1.jpg", 1},    // 2667x4000, downscaled first
		{"faces/john_salley/1.jpg", 1}, // 150x150 chip, upsampled first
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			res, err := analyze(t, e, face.DefaultAnalyzer, testenv.Testdata(t, c.path))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Faces) != c.want {
				t.Fatalf("%d faces, want %d", len(res.Faces), c.want)
			}
			for _, f := range res.Faces {
				if !f.Box.In(boundsOf(res).Inset(-f.Box.Dx())) {
					t.Errorf("box %v far outside the %dx%d image", f.Box, res.Width, res.Height)
				}
			}
		})
	}
}

func TestCNNFallbackFindsTurnedHead(t *testing.T) {
	e := openEngine(t)
	path := testenv.Testdata(t, "faces", "jimin", "3.jpg") // HOG finds 0 (MANIFEST)
	res, err := analyze(t, e, face.DefaultAnalyzer, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Faces) != 0 {
		t.Logf("HOG found %d faces (MANIFEST says 0)", len(res.Faces))
	}
	a := face.DefaultAnalyzer
	a.CNNFallback = true
	res, err = analyze(t, e, a, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Faces) != 1 {
		t.Fatalf("with CNN fallback: %d faces, want 1", len(res.Faces))
	}
}

func TestBadInputNeverCrashes(t *testing.T) {
	e := openEngine(t)
	good, err := os.ReadFile(testenv.Testdata(t, "faces", "obama", "1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), good...)
	for i := 600; i < len(corrupt)-600; i += 97 {
		corrupt[i] ^= 0x5A
	}
	cases := map[string][]byte{
		"empty":          {},
		"random":         []byte("\xff\xd8\xff\xe0 not really a jpeg at all"),
		"truncated jpeg": good[:len(good)/3],
		"flipped bytes":  corrupt,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			// Straight to the engine (no Go pre-check) and through the analyzer.
			if _, err := e.Recognize(data, face.HOG); err == nil && len(data) < 100 {
				t.Errorf("engine accepted %d bytes without error", len(data))
			}
			res, err := face.DefaultAnalyzer.Analyze(e, data)
			if err == nil {
				t.Logf("decoded anyway: %d faces", len(res.Faces))
			} else if !errors.Is(err, face.ErrImage) {
				t.Errorf("err = %v, want ErrImage", err)
			}
		})
	}
}

func TestMissingModelNamesFile(t *testing.T) {
	dir := t.TempDir()
	_, err := dlib.Open(dir)
	if !errors.Is(err, face.ErrModel) {
		t.Fatalf("err = %v", err)
	}
	if want := "shape_predictor_68_face_landmarks.dat"; !contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
	// A corrupt file: typed error, no crash.
	files, err := dlib.ModelFiles(68)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		os.WriteFile(filepath.Join(dir, f), []byte("garbage"), 0o644)
	}
	if _, err := dlib.Open(dir); !errors.Is(err, face.ErrModel) {
		t.Fatalf("corrupt models: err = %v", err)
	}
}

// TestLandmarkChoice: the engine loads the landmark model asked for, by
// its own file name, and says so in the points it returns.
func TestLandmarkChoice(t *testing.T) {
	dir := testenv.Models(t)
	data, err := os.ReadFile(testenv.Testdata(t, "faces", "obama", "1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	var descs []face.Descriptor
	for _, n := range []int{68, 5} {
		e, err := dlib.OpenConfig(dlib.Config{Dir: dir, Landmarks: n})
		if err != nil {
			t.Fatalf("landmarks %d: %v", n, err)
		}
		res, err := face.DefaultAnalyzer.Analyze(e, data)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Faces) != 1 {
			t.Fatalf("landmarks %d: %d faces", n, len(res.Faces))
		}
		if got := len(res.Faces[0].Landmarks); got != n || e.Landmarks() != n {
			t.Errorf("asked for %d landmarks, got %d points (engine says %d)", n, got, e.Landmarks())
		}
		descs = append(descs, res.Faces[0].Descriptor)
	}
	// Different alignment, same face: close but not identical descriptors.
	if d := face.Distance(descs[0], descs[1]); d == 0 || d > 0.25 {
		t.Errorf("68- vs 5-point descriptor distance %.3f, want in (0, 0.25]", d)
	}
	if _, err := dlib.OpenConfig(dlib.Config{Dir: dir, Landmarks: 7}); err == nil || !contains(err.Error(), "want 5 or 68") {
		t.Errorf("landmarks 7: err = %v", err)
	}
	// A model directory from before the 68-point file had its own name.
	old := t.TempDir()
	for _, f := range []string{dlib.ShapePredictor5, dlib.RecognitionModel, dlib.CNNDetector} {
		if err := os.Symlink(filepath.Join(dir, f), filepath.Join(old, f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dlib.Open(old); !errors.Is(err, face.ErrModel) || !contains(err.Error(), dlib.ShapePredictor68) || !contains(err.Error(), "make models") {
		t.Errorf("old layout: err = %v", err)
	}
}

func TestClosedEngine(t *testing.T) {
	e, err := dlib.Open(testenv.Models(t))
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	e.Close()
	if _, err := e.Recognize([]byte{1}, face.HOG); !errors.Is(err, face.ErrClosed) {
		t.Fatalf("err = %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func boundsOf(r *face.Result) image.Rectangle { return image.Rect(0, 0, r.Width, r.Height) }

// Greyscale and CMYK JPEGs and greyscale PNGs (8- and 16-bit), made from
// the shared photos, give one face each and a descriptor close to the
// colour photo's (the native loader reads colour JPEGs only; Prepare
// re-encodes the others).
func TestGreyAndCMYKImagesDecode(t *testing.T) {
	e := openEngine(t)
	for _, p := range []string{"faces/obama/1.jpg", "edge/obama-480p.jpg", "edge/32bit.png"} {
		data, err := os.ReadFile(testenv.Testdata(t, p))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := face.DefaultAnalyzer.Analyze(e, data)
		if err != nil || len(ref.Faces) != 1 {
			t.Fatalf("%s in colour: %v, %v", p, ref, err)
		}
		vs, err := cmykjpeg.Variants(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			t.Run(p+"/"+v.Name, func(t *testing.T) {
				want := map[string]string{"grey-jpeg": "gray", "cmyk-jpeg": "cmyk", "grey-png": "gray", "grey16-png": "gray16"}[v.Name]
				if m := cmykjpeg.ColorModel(v.Data); m != want {
					t.Fatalf("variant decodes as %s, want %s", m, want)
				}
				res, err := face.DefaultAnalyzer.Analyze(e, v.Data)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Faces) != 1 {
					t.Fatalf("%d faces, want 1", len(res.Faces))
				}
				d := face.Distance(res.Faces[0].Descriptor, ref.Faces[0].Descriptor)
				t.Logf("distance to the colour photo's descriptor: %.3f", d)
				if d > 0.35 {
					t.Errorf("descriptor %.3f from the colour photo's, want <= 0.35", d)
				}
			})
		}
	}
}
