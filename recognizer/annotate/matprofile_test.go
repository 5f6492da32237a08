//go:build matprofile

package annotate

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facemon/facemon/shared/msg"
)

// Built with -tags matprofile (make test does), gocv counts the Mats not
// closed. The recognizer's per-frame OpenCV work — thumbnail, decode,
// annotate (including the downscaling path of an over-large frame), the
// old one-shot JPEG — must leave none behind, also for bad input.
func TestCodecLeaksNoMats(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	for i := range src.Pix {
		src.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, src, &jpeg.Options{Quality: 95})
	frame := buf.Bytes()
	faces := []msg.Face{{Name: "alice", Distance: 0.4, Box: [4]int{100, 100, 300, 300}}, {Name: msg.Unknown, Box: [4]int{500, 100, 600, 200}}}
	before := gocv.MatProfile.Count()
	var c Codec
	for i := 0; i < 20; i++ {
		if _, err := c.Thumb(frame); err != nil {
			t.Fatal(err)
		}
		pic, err := c.Decode(frame)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Annotate(pic, faces, 1<<20); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Annotate(pic, faces, 20_000); err != nil { // forces lower quality / downscale
			t.Fatal(err)
		}
		pic.Close()
		if _, err := JPEG(frame, faces); err != nil {
			t.Fatal(err)
		}
		c.Decode([]byte("not a jpeg"))
		c.Thumb([]byte("not a jpeg"))
	}
	if leaked := gocv.MatProfile.Count() - before; leaked != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d gocv Mats not closed:\n%s", leaked, b.String())
	}
}
