// Package quality judges whether a face is good enough to enrol: sharp,
// large, frontal and well lit. Pure Go.
package quality

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"

	xdraw "golang.org/x/image/draw"

	"github.com/facemon/facemon/recognizer/face"
)

// Limits below which a face is flagged. Calibrated on the shared test
// photos (see quality_test.go): every real enrolment photo passes, the same
// photos blurred, shrunk or darkened do not.
type Limits struct {
	MinSharpness  float64 // variance of the Laplacian on the face resized to 128 px
	MinSize       int     // face box width in original pixels
	MaxYaw        float64 // |nose offset| from the eye centre line, as a fraction of eye distance (0 = frontal)
	MinBrightness float64 // mean grey level 0..255
	MaxBrightness float64
	MinContrast   float64 // grey level standard deviation
}

// DefaultLimits are the shipped limits.
var DefaultLimits = Limits{MinSharpness: 55, MinSize: 60, MaxYaw: 0.5, MinBrightness: 40, MaxBrightness: 220, MinContrast: 18}

// Report describes one face.
type Report struct {
	Sharpness  float64  `json:"sharpness"`
	Size       int      `json:"size"`
	Yaw        float64  `json:"yaw"`
	Brightness float64  `json:"brightness"`
	Contrast   float64  `json:"contrast"`
	Problems   []string `json:"problems,omitempty"`
}

// OK reports whether the face passed every check.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Assess measures the face f in the JPEG img (the image the face's box and
// landmarks refer to, at scale: prepared = original * scale).
func Assess(img []byte, scale float64, f face.Face, l Limits) (Report, error) {
	src, err := jpeg.Decode(bytes.NewReader(img))
	if err != nil {
		return Report{}, fmt.Errorf("%w: %v", face.ErrImage, err)
	}
	return AssessImage(src, scale, f, l), nil
}

// AssessImage is Assess on a decoded image (a live frame already decoded
// for another reason: no second decode).
func AssessImage(src image.Image, scale float64, f face.Face, l Limits) Report {
	if scale <= 0 {
		scale = 1
	}
	box := image.Rect(int(float64(f.Box.Min.X)*scale), int(float64(f.Box.Min.Y)*scale),
		int(float64(f.Box.Max.X)*scale), int(float64(f.Box.Max.Y)*scale)).Intersect(src.Bounds())
	r := Report{Size: f.Box.Dx()}
	if box.Empty() {
		r.Problems = append(r.Problems, "face outside the image")
		return r
	}
	const side = 128
	g := image.NewGray(image.Rect(0, 0, side, side))
	xdraw.ApproxBiLinear.Scale(g, g.Bounds(), src, box, xdraw.Src, nil)
	r.Sharpness = laplacianVariance(g)
	r.Brightness, r.Contrast = meanStd(g)
	r.Yaw = yaw(f.Landmarks)
	if r.Sharpness < l.MinSharpness {
		r.Problems = append(r.Problems, fmt.Sprintf("blurry (sharpness %.0f < %.0f)", r.Sharpness, l.MinSharpness))
	}
	if r.Size < l.MinSize {
		r.Problems = append(r.Problems, fmt.Sprintf("small face (%d px < %d)", r.Size, l.MinSize))
	}
	if math.Abs(r.Yaw) > l.MaxYaw {
		r.Problems = append(r.Problems, fmt.Sprintf("head turned (yaw %.2f > %.2f)", math.Abs(r.Yaw), l.MaxYaw))
	}
	if r.Brightness < l.MinBrightness {
		r.Problems = append(r.Problems, fmt.Sprintf("too dark (brightness %.0f)", r.Brightness))
	} else if r.Brightness > l.MaxBrightness {
		r.Problems = append(r.Problems, fmt.Sprintf("overexposed (brightness %.0f)", r.Brightness))
	}
	if r.Contrast < l.MinContrast {
		r.Problems = append(r.Problems, fmt.Sprintf("flat lighting (contrast %.0f)", r.Contrast))
	}
	return r
}

func laplacianVariance(g *image.Gray) float64 {
	b := g.Bounds()
	var sum, sq float64
	n := 0
	for y := b.Min.Y + 1; y < b.Max.Y-1; y++ {
		for x := b.Min.X + 1; x < b.Max.X-1; x++ {
			v := 4*float64(g.GrayAt(x, y).Y) - float64(g.GrayAt(x-1, y).Y) - float64(g.GrayAt(x+1, y).Y) -
				float64(g.GrayAt(x, y-1).Y) - float64(g.GrayAt(x, y+1).Y)
			sum += v
			sq += v * v
			n++
		}
	}
	m := sum / float64(n)
	return sq/float64(n) - m*m
}

func meanStd(g *image.Gray) (mean, std float64) {
	var sum, sq float64
	for _, p := range g.Pix {
		v := float64(p)
		sum += v
		sq += v * v
	}
	n := float64(len(g.Pix))
	mean = sum / n
	return mean, math.Sqrt(math.Max(0, sq/n-mean*mean))
}

// yaw estimates head rotation from landmarks: the nose tip's horizontal
// offset from the midpoint of the eyes, relative to the eye distance. It
// handles dlib's 68-point layout (eyes 36-47, nose tip 30) and 5-point
// layout (eye corners 0-3, nose 4); 0 when unknown.
func yaw(pts []image.Point) float64 {
	var le, re, nose image.Point
	switch len(pts) {
	case 68:
		le = mid(pts[36], pts[39])
		re = mid(pts[42], pts[45])
		nose = pts[30]
	case 5:
		re = mid(pts[0], pts[1])
		le = mid(pts[2], pts[3])
		nose = pts[4]
	default:
		return 0
	}
	dx, dy := float64(re.X-le.X), float64(re.Y-le.Y)
	d := math.Hypot(dx, dy)
	if d == 0 {
		return 0
	}
	cx, cy := float64(le.X+re.X)/2, float64(le.Y+re.Y)/2
	// Project the nose offset on the eye line.
	return ((float64(nose.X)-cx)*dx + (float64(nose.Y)-cy)*dy) / (d * d)
}

func mid(a, b image.Point) image.Point { return image.Pt((a.X+b.X)/2, (a.Y+b.Y)/2) }
