// Package bench measures facemon's pipeline against the naive per-frame
// go-face pipeline on the same decoded video frames (facemon-recognizer
// bench). It needs OpenCV (video decoding, annotation) and dlib.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // frame sizes
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gocv.io/x/gocv"

	"github.com/facemon/facemon/recognizer/annotate"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// LoadFrames decodes the video once and returns JPEG frames (quality 80,
// the edge's default) sampled at fps for duration, looping the video when
// it is shorter. With static set, frame staticFrame is repeated. The
// video's first start is skipped (a different phase of the frames that
// motion gating and tracking detect on).
func LoadFrames(path string, fps float64, duration, start time.Duration, static bool, staticFrame int) ([][]byte, error) {
	frames, _, err := LoadFramesAt(path, fps, duration, start, static, staticFrame)
	return frames, err
}

// LoadFramesAt is LoadFrames that also returns, for each frame, its
// 0-based frame number in the video (what a ground-truth file names).
func LoadFramesAt(path string, fps float64, duration, start time.Duration, static bool, staticFrame int) ([][]byte, []int, error) {
	if fps <= 0 || fps > 60 {
		return nil, nil, fmt.Errorf("bench: --fps %v: want (0, 60]", fps)
	}
	n := int(math.Round(duration.Seconds() * fps))
	if n < 1 {
		return nil, nil, fmt.Errorf("bench: --duration %v at %v fps is no frame", duration, fps)
	}
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: open video %s: %w", path, err)
	}
	defer vc.Close()
	src := vc.Get(gocv.VideoCaptureFPS)
	if src <= 0 || src > 240 {
		src = 30
	}
	step := src / fps
	if start < 0 {
		return nil, nil, fmt.Errorf("bench: --start %v is negative", start)
	}
	m := gocv.NewMat()
	defer m.Close()
	var all [][]byte // every sampled frame of one pass
	var at []int     // their frame numbers
	next := start.Seconds() * src
	for i := 0; ; i++ {
		if !vc.Read(&m) || m.Empty() {
			break
		}
		if float64(i)+1e-9 < next {
			continue
		}
		next += step
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 80})
		if err != nil {
			return nil, nil, fmt.Errorf("bench: encode frame %d: %w", i, err)
		}
		all = append(all, append([]byte(nil), buf.GetBytes()...))
		at = append(at, i)
		buf.Close()
		if static && len(all) > staticFrame {
			break
		}
		if !static && len(all) >= n {
			break
		}
	}
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("bench: no frame decoded from %s", path)
	}
	out, outAt := make([][]byte, n), make([]int, n)
	for i := range out {
		j := i % len(all)
		if static {
			j = min(staticFrame, len(all)-1)
		}
		out[i], outAt[i] = all[j], at[j]
	}
	return out, outAt, nil
}

// Variant selects what runs.
type Variant struct {
	Name  string
	Naive bool // the naive per-frame go-face pipeline
	// For facemon's pipeline:
	PerFrame      bool // today's per-frame method (no Codec)
	NoMotion      bool
	NoBudget      bool // describe every face on every frame
	NoPassthrough bool
	NoBatch       bool
	InlineOutput  bool
	NoTentative   bool // a track shows unknown until its attempts agree
	NoCrop        bool // tracked faces are looked for in the moving region, not around their boxes
	NoMeanName    bool // tracks are named by the vote of their attempts alone
	WideFull      bool // wide scans use the full HOG detector (not face.Detector.Fast)
	// Detector, when set, replaces --detector for this row: "+decode-once"
	// keeps go-face's colour HOG so that "+grey-hog" credits grey HOG apart.
	Detector string
}

// Variants are the rows of the technique table, each adding one technique.
var Variants = []Variant{
	{Name: "naive", Naive: true},
	{Name: "per-frame", PerFrame: true, NoTentative: true, NoCrop: true, NoMeanName: true, Detector: "hog"}, // JPEG path: colour HOG
	{Name: "+decode-once", NoMotion: true, NoBudget: true, NoPassthrough: true, NoBatch: true, InlineOutput: true, NoTentative: true, NoCrop: true, NoMeanName: true, Detector: "hog"},
	{Name: "+grey-hog", NoMotion: true, NoBudget: true, NoPassthrough: true, NoBatch: true, InlineOutput: true, NoTentative: true, NoCrop: true, NoMeanName: true, Detector: "hog-grey"},
	{Name: "+passthrough", NoMotion: true, NoBudget: true, NoBatch: true, InlineOutput: true, NoTentative: true, NoCrop: true, NoMeanName: true},
	{Name: "+motion-gate", NoBudget: true, NoBatch: true, InlineOutput: true, NoTentative: true, NoCrop: true, NoMeanName: true},
	{Name: "+tracking", NoBatch: true, InlineOutput: true, NoTentative: true, NoCrop: true, NoMeanName: true},
	{Name: "+batch", InlineOutput: true, NoTentative: true, NoCrop: true, NoMeanName: true},
	{Name: "+output", NoTentative: true, NoCrop: true, NoMeanName: true},
	{Name: "+tentative", NoCrop: true, NoMeanName: true},
	{Name: "+track-crops", NoMeanName: true, WideFull: true},
	{Name: "+mean-naming", WideFull: true},
	{Name: "facemon"}, // + fast wide scans
}

