// Package face is the boundary to the native face engine (dlib through
// go-face, in face/dlib). Everything here is pure Go: the Engine interface,
// typed errors, descriptors and distances, image preparation, and a worker
// pool. Code around the engine tests without cgo.
package face

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// DescriptorLen is the length of a face descriptor.
const DescriptorLen = 128

// Descriptor is dlib's 128-D face embedding.
type Descriptor [DescriptorLen]float32

// Distance is the Euclidean distance between two descriptors (not squared:
// dlib's 0.6 rule applies to this value).
func Distance(a, b Descriptor) float64 {
	var s float64
	for i := range a {
		d := float64(a[i] - b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// Face is one detected face: its box in the caller's image coordinates,
// its landmarks and its descriptor.
type Face struct {
	Box        image.Rectangle
	Landmarks  []image.Point
	Descriptor Descriptor
}

// Detector selects the face detector.
type Detector int

const (
	// HOG is dlib's frontal HOG detector: fast (~20 ms per 640x480), frontal faces of ~80 px and up.
	HOG Detector = iota
	// CNN is dlib's MMOD CNN detector: slow (~0.5 s per 640x480), finds turned heads.
	CNN
	// HOGGrey is HOG on the grey image (decoded-frame path only; on JPEG
	// input it is HOG): one gradient per pixel instead of three.
	HOGGrey
	// HOGFast and HOGGreyFast are HOG and HOGGrey with a cheaper detector
	// for scanning whole frames: the three upright filters of dlib's five
	// (not the two for heads tilted sideways) on a coarser image pyramid
	// (4/5 scale steps instead of 5/6). About two thirds of the cost; 99 %
	// of the faces found on the test photos. The pipeline uses it for its
	// wide scans (see Detector.Fast); detections around tracked faces use
	// the full one.
	HOGFast
	HOGGreyFast
)

// Fast is d's fast counterpart for wide scans (HOGFast, HOGGreyFast); CNN
// and the fast ones are returned as they are.
func (d Detector) Fast() Detector {
	switch d {
	case HOG:
		return HOGFast
	case HOGGrey:
		return HOGGreyFast
	}
	return d
}

func (d Detector) String() string {
	switch d {
	case CNN:
		return "cnn"
	case HOGGrey:
		return "hog-grey"
	case HOGFast:
		return "hog-fast"
	case HOGGreyFast:
		return "hog-grey-fast"
	}
	return "hog"
}

// ParseDetector parses a --detector value: "hog" (or empty), "hog-grey"
// ("hog-gray") or "cnn" ("mmod"). The fast detectors are not offered: the
// pipeline picks them for its wide scans (Detector.Fast).
func ParseDetector(s string) (Detector, error) {
	switch s {
	case "hog", "HOG", "":
		return HOG, nil
	case "cnn", "CNN", "mmod":
		return CNN, nil
	case "hog-grey", "hog-gray":
		return HOGGrey, nil
	}
	return HOG, fmt.Errorf("unknown detector %q (want hog, hog-grey or cnn)", s)
}

// Typed errors. Engines wrap their native errors in these.
var (
	// ErrImage means the image could not be decoded (corrupt, empty, unsupported format).
	ErrImage = errors.New("face: cannot decode image")
	// ErrModel means a model file is missing or corrupt.
	ErrModel = errors.New("face: model file missing or corrupt")
	// ErrTooLarge means the image exceeds the size limits.
	ErrTooLarge = errors.New("face: image too large")
	// ErrClosed means the engine was used after Close.
	ErrClosed = errors.New("face: engine closed")
)

// Engine finds faces in a JPEG image and computes their descriptors.
// An Engine is used by one goroutine at a time; run several for parallelism
// (see Pool).
type Engine interface {
	// Recognize detects faces in JPEG bytes and returns them left to right.
	Recognize(jpeg []byte, det Detector) ([]Face, error)
	// Close frees native resources. Safe to call twice.
	Close() error
}
