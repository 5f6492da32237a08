package pipeline

import (
	"image"
	"time"
)

// Grey is a small greyscale image (row-major, one byte per pixel).
type Grey struct {
	Pix           []byte
	Width, Height int
}

// MotionConfig gates detection on a cheap low-resolution difference.
type MotionConfig struct {
	// Off runs detection on every frame.
	Off bool
	// Threshold is the grey-level difference (0..255) for a thumbnail
	// pixel (an 8x8 block of the frame) to count as changed.
	Threshold int
	// MinFraction of changed thumbnail pixels counts as motion.
	MinFraction float64
	// FullEvery runs a detection at least this often (capture time), so a
	// motionless person is not missed forever.
	FullEvery time.Duration
	// DetectEvery: while faces are tracked, detection runs on every
	// DetectEvery-th frame; between, boxes and names follow the tracks.
	// 1 detects on every frame that moved.
	DetectEvery int
	// IdleDetectEvery: with motion but no face tracked, detection runs on
	// every IdleDetectEvery-th frame (1: every moving frame; 3 cuts the
	// cost of a busy empty scene to a third and delays a new face by up to
	// two frames).
	IdleDetectEvery int
	// CropFullEvery: while faces are tracked, a detection looks only
	// around the tracks' last boxes, except every CropFullEvery-th one,
	// which covers the moving region (most often the frame) and finds new
	// faces; so does the first detection 1 s after the last wider one. 0
	// or 1: every detection covers the moving region.
	CropFullEvery int
	// WideFull runs the full HOG detector on wide scans (the frame or
	// the moving region: idle scans and the periodic ones that find new
	// faces). By default they use face.Detector.Fast (upright filters, a
	// coarser pyramid: two thirds of the cost, 99 % of the faces on the
	// test photos); detections around tracked faces always use the full
	// one, and a tracked face a fast scan misses is looked for with it.
	WideFull bool
}

// DefaultMotion was measured on the shared video and a looped still
// frame: see README "Recognize once per track".
var DefaultMotion = MotionConfig{Threshold: 14, MinFraction: 0.003, FullEvery: 2 * time.Second, DetectEvery: 5, IdleDetectEvery: 3, CropFullEvery: 10}

// changedRect returns the bounding box, in thumbnail pixels, of the
// pixels that changed from ref to g (empty when too few changed), and the
// fraction of g's pixels that changed. Without a comparable reference all
// of g changed.
func (c MotionConfig) changedRect(ref, g Grey) (r image.Rectangle, frac float64, moved bool) {
	if len(ref.Pix) == 0 || ref.Width != g.Width || ref.Height != g.Height || len(ref.Pix) != len(g.Pix) {
		return image.Rect(0, 0, g.Width, g.Height), 1, true
	}
	limit := int(c.MinFraction * float64(len(g.Pix)))
	n := 0
	minX, minY, maxX, maxY := g.Width, g.Height, -1, -1
	for y := 0; y < g.Height; y++ {
		row := y * g.Width
		for x := 0; x < g.Width; x++ {
			d := int(g.Pix[row+x]) - int(ref.Pix[row+x])
			if d > c.Threshold || -d > c.Threshold {
				n++
				minX, minY = min(minX, x), min(minY, y)
				maxX, maxY = max(maxX, x), max(maxY, y)
			}
		}
	}
	frac = float64(n) / float64(max(1, len(g.Pix)))
	if n <= limit {
		return image.Rectangle{}, frac, false
	}
	return image.Rect(minX, minY, maxX+1, maxY+1), frac, true
}
