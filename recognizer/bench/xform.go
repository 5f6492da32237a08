package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"gocv.io/x/gocv"
)

// Xform is what --resize and --pad do to every sampled frame: scale it to
// Size (area interpolation), then centre it on a black canvas of Canvas
// (a small face in a large frame, as a distant camera sees it). Its zero
// value leaves frames as they are.
type Xform struct {
	Size, Canvas image.Point // zero: unchanged
}

// ParseSize parses "WxH" (empty: the zero point).
func ParseSize(s string) (image.Point, error) {
	if s == "" {
		return image.Point{}, nil
	}
	w, h, ok := strings.Cut(s, "x")
	x, err1 := strconv.Atoi(w)
	y, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || x < 16 || y < 16 || x > 8192 || y > 8192 {
		return image.Point{}, fmt.Errorf("%q: want WxH, 16..8192 each", s)
	}
	return image.Pt(x, y), nil
}

func (x Xform) on() bool { return x.Size != (image.Point{}) || x.Canvas != (image.Point{}) }

// geometry is the mapping of a frame of size src: scale factors and the
// offset on the canvas.
func (x Xform) geometry(src image.Point) (sx, sy float64, off, size image.Point) {
	size = src
	if x.Size != (image.Point{}) {
		size = x.Size
	}
	sx, sy = float64(size.X)/float64(src.X), float64(size.Y)/float64(src.Y)
	if x.Canvas != (image.Point{}) {
		off = x.Canvas.Sub(size).Div(2)
	}
	return sx, sy, off, size
}

// Box maps a box of a frame of size src the way the frames are mapped.
func (x Xform) Box(b [4]int, src image.Point) [4]int {
	sx, sy, off, _ := x.geometry(src)
	return [4]int{int(math.Round(float64(b[0])*sx)) + off.X, int(math.Round(float64(b[1])*sy)) + off.Y,
		int(math.Round(float64(b[2])*sx)) + off.X, int(math.Round(float64(b[3])*sy)) + off.Y}
}

// Unbox is Box's inverse.
func (x Xform) Unbox(b [4]int, src image.Point) [4]int {
	sx, sy, off, _ := x.geometry(src)
	return [4]int{int(math.Round(float64(b[0]-off.X) / sx)), int(math.Round(float64(b[1]-off.Y) / sy)),
		int(math.Round(float64(b[2]-off.X) / sx)), int(math.Round(float64(b[3]-off.Y) / sy))}
}

// Apply maps every JPEG frame (re-encoded at quality 90) and returns the
// source frames' size.
func (x Xform) Apply(frames [][]byte) ([][]byte, image.Point, error) {
	var src image.Point
	if !x.on() || len(frames) == 0 {
		return frames, src, nil
	}
	cache := map[*byte][]byte{} // looped videos repeat the same slices
	out := make([][]byte, len(frames))
	for i, fr := range frames {
		if len(fr) > 0 {
			if b, ok := cache[&fr[0]]; ok {
				out[i] = b
				continue
			}
		}
		m, err := gocv.IMDecode(fr, gocv.IMReadColor)
		if err != nil || m.Empty() {
			m.Close()
			return nil, src, fmt.Errorf("bench: decode frame %d for --resize/--pad: %v", i, err)
		}
		src = image.Pt(m.Cols(), m.Rows())
		_, _, off, size := x.geometry(src)
		if x.Canvas != (image.Point{}) && (size.X > x.Canvas.X || size.Y > x.Canvas.Y) {
			m.Close()
			return nil, src, fmt.Errorf("bench: --pad %dx%d is smaller than the frames (%dx%d)", x.Canvas.X, x.Canvas.Y, size.X, size.Y)
		}
		r := gocv.NewMat()
		gocv.Resize(m, &r, size, 0, 0, gocv.InterpolationArea)
		m.Close()
		if x.Canvas != (image.Point{}) {
			c := gocv.NewMatWithSize(x.Canvas.Y, x.Canvas.X, r.Type())
			c.SetTo(gocv.NewScalar(0, 0, 0, 0))
			roi := c.Region(image.Rectangle{Min: off, Max: off.Add(size)})
			r.CopyTo(&roi)
			roi.Close()
			r.Close()
			r = c
		}
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, r, []int{gocv.IMWriteJpegQuality, 90})
		r.Close()
		if err != nil {
			return nil, src, fmt.Errorf("bench: encode frame %d: %w", i, err)
		}
		out[i] = append([]byte(nil), buf.GetBytes()...)
		buf.Close()
		if len(fr) > 0 {
			cache[&fr[0]] = out[i]
		}
	}
	return out, src, nil
}

// MapTruth maps a ground truth in the video's pixels onto the mapped
// frames (src: the video's frame size).
func (x Xform) MapTruth(gt map[int][]TruthFace, src image.Point) map[int][]TruthFace {
	if !x.on() {
		return gt
	}
	out := make(map[int][]TruthFace, len(gt))
	for fr, fs := range gt {
		m := make([]TruthFace, len(fs))
		for i, f := range fs {
			m[i] = TruthFace{Box: x.Box(f.Box, src), Name: f.Name}
		}
		out[fr] = m
	}
	return out
}

// WriteTruth writes the reference the name metrics judged camera 0's
// frames against (the naive run's faces and appearances, or the --truth
// file) as a ground-truth file in the video's frame numbers and pixels
// (boxes unmapped through x), so a --resize/--pad run can be judged
// against the full-size naive run. With all (a naive reference: every
// frame it processed is judged) a frame without faces is written as
// showing nobody; else only the frames t lists are written.
func WriteTruth(w io.Writer, t Truth, at []int, x Xform, src image.Point, all bool) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# facemon bench --write-truth: the reference of the naive run (frame = the video's frame number)\n")
	type line struct {
		Frame int        `json:"frame"`
		Boxes []truthBox `json:"boxes"`
	}
	seen := map[int]bool{}
	idx := make([]int, 0, len(at))
	for i := range at {
		idx = append(idx, i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return at[idx[a]] < at[idx[b]] })
	for _, i := range idx {
		fs, ok := t[frameKey(camName(0), i+1)]
		if (!ok && !all) || seen[at[i]] {
			continue
		}
		seen[at[i]] = true
		l := line{Frame: at[i], Boxes: []truthBox{}}
		for _, f := range fs {
			b := f.Box
			if x.on() {
				b = x.Unbox(b, src)
			}
			bx, by, wd, ht := b[0], b[1], b[2]-b[0], b[3]-b[1]
			l.Boxes = append(l.Boxes, truthBox{X: &bx, Y: &by, W: &wd, H: &ht, Name: f.Name})
		}
		j, err := json.Marshal(l)
		if err != nil {
			return err
		}
		bw.Write(j)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// VideoSize is the frame size of a video file.
func VideoSize(path string) (image.Point, error) {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		return image.Point{}, fmt.Errorf("bench: open video %s: %w", path, err)
	}
	defer vc.Close()
	p := image.Pt(int(vc.Get(gocv.VideoCaptureFrameWidth)), int(vc.Get(gocv.VideoCaptureFrameHeight)))
	if p.X <= 0 || p.Y <= 0 {
		return p, fmt.Errorf("bench: video %s: no frame size", path)
	}
	return p, nil
}
