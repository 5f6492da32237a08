// Package fakeface is a pure-Go stand-in for the dlib engine in tests that
// exercise the code around recognition (training, the gallery writer, the
// service's commands) rather than recognition itself: every image holds one
// face whose descriptor is derived from the image bytes, and each call can
// take a set time, so a "long training run" is cheap to make.
package fakeface

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/facemon/facemon/recognizer/face"
)

// Engine is a fake face.Engine.
type Engine struct {
	Delay time.Duration // time each Recognize takes
	Calls *atomic.Int64 // incremented per Recognize (may be nil)
}

// Recognize returns one face covering the middle of the image.
func (e Engine) Recognize(img []byte, _ face.Detector) ([]face.Face, error) {
	if e.Calls != nil {
		e.Calls.Add(1)
	}
	if e.Delay > 0 {
		time.Sleep(e.Delay)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		return nil, face.ErrImage
	}
	sum := sha256.Sum256(img)
	var d face.Descriptor
	for i := range d {
		d[i] = float32(binary.LittleEndian.Uint16(sum[(2*i)%len(sum):])%1000) / 10000
	}
	w, h := cfg.Width, cfg.Height
	return []face.Face{{Box: image.Rect(w/4, h/4, 3*w/4, 3*h/4), Descriptor: d}}, nil
}

// Close does nothing.
func (Engine) Close() error { return nil }

// Pool returns a pool of n fake engines.
func Pool(n int, e Engine) *face.Pool {
	p, err := face.NewPool(n, func() (face.Engine, error) { return e, nil })
	if err != nil {
		panic(err)
	}
	return p
}

// JPEG returns a distinct 160x160 noise image for seed.
func JPEG(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewRGBA(image.Rect(0, 0, 160, 160))
	for y := 0; y < 160; y++ {
		for x := 0; x < 160; x++ {
			v := uint8(r.IntN(256))
			img.Set(x, y, color.RGBA{v, uint8(r.IntN(256)), v / 2, 255})
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	return b.Bytes()
}
