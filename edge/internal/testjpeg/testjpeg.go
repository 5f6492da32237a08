// Package testjpeg makes the JPEG frames the capture tests feed through
// their sources. Only _test.go files import it.
package testjpeg

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// Gradient encodes a w×h gradient whose colour depends on i, so frames
// with different i differ.
func Gradient(t testing.TB, w, h, i int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x/3 + i*40), uint8(y / 2), uint8(i * 70), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Dir writes n distinct w×h JPEGs as f0.jpg, f1.jpg, ... into a temporary
// directory and returns it with the frames.
func Dir(t testing.TB, n, w, h int) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	var frames [][]byte
	for i := 0; i < n; i++ {
		j := Gradient(t, w, h, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.jpg", i)), j, 0o600); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, j)
	}
	return dir, frames
}
