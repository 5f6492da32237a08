package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/facemon/facemon/recognizer/clusterdb"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/recognizer/quality"
	"github.com/facemon/facemon/recognizer/train"
)

// Env is what subcommands need from main: streams and how to open engines.
type Env struct {
	Stdout, Stderr io.Writer
	// OpenPool opens n engines from the model directory with the 5- or
	// 68-point landmark model.
	OpenPool func(modelDir string, landmarks, n int) (*face.Pool, error)
	// Annotator draws boxes on frames for serve (nil: no annotated stream).
	Annotator pipeline.Annotator
	// Codec decodes each frame once for serve and bench (nil: per-frame method).
	Codec pipeline.Codec
}

// DefaultModelDir is the model directory: $FACEMON_MODELS or models/data.
func DefaultModelDir() string {
	if d := os.Getenv("FACEMON_MODELS"); d != "" {
		return d
	}
	return "models/data"
}

// DefaultLandmarks is $FACEMON_LANDMARKS, else 68 (the 68-point landmark
// model: measured to name more household photos from 1-2 enrolment photos;
// 5 is the CC0 5-point model).
func DefaultLandmarks() int {
	if v := os.Getenv("FACEMON_LANDMARKS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		return -1 // rejected by the flag check, naming the value
	}
	return 68
}

// DefaultWorkers is one engine per core.
func DefaultWorkers() int { return max(1, runtime.NumCPU()) }

type common struct {
	models    string
	landmarks int
	workers   int
	detector  string
	maxSide   int
	upsample  int
	minFace   int
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.models, "models", DefaultModelDir(), "model directory (env FACEMON_MODELS)")
	fs.IntVar(&c.landmarks, "landmarks", DefaultLandmarks(), "landmark model: 68 (shape_predictor_68_face_landmarks.dat; names more people from few photos; iBUG 300-W data, no commercial use) or 5 (shape_predictor_5_face_landmarks.dat, CC0, ~60 MB less memory per engine) (env FACEMON_LANDMARKS)")
	fs.IntVar(&c.workers, "workers", DefaultWorkers(), "parallel engines (~95 MB each with 68-point landmarks, ~35 MB with 5)")
	fs.StringVar(&c.detector, "detector", "hog", "face detector: hog (fast), hog-grey (HOG on the grey image; serve's default for frames) or cnn (slow, finds turned heads)")
	fs.IntVar(&c.maxSide, "max-side", face.DefaultPrep.MaxSide, "downscale images whose longer side exceeds this before detection")
	fs.IntVar(&c.upsample, "upsample-below", face.DefaultPrep.UpsampleBelow, "upscale 2x images whose longer side is below this (finds small faces)")
	fs.IntVar(&c.minFace, "min-face", 0, "ignore faces narrower than this many pixels")
}

