package pipeline

import "time"

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
}

// DefaultMotion was measured on the shared video and a looped still
// frame: see README "Recognize once per track".
var DefaultMotion = MotionConfig{Threshold: 14, MinFraction: 0.003, FullEvery: 2 * time.Second}

// moved compares g with the reference thumbnail (the one at the last
// detection). A size change or no reference counts as motion.
func (c MotionConfig) moved(ref, g Grey) bool {
	if len(ref.Pix) == 0 || ref.Width != g.Width || ref.Height != g.Height || len(ref.Pix) != len(g.Pix) {
		return true
	}
	limit := int(c.MinFraction * float64(len(g.Pix)))
	n := 0
	for i, v := range g.Pix {
		d := int(v) - int(ref.Pix[i])
		if d > c.Threshold || -d > c.Threshold {
			n++
			if n > limit {
				return true
			}
		}
	}
	return false
}
