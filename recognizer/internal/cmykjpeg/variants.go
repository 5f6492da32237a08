package cmykjpeg

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
)

// Variant is an image re-encoded in another colour model.
type Variant struct {
	Name string // "grey-jpeg", "cmyk-jpeg", "grey-png", "grey16-png"
	Data []byte
}

// Variants decodes data (JPEG or PNG) and re-encodes it as a greyscale
// JPEG, a CMYK JPEG, a greyscale PNG and a 16-bit greyscale PNG, in that
// order.
func Variants(data []byte) ([]Variant, error) {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("cmykjpeg: %w", err)
	}
	grey := image.NewGray(img.Bounds())
	draw.Draw(grey, grey.Bounds(), img, img.Bounds().Min, draw.Src)
	grey16 := image.NewGray16(img.Bounds())
	draw.Draw(grey16, grey16.Bounds(), img, img.Bounds().Min, draw.Src)
	var out []Variant
	var b bytes.Buffer
	if err := jpeg.Encode(&b, grey, &jpeg.Options{Quality: 92}); err != nil {
		return nil, err
	}
	out = append(out, Variant{"grey-jpeg", bytes.Clone(b.Bytes())})
	c, err := Encode(img, 92)
	if err != nil {
		return nil, err
	}
	out = append(out, Variant{"cmyk-jpeg", c})
	for _, v := range []struct {
		name string
		img  image.Image
	}{{"grey-png", grey}, {"grey16-png", grey16}} {
		b.Reset()
		if err := png.Encode(&b, v.img); err != nil {
			return nil, err
		}
		out = append(out, Variant{v.name, bytes.Clone(b.Bytes())})
	}
	return out, nil
}

// ColorModel names the colour model data decodes to ("gray", "cmyk",
// "ycbcr", "gray16", ...), for tests that check a variant is what it says.
func ColorModel(data []byte) string {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "undecodable"
	}
	names := map[color.Model]string{color.GrayModel: "gray", color.Gray16Model: "gray16", color.CMYKModel: "cmyk",
		color.YCbCrModel: "ycbcr", color.RGBAModel: "rgba", color.NRGBAModel: "nrgba"}
	if n, ok := names[cfg.ColorModel]; ok {
		return n
	}
	return "other"
}
