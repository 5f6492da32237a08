//go:build cgo

package convert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

const crossTolerance = 1e-5

// debianShapePredictor is libdlib-data's 68-point landmark model, used when
// $FACEMON_MODELS holds no shape_predictor_5_face_landmarks.dat.
const debianShapePredictor = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

func decodeRGB(t testing.TB, p string) ([]byte, int, int) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	rgb := make([]byte, 0, 3*w*h)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			rgb = append(rgb, byte(r>>8), byte(g>>8), byte(bl>>8))
		}
	}
	return rgb, w, h
}

// TestCrossImplementation proves the conversion: for real face chips, dlib
// with the converted model must compute the same descriptor as face-api
// (TF.js CPU backend) with the original weights.
func TestCrossImplementation(t *testing.T) {
	root := moduleRoot(t)
	ccDir := filepath.Join(root, "crosscheck")
	if _, err := os.Stat(filepath.Join(ccDir, "node_modules", "@vladmandic", "face-api")); err != nil {
		skipOrFail(t, "crosscheck/node_modules is missing; run models/crosscheck/install.sh (needs the npm registry)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node not found in PATH")
	}
	faces := filepath.Join(sharedDir(t), "testdata", "faces")
	persons, err := os.ReadDir(faces)
	if err != nil {
		skipOrFail(t, "face photos not found: %v (set FACEMON_SHARED)", err)
	}

	faDir := faceAPIModelDir(t)
	modelDir := t.TempDir()
	if err := FaceAPIToDlib(filepath.Join(faDir, ManifestName), filepath.Join(faDir, BinName), filepath.Join(modelDir, ModelName)); err != nil {
		t.Fatal(err)
	}
	sp := debianShapePredictor
	if d := os.Getenv("FACEMON_MODELS"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "shape_predictor_5_face_landmarks.dat")); err == nil {
			sp = filepath.Join(d, "shape_predictor_5_face_landmarks.dat")
		}
	}
	if _, err := os.Stat(sp); err != nil {
		skipOrFail(t, "no shape predictor: %v (apt-get install libdlib-data)", err)
	}
	if err := os.Symlink(sp, filepath.Join(modelDir, "shape_predictor_5_face_landmarks.dat")); err != nil {
		t.Fatal(err)
	}

	sort.Slice(persons, func(i, j int) bool { return persons[i].Name() < persons[j].Name() })
	type sample struct {
		name  string
		chip  string
		descr []float32
	}
	var samples []sample
	for _, p := range persons {
		if len(samples) == 3 {
			break
		}
		jpgs, _ := filepath.Glob(filepath.Join(faces, p.Name(), "*.jpg"))
		sort.Strings(jpgs)
		for _, j := range jpgs {
			rgb, w, h := decodeRGB(t, j)
			chip, descr, err := ChipAndDescriptor(modelDir, rgb, w, h)
			if err != nil {
				t.Logf("%s: %v", j, err)
				continue
			}
			again, err := Descriptor(modelDir, chip)
			if err != nil {
				t.Fatal(err)
			}
			for i := range descr {
				if again[i] != descr[i] {
					t.Fatalf("%s: Descriptor(chip) differs from ChipAndDescriptor at %d", j, i)
				}
			}
			cp := filepath.Join(t.TempDir(), p.Name()+".rgb")
			if err := os.WriteFile(cp, chip, 0o644); err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(faces, j)
			samples = append(samples, sample{rel, cp, descr})
			break
		}
	}
	if len(samples) < 3 {
		t.Fatalf("found faces in only %d photos under %s, want 3", len(samples), faces)
	}

	args := []string{filepath.Join(ccDir, "descriptor.js"), faDir}
	for _, s := range samples {
		args = append(args, s.chip)
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = ccDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node descriptor.js: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	overall := 0.0
	for i := 0; sc.Scan(); i++ {
		if i >= len(samples) {
			t.Fatalf("node printed more lines than chips:\n%s", out)
		}
		var js []float64
		if err := json.Unmarshal(sc.Bytes(), &js); err != nil {
			t.Fatalf("parse node output: %v", err)
		}
		s := samples[i]
		if len(js) != len(s.descr) {
			t.Fatalf("%s: face-api descriptor has %d values, dlib %d", s.name, len(js), len(s.descr))
		}
		maxd, norm := 0.0, 0.0
		for k := range js {
			maxd = math.Max(maxd, math.Abs(js[k]-float64(s.descr[k])))
			norm += float64(s.descr[k]) * float64(s.descr[k])
		}
		overall = math.Max(overall, maxd)
		t.Logf("%s: max |dlib - face-api| = %.3g (descriptor norm %.3f)", s.name, maxd, math.Sqrt(norm))
		if maxd > crossTolerance {
			t.Errorf("%s: descriptors differ by %g > %g", s.name, maxd, crossTolerance)
		}
		samples[i].name = ""
	}
	for _, s := range samples {
		if s.name != "" {
			t.Fatalf("node printed no descriptor for %s", s.name)
		}
	}
	t.Logf("overall max abs difference over %d chips: %.3g", len(samples), overall)
}
