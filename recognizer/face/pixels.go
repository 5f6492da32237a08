package face

import (
	"fmt"
	"image"
)

// Pixels is a decoded frame: Height rows of Stride bytes, each row Width
// packed 8-bit pixels of 3 bytes (BGR, OpenCV's order, or RGB).
type Pixels struct {
	Pix           []byte
	Width, Height int
	Stride        int // 0 means 3*Width
	BGR           bool
}

// Check reports a buffer too short for its size, or a bad size.
func (p Pixels) Check() error {
	stride := p.Stride
	if stride == 0 {
		stride = 3 * p.Width
	}
	if p.Width <= 0 || p.Height <= 0 || stride < 3*p.Width || len(p.Pix) < stride*(p.Height-1)+3*p.Width {
		return fmt.Errorf("%w: %dx%d pixels in %d bytes (stride %d)", ErrImage, p.Width, p.Height, len(p.Pix), stride)
	}
	return nil
}

// FrameEngine works on decoded pixels and splits detection from
// description, so a pipeline decodes a frame once and computes descriptors
// only for the faces that need one. Like Engine, one goroutine at a time.
type FrameEngine interface {
	Engine
	// Detect returns face boxes (HOG upsampled upsample times, 0..2, or CNN).
	Detect(img Pixels, det Detector, upsample int) ([]image.Rectangle, error)
	// Describe returns landmarks and descriptors for boxes, in order, as one
	// batch through the ResNet.
	Describe(img Pixels, boxes []image.Rectangle) ([]Face, error)
}

// Sub returns the part of p inside r (clipped to p), sharing p's buffer.
func (p Pixels) Sub(r image.Rectangle) Pixels {
	r = r.Intersect(image.Rect(0, 0, p.Width, p.Height))
	stride := p.Stride
	if stride == 0 {
		stride = 3 * p.Width
	}
	if r.Empty() {
		return Pixels{BGR: p.BGR}
	}
	off := r.Min.Y*stride + r.Min.X*3
	return Pixels{Pix: p.Pix[off:], Width: r.Dx(), Height: r.Dy(), Stride: stride, BGR: p.BGR}
}
