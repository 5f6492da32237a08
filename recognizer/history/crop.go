package history

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
)

// ErrBadBox is returned when a face box does not overlap the frame.
var ErrBadBox = errors.New("history: face box outside the frame")

// DefaultCropMargin widens a face box by this fraction of its size on every
// side, so crops include hair and chin like dataset photos do.
const DefaultCropMargin = 0.25

// CropQuality is the JPEG quality of stored crops.
const CropQuality = 90

// DecodeFrame decodes a JPEG frame.
func DecodeFrame(frame []byte) (image.Image, error) {
	img, err := jpeg.Decode(bytes.NewReader(frame))
	if err != nil {
		return nil, fmt.Errorf("history: decode frame: %w", err)
	}
	return img, nil
}

// CropRect returns box (x0, y0, x1, y1) widened by margin (a fraction of the
// box size on each side) and clipped to bounds.
func CropRect(bounds image.Rectangle, box [4]int, margin float64) (image.Rectangle, error) {
	r := image.Rect(box[0], box[1], box[2], box[3])
	if r.Empty() || margin < 0 || margin > 4 {
		return image.Rectangle{}, ErrBadBox
	}
	mx, my := int(float64(r.Dx())*margin), int(float64(r.Dy())*margin)
	r = image.Rect(r.Min.X-mx, r.Min.Y-my, r.Max.X+mx, r.Max.Y+my).Intersect(bounds)
	if r.Empty() {
		return image.Rectangle{}, ErrBadBox
	}
	return r, nil
}

// CropImage crops box (with margin) out of img and encodes it as JPEG.
func CropImage(img image.Image, box [4]int, margin float64) ([]byte, error) {
	r, err := CropRect(img.Bounds(), box, margin)
	if err != nil {
		return nil, err
	}
	dst := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(dst, dst.Bounds(), img, r.Min, draw.Src)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: CropQuality}); err != nil {
		return nil, fmt.Errorf("history: encode crop: %w", err)
	}
	return buf.Bytes(), nil
}

// Crop decodes a JPEG frame and returns the JPEG crop of box (x0, y0, x1,
// y1) widened by margin. Pure Go (image/jpeg and image/draw).
func Crop(frame []byte, box [4]int, margin float64) ([]byte, error) {
	img, err := DecodeFrame(frame)
	if err != nil {
		return nil, err
	}
	return CropImage(img, box, margin)
}
