// Package provision makes a model directory hold the three dlib model files
// go-face loads, each verified against a pinned sha256:
//
//   - dlib_face_recognition_resnet_model_v1.dat, converted from the face-api
//     (TF.js) weights of @vladmandic/face-api 1.7.15 (see package convert);
//   - shape_predictor_5_face_landmarks.dat, dlib's landmark model (go-face
//     loads this name; Debian's 68-point model is used under that name when
//     no pinned 5-point model is available: dlib's chip alignment accepts 68
//     or 5 parts);
//   - mmod_human_face_detector.dat, dlib's CNN face detector.
//
// Files are written through a temp file, fsync and rename, so a directory
// never holds a partial model. The package is pure Go; the conversion is
// injected through Options.Convert (package convert needs cgo).
package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Model file names (go-face's names).
const (
	RecognitionModel = "dlib_face_recognition_resnet_model_v1.dat"
	ShapePredictor   = "shape_predictor_5_face_landmarks.dat"
	CNNDetector      = "mmod_human_face_detector.dat"
	// SourcesFile records, in the model directory, where each file came from.
	SourcesFile = "SOURCES.json"
)

// Pinned sha256 sums.
const (
	// RecognitionModelSHA256 is the converted model (22,466,154 bytes).
	RecognitionModelSHA256 = "901e35cc42c03cc7a7f154813a62168de1784a47f4d8ec32de5411f59371c87e"
	// CNNDetectorSHA256 is dlib's mmod_human_face_detector.dat (729,940 bytes,
	// decompressed; same as davisking/dlib-models).
	CNNDetectorSHA256 = "be467b1a76f482693de3b0f6a1ff91d092319be71523d4d4b0628f6a53fcb87a"
	// Debian68SHA256 is Debian libdlib-data's
	// /usr/share/dlib/shape_predictor_68_face_landmarks.dat (99,693,937 bytes).
	Debian68SHA256 = "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"
	// ShapePredictor5SHA256 would pin dlib.net's 5-point model. No trustworthy
	// published sum was found, so it is empty and the download is skipped.
	ShapePredictor5SHA256 = ""

	// FaceAPIVersion is the npm package the recognition weights come from.
	FaceAPIVersion = "1.7.15"
	FaceAPIPackage = "@vladmandic/face-api@" + FaceAPIVersion
	// FaceAPIBinSHA256 / FaceAPIManifestSHA256 pin face-api's
	// model/face_recognition_model.bin and its weights manifest.
	FaceAPIBinSHA256      = "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589"
	FaceAPIManifestSHA256 = "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b"
	FaceAPIBin            = "face_recognition_model.bin"
	FaceAPIManifest       = "face_recognition_model-weights_manifest.json"

	// DebianShapePredictor68 is where libdlib-data installs the 68-point model.
	DebianShapePredictor68 = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
	// DlibFilesURL is the base of dlib's official model downloads.
	DlibFilesURL = "http://dlib.net/files/"
)

// Environment variables read by DefaultOptions.
const (
	EnvModels     = "FACEMON_MODELS"      // model directory
	EnvModelsFrom = "FACEMON_MODELS_FROM" // directory with ready model files
	EnvFaceAPI    = "FACEMON_FACEAPI"     // face-api package dir or .tgz
	EnvCache      = "FACEMON_CACHE"       // cache directory
	EnvOffline    = "FACEMON_OFFLINE"     // non-empty: no downloads, no npm
)

// ConvertFunc converts face-api weights (manifest, bin) into dlib's model at out.
type ConvertFunc func(manifestPath, binPath, outPath string) error

// Options controls Ensure.
type Options struct {
	Dir      string // model directory (default $FACEMON_MODELS, else <repo>/models/data)
	From     string // directory holding ready model files (default $FACEMON_MODELS_FROM)
	FaceAPI  string // face-api package directory or npm .tgz (default $FACEMON_FACEAPI)
	CacheDir string // cache for face-api weights (default $FACEMON_CACHE, else the user cache dir + /facemon)

	// Convert turns face-api weights into the dlib model; nil means the
	// conversion is unavailable (e.g. a CGO_ENABLED=0 build).
	Convert ConvertFunc

	Offline         bool          // no downloads and no npm
	DownloadTimeout time.Duration // per download (default 20s)
	NPMTimeout      time.Duration // for npm pack (default 3m)
	BaseURL         string        // default DlibFilesURL
	NPM             string        // npm binary (default "npm")
	Debian68        string        // default DebianShapePredictor68
	Log             io.Writer     // progress lines (default os.Stderr)

	// pins overrides pinned sums by file name (tests only).
	pins map[string]string
}

// DefaultOptions fills Options from the environment.
func DefaultOptions() Options {
	return Options{
		Dir:      os.Getenv(EnvModels),
		From:     os.Getenv(EnvModelsFrom),
		FaceAPI:  os.Getenv(EnvFaceAPI),
		CacheDir: os.Getenv(EnvCache),
		Offline:  os.Getenv(EnvOffline) != "",
	}
}

// DefaultDir is models/data at the repository root (the directory holding
// go.work, searched upwards from the working directory), or models/data
// relative to the working directory when no go.work is found.
func DefaultDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Join("models", "data")
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, "models", "data")
		}
		p := filepath.Dir(d)
		if p == d {
			return filepath.Join(wd, "models", "data")
		}
		d = p
	}
}

