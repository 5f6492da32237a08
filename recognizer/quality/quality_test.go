//go:build cgo

package quality_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	xdraw "golang.org/x/image/draw"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/quality"
)

// degrade returns the JPEG transformed by f.
func degrade(t *testing.T, jpg []byte, f func(image.Image) image.Image) []byte {
	src, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, f(src), &jpeg.Options{Quality: 90})
	return buf.Bytes()
}

// blurBy returns a blur that leaves a face of size px with ~24 px of detail
// across (an out-of-focus or motion-smeared capture).
func blurBy(size int) func(image.Image) image.Image {
	return func(src image.Image) image.Image { return blur(src, max(2, size/24)) }
}

func blur(src image.Image, k int) image.Image {
	b := src.Bounds()
	small := image.NewRGBA(image.Rect(0, 0, max(1, b.Dx()/k), max(1, b.Dy()/k)))
	xdraw.ApproxBiLinear.Scale(small, small.Bounds(), src, b, xdraw.Src, nil)
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	xdraw.BiLinear.Scale(out, out.Bounds(), small, small.Bounds(), xdraw.Src, nil)
	return out
}

func darken(src image.Image) image.Image {
	b := src.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, g, bl, _ := src.At(b.Min.X+x, b.Min.Y+y).RGBA()
			out.Set(x, y, color.RGBA{uint8(r >> 8 / 8), uint8(g >> 8 / 8), uint8(bl >> 8 / 8), 255})
		}
	}
	return out
}

// Every real enrolment photo in faces/ (not the 150 px chips) passes; the
// same photos blurred or darkened are flagged.
func TestLimitsOnRealPhotos(t *testing.T) {
	e, err := dlib.Open(testenv.Models(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	paths, _ := filepath.Glob(testenv.Testdata(t, "faces", "*", "*.jpg"))
	var sharp []float64
	checked, flaggedBlur, flaggedDark := 0, 0, 0
	for _, p := range paths {
		if strings.HasPrefix(filepath.Base(filepath.Dir(p)), "john_") { // 150x150 aligned chips
			continue
		}
		data, _ := os.ReadFile(p)
		assess := func(b []byte) (quality.Report, bool) {
			res, err := face.DefaultAnalyzer.Analyze(e, b)
			if err != nil || len(res.Faces) != 1 {
				return quality.Report{}, false
			}
			r, err := quality.Assess(res.PreparedJPG, res.Scale, res.Faces[0], quality.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			return r, true
		}
		r, ok := assess(data)
		if !ok {
			continue
		}
		checked++
		sharp = append(sharp, r.Sharpness)
		if !r.OK() {
			t.Errorf("%s flagged: %v (%+v)", p, r.Problems, r)
		}
		if rb, ok := assess(degrade(t, data, blurBy(r.Size))); ok && !rb.OK() {
			flaggedBlur++
		} else if ok {
			t.Logf("blurred %s not flagged: %+v", p, rb)
		} else {
			flaggedBlur++ // blurred beyond detection
		}
		if rd, ok := assess(degrade(t, data, darken)); !ok || !rd.OK() {
			flaggedDark++
		}
	}
	sort.Float64s(sharp)
	t.Logf("%d photos; sharpness min %.0f median %.0f; blurred copies flagged %d, darkened flagged %d", checked, sharp[0], sharp[len(sharp)/2], flaggedBlur, flaggedDark)
	if checked < 30 || flaggedBlur < checked*9/10 || flaggedDark < checked*9/10 {
		t.Fatalf("checked %d, blurred flagged %d, dark flagged %d", checked, flaggedBlur, flaggedDark)
	}
}
