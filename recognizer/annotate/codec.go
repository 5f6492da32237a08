package annotate

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/shared/msg"
)

// Codec implements pipeline.Codec with OpenCV: one full decode per frame
// (shared by detection, description and drawing), a 1/8-scale greyscale
// decode for motion (libjpeg's DCT scaling: no full decode), and encoding
// that keeps the result under the broker's packet limit.
type Codec struct{}

var _ pipeline.Codec = Codec{}

// Thumb decodes jpeg at 1/8 scale in grey (IMREAD_REDUCED_GRAYSCALE_8).
func (Codec) Thumb(jpeg []byte) (pipeline.Grey, error) {
	m, err := gocv.IMDecode(jpeg, gocv.IMReadReducedGrayscale8)
	if err != nil {
		return pipeline.Grey{}, fmt.Errorf("%w: thumb: %v", face.ErrImage, err)
	}
	defer m.Close()
	if m.Empty() || m.Type() != gocv.MatTypeCV8U {
		return pipeline.Grey{}, fmt.Errorf("%w: thumb: empty image", face.ErrImage)
	}
	b := m.ToBytes()
	return pipeline.Grey{Pix: b, Width: m.Cols(), Height: m.Rows()}, nil
}

type picture struct{ m gocv.Mat }

func (p *picture) Pixels() face.Pixels {
	b, _ := p.m.DataPtrUint8()
	return face.Pixels{Pix: b, Width: p.m.Cols(), Height: p.m.Rows(), Stride: p.m.Step(), BGR: true}
}

func (p *picture) Close() { p.m.Close() }

// Decode decodes jpeg to BGR pixels.
func (Codec) Decode(jpeg []byte) (pipeline.Picture, error) {
	m, err := gocv.IMDecode(jpeg, gocv.IMReadColor)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", face.ErrImage, err)
	}
	if m.Empty() || m.Type() != gocv.MatTypeCV8UC3 || !m.IsContinuous() {
		m.Close()
		return nil, fmt.Errorf("%w: empty or unsupported image", face.ErrImage)
	}
	return &picture{m: m}, nil
}

// Annotate draws faces on pic (in place) and encodes it at Quality, lower
// quality or half size when the result would exceed maxBytes.
func (Codec) Annotate(pic pipeline.Picture, faces []msg.Face, maxBytes int) ([]byte, error) {
	p, ok := pic.(*picture)
	if !ok {
		return nil, fmt.Errorf("annotate: foreign picture %T", pic)
	}
	draw(&p.m, faces)
	return encodeBounded(p.m, maxBytes)
}

func encodeBounded(img gocv.Mat, maxBytes int) ([]byte, error) {
	q := Quality
	cur := img
	defer func() {
		if cur.Ptr() != img.Ptr() {
			cur.Close()
		}
	}()
	for range 8 {
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, cur, []int{gocv.IMWriteJpegQuality, q})
		if err != nil {
			return nil, fmt.Errorf("annotate: encode: %w", err)
		}
		out := append([]byte(nil), buf.GetBytes()...)
		buf.Close()
		if maxBytes <= 0 || len(out) <= maxBytes {
			return out, nil
		}
		if q > 50 {
			q = 50
			continue
		}
		small := gocv.NewMat()
		gocv.Resize(cur, &small, image.Point{}, 0.5, 0.5, gocv.InterpolationArea)
		if cur.Ptr() != img.Ptr() {
			cur.Close()
		}
		cur = small
	}
	return nil, fmt.Errorf("annotate: cannot encode under %d bytes", maxBytes)
}

func draw(img *gocv.Mat, faces []msg.Face) {
	for _, f := range faces {
		c := red
		label := "unknown"
		if f.Name != msg.Unknown {
			c = green
			label = fmt.Sprintf("%s %.2f", f.Name, f.Distance)
			if f.Tentative { // best recognition so far, not yet agreed
				label = fmt.Sprintf("%s? %.2f", f.Name, f.Distance)
			}
		}
		if f.Track > 0 {
			label = fmt.Sprintf("#%d %s", f.Track, label)
		}
		r := image.Rect(f.Box[0], f.Box[1], f.Box[2], f.Box[3])
		gocv.Rectangle(img, r, c, 2)
		size := gocv.GetTextSize(label, gocv.FontHersheySimplex, 0.5, 1)
		y := r.Min.Y - 4
		if y-size.Y < 0 {
			y = r.Max.Y + size.Y + 4
		}
		bg := image.Rect(r.Min.X, y-size.Y-4, r.Min.X+size.X+6, y+4)
		gocv.Rectangle(img, bg, c, -1)
		gocv.PutText(img, label, image.Pt(r.Min.X+3, y), gocv.FontHersheySimplex, 0.5, white, 1)
	}
}
