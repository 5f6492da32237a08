package annotate

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/facemon/facemon/shared/msg"
)

func TestDrawsBoxes(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 320, 240))
	var buf bytes.Buffer
	jpeg.Encode(&buf, src, nil)
	out, err := JPEG(buf.Bytes(), []msg.Face{{Name: "alice", Distance: 0.4, Box: [4]int{100, 100, 200, 200}}, {Name: msg.Unknown, Box: [4]int{10, 10, 60, 60}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	// A known face's box edge is green, an unknown one's is red.
	if r, g, _, _ := img.At(100, 150).RGBA(); g>>8 < 120 || r>>8 > 120 {
		t.Errorf("known box edge colour %v", img.At(100, 150))
	}
	if r, g, _, _ := img.At(10, 40).RGBA(); r>>8 < 120 || g>>8 > 120 {
		t.Errorf("unknown box edge colour %v", img.At(10, 40))
	}
	_ = color.RGBA{}
	if _, err := JPEG([]byte("nope"), nil); err == nil {
		t.Error("garbage accepted")
	}
}
