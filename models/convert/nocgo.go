//go:build !cgo

package convert

import "errors"

// Available reports whether this build can run the dlib conversion (cgo).
const Available = false

// ErrNoCgo is returned by the dlib-backed functions in builds without cgo.
var ErrNoCgo = errors.New("convert: built without cgo; the face-api -> dlib conversion needs cgo and libdlib-dev (apt-get install libdlib-dev libopenblas-dev)")

// FaceAPIToDlib needs cgo; see dlib.go.
func FaceAPIToDlib(manifestPath, binPath, outPath string) error { return ErrNoCgo }

// BuildDlibModel needs cgo; see dlib.go.
func BuildDlibModel(params []float32, outPath string) error { return ErrNoCgo }
