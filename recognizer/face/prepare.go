package face

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	_ "image/png" // PNG input
	"io"

	xdraw "golang.org/x/image/draw"
)

// Prep bounds and rescales input images before detection.
type Prep struct {
	// MaxSide: images whose longer side exceeds it are downscaled to it
	// before detection (boxes are mapped back). 0 = no limit.
	MaxSide int
	// UpsampleBelow: images whose longer side is below it are upscaled 2x so
	// that faces of ~40 px reach the HOG detector's ~80 px minimum. 0 = never.
	UpsampleBelow int
	// MaxBytes and MaxPixels reject oversized input (decompression bombs).
	MaxBytes  int
	MaxPixels int
}

// DefaultPrep suits photos and camera frames.
var DefaultPrep = Prep{MaxSide: 2400, UpsampleBelow: 500, MaxBytes: 64 << 20, MaxPixels: 60_000_000}

// Prepared is an image ready for the engine: JPEG bytes and the scale from
// original to prepared pixels.
type Prepared struct {
	JPEG   []byte
	Scale  float64 // prepared = original * Scale
	Width  int     // original size
	Height int
	Format string // "jpeg" or "png"
}

// Unscale maps a rectangle in prepared coordinates back to the original.
func (p *Prepared) Unscale(r image.Rectangle) image.Rectangle {
	if p.Scale == 1 {
		return r
	}
	f := func(v int) int { return int(float64(v)/p.Scale + 0.5) }
	return image.Rect(f(r.Min.X), f(r.Min.Y), f(r.Max.X), f(r.Max.Y))
}

func (p *Prepared) unscalePoint(pt image.Point) image.Point {
	if p.Scale == 1 {
		return pt
	}
	return image.Pt(int(float64(pt.X)/p.Scale+0.5), int(float64(pt.Y)/p.Scale+0.5))
}

// Prepare checks an encoded image (JPEG or PNG) and returns JPEG bytes sized
// for detection. A colour JPEG already within bounds is passed through
// untouched; greyscale and CMYK JPEGs and PNGs of any colour model are
// decoded and re-encoded as colour JPEG.
func (o Prep) Prepare(data []byte) (*Prepared, error) {
	return o.prepare(data, o.MaxSide)
}

func (o Prep) prepare(data []byte, maxSide int) (*Prepared, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrImage)
	}
	if o.MaxBytes > 0 && len(data) > o.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(data), o.MaxBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %dx%d", ErrImage, cfg.Width, cfg.Height)
	}
	if o.MaxPixels > 0 && cfg.Width*cfg.Height > o.MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d pixels", ErrTooLarge, cfg.Width, cfg.Height)
	}
	long := max(cfg.Width, cfg.Height)
	scale := 1.0
	switch {
	case maxSide > 0 && long > maxSide:
		scale = float64(maxSide) / float64(long)
	case o.UpsampleBelow > 0 && long < o.UpsampleBelow:
		scale = 2
	}
	p := &Prepared{Scale: scale, Width: cfg.Width, Height: cfg.Height, Format: format}
	// The native loader reads 3-channel (YCbCr) JPEGs only: greyscale and
	// CMYK ones go through Go's decoder and are re-encoded in colour.
	if scale == 1 && format == "jpeg" && cfg.ColorModel == color.YCbCrModel && jpegComplete(data) {
		p.JPEG = data
		return p, nil
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	w, h := int(float64(cfg.Width)*scale+0.5), int(float64(cfg.Height)*scale+0.5)
	dst := image.NewRGBA(image.Rect(0, 0, max(w, 1), max(h, 1)))
	// Flatten alpha onto white: transparent pixels are background, not black.
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	if scale == 1 {
		draw.Draw(dst, dst.Bounds(), img, img.Bounds().Min, draw.Over)
	} else {
		xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Over, nil)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 95}); err != nil {
		return nil, fmt.Errorf("%w: re-encode: %v", ErrImage, err)
	}
	p.JPEG = buf.Bytes()
	return p, nil
}

// jpegComplete is a cheap check that a JPEG ends with an EOI marker (a
// camera may pad a few bytes after it). Truncated JPEGs go through Go's
// decoder, which reports the error, instead of the native loader.
func jpegComplete(data []byte) bool {
	return bytes.Contains(data[max(0, len(data)-64):], []byte{0xFF, 0xD9})
}

// ReadLimited reads at most limit bytes from r, failing with ErrTooLarge beyond.
func ReadLimited(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}
