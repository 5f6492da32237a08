// Package dlib implements face.Engine with dlib through github.com/Kagami/go-face.
// It is the only cgo in the recognizer.
package dlib

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"

	goface "github.com/Kagami/go-face"

	"github.com/facemon/facemon/recognizer/face"
)

// ModelFiles are the files go-face loads from the model directory.
var ModelFiles = []string{
	"shape_predictor_5_face_landmarks.dat",
	"dlib_face_recognition_resnet_model_v1.dat",
	"mmod_human_face_detector.dat",
}

// Engine wraps one go-face Recognizer. Use one per goroutine.
type Engine struct {
	rec *goface.Recognizer
}

// CheckModels reports a missing model file by name, with how to provide it.
func CheckModels(dir string) error {
	for _, f := range ModelFiles {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() == 0 {
			return fmt.Errorf("%w: %s not found in %s; run `make models` (or facemon-models ensure --dir %s)", face.ErrModel, f, dir, dir)
		}
	}
	return nil
}

// Open loads the models from dir.
func Open(dir string) (*Engine, error) { return OpenJitter(dir, 0) }

// OpenJitter loads the models; with jitter > 0 every descriptor is the mean
// over that many randomly jittered (shifted, rotated, mirrored) copies of
// the face chip: slower by that factor, steadier enrolment descriptors.
func OpenJitter(dir string, jitter int) (*Engine, error) {
	if err := CheckModels(dir); err != nil {
		return nil, err
	}
	if jitter < 0 || jitter > 1000 {
		return nil, fmt.Errorf("face: jitter %d out of range 0..1000", jitter)
	}
	rec, err := goface.NewRecognizerWithConfig(dir, 150, 0.25, jitter)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", face.ErrModel, dir, err)
	}
	return &Engine{rec: rec}, nil
}

// Recognize implements face.Engine. jpeg must be a JPEG.
func (e *Engine) Recognize(jpeg []byte, det face.Detector) ([]face.Face, error) {
	if e.rec == nil {
		return nil, face.ErrClosed
	}
	var (
		fs  []goface.Face
		err error
	)
	if det == face.CNN {
		fs, err = e.rec.RecognizeCNN(jpeg)
	} else {
		fs, err = e.rec.Recognize(jpeg)
	}
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]face.Face, len(fs))
	for i, f := range fs {
		out[i] = face.Face{Box: f.Rectangle, Descriptor: face.Descriptor(f.Descriptor), Landmarks: append([]image.Point(nil), f.Shapes...)}
	}
	return out, nil
}

var _ face.FrameEngine = (*Engine)(nil)

func pixels(p face.Pixels) goface.Image {
	im := goface.Image{Pix: p.Pix, Width: p.Width, Height: p.Height, Stride: p.Stride, Format: goface.RGB}
	if p.BGR {
		im.Format = goface.BGR
	}
	return im
}

func wrap(err error) error {
	var (
		le goface.ImageLoadError
		ie goface.InputError
		se goface.SerializationError
	)
	switch {
	case errors.Is(err, goface.ErrClosed):
		return face.ErrClosed
	case errors.As(err, &le), errors.As(err, &ie):
		return fmt.Errorf("%w: %v", face.ErrImage, err)
	case errors.As(err, &se):
		return fmt.Errorf("%w: %v", face.ErrModel, err)
	}
	return fmt.Errorf("face: dlib: %v", err)
}

// Detect implements face.FrameEngine.
func (e *Engine) Detect(img face.Pixels, det face.Detector, upsample int) ([]image.Rectangle, error) {
	if e.rec == nil {
		return nil, face.ErrClosed
	}
	if err := img.Check(); err != nil {
		return nil, err
	}
	var (
		rs  []image.Rectangle
		err error
	)
	if det == face.HOGGrey {
		rs, err = e.rec.DetectGrey(pixels(img), upsample)
	} else {
		rs, err = e.rec.Detect(pixels(img), upsample, det == face.CNN)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return rs, nil
}

// Describe implements face.FrameEngine.
func (e *Engine) Describe(img face.Pixels, boxes []image.Rectangle) ([]face.Face, error) {
	if e.rec == nil {
		return nil, face.ErrClosed
	}
	if err := img.Check(); err != nil {
		return nil, err
	}
	fs, err := e.rec.Describe(pixels(img), boxes)
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]face.Face, len(fs))
	for i, f := range fs {
		out[i] = face.Face{Box: f.Rectangle, Descriptor: face.Descriptor(f.Descriptor), Landmarks: f.Shapes}
	}
	return out, nil
}

// CNNLoaded reports whether this engine has loaded the CNN detector (it
// loads on first use).
func (e *Engine) CNNLoaded() bool { return e.rec != nil && e.rec.CNNLoaded() }

// Close frees the native recognizer. Safe to call twice.
func (e *Engine) Close() error {
	if e.rec != nil {
		e.rec.Close()
		e.rec = nil
	}
	return nil
}

// Opener returns a function that opens engines from dir, for face.NewPool.
func Opener(dir string) func() (face.Engine, error) {
	return func() (face.Engine, error) { return Open(dir) }
}
