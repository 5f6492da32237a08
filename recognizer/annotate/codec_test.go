package annotate

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand"
	"testing"

	"github.com/facemon/facemon/shared/msg"
)

func noisyJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(1))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCodecDecodeOnceThumbAndBoundedSize(t *testing.T) {
	src := noisyJPEG(t, 640, 360)
	var c Codec
	g, err := c.Thumb(src)
	if err != nil || g.Width != 80 || g.Height != 45 || len(g.Pix) != 80*45 {
		t.Fatalf("thumb %dx%d (%d bytes), %v", g.Width, g.Height, len(g.Pix), err)
	}
	pic, err := c.Decode(src)
	if err != nil {
		t.Fatal(err)
	}
	px := pic.Pixels()
	if px.Width != 640 || px.Height != 360 || !px.BGR || px.Check() != nil {
		t.Fatalf("pixels %+v", px)
	}
	faces := []msg.Face{{Name: "alice", Distance: 0.4, Track: 3, Box: [4]int{100, 100, 200, 200}}}
	// Noise compresses badly: a 60 kB bound forces lower quality and a
	// smaller size, and the result must respect it.
	out, err := c.Annotate(pic, faces, 60_000)
	pic.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 60_000 {
		t.Fatalf("annotated frame %d bytes > 60000", len(out))
	}
	if _, err := jpeg.Decode(bytes.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode([]byte("nope")); err == nil {
		t.Error("garbage decoded")
	}
	if _, err := c.Thumb([]byte("nope")); err == nil {
		t.Error("garbage thumbnail")
	}
	_ = color.RGBA{}
}