// analyzer checks the flags and returns the analyzer they describe; its
// errors are usage errors.
func (c *common) analyzer() (face.Analyzer, error) {
	det, err := face.ParseDetector(c.detector)
	if err != nil {
		return face.Analyzer{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if c.landmarks != 5 && c.landmarks != 68 {
		if v := os.Getenv("FACEMON_LANDMARKS"); v != "" && c.landmarks == DefaultLandmarks() {
			return face.Analyzer{}, fmt.Errorf("%w: FACEMON_LANDMARKS=%q: want 5 or 68", errUsage, v)
		}
		return face.Analyzer{}, fmt.Errorf("%w: --landmarks %d: want 5 or 68", errUsage, c.landmarks)
	}
	if c.workers < 1 || c.workers > 64 {
		return face.Analyzer{}, fmt.Errorf("%w: --workers %d: want 1..64", errUsage, c.workers)
	}
	a := face.DefaultAnalyzer
	a.Detector = det
	a.Prep.MaxSide = c.maxSide
	a.Prep.UpsampleBelow = c.upsample
	a.MinFace = c.minFace
	return a, nil
}

// ruleFlags are the decision flags shared by identify and serve.
type ruleFlags struct {
	threshold  float64
	margin     float64
	strictness string
	score      string
	noise      float64
}

func (r *ruleFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&r.threshold, "threshold", gallery.DefaultThreshold, "Euclidean distance threshold (overrides --strictness; per-person thresholds in the gallery override both)")
	fs.Float64Var(&r.margin, "margin", gallery.DefaultRule.Margin, "required distance gap between the best and second-best person (0 = off)")
	fs.StringVar(&r.strictness, "strictness", "balanced", "relaxed (0.54), balanced (0.50), strict (0.46) or paranoid (0.42): one setting along the measured curve")
	fs.StringVar(&r.score, "score", "centroid", "how a person is scored: centroid (distance to the mean of their photos) or nearest (nearest photo)")
	fs.Float64Var(&r.noise, "sample-noise", gallery.DefaultSampleNoise, "centroid scoring: calibrate scores by a person's photo count so one threshold names as few strangers for a person with 8 photos as for one with 2 (0 = raw centroid distances; docs/reference-recognition.md)")
}

// rule returns the decision rule; an explicit --threshold wins over --strictness.
func (r *ruleFlags) rule(fs *flag.FlagSet) (gallery.Rule, error) {
	thr, err := gallery.ThresholdFor(r.strictness)
	if err != nil {
		return gallery.Rule{}, fmt.Errorf("%w: --strictness: %v", errUsage, err)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "threshold" {
			thr = r.threshold
		}
	})
	if thr <= 0 || thr > 2 {
		return gallery.Rule{}, fmt.Errorf("%w: --threshold %v: want (0, 2]", errUsage, thr)
	}
	if r.margin < 0 || r.margin > 1 {
		return gallery.Rule{}, fmt.Errorf("%w: --margin %v: want [0, 1]", errUsage, r.margin)
	}
	if r.noise < 0 || r.noise > 0.25 {
		return gallery.Rule{}, fmt.Errorf("%w: --sample-noise %v: want [0, 0.25]", errUsage, r.noise)
	}
	rule := gallery.DefaultRule
	rule.Threshold, rule.Margin, rule.SampleNoise = thr, r.margin, r.noise
	switch r.score {
	case "centroid":
		rule.Centroid = true
	case "nearest":
		rule.Centroid = false
	default:
		return gallery.Rule{}, fmt.Errorf("%w: --score %q: want centroid or nearest", errUsage, r.score)
	}
	return rule, nil
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// ExitCode maps an error from a subcommand to an exit status.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

func newFlagSet(env Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: facemon-recognizer %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// Train implements `facemon-recognizer train`.
func Train(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "train", "train --dataset DIR --gallery FILE [flags]")
	var c common
	c.register(fs)
	dataset := fs.String("dataset", "dataset", "folder of <name>/*.jpg|png, one face per image")
	galPath := fs.String("gallery", "gallery.json", "gallery file to write (atomically)")
	largest := fs.Bool("largest", false, "with several faces in an image, use the largest instead of skipping it")
	noCNN := fs.Bool("no-cnn-fallback", false, "do not retry with the CNN detector when HOG finds no face")
	full := fs.Bool("full", false, "re-encode every image (ignore the previous gallery's cached encodings; thresholds and negatives are kept)")
	noQuality := fs.Bool("no-quality", false, "skip the enrolment quality checks (blur, size, head turn, lighting)")
	rejectLow := fs.Bool("reject-low-quality", false, "leave out faces that fail a quality check instead of only flagging them")
	goodPhotos := fs.Int("good-photos", 3, "good photos per person to aim for; the summary says who needs more")
	dsn := fs.String("db", os.Getenv("FACEMON_DB"), "PostgreSQL URL of the shared state (serve --db): train from its dataset (mirrored into --dataset) and store the gallery there, one run at a time across the cluster (env FACEMON_DB)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var shared *clusterdb.DB
	if *dsn != "" {
		db, err := openSharedForTraining(ctx, *dsn, *dataset, *galPath, env)
		if err != nil {
			return err
		}
		defer db.Close()
		shared = db
	}
	a, err := c.analyzer()
	if err != nil {
		return err
	}
	a.CNNFallback = !*noCNN
	prev, err := gallery.LoadOrEmpty(*galPath)
	if err != nil {
		fmt.Fprintf(env.Stderr, "warning: previous gallery unreadable, encoding everything: %v\n", err)
		prev = nil
	}
	pool, err := env.OpenPool(c.models, c.landmarks, c.workers)
	if err != nil {
		return err
	}
	defer pool.Close()
	bar := newProgress(env.Stderr)
	opts := train.Options{Dataset: *dataset, Largest: *largest, Analyzer: a, Progress: bar.update, RejectLowQuality: *rejectLow, GoodPhotos: *goodPhotos, Full: *full,
		Journal: train.JournalPath(*galPath)}
	if !*noQuality {
		lim := quality.DefaultLimits
		opts.Quality = &lim
	}
	g, sum, err := train.Run(ctx, pool, prev, opts)
	bar.done()
	if err != nil {
		return err
	}
	if err := g.Save(*galPath); err != nil {
		return fmt.Errorf("save gallery: %w", err)
	}
	if shared != nil {
		doc, err := g.Encode()
		if err != nil {
			return err
		}
		v, err := shared.UpdateGallery(ctx, func([]byte) ([]byte, error) { return doc, nil })
		if err != nil {
			return fmt.Errorf("store the gallery in --db: %w", err)
		}
		fmt.Fprintf(env.Stdout, "stored in the shared database as gallery version %d\n", v)
	}
	if err := os.Remove(opts.Journal); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(env.Stderr, "warning: %v\n", err)
	}
	if sum.Resumed > 0 {
		fmt.Fprintf(env.Stdout, "resumed an interrupted run: %d encodings from %s\n", sum.Resumed, opts.Journal)
	}
	fmt.Fprintf(env.Stdout, "trained %s: %d people, %d images, %d encodings (%d reused from cache, %d found by CNN fallback), %d skipped, %.1fs\n",
		*galPath, sum.People, sum.Images, sum.Encodings, sum.Reused, sum.CNN, len(sum.Skipped), sum.Duration.Seconds())
	for _, s := range sum.Skipped {
		fmt.Fprintf(env.Stdout, "  skipped %s: %s\n", s.Path, s.Reason)
	}
	for _, s := range sum.Flagged {
		fmt.Fprintf(env.Stdout, "  low quality (enrolled anyway) %s: %s\n", s.Path, s.Reason)
	}
	if len(sum.NeedMore) > 0 {
		names := make([]string, 0, len(sum.NeedMore))
		for n := range sum.NeedMore {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(env.Stdout, "people with fewer than %d good photos (more photos make recognition more reliable):\n", *goodPhotos)
		for _, n := range names {
			fmt.Fprintf(env.Stdout, "  %s: %d more\n", n, sum.NeedMore[n])
		}
	}
	return nil
}

type progress struct {
	w     io.Writer
	tty   bool
	every int
	last  time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) update(pr train.Progress) {
	if p.tty {
		if time.Since(p.last) < 100*time.Millisecond && pr.Seen != pr.Total {
			return
		}
		p.last = time.Now()
		const width = 30
		filled := 0
		if pr.Total > 0 {
			filled = width * pr.Seen / pr.Total
		}
		name := pr.Current
		if len(name) > 40 {
			name = "…" + name[len(name)-39:]
		}
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d encoded %d skipped %d  %-40s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), pr.Seen, pr.Total, pr.Encoded, pr.Skipped, name)
		return
	}
	if p.every == 0 {
		p.every = max(1, pr.Total/20)
	}
	if pr.Seen%p.every == 0 || pr.Seen == pr.Total {
		fmt.Fprintf(p.w, "progress: %d/%d images, %d encoded (%d cached), %d skipped\n", pr.Seen, pr.Total, pr.Encoded, pr.Reused, pr.Skipped)
	}
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// IdentifyLine is one line of `identify` output.
type IdentifyLine struct {
	Image     string   `json:"image"`
	Box       *[4]int  `json:"box,omitempty"`
	Name      string   `json:"name,omitempty"`
	Distance  *float64 `json:"distance,omitempty"`
	Votes     *int     `json:"votes,omitempty"`
	Candidate string   `json:"candidate,omitempty"`
	Detector  string   `json:"detector,omitempty"` // "hog", or "cnn" (--detector cnn, or the fallback found it)
	Faces     *int     `json:"faces,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Identify implements `facemon-recognizer identify`.
func Identify(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "identify", "identify --gallery FILE [flags] IMAGE|DIR...")
	var c common
	c.register(fs)
	galPath := fs.String("gallery", "gallery.json", "gallery file made by train")
	var rf ruleFlags
	rf.register(fs)
	noFallback := fs.Bool("no-fallback", false, noFallbackHelp)
	a, err := parseImages(fs, args, &c, noFallback)
	if err != nil {
		return err
	}
	rule, err := rf.rule(fs)
	if err != nil {
		return err
	}
	g, err := gallery.Load(*galPath)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("gallery %s does not exist: make one with `facemon-recognizer train --dataset DIR --gallery %s`", *galPath, *galPath)
	}
	if err != nil {
		return err
	}
	return eachFace(ctx, env, &c, a, fs.Args(), func(path string, f *face.Face, n int, det string, err error) any {
		switch {
		case err != nil:
			return IdentifyLine{Image: path, Error: err.Error()}
		case f == nil:
			return IdentifyLine{Image: path, Faces: &n}
		}
		m := g.Match(f.Descriptor, rule)
		box := boxOf(*f)
		line := IdentifyLine{Image: path, Box: &box, Name: m.Name, Votes: &m.Votes, Candidate: m.Candidate, Detector: det}
		if m.Candidate != "" {
			d := round4(m.Distance)
			line.Distance = &d
		}
		return line
	})
}

// EncodeLine is one line of `encode` output.
type EncodeLine struct {
	Image      string    `json:"image"`
	Box        *[4]int   `json:"box,omitempty"`
	Descriptor []float32 `json:"descriptor,omitempty"`
	Detector   string    `json:"detector,omitempty"` // "hog" or "cnn"
	Faces      *int      `json:"faces,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Encode implements `facemon-recognizer encode`.
func Encode(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "encode", "encode [flags] IMAGE|DIR...")
	var c common
	c.register(fs)
	noFallback := fs.Bool("no-fallback", false, noFallbackHelp)
	a, err := parseImages(fs, args, &c, noFallback)
	if err != nil {
		return err
	}
	return eachFace(ctx, env, &c, a, fs.Args(), func(path string, f *face.Face, n int, det string, err error) any {
		switch {
		case err != nil:
			return EncodeLine{Image: path, Error: err.Error()}
		case f == nil:
			return EncodeLine{Image: path, Faces: &n}
		}
		box := boxOf(*f)
		return EncodeLine{Image: path, Box: &box, Descriptor: f.Descriptor[:], Detector: det}
	})
}

const noFallbackHelp = "do not retry with the CNN detector (on a copy downscaled to 1024 px) when HOG finds no face; the fallback finds turned heads, ~0.5 s per image"

// parseImages parses the flags of a command over IMAGE|DIR arguments
// (identify, encode), which needs at least one, and returns the analyzer,
// with the CNN fallback unless --no-fallback.
func parseImages(fs *flag.FlagSet, args []string, c *common, noFallback *bool) (face.Analyzer, error) {
	if err := parse(fs, args); err != nil {
		return face.Analyzer{}, err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return face.Analyzer{}, fmt.Errorf("%w: no images given", errUsage)
	}
	a, err := c.analyzer()
	if err != nil {
		return face.Analyzer{}, err
	}
	a.CNNFallback = !*noFallback
	return a, nil
}

// eachFace runs the analyzer over IMAGE|DIR arguments and writes one JSON
// line per face (left to right), or one line for an image without faces
// (f nil, n 0) or that could not be read (err); det names the detector
// that found the faces. Unreadable images make the command fail at the end,
// after every image was processed.
func eachFace(ctx context.Context, env Env, c *common, a face.Analyzer, args []string, line func(path string, f *face.Face, n int, det string, err error) any) error {
	paths, err := ExpandInputs(args)
	if err != nil {
		return err
	}
	pool, err := env.OpenPool(c.models, c.landmarks, c.workers)
	if err != nil {
		return err
	}
	defer pool.Close()
	enc := json.NewEncoder(env.Stdout)
	failed := 0
	err = analyzeAll(ctx, pool, a, paths, func(r analyzed) {
		if r.err != nil {
			failed++
			enc.Encode(line(r.path, nil, 0, "", r.err))
			return
		}
		faces := sortedFaces(r.res.Faces)
		if len(faces) == 0 {
			enc.Encode(line(r.path, nil, 0, "", nil))
			return
		}
		det := a.Detector
		if r.res.UsedCNN {
			det = face.CNN
		}
		for i := range faces {
			enc.Encode(line(r.path, &faces[i], len(faces), det.String(), nil))
		}
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be read", failed, len(paths))
	}
	return nil
}

func sortedFaces(fs []face.Face) []face.Face {
	out := append([]face.Face(nil), fs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Box.Min.X < out[j].Box.Min.X })
	return out
}

func boxOf(f face.Face) [4]int {
	return [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}
}

func round4(v float64) float64 { return float64(int64(v*10000+0.5)) / 10000 }