func (o *Options) setDefaults() {
	if o.Dir == "" {
		o.Dir = DefaultDir()
	}
	if o.CacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			o.CacheDir = filepath.Join(d, "facemon")
		} else {
			o.CacheDir = filepath.Join(os.TempDir(), "facemon-cache")
		}
	}
	if o.DownloadTimeout == 0 {
		o.DownloadTimeout = 20 * time.Second
	}
	if o.NPMTimeout == 0 {
		o.NPMTimeout = 3 * time.Minute
	}
	if o.BaseURL == "" {
		o.BaseURL = DlibFilesURL
	}
	if o.NPM == "" {
		o.NPM = "npm"
	}
	if o.Debian68 == "" {
		o.Debian68 = DebianShapePredictor68
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

func (o *Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Log, "facemon-models: "+format+"\n", args...)
}

// pin returns the pinned sum for a file name (or face-api file).
func (o *Options) pin(name string) string {
	if s, ok := o.pins[name]; ok {
		return s
	}
	switch name {
	case RecognitionModel:
		return RecognitionModelSHA256
	case CNNDetector:
		return CNNDetectorSHA256
	case FaceAPIBin:
		return FaceAPIBinSHA256
	case FaceAPIManifest:
		return FaceAPIManifestSHA256
	case "debian68":
		return Debian68SHA256
	case "sp5":
		return ShapePredictor5SHA256
	}
	return ""
}

// accepted returns the sums accepted for a model file, with a description.
func (o *Options) accepted(name string) map[string]string {
	m := map[string]string{}
	switch name {
	case ShapePredictor:
		if s := o.pin("sp5"); s != "" {
			m[s] = "dlib 5-point landmark model (dlib.net)"
		}
		if s := o.pin("debian68"); s != "" {
			m[s] = "Debian libdlib-data 68-point landmark model"
		}
	case RecognitionModel:
		m[o.pin(name)] = "converted from face-api " + FaceAPIVersion
	case CNNDetector:
		m[o.pin(name)] = "dlib MMOD CNN face detector"
	}
	return m
}

// Files lists the model files Ensure provisions.
func Files() []string { return []string{CNNDetector, ShapePredictor, RecognitionModel} }

// Status is the verification result of one model file.
type Status struct {
	Name    string
	Path    string
	Present bool
	Size    int64
	SHA256  string
	OK      bool   // present with an accepted sum
	Variant string // what the sum identifies (when OK)
	Err     error  // why not OK
}

