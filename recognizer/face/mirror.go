package face

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
)

// Mirror returns the JPEG flipped left to right, and a function mapping a
// box in the mirrored image back to the original.
func Mirror(jpg []byte) ([]byte, func(image.Rectangle) image.Rectangle, error) {
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < w; x++ {
			dst.Set(w-1-x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 95}); err != nil {
		return nil, nil, err
	}
	back := func(r image.Rectangle) image.Rectangle {
		return image.Rect(w-r.Max.X, r.Min.Y, w-r.Min.X, r.Max.Y)
	}
	return buf.Bytes(), back, nil
}
