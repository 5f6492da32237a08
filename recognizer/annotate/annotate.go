// Package annotate draws face boxes, names and distances on JPEG frames with
// OpenCV (gocv). It is the recognizer's only OpenCV code.
package annotate

import (
	"fmt"
	"image"
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

// JPEG decodes frame, draws faces and re-encodes it.
func JPEG(frame []byte, faces []msg.Face) ([]byte, error) {
	img, err := gocv.IMDecode(frame, gocv.IMReadColor)
	if err != nil {
		return nil, fmt.Errorf("annotate: decode: %w", err)
	}
	defer img.Close()
	if img.Empty() {
		return nil, fmt.Errorf("annotate: decode: empty image")
	}
	for _, f := range faces {
		c := red
		label := "unknown"
		if f.Name != msg.Unknown {
			c = green
			label = fmt.Sprintf("%s %.2f", f.Name, f.Distance)
		}
		r := image.Rect(f.Box[0], f.Box[1], f.Box[2], f.Box[3])
		gocv.Rectangle(&img, r, c, 2)
		size := gocv.GetTextSize(label, gocv.FontHersheySimplex, 0.5, 1)
		y := r.Min.Y - 4
		if y-size.Y < 0 {
			y = r.Max.Y + size.Y + 4
		}
		bg := image.Rect(r.Min.X, y-size.Y-4, r.Min.X+size.X+6, y+4)
		gocv.Rectangle(&img, bg, c, -1)
		gocv.PutText(&img, label, image.Pt(r.Min.X+3, y), gocv.FontHersheySimplex, 0.5, white, 1)
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, Quality})
	if err != nil {
		return nil, fmt.Errorf("annotate: encode: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}
