package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/shared/fsx"
)

// ErrUsage marks a command-line mistake.
var ErrUsage = errors.New("usage")

type flags struct {
	video, gallery, models, variants, child, jsonOut string
	truth, photos, photoWidths, rescore              string
	live, edge                                       string
	resize, pad, writeTruth                          string
	xform                                            Xform
	cameras, workers, staticFrame, detectEvery       int
	idleEvery, agree, cropFullEvery                  int
	namedBudget                                      int
	detector                                         string
	fps                                              float64
	duration, start                                  time.Duration
	static, wideFull                                 bool
	viewer, compare                                  bool
	edgeStagger                                      time.Duration
	serveArgs                                        stringList
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Main implements `facemon-recognizer bench`. Each variant runs in a child
// process (so CPU time and peak RSS are its own); the parent prints the
// table.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, modelDir string, openPool func(dir string, n int) (*face.Pool, error)) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f flags
	fs.StringVar(&f.video, "video", "", "video file whose frames every variant processes (required)")
	fs.StringVar(&f.gallery, "gallery", "", "gallery file (facemon-recognizer train) (required)")
	fs.StringVar(&f.models, "models", modelDir, "model directory (env FACEMON_MODELS)")
	fs.IntVar(&f.cameras, "cameras", 1, "cameras fed in parallel, each with the same frames")
	fs.DurationVar(&f.start, "start", 0, "skip this much of the video first (another phase of the frames motion gating and tracking detect on)")
	fs.Float64Var(&f.fps, "fps", 10, "frames per second sampled from the video (capture timestamps follow it)")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "video time per camera (the video loops when shorter)")
	fs.BoolVar(&f.static, "static", false, "static scene: repeat one frame (see --static-frame)")
	fs.IntVar(&f.staticFrame, "static-frame", 0, "with --static, the index of the sampled frame to repeat")
	fs.StringVar(&f.detector, "detector", "hog-grey", "facemon's detector: hog-grey (serve's default) or hog (the naive pipeline always uses go-face's colour HOG)")
	fs.IntVar(&f.detectEvery, "detect-every", pipeline.DefaultMotion.DetectEvery, "facemon: while faces are tracked, detect on every Nth frame")
	fs.IntVar(&f.idleEvery, "idle-detect-every", pipeline.DefaultMotion.IdleDetectEvery, "facemon: with motion but no face tracked, detect on every Nth frame")
	fs.IntVar(&f.cropFullEvery, "crop-full-every", pipeline.DefaultMotion.CropFullEvery, "facemon: while faces are tracked, every Nth detection covers the moving region, the others only the tracks' surroundings (1 = off)")
	fs.IntVar(&f.agree, "track-agree", pipeline.DefaultTrack.Agree, "facemon: attempts that must agree before a track is named")
	fs.IntVar(&f.namedBudget, "track-named-budget", pipeline.DefaultTrack.NamedBudget, "facemon: most descriptor attempts per track once it is named")
	fs.BoolVar(&f.wideFull, "wide-full-detector", false, "facemon: wide scans use the full HOG detector (serve --wide-full-detector)")
	fs.IntVar(&f.workers, "workers", max(1, runtime.NumCPU()), "engines")
	names := make([]string, len(Variants))
	for i, v := range Variants {
		names[i] = v.Name
	}
	fs.StringVar(&f.variants, "variants", "naive,facemon", "comma-separated variants, or all: "+strings.Join(names, ", "))
	fs.StringVar(&f.jsonOut, "json", "", "also write the reports (with the name metrics and every frame's faces) as JSON to this file")
	fs.StringVar(&f.truth, "truth", "", "ground-truth file (JSON lines {\"frame\":N,\"boxes\":[{\"x\",\"y\",\"w\",\"h\",\"name\"}]}, N the video's 0-based frame number, name empty for a stranger; docs/bench.md) the name metrics judge against, instead of the naive run's faces and names")
	fs.StringVar(&f.live, "live", "", "live mode: BROKER (tcp://host:port, credentials from FACEMON_MQTT_USER/FACEMON_MQTT_PASSWORD) or \"embedded\" (serve's own broker, anonymous loopback clients): --cameras in-process edges publish the video at --fps through it to a `facemon-recognizer serve` child; prints dropped frames, capture->identity latency and the recognizer's CPU")
	fs.StringVar(&f.edge, "edge", "", "with --live: a facemon-edge binary; --cameras edge processes capture --video in a loop at --fps and publish (so the edges' decode, JPEG and MQTT costs count, and their CPU is reported) instead of in-process publishers of pre-encoded frames")
	fs.DurationVar(&f.edgeStagger, "edge-stagger", defaultEdgeStagger, "with --live --edge: time between edge starts (each plays the looped clip from another point); 0 starts them together, so their faces coincide (the load target's worst case)")
	fs.BoolVar(&f.viewer, "viewer", true, "with --live: every camera has a live viewer (announced on cam/<id>/viewers, or an MJPEG client of each --edge), so annotated frames are drawn and published; false: nobody watches, only identities go out")
	fs.Var(&f.serveArgs, "serve-arg", "with --live: one more argument for the `serve` child, repeatable (e.g. --serve-arg=--suggestions --serve-arg=- to measure serve without suggestion crops)")
	fs.BoolVar(&f.compare, "compare", false, "with --live: run the engine-only naive and facemon variants, then the live stack with a viewer and without, and print annotated frames per CPU second of the whole serve process side by side")
	fs.StringVar(&f.photos, "photos", "", "instead of a video: recall by face width on labelled photos DIR/<person>/*.jpg (one face each), leave-one-out against --gallery (docs/bench.md)")
	fs.StringVar(&f.photoWidths, "photo-widths", "32,48,64,96", "with --photos: also rows with every photo downscaled so its face is this many px wide (comma-separated; empty: native size only)")
	fs.StringVar(&f.rescore, "rescore", "", "print the tables again from a --json FILE of an earlier run (same --fps and --cameras; with --truth: judged against it) without running anything")
	fs.StringVar(&f.resize, "resize", "", "scale every sampled frame to WxH (area interpolation): smaller faces from the same video; --truth boxes are in the video's pixels and scaled alike")
	fs.StringVar(&f.pad, "pad", "", "centre every (resized) frame on a black WxH canvas: small faces in a large frame, as a distant camera sees them")
	fs.StringVar(&f.writeTruth, "write-truth", "", "write the reference the name metrics judged against (the naive run's faces and names, in the video's frame numbers and pixels) as a --truth file, to judge a --resize/--pad run by the full-size naive run")
	fs.StringVar(&f.child, "child", "", "internal: run one variant and print its JSON report")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: facemon-recognizer bench --video FILE --gallery FILE [--cameras N] [--fps F] [--duration D] [--static] [--variants LIST]\n       facemon-recognizer bench --live BROKER|embedded --video FILE --gallery FILE [--cameras N] [--fps F] [--duration D]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if f.photos != "" {
		if f.gallery == "" {
			return fmt.Errorf("%w: --photos needs --gallery", ErrUsage)
		}
		return runPhotos(ctx, f, stdout, openPool)
	}
	var err error
	if f.xform.Size, err = ParseSize(f.resize); err != nil {
		return fmt.Errorf("%w: --resize %v", ErrUsage, err)
	}
	if f.xform.Canvas, err = ParseSize(f.pad); err != nil {
		return fmt.Errorf("%w: --pad %v", ErrUsage, err)
	}
	var gt map[int][]TruthFace
	if f.truth != "" && f.child == "" {
		if f.live != "" || f.static {
			return fmt.Errorf("%w: --truth is for the (non-static) frame bench, not --live or --static", ErrUsage)
		}
		fh, err := os.Open(f.truth)
		if err != nil {
			return fmt.Errorf("%w: --truth: %v", ErrUsage, err)
		}
		gt, err = ParseGroundTruth(fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("%w: --truth %s: %v", ErrUsage, f.truth, err)
		}
		if f.xform.on() {
			src, err := VideoSize(f.video)
			if err != nil {
				return err
			}
			gt = f.xform.MapTruth(gt, src)
		}
	}
	if f.rescore != "" {
		b, err := os.ReadFile(f.rescore)
		if err != nil {
			return fmt.Errorf("%w: --rescore: %v", ErrUsage, err)
		}
		var reps []*Report
		if err := json.Unmarshal(b, &reps); err != nil || len(reps) == 0 {
			return fmt.Errorf("%w: --rescore %s: not the JSON of bench --json (%v)", ErrUsage, f.rescore, err)
		}
		ScoreReports(reps, gt, f.fps, f.cameras)
		PrintTable(stdout, reps, f)
		return nil
	}
	if f.video == "" || f.gallery == "" {
		return fmt.Errorf("%w: --video and --gallery are required", ErrUsage)
	}
	if f.cameras < 1 || f.cameras > 64 || f.workers < 1 || f.workers > 64 {
		return fmt.Errorf("%w: --cameras and --workers: want 1..64", ErrUsage)
	}
	if f.live != "" {
		if f.detector != "hog" && f.detector != "hog-grey" {
			return fmt.Errorf("%w: --detector %q: want hog or hog-grey", ErrUsage, f.detector)
		}
		return runLive(ctx, f, stdout, stderr)
	}
	if f.child != "" {
		v, ok := VariantByName(f.child)
		if !ok {
			return fmt.Errorf("%w: unknown variant %q", ErrUsage, f.child)
		}
		r, err := runChild(ctx, f, v, openPool)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	var vs []Variant
	if f.variants == "all" {
		vs = Variants
	} else {
		for _, n := range strings.Split(f.variants, ",") {
			v, ok := VariantByName(strings.TrimSpace(n))
			if !ok {
				return fmt.Errorf("%w: unknown variant %q (want %s)", ErrUsage, n, strings.Join(names, ", "))
			}
			vs = append(vs, v)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var reps []*Report
	for _, v := range vs {
		cargs := append([]string{"bench", "--child", v.Name}, args...)
		cmd := exec.CommandContext(ctx, exe, cargs...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, stderr
		fmt.Fprintf(stderr, "bench: running %s...\n", v.Name)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("bench: variant %s: %w", v.Name, err)
		}
		var r Report
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			return fmt.Errorf("bench: variant %s: report: %w", v.Name, err)
		}
		reps = append(reps, &r)
	}
	truth := ScoreReports(reps, gt, f.fps, f.cameras)
	PrintTable(stdout, reps, f)
	if f.writeTruth != "" && truth != nil {
		src, err := VideoSize(f.video)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := WriteTruth(&b, truth, reps[0].At, f.xform, src, gt == nil); err != nil {
			return err
		}
		if err := fsx.WriteFileAtomic(f.writeTruth, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if f.jsonOut != "" {
		b, _ := json.MarshalIndent(reps, "", " ")
		if err := fsx.WriteFileAtomic(f.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func runChild(ctx context.Context, f flags, v Variant, openPool func(string, int) (*face.Pool, error)) (*Report, error) {
	frames, at, err := LoadFramesAt(f.video, f.fps, f.duration, f.start, f.static, f.staticFrame)
	if err != nil {
		return nil, err
	}
	if frames, _, err = f.xform.Apply(frames); err != nil {
		return nil, err
	}
	g, err := gallery.Load(f.gallery)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	before := RSSMB()
	pool, err := openPool(f.models, f.workers)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	engineRSS := (RSSMB() - before) / float64(f.workers)
	rule := gallery.DefaultRule
	a := face.DefaultAnalyzer
	if a.Detector, err = face.ParseDetector(f.detector); err != nil || a.Detector == face.CNN {
		return nil, fmt.Errorf("%w: --detector %q: want hog or hog-grey", ErrUsage, f.detector)
	}
	mc := pipeline.DefaultMotion
	mc.DetectEvery = max(1, f.detectEvery)
	mc.IdleDetectEvery = max(1, f.idleEvery)
	mc.CropFullEvery = max(1, f.cropFullEvery)
	mc.WideFull = f.wideFull
	tc := pipeline.DefaultTrack
	tc.Agree = max(1, f.agree)
	tc.NamedBudget = max(1, f.namedBudget)
	return Run(ctx, Options{Frames: frames, FPS: f.fps, Cameras: f.cameras, Pool: pool, Gallery: g, Rule: rule,
		Analyzer: a, Track: tc, Motion: mc, EngineRSS: engineRSS, At: at}, v)
}

func runPhotos(ctx context.Context, f flags, stdout io.Writer, openPool func(string, int) (*face.Pool, error)) error {
	var widths []int
	for _, w := range strings.Split(f.photoWidths, ",") {
		if w = strings.TrimSpace(w); w == "" {
			continue
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 8 || n > 4096 {
			return fmt.Errorf("%w: --photo-widths %q: want comma-separated widths 8..4096", ErrUsage, f.photoWidths)
		}
		widths = append(widths, n)
	}
	g, err := gallery.Load(f.gallery)
	if err != nil {
		return err
	}
	pool, err := openPool(f.models, f.workers)
	if err != nil {
		return err
	}
	defer pool.Close()
	a := face.DefaultAnalyzer // identify's and enrolment's: colour HOG, the CNN fallback
	a.CNNFallback = true
	r, err := RunPhotoRecall(ctx, pool, g, gallery.DefaultRule, a, f.photos, widths)
	if err != nil {
		return err
	}
	r.Print(stdout, f.photos)
	return nil
}

// PrintTable prints the reports side by side with the first naive one.
func PrintTable(w io.Writer, reps []*Report, f flags) {
	var ref *Report
	for _, r := range reps {
		if r.Variant == "naive" {
			ref = r
			break
		}
	}
	scene := "video"
	if f.static {
		scene = fmt.Sprintf("static (frame %d looped)", f.staticFrame)
	}
	fmt.Fprintf(w, "bench: %s, %s, %d camera(s) x %.0f frames at %g fps, %d engine(s), facemon detector %s, detect-every %d, idle-detect-every %d, crop-full-every %d, track-agree %d\n\n", f.video, scene, f.cameras, float64(reps[0].Frames/f.cameras), f.fps, f.workers, f.detector, f.detectEvery, f.idleEvery, f.cropFullEvery, f.agree)
	fmt.Fprintf(w, "named = frames with a confirmed name, tent = frames with only tentative names, agree = naive's named frames this row names the same (confirmed names), 1stname = first confirmed name\n")
	fmt.Fprintf(w, "%-14s %9s %6s %8s %9s %6s %5s %7s %7s %7s %8s %7s %6s\n", "variant", "ann/cpu-s", "x", "frames/s", "cpu-ms/fr", "named", "tent", "agree", "p50ms", "p95ms", "peakRSS", "engRSS", "1stname")
	for _, r := range reps {
		x, agree := "", ""
		if ref != nil {
			x = fmt.Sprintf("%.2f", r.PerCPUSecond/ref.PerCPUSecond)
			if a, n := Agreement(ref, r); n > 0 {
				agree = fmt.Sprintf("%.1f%%", a*100)
			} else {
				agree = "n/a"
			}
		}
		fmt.Fprintf(w, "%-14s %9.1f %6s %8.1f %9.2f %6d %5d %7s %7.1f %7.1f %7.0fM %6.0fM %6.2fs\n", r.Variant, r.PerCPUSecond, x, r.PerWallSecond, r.CPUmsPerFrame,
			r.NamedFrames, r.TentativeFrames, agree, r.P50ms, r.P95ms, r.PeakRSSMB, r.EngineRSSMB, r.FirstNameS)
	}
	if ref != nil {
		fmt.Fprintf(w, "\ntime to first confirmed name per naive appearance (an appearance starts when %s names someone after >= %v without a name; delay = how much later each variant first shows him with a confirmed name in it):\n", ref.Variant, entryGap)
		for _, r := range reps {
			if r == ref {
				continue
			}
			d, missed := EntryDelays(ref, r, f.fps, entryGap)
			fmt.Fprintf(w, "  %-14s %s\n", r.Variant, delayList(d, missed))
		}
	}
	printNames(w, reps, f)
	fmt.Fprintf(w, "\nframes %dx%d; face box widths (min/median/max) and distances of named faces:\n", reps[0].Width, reps[0].Height)
	for _, r := range reps {
		fmt.Fprintf(w, "  %-14s detector %s, widths %v distances %v verdicts known %d unknown %d, counters %v\n", r.Variant, r.Detector, r.FaceWidths, r.Distances, r.KnownVerdicts, r.UnknownVerdicts, r.Counters)
	}
	fmt.Fprintf(w, "\nms per frame by stage (wall time inside the stage, averaged over all frames):\n")
	for _, r := range reps {
		fmt.Fprintf(w, "  %-14s %s\n", r.Variant, stageList(r.StageMS))
	}
}

// printNames prints the name metrics (Report.Metrics) per frame, per
// appearance and by face width.
func printNames(w io.Writer, reps []*Report, f flags) {
	var m0 *Metrics
	for _, r := range reps {
		if r.Metrics != nil {
			m0 = r.Metrics
			break
		}
	}
	if m0 == nil {
		fmt.Fprintf(w, "\nname metrics: need the naive variant (--variants naive,...) or a ground truth (--truth FILE)\n")
		return
	}
	ref := "the naive run's faces (who: the person naive names on most of an appearance's frames)"
	if f.truth != "" {
		ref = "the ground truth " + f.truth
	}
	fmt.Fprintf(w, "\nnames shown, judged against %s: %d faces of enrolled people in %d appearances, %d faces of strangers in %d appearances.\n", ref, m0.KnownFaces, m0.KnownApps, m0.Strangers, m0.StrangerApps)
	fmt.Fprintf(w, "Per frame: cover = faces shown with their confirmed name; >1st = the same from each appearance's first confirmed name on; tent = shown with their name, tentative (not a name: no event, listed unknown); wrong = another person's confirmed name; flicker = shown unknown/tentative after the appearance's confirmed name; str.found = strangers' faces shown at all (what unknown alerts need); strangers = strangers' faces shown with a confirmed name; noface = confirmed names on no reference face; agree n>f = frames naive names on which this row's confirmed names are the same, f>n = the reverse.\n")
	fmt.Fprintf(w, "%-14s %6s %5s %7s %7s %6s %6s %7s %9s %9s %6s %12s %12s\n", "variant", "named", "tent", "cover", ">1st", "tent", "wrong", "flicker", "str.found", "strangers", "noface", "agree n>f", "agree f>n")
	for _, r := range reps {
		m := r.Metrics
		if m == nil {
			continue
		}
		fmt.Fprintf(w, "%-14s %6d %5d %7s %7s %6d %6d %7d %9s %9d %6d %12s %12s\n", r.Variant, m.OwnNamed, m.TentativeFrames, pctStr(m.Coverage()), pctStr(m.CoverageAfterFirst()),
			m.TentRight, m.Wrong, m.Flicker, ratio(m.StrangerFnd, m.Strangers), m.StrangerNmd, m.NamedNoFace, ratio(m.NaiveSame, m.NaiveNamed), ratio(m.OwnSame, m.OwnNamed))
	}
	fmt.Fprintf(w, "\nPer appearance (of enrolled people unless said): confirmed = ever shown with their confirmed name; to name = from the appearance's first face frame to its first confirmed name; wrong, flicker = appearances with any such frame; strangers = strangers' appearances ever shown with a confirmed name.\n")
	fmt.Fprintf(w, "%-14s %9s %26s %6s %8s %9s\n", "variant", "confirmed", "to name (median/max, s)", "wrong", "flicker", "strangers")
	for _, r := range reps {
		m := r.Metrics
		if m == nil {
			continue
		}
		fmt.Fprintf(w, "%-14s %9s %26s %6d %8d %9s\n", r.Variant, fmt.Sprintf("%d/%d", m.ConfirmedApps, m.KnownApps), medMax(m.ToConfirmed),
			m.WrongApps, m.FlickerApps, fmt.Sprintf("%d/%d", m.StrangerNApps, m.StrangerApps))
	}
	fmt.Fprintf(w, "\nRecall by face width (px, of the reference box): enrolled people's faces shown with their confirmed name / faces.\n%-14s", "variant")
	for _, b := range WidthBucketNames {
		fmt.Fprintf(w, " %16s", b)
	}
	fmt.Fprintln(w)
	for _, r := range reps {
		m := r.Metrics
		if m == nil {
			continue
		}
		fmt.Fprintf(w, "%-14s", r.Variant)
		for i := range m.WidthFaces {
			s := "-"
			if m.WidthFaces[i] > 0 {
				s = fmt.Sprintf("%d/%d %s", m.WidthNamed[i], m.WidthFaces[i], pctStr(pct(m.WidthNamed[i], m.WidthFaces[i])))
			}
			fmt.Fprintf(w, " %16s", s)
		}
		fmt.Fprintln(w)
	}
}

func pctStr(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", v*100)
}

func ratio(n, d int) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d/%d %.0f%%", n, d, float64(n)*100/float64(d))
}

func medMax(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return fmt.Sprintf("%.2f / %.2f", s[len(s)/2], s[len(s)-1])
}

// stageList formats ms per stage as "decode 0.91, detect 5.14, ...".
func stageList(ms map[string]float64) string {
	ks := make([]string, 0, len(ms))
	for k := range ms {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s %.2f", k, ms[k])
	}
	return strings.Join(parts, ", ")
}

// entryGap separates appearances for EntryDelays.
const entryGap = time.Second

func delayList(d []float64, missed int) string {
	if len(d) == 0 {
		return fmt.Sprintf("no appearance named (%d missed)", missed)
	}
	s := append([]float64(nil), d...)
	sort.Float64s(s)
	var parts []string
	for _, v := range d {
		parts = append(parts, fmt.Sprintf("%.1f", v))
	}
	return fmt.Sprintf("%d appearances, median %.2f s, max %.2f s, %d missed (each: %s s)", len(d)+missed, s[len(s)/2], s[len(s)-1], missed, strings.Join(parts, " "))
}