// VariantByName finds a variant.
func VariantByName(name string) (Variant, bool) {
	for _, v := range Variants {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

// Options configure one run.
type Options struct {
	Frames   [][]byte
	FPS      float64
	Cameras  int
	Pool     *face.Pool
	Gallery  *gallery.Gallery
	Rule     gallery.Rule
	Analyzer face.Analyzer
	Track    pipeline.TrackConfig
	Motion   pipeline.MotionConfig
	// EngineRSS is the measured RSS of one engine, reported as is.
	EngineRSS float64
	// At are the frames' numbers in the video (LoadFramesAt), reported as
	// is for a ground truth.
	At []int
}

// Report is one run's measurements.
type Report struct {
	Variant         string             `json:"variant"`
	Frames          int                `json:"frames"`
	Annotated       int                `json:"annotated"`
	CPUSeconds      float64            `json:"cpu_s"`
	WallSeconds     float64            `json:"wall_s"`
	PerCPUSecond    float64            `json:"annotated_per_cpu_s"`
	PerWallSecond   float64            `json:"frames_per_wall_s"`
	CPUmsPerFrame   float64            `json:"cpu_ms_per_frame"`
	NamedFrames     int                `json:"named_frames"` // frames with a confirmed name
	P50ms           float64            `json:"p50_ms"`
	P95ms           float64            `json:"p95_ms"`
	PeakRSSMB       float64            `json:"peak_rss_mb"`
	EngineRSSMB     float64            `json:"engine_rss_mb"`
	StageMS         map[string]float64 `json:"stage_ms"` // mean ms per frame
	FirstFaceS      float64            `json:"first_face_s"`
	FirstNameS      float64            `json:"first_name_s"`     // first confirmed name
	Names           map[string]string  `json:"names"`            // cam/seq -> sorted confirmed names, "," joined (tentative ones are not names)
	TentativeFrames int                `json:"tentative_frames"` // frames with a tentative name and no confirmed one
	// Faces is what was shown per frame (cam/seq -> faces), for the
	// name metrics (Score).
	Faces map[string][]Shown `json:"faces"`
	// Enrolled are the gallery's people.
	Enrolled []string `json:"enrolled"`
	// Detector is the detector this row's facemon pipeline used.
	Detector string `json:"detector,omitempty"`
	// At are the frames' numbers in the video (Options.At).
	At []int `json:"frame_numbers,omitempty"`
	// Metrics judge the names shown (filled by the parent, ScoreReports).
	Metrics         *Metrics           `json:"metrics,omitempty"`
	KnownVerdicts   int                `json:"known_verdicts"`
	UnknownVerdicts int                `json:"unknown_verdicts"`
	Counters        map[string]float64 `json:"counters"`
	Width           int                `json:"width"`
	Height          int                `json:"height"`
	FaceWidths      []int              `json:"face_widths"` // min, median, max box width
	Distances       []float64          `json:"distances"`   // median distance of named faces
	OversizeFrames  int                `json:"oversize_frames"`
}

// CPUTime is this process's user+system CPU time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSSMB is the process's peak resident set size.
func PeakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux: KiB
}

// RSSMB is the current resident set size (from /proc/self/status).
func RSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

// Shown is one face as a variant showed it on a frame.
type Shown struct {
	Box       [4]int `json:"box"` // x0, y0, x1, y1
	Name      string `json:"name"`
	Tentative bool   `json:"tentative,omitempty"`
	Track     int    `json:"track,omitempty"`
}

type recorder struct {
	mu        sync.Mutex
	names     map[string]string
	faces     map[string][]Shown
	lat       []time.Duration
	annotated atomic.Int64
	oversize  atomic.Int64
	done      []chan uint64 // per camera: seq of published identities
	fps       float64
	firstFace float64
	firstName float64
	verdicts  map[string]int
	tentative int // frames with a tentative name and no confirmed one
	widths    []int
	dists     []float64
}

func newRecorder(cams int, fps float64) *recorder {
	r := &recorder{names: map[string]string{}, faces: map[string][]Shown{}, fps: fps, firstFace: -1, firstName: -1, verdicts: map[string]int{}}
	for range cams {
		r.done = append(r.done, make(chan uint64, 4))
	}
	return r
}

func camName(i int) string { return fmt.Sprintf("bench%d", i) }

func (r *recorder) frame(cam string, seq uint64, faces []msg.Face, lat time.Duration) {
	var ns []string
	tent := false
	shown := make([]Shown, 0, len(faces))
	r.mu.Lock()
	for _, f := range faces {
		shown = append(shown, Shown{Box: f.Box, Name: f.Name, Tentative: f.Tentative, Track: f.Track})
		if f.Name != msg.Unknown && f.Tentative {
			tent = true
		}
		if f.Name != msg.Unknown && !f.Tentative {
			ns = append(ns, f.Name)
			r.dists = append(r.dists, f.Distance)
		}
		r.widths = append(r.widths, f.Box[2]-f.Box[0])
		if f.Verdict != "" {
			r.verdicts[f.Verdict]++
		}
	}
	sort.Strings(ns)
	k := fmt.Sprintf("%s/%d", cam, seq)
	r.names[k] = strings.Join(ns, ",")
	r.faces[k] = shown
	if tent && len(ns) == 0 {
		r.tentative++
	}
	r.lat = append(r.lat, lat)
	if cam == camName(0) {
		t := float64(seq-1) / r.fps
		if len(faces) > 0 && (r.firstFace < 0 || t < r.firstFace) {
			r.firstFace = t
		}
		if len(ns) > 0 && (r.firstName < 0 || t < r.firstName) {
			r.firstName = t
		}
	}
	r.mu.Unlock()
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func (o *Options) meta(cam, i int) msg.FrameMeta {
	return msg.FrameMeta{Camera: camName(cam), Seq: uint64(i + 1), Captured: t0.Add(time.Duration(float64(i) / o.FPS * float64(time.Second)))}
}

// Run runs one variant over the frames: one feeder per camera submits a
// frame, waits for its identities, then submits the next (no drops), so
// every variant processes the same frames.
func Run(ctx context.Context, o Options, v Variant) (*Report, error) {
	if o.Cameras < 1 {
		o.Cameras = 1
	}
	rec := newRecorder(o.Cameras, o.FPS)
	stages := map[string]*atomic.Int64{}
	var reg *prometheus.Registry
	var submit func(ctx context.Context, cam int, jpeg []byte, m msg.FrameMeta) error
	var stop func()
	detector := "go-face hog"
	if v.Naive {
		for _, s := range []string{"recognize (decode+detect+landmarks+descriptor)", "match", "annotate (decode+draw+encode)", "publish (json)"} {
			stages[s] = new(atomic.Int64)
		}
		add := func(s string, t time.Time) time.Time {
			now := time.Now()
			stages[s].Add(int64(now.Sub(t)))
			return now
		}
		submit = func(ctx context.Context, cam int, jpeg []byte, m msg.FrameMeta) error {
			start := time.Now()
			t := start
			var faces []face.Face
			err := o.Pool.Do(ctx, func(e face.Engine) error {
				var err error
				faces, err = e.Recognize(jpeg, face.HOG)
				return err
			})
			t = add("recognize (decode+detect+landmarks+descriptor)", t)
			if err != nil {
				return err
			}
			ids := &msg.Identities{V: msg.Version, Camera: m.Camera, Seq: m.Seq, Captured: m.Captured}
			for _, f := range faces {
				mt := o.Gallery.Match(f.Descriptor, o.Rule)
				ids.Faces = append(ids.Faces, msg.Face{Name: mt.Name, Distance: mt.Distance, Candidate: mt.Candidate, Box: [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}})
			}
			t = add("match", t)
			ann, err := annotate.JPEG(jpeg, ids.Faces)
			if err != nil {
				return err
			}
			if ann, err = msg.EmbedMeta(ann, m); err != nil {
				return err
			}
			if len(ann) > msg.MaxFrameBytes {
				rec.oversize.Add(1)
			}
			t = add("annotate (decode+draw+encode)", t)
			ids.Processed = time.Now()
			if _, err := json.Marshal(ids); err != nil {
				return err
			}
			add("publish (json)", t)
			rec.annotated.Add(1)
			rec.frame(m.Camera, m.Seq, ids.Faces, time.Since(start))
			return nil
		}
		stop = func() {}
	} else {
		reg = prometheus.NewRegistry()
		space := topic.Space{}
		pub := &benchPub{space: space, rec: rec, sent: map[string]time.Time{}}
		cfg := pipeline.Config{Instance: "bench", Space: space, Analyzer: o.Analyzer, Rule: o.Rule, Track: o.Track, Motion: o.Motion,
			NoPassthrough: v.NoPassthrough, NoBatch: v.NoBatch, InlineOutput: v.InlineOutput}
		if !v.PerFrame {
			cfg.Codec = annotate.Codec{}
		}
		if v.NoMotion {
			cfg.Motion.Off = true
		}
		if v.NoBudget {
			cfg.Track.Budget = 0
		}
		if v.NoTentative {
			cfg.Track.NoTentative = true
		}
		if v.NoMeanName {
			cfg.Track.NoMeanName = true
		}
		if v.NoCrop {
			cfg.Motion.CropFullEvery = 0
		}
		if v.WideFull {
			cfg.Motion.WideFull = true
		}
		if v.Detector != "" {
			d, err := face.ParseDetector(v.Detector)
			if err != nil {
				return nil, fmt.Errorf("bench: variant %s: %w", v.Name, err)
			}
			cfg.Analyzer.Detector = d
		}
		detector = cfg.Analyzer.Detector.String()
		p := pipeline.New(cfg, o.Pool, pub, annotate.JPEG, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		p.SetGallery(o.Gallery)
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); p.Run(rctx) }()
		stop = func() { cancel(); wg.Wait() }
		submit = func(ctx context.Context, cam int, jpeg []byte, m msg.FrameMeta) error {
			pub.mu.Lock()
			pub.sent[fmt.Sprintf("%s/%d", m.Camera, m.Seq)] = time.Now()
			pub.mu.Unlock()
			p.HandleFrame(space.Frames(m.Camera), jpeg)
			select {
			case seq := <-rec.done[cam]:
				if seq != m.Seq {
					return fmt.Errorf("bench: camera %d: identities for seq %d, want %d", cam, seq, m.Seq)
				}
				return nil
			case <-time.After(30 * time.Second):
				return fmt.Errorf("bench: camera %d seq %d: no identities in 30 s (stats %+v)", cam, m.Seq, p.Stats())
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	cpu0, wall0 := CPUTime(), time.Now()
	errs := make(chan error, o.Cameras)
	var wg sync.WaitGroup
	for c := range o.Cameras {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, fr := range o.Frames {
				m := o.meta(c, i)
				jpeg, err := msg.EmbedMeta(fr, m)
				if err == nil {
					err = submit(ctx, c, jpeg, m)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	stop()
	cpu, wall := CPUTime()-cpu0, time.Since(wall0)
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	n := len(o.Frames) * o.Cameras
	r := &Report{Variant: v.Name, Frames: n, Annotated: int(rec.annotated.Load()), CPUSeconds: cpu.Seconds(), WallSeconds: wall.Seconds(),
		PeakRSSMB: PeakRSSMB(), EngineRSSMB: o.EngineRSS, StageMS: map[string]float64{}, Names: rec.names, Faces: rec.faces,
		Enrolled: enrolledNames(o.Gallery), Detector: detector, At: o.At,
		FirstFaceS: rec.firstFace, FirstNameS: rec.firstName, TentativeFrames: rec.tentative, OversizeFrames: int(rec.oversize.Load()),
		KnownVerdicts: rec.verdicts[msg.VerdictKnown], UnknownVerdicts: rec.verdicts[msg.VerdictUnknown]}
	r.PerCPUSecond = float64(r.Annotated) / r.CPUSeconds
	r.PerWallSecond = float64(n) / r.WallSeconds
	r.CPUmsPerFrame = r.CPUSeconds * 1000 / float64(n)
	for _, s := range rec.names {
		if s != "" {
			r.NamedFrames++
		}
	}
	sort.Slice(rec.lat, func(i, j int) bool { return rec.lat[i] < rec.lat[j] })
	if len(rec.lat) > 0 {
		r.P50ms = ms(rec.lat[len(rec.lat)/2])
		r.P95ms = ms(rec.lat[min(len(rec.lat)-1, len(rec.lat)*95/100)])
	}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(o.Frames[0])); err == nil {
		r.Width, r.Height = cfg.Width, cfg.Height
	}
	if len(rec.widths) > 0 {
		sort.Ints(rec.widths)
		r.FaceWidths = []int{rec.widths[0], rec.widths[len(rec.widths)/2], rec.widths[len(rec.widths)-1]}
	}
	if len(rec.dists) > 0 {
		sort.Float64s(rec.dists)
		r.Distances = []float64{rec.dists[0], rec.dists[len(rec.dists)/2], rec.dists[len(rec.dists)-1]}
	}
	for s, d := range stages {
		r.StageMS[s] = ms(time.Duration(d.Load())) / float64(n)
	}
	if reg != nil {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetType().String() == "COUNTER" && len(mf.GetMetric()) == 1 {
				if r.Counters == nil {
					r.Counters = map[string]float64{}
				}
				r.Counters[strings.TrimPrefix(mf.GetName(), "facemon_recognizer_")] = mf.GetMetric()[0].GetCounter().GetValue()
			}
			if mf.GetName() != "facemon_recognizer_stage_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "stage" {
						r.StageMS[l.GetValue()] = m.GetHistogram().GetSampleSum() * 1000 / float64(n)
					}
				}
			}
		}
	}
	return r, nil
}

func enrolledNames(g *gallery.Gallery) []string {
	var ns []string
	for _, p := range g.People {
		ns = append(ns, p.Name)
	}
	sort.Strings(ns)
	return ns
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

type benchPub struct {
	space topic.Space
	rec   *recorder
	mu    sync.Mutex
	sent  map[string]time.Time
}

func (b *benchPub) Publish(t string, qos byte, retained bool, payload []byte) error {
	cam, kind, err := b.space.ParseCamera(t)
	if err != nil {
		return err
	}
	switch kind {
	case topic.Annotated:
		b.rec.annotated.Add(1)
		if len(payload) > msg.MaxFrameBytes {
			b.rec.oversize.Add(1)
		}
	case topic.Identities:
		ids, err := msg.DecodeIdentities(payload)
		if err != nil {
			return err
		}
		key := fmt.Sprintf("%s/%d", cam, ids.Seq)
		b.mu.Lock()
		sent := b.sent[key]
		delete(b.sent, key)
		b.mu.Unlock()
		b.rec.frame(cam, ids.Seq, ids.Faces, time.Since(sent))
		var i int
		fmt.Sscanf(strings.TrimPrefix(cam, "bench"), "%d", &i)
		if i >= 0 && i < len(b.rec.done) {
			b.rec.done[i] <- ids.Seq
		}
	}
	return nil
}

// Agreement is the share of frames where ref names someone on which r
// names the same people (confirmed names: Report.Names; Metrics has it
// both ways).
func Agreement(ref, r *Report) (float64, int) {
	n, same := 0, 0
	for k, v := range ref.Names {
		if v == "" {
			continue
		}
		n++
		if r.Names[k] == v {
			same++
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return float64(same) / float64(n), n
}

// EntryDelays measures time to first name per appearance: every frame of
// camera 0 where ref (the naive pipeline, which names on the first frame it
// can) names someone after at least gap without a name starts an
// appearance; its delay is how much later r first names that person
// within the appearance (ref's frames up to the next gap). An appearance
// r never names counts as missed. Delays are in seconds at fps.
func EntryDelays(ref, r *Report, fps float64, gap time.Duration) (delays []float64, missed int) {
	name := func(rep *Report, seq int) string { return rep.Names[fmt.Sprintf("%s/%d", camName(0), seq)] }
	frames := 0
	for k := range ref.Names {
		var seq int
		if _, err := fmt.Sscanf(k, camName(0)+"/%d", &seq); err == nil && seq > frames {
			frames = seq
		}
	}
	gapN := int(math.Round(gap.Seconds() * fps))
	last := -gapN - 1 // seq of ref's last named frame
	for seq := 1; seq <= frames; seq++ {
		who := name(ref, seq)
		if who == "" {
			continue
		}
		start := seq-last > gapN
		last = seq
		if !start {
			continue
		}
		// The appearance lasts while ref keeps naming with gaps < gap.
		end, prev := seq, seq
		for s := seq + 1; s <= frames && s-prev <= gapN; s++ {
			if name(ref, s) != "" {
				end, prev = s, s
			}
		}
		found := false
		for s := seq; s <= end; s++ {
			if got := name(r, s); got != "" && strings.Contains(","+got+",", ","+strings.Split(who, ",")[0]+",") {
				delays = append(delays, float64(s-seq)/fps)
				found = true
				break
			}
		}
		if !found {
			missed++
		}
	}
	return delays, missed
}