// Verify checks every model file in dir against its pinned sums.
func Verify(dir string) []Status { return (&Options{Dir: dir}).verify() }

func (o *Options) verify() []Status {
	var out []Status
	for _, name := range Files() {
		out = append(out, o.verifyOne(name))
	}
	return out
}

func (o *Options) verifyOne(name string) Status {
	st := Status{Name: name, Path: filepath.Join(o.Dir, name)}
	acc := o.accepted(name)
	sum, size, err := fileSHA256(st.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		st.Err = fmt.Errorf("%s: missing from %s; %s", name, o.Dir, howTo(name))
		return st
	case err != nil:
		st.Err = fmt.Errorf("%s: %w", name, err)
		return st
	}
	st.Present, st.Size, st.SHA256 = true, size, sum
	if v, ok := acc[sum]; ok {
		st.OK, st.Variant = true, v
		return st
	}
	st.Err = fmt.Errorf("%s: sha256 %s (%d bytes) does not match the pinned %s; delete it and %s",
		name, sum, size, joinSums(acc), howTo(name))
	return st
}

func joinSums(m map[string]string) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	s := ""
	for i, k := range ks {
		if i > 0 {
			s += " or "
		}
		s += k
	}
	if s == "" {
		s = "(none)"
	}
	return s
}

// howTo tells a user how to provide a file.
func howTo(name string) string {
	switch name {
	case RecognitionModel:
		return "run `facemon-models ensure` (cgo build) to convert it from face-api " + FaceAPIVersion +
			" weights: pass --faceapi DIR|TGZ (npm pack " + FaceAPIPackage + "), or let it run npm pack"
	case ShapePredictor:
		return "run `facemon-models ensure` with libdlib-data installed (apt-get install libdlib-data provides " +
			DebianShapePredictor68 + ")"
	case CNNDetector:
		return "run `facemon-models ensure --from DIR` with DIR holding " + CNNDetector +
			" (CI: ../shared/models), or with network access to " + DlibFilesURL
	}
	return "run `facemon-models ensure`"
}

// Ensure makes opts.Dir hold every model file with a pinned sum. Files already
// present with the right sum are left alone. It returns an error naming each
// file it could not provide.
func Ensure(ctx context.Context, opts Options) error {
	o := &opts
	o.setDefaults()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("model directory: %w", err)
	}
	o.logf("model directory %s", o.Dir)
	sources := readSources(o.Dir)
	var errs []error
	for _, name := range Files() {
		st := o.verifyOne(name)
		if st.OK {
			o.logf("%s: ok (%s, sha256 %s)", name, st.Variant, st.SHA256)
			if _, ok := sources[name]; !ok {
				sources[name] = Source{Variant: st.Variant, SHA256: st.SHA256, Origin: "already present"}
			}
			continue
		}
		if st.Present {
			o.logf("%s: present but sha256 %s is not pinned; replacing it", name, st.SHA256)
		}
		var src Source
		var err error
		switch name {
		case CNNDetector:
			src, err = o.ensureCNN(ctx)
		case ShapePredictor:
			src, err = o.ensureShape(ctx)
		case RecognitionModel:
			src, err = o.ensureRecognition(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w; to provide it, %s", name, err, howTo(name)))
			o.logf("%s: FAILED: %v", name, err)
			continue
		}
		src.Time = time.Now().UTC().Format(time.RFC3339)
		sources[name] = src
		o.logf("%s: ok (%s from %s, sha256 %s)", name, src.Variant, src.Origin, src.SHA256)
	}
	if err := writeSources(o.Dir, sources); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Source records where a file came from (SOURCES.json).
type Source struct {
	Variant string `json:"variant"`
	Origin  string `json:"origin"`
	SHA256  string `json:"sha256"`
	Time    string `json:"time,omitempty"`
}
