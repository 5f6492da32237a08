package annotate

import (
	"os"
	"testing"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/internal/cmykjpeg"
	"github.com/facemon/facemon/recognizer/internal/testenv"
)

// Live frames from a greyscale or CMYK JPEG camera decode to colour pixels
// on the frame path, and the real engine finds and describes the face.
func TestGreyAndCMYKFramesDecode(t *testing.T) {
	data, err := os.ReadFile(testenv.Testdata(t, "edge", "obama-480p.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := dlib.Open(testenv.Models(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	vs, err := cmykjpeg.Variants(data)
	if err != nil {
		t.Fatal(err)
	}
	var c Codec
	for _, v := range vs[:2] { // grey-jpeg, cmyk-jpeg (frames are JPEG)
		t.Run(v.Name, func(t *testing.T) {
			g, err := c.Thumb(v.Data)
			if err != nil || g.Width == 0 {
				t.Fatalf("thumb: %v", err)
			}
			pic, err := c.Decode(v.Data)
			if err != nil {
				t.Fatal(err)
			}
			defer pic.Close()
			px := pic.Pixels()
			boxes, err := e.Detect(px, face.HOGGrey, 0)
			if err != nil || len(boxes) != 1 {
				t.Fatalf("%d faces, %v; want 1", len(boxes), err)
			}
			fs, err := e.Describe(px, boxes)
			if err != nil || len(fs) != 1 {
				t.Fatalf("describe: %d, %v", len(fs), err)
			}
		})
	}
}
