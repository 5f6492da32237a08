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

// Model file names (dlib's names, as `facemon-models ensure` provisions them).
const (
	RecognitionModel = "dlib_face_recognition_resnet_model_v1.dat"
	ShapePredictor68 = "shape_predictor_68_face_landmarks.dat"
	ShapePredictor5  = "shape_predictor_5_face_landmarks.dat"
	CNNDetector      = "mmod_human_face_detector.dat"
)

// DefaultLandmarks is the landmark model engines load: the 68-point model
// (same LFW pair accuracy as the 5-point one, more household photos named
// from 1-2 enrolment photos; see the README's quality section).
// 5 selects the CC0 5-point model (the 68-point model's iBUG 300-W training
// data excludes commercial use).
const DefaultLandmarks = 68

// EnvLandmarks overrides DefaultLandmarks for the commands ("5" or "68").
const EnvLandmarks = "FACEMON_LANDMARKS"

// ShapePredictorFile is the landmark model file for 5 or 68 points.
func ShapePredictorFile(landmarks int) (string, error) {
	switch landmarks {
	case 68:
		return ShapePredictor68, nil
	case 5:
		return ShapePredictor5, nil
	}
	return "", fmt.Errorf("face: landmarks %d: want 5 or 68", landmarks)
}

// ModelFiles are the files an engine with that landmark model loads.
func ModelFiles(landmarks int) ([]string, error) {
	sp, err := ShapePredictorFile(landmarks)
	if err != nil {
		return nil, err
	}
	return []string{sp, RecognitionModel, CNNDetector}, nil
}

// Config says which models an engine loads.
type Config struct {
	Dir       string // model directory
	Landmarks int    // 5 or 68 (0: DefaultLandmarks)
	// Jitter > 0 makes every descriptor the mean over that many randomly
	// jittered (shifted, rotated, mirrored) copies of the face chip: slower
	// by that factor, steadier enrolment descriptors.
	Jitter int
}

// Engine wraps one go-face Recognizer. Use one per goroutine.
type Engine struct {
	rec       *goface.Recognizer
	landmarks int
	linkDir   string // symlinks the engine reads its models through; removed by Close
}

// CheckModels reports a missing model file by name, with how to provide it.
func CheckModels(dir string, landmarks int) error {
	files, err := ModelFiles(landmarks)
	if err != nil {
		return err
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() == 0 {
			return fmt.Errorf("%w: %s not found in %s; run `make models` (or facemon-models ensure --dir %s)", face.ErrModel, f, dir, dir)
		}
	}
	return nil
}

// Open loads the default models from dir.
func Open(dir string) (*Engine, error) { return OpenConfig(Config{Dir: dir}) }

// OpenConfig loads the models cfg names.
//
// go-face always reads <dir>/shape_predictor_5_face_landmarks.dat. For the
// 68-point model the engine loads from a temporary directory of symlinks
// that gives the chosen file that name. It lives as long as the engine: the
// fork loads the CNN detector from the same directory on first use.
func OpenConfig(cfg Config) (*Engine, error) {
	if cfg.Landmarks == 0 {
		cfg.Landmarks = DefaultLandmarks
	}
	if err := CheckModels(cfg.Dir, cfg.Landmarks); err != nil {
		return nil, err
	}
	if cfg.Jitter < 0 || cfg.Jitter > 1000 {
		return nil, fmt.Errorf("face: jitter %d out of range 0..1000", cfg.Jitter)
	}
	dir := cfg.Dir
	if cfg.Landmarks != 5 {
		tmp, err := linkDir(cfg.Dir, cfg.Landmarks)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", face.ErrModel, err)
		}
		dir = tmp
	}
	rec, err := goface.NewRecognizerWithConfig(dir, 150, 0.25, cfg.Jitter)
	if err != nil {
		if dir != cfg.Dir {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("%w: %s: %v", face.ErrModel, cfg.Dir, err)
	}
	e := &Engine{rec: rec, landmarks: cfg.Landmarks}
	if dir != cfg.Dir {
		e.linkDir = dir
	}
	return e, nil
}

// linkDir makes a temp directory where go-face's file names point at the
// chosen files in dir.
func linkDir(dir string, landmarks int) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	sp, err := ShapePredictorFile(landmarks)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "facemon-models-*")
	if err != nil {
		return "", err
	}
	for link, target := range map[string]string{ShapePredictor5: sp, RecognitionModel: RecognitionModel, CNNDetector: CNNDetector} {
		if err := os.Symlink(filepath.Join(abs, target), filepath.Join(tmp, link)); err != nil {
			os.RemoveAll(tmp)
			return "", err
		}
	}
	return tmp, nil
}

// Landmarks is the number of landmark points the engine's model gives.
func (e *Engine) Landmarks() int { return e.landmarks }

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
	switch det {
	case face.HOGGrey:
		rs, err = e.rec.DetectGrey(pixels(img), upsample)
	case face.HOGFast, face.HOGGreyFast:
		rs, err = e.rec.DetectFast(pixels(img), upsample, det == face.HOGGreyFast)
	default:
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
	if e.linkDir != "" {
		os.RemoveAll(e.linkDir)
		e.linkDir = ""
	}
	return nil
}

// Opener returns a function that opens engines from dir with the default
// landmark model, for face.NewPool.
func Opener(dir string) func() (face.Engine, error) { return ConfigOpener(Config{Dir: dir}) }

// ConfigOpener returns a function that opens engines with cfg, for face.NewPool.
func ConfigOpener(cfg Config) func() (face.Engine, error) {
	return func() (face.Engine, error) { return OpenConfig(cfg) }
}
