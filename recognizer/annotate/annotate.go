// Package annotate draws face boxes, names and distances on JPEG frames with
// OpenCV (gocv). It is the recognizer's only OpenCV code.
package annotate

import (
	"fmt"
	"image/color"

	"gocv.io/x/gocv"

	"github.com/facemon/facemon/shared/msg"
)

var (
	green = color.RGBA{40, 200, 60, 0}
	red   = color.RGBA{220, 40, 40, 0}
	white = color.RGBA{255, 255, 255, 0}
)

// Quality is the JPEG quality of annotated frames.
var Quality = 80

// JPEG decodes frame, draws faces and re-encodes it (the per-frame path;
// the pipeline uses Codec, which decodes once).
func JPEG(frame []byte, faces []msg.Face) ([]byte, error) {
	img, err := gocv.IMDecode(frame, gocv.IMReadColor)
	if err != nil {
		return nil, fmt.Errorf("annotate: decode: %w", err)
	}
	defer img.Close()
	if img.Empty() {
		return nil, fmt.Errorf("annotate: decode: empty image")
	}
	draw(&img, faces)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, Quality})
	if err != nil {
		return nil, fmt.Errorf("annotate: encode: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}
