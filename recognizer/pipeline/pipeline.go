package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Publisher sends MQTT messages without blocking (mqttx.Client fits).
type Publisher interface {
	Publish(topic string, qos byte, retained bool, payload []byte) error
}

// Annotator draws boxes and names on a JPEG frame (the per-frame path,
// used when no Codec is configured).
type Annotator func(jpeg []byte, faces []msg.Face) ([]byte, error)

// Picture is a decoded frame, shared by detection, description and drawing.
type Picture interface {
	Pixels() face.Pixels
	Close()
}

// Codec decodes and draws frames (annotate.Codec, with OpenCV, fits).
type Codec interface {
	// Thumb decodes a small greyscale copy (about 1/8 per side) for motion.
	Thumb(jpeg []byte) (Grey, error)
	// Decode decodes the frame once.
	Decode(jpeg []byte) (Picture, error)
	// Annotate draws faces on pic and encodes it in at most maxBytes.
	Annotate(pic Picture, faces []msg.Face, maxBytes int) ([]byte, error)
}

// Config configures a Pipeline.
type Config struct {
	Instance      string // recognizer instance id, reported in identities
	Space         topic.Space
	Analyzer      face.Analyzer
	Rule          gallery.Rule
	MaxFrameBytes int // frames above are dropped as bad (default msg.MaxFrameBytes)
	// Track names a face only after several frames agree (zero value: DefaultTrack).
	Track TrackConfig
	// Codec, when set with engines that implement face.FrameEngine, makes
	// the pipeline decode each frame once, gate detection on motion, track
	// faces and describe them within a budget. Without it every frame goes
	// through Analyzer and Annotator (the per-frame method).
	Codec  Codec
	Motion MotionConfig // zero value: DefaultMotion
	// MaxAnnotatedBytes bounds annotated frames (default msg.MaxFrameBytes,
	// the broker's packet limit minus headroom for the topic).
	MaxAnnotatedBytes int
	// MaxCameras bounds the cameras with state (default 32) and
	// CameraIdle is how long a camera must have sent nothing before a new
	// camera may take its slot at the bound (default 10 min); see cameras.
	MaxCameras int
	CameraIdle time.Duration
	// MailboxDepth is how many frames a camera may have waiting for an
	// engine (0: DefaultMailboxDepth; 1: the newest frame only).
	MailboxDepth int
	// Cameras says which camera ids are admitted at all (zero value: any).
	Cameras CameraPolicy
	// Switches for the benchmark (measuring what each technique buys).
	NoPassthrough bool // re-encode frames without faces instead of forwarding them
	NoBatch       bool // one ResNet call per face instead of one per frame
	InlineOutput  bool // annotate and publish on the engine's worker
	// OnDemand draws and publishes annotated frames only for cameras with
	// viewers (HandleViewers; see viewers.go), and one every ImageEvery
	// (0: none) for the others. The zero value annotates every frame.
	OnDemand   bool
	ImageEvery time.Duration
}

// Result is one processed frame, handed to OnResult hooks.
type Result struct {
	Identities *msg.Identities
	Frame      *Frame
	Faces      []face.Face
	Annotated  []byte
}

// Pipeline processes frames from mailboxes with a pool of engines.
type Pipeline struct {
	cfg  Config
	pool *face.Pool
	pub  Publisher
	ann  Annotator
	log  *slog.Logger
	mb   *Mailboxes
	gal  atomic.Pointer[gallery.Gallery]
	idx  atomic.Pointer[gallery.Index] // gal prepared for matching (centroids computed once)
	m    *metrics
	trk  *Tracker

	reg     *cameras
	views   *viewers
	admitMu sync.Mutex // admission and the mailboxes change together (HandleFrame)
	// refusedLog (unix ns) and refusedSince rate-limit the refusal log.
	refusedLog, refusedSince atomic.Int64
	goneMu                   sync.Mutex
	gone                     []func(camera string)

	camMu sync.Mutex
	cams  map[string]*camState
	outWG sync.WaitGroup

	hookMu sync.RWMutex
	hooks  []func(*Result)

	processed atomic.Uint64
	bad       atomic.Uint64
}

// New returns a pipeline. reg may be nil (metrics are then not exported).
func New(cfg Config, pool *face.Pool, pub Publisher, ann Annotator, reg prometheus.Registerer, log *slog.Logger) *Pipeline {
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = msg.MaxFrameBytes
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Track.Agree == 0 {
		cfg.Track = DefaultTrack
	}
	if cfg.Motion == (MotionConfig{}) {
		cfg.Motion = DefaultMotion
	}
	if cfg.MaxAnnotatedBytes <= 0 {
		cfg.MaxAnnotatedBytes = msg.MaxFrameBytes - 4096
	}
	if cfg.MailboxDepth <= 0 {
		cfg.MailboxDepth = DefaultMailboxDepth
	}
	p := &Pipeline{cfg: cfg, pool: pool, pub: pub, ann: ann, log: log.With("component", "pipeline"), mb: NewMailboxes(cfg.MailboxDepth), m: newMetrics(reg), trk: NewTracker(cfg.Track), cams: map[string]*camState{},
		reg: newCameras(cfg.MaxCameras, cfg.CameraIdle, cfg.Cameras)}
	p.views = newViewers(p.reg.maxOnline)
	p.SetGallery(gallery.New())
	return p
}

// SetGallery swaps the gallery used for matching (atomically; frames in
// flight finish with the old one).
func (p *Pipeline) SetGallery(g *gallery.Gallery) {
	p.idx.Store(gallery.NewIndex(g))
	p.gal.Store(g)
	people, samples := g.Counts()
	p.m.galleryPeople.Set(float64(people))
	p.m.gallerySamples.Set(float64(samples))
}

// Gallery returns the gallery in use.
func (p *Pipeline) Gallery() *gallery.Gallery { return p.gal.Load() }

// OnResult registers a hook called after each processed frame (from a
// worker goroutine; keep it short).
func (p *Pipeline) OnResult(h func(*Result)) {
	p.hookMu.Lock()
	p.hooks = append(p.hooks, h)
	p.hookMu.Unlock()
}

// HandleFrame is the MQTT handler for cam/+/frames. It never blocks: it
// checks the payload cheaply and leaves it in the camera's mailbox.
func (p *Pipeline) HandleFrame(t string, payload []byte) {
	cam, kind, err := p.cfg.Space.ParseCamera(t)
	if err != nil || kind != topic.Frames {
		p.badFrame("topic", t, err)
		return
	}
	if err := msg.CheckJPEG(payload, p.cfg.MaxFrameBytes); err != nil {
		p.badFrame(reason(err), t, err)
		return
	}
	now := time.Now()
	// Admission and the mailbox change together (handlers run
	// concurrently): a frame admitted is in its camera's mailbox before
	// any later admission can evict that camera, so the eviction drops it
	// or waits for it, and no frame makes state for a camera the bound no
	// longer counts.
	p.admitMu.Lock()
	ok, evicted, refused := p.reg.admit(cam, now)
	if evicted != "" {
		p.forget(evicted)
	}
	var dropped bool
	if ok {
		// The slice outlives the handler: paho reads every packet into a
		// fresh buffer and never reuses it, so it is kept without a copy.
		dropped = p.mb.Put(&Frame{Camera: cam, JPEG: payload, Arrived: now})
	}
	p.admitMu.Unlock()
	if !ok {
		p.refuse(cam, refused)
		return
	}
	p.m.received.Inc()
	if dropped {
		p.m.dropped.Inc()
	}
}

// refuse counts a frame of camera cam refused for why, and logs it at
// most once a minute (with the count since the last line), so a flood of
// ids costs one line a minute.
func (p *Pipeline) refuse(cam, why string) {
	p.m.rejected.WithLabelValues(why).Inc()
	n := p.refusedSince.Add(1)
	now := time.Now().UnixNano()
	last := p.refusedLog.Load()
	if now-last < int64(time.Minute) || !p.refusedLog.CompareAndSwap(last, now) {
		return
	}
	p.refusedSince.Add(-n)
	if why == refusedUnregistered {
		p.log.Warn("frames of an unregistered camera dropped: it has no online edge status (facemon/status/edge/<id>) and is not in --cameras",
			"camera", cam, "cameras", p.cfg.Cameras.String(), "refused_since_last_line", n)
		return
	}
	p.log.Warn("frames of a new camera dropped: --max-cameras cameras are active", "camera", cam, "max_cameras", p.reg.max, "refused_since_last_line", n)
}

// HandleEdgeStatus is the MQTT handler for facemon/status/edge/+ (retained
// "online", "offline" or empty). An edge announced online registers its
// camera (CameraPolicy.Auto); offline or empty unregisters it, so it can
// not start new state (its existing state expires as idle state does).
// It never blocks.
func (p *Pipeline) HandleEdgeStatus(t string, payload []byte) {
	kind, id, err := p.cfg.Space.ParseStatus(t)
	if err != nil || kind != topic.KindEdge {
		p.log.Debug("status message ignored", "topic", t, "err", err)
		return
	}
	on := string(payload) == topic.Online
	if !p.reg.setOnline(id, on) {
		p.log.Warn("edge status ignored: too many edges announced online", "camera", id, "max", p.reg.maxOnline)
		return
	}
	p.log.Debug("edge status", "camera", id, "online", on)
}

// OnCameraGone registers f to run when a camera's state is forgotten
// because a new camera took its slot at the --max-cameras bound, after the
// camera's last OnResult hook (on a worker, an output goroutine or the
// MQTT handler's goroutine; keep it short).
func (p *Pipeline) OnCameraGone(f func(camera string)) {
	p.goneMu.Lock()
	p.gone = append(p.gone, f)
	p.goneMu.Unlock()
}

// forget drops an idle camera's state (it has sent nothing for
// CameraIdle): its waiting frames, if any, at once; its tracks and output
// stage through Mailboxes.Evict, so only once no worker is processing a
// frame of it (a frame that waited that long for an engine, during a
// training run say, still finishes and is published).
func (p *Pipeline) forget(camera string) {
	if n := p.mb.Evict(camera, func() { p.free(camera) }); n > 0 {
		p.m.dropped.Add(float64(n))
	}
	p.log.Info("camera idle and over the --max-cameras bound; its state is dropped", "camera", camera)
}

// free drops a camera's tracks and output stage. It runs only while no
// frame of the camera is being processed (Mailboxes.Evict): nothing can
// send on the output channel it closes, nor make tracks after it. The
// OnCameraGone hooks run after the camera's last result: here when it has
// no output stage, else on the output goroutine once it has drained.
func (p *Pipeline) free(camera string) {
	p.trk.Forget(camera)
	p.views.forget(camera)
	p.camMu.Lock()
	cs := p.cams[camera]
	delete(p.cams, camera)
	p.camMu.Unlock()
	if cs == nil {
		p.cameraGone(camera)
		return
	}
	cs.evicted = true // read by the output goroutine after the close
	close(cs.out)
}

func (p *Pipeline) cameraGone(camera string) {
	p.goneMu.Lock()
	hooks := append([]func(string){}, p.gone...)
	p.goneMu.Unlock()
	for _, f := range hooks {
		f(camera)
	}
}

// Cameras returns how many cameras have state.
func (p *Pipeline) Cameras() int { return p.reg.count() }

func reason(err error) string {
	switch {
	case errors.Is(err, msg.ErrTooLarge):
		return "too_large"
	case errors.Is(err, msg.ErrTruncated):
		return "truncated"
	case errors.Is(err, msg.ErrNotJPEG):
		return "not_jpeg"
	case errors.Is(err, face.ErrImage):
		return "undecodable"
	}
	return "other"
}

func (p *Pipeline) badFrame(why, t string, err error) {
	p.bad.Add(1)
	p.m.bad.WithLabelValues(why).Inc()
	p.log.Warn("bad frame dropped", "topic", t, "reason", why, "err", err)
}

// Run processes frames with one worker per engine until ctx ends.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := 0; i < p.pool.Size(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f, err := p.mb.Take(ctx)
				if err != nil {
					return
				}
				p.process(ctx, f)
				p.mb.Done(f.Camera)
			}
		}()
	}
	wg.Wait()
	p.camMu.Lock()
	for _, cs := range p.cams {
		close(cs.out)
	}
	p.cams = map[string]*camState{}
	p.camMu.Unlock()
	p.outWG.Wait()
	return nil
}

// Stats are counters for tests and logs.
type Stats struct {
	Processed, Dropped, Bad uint64
}

// Stats returns the counters.
func (p *Pipeline) Stats() Stats {
	return Stats{Processed: p.processed.Load(), Dropped: p.mb.Dropped(), Bad: p.bad.Load()}
}

func (p *Pipeline) process(ctx context.Context, f *Frame) {
	if p.cfg.Codec != nil {
		p.processFrame(ctx, f)
		return
	}
	p.processLegacy(ctx, f)
}

func (p *Pipeline) processLegacy(ctx context.Context, f *Frame) {
	start := time.Now()
	meta, err := msg.ExtractMeta(f.JPEG)
	if err != nil { // third-party camera: no metadata; use arrival time
		meta = msg.FrameMeta{Camera: f.Camera, Captured: f.Arrived}
	}
	var res *face.Result
	err = p.pool.Do(ctx, func(e face.Engine) error {
		var err error
		res, err = p.cfg.Analyzer.Analyze(e, f.JPEG)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			p.badFrame(reason(err), p.cfg.Space.Frames(f.Camera), err)
		}
		return
	}
	g := p.idx.Load()
	ids := &msg.Identities{V: msg.Version, Camera: f.Camera, Seq: meta.Seq, Captured: meta.Captured,
		Recognizer: p.cfg.Instance, Faces: make([]msg.Face, 0, len(res.Faces))}
	matches := make([]gallery.Match, len(res.Faces))
	for i, fc := range res.Faces {
		matches[i] = g.Match(fc.Descriptor, p.cfg.Rule)
	}
	trs := p.trk.UpdateTracks(f.Camera, meta.Captured, res.Faces, matches)
	for i, fc := range res.Faces {
		verdict := p.trk.Verdict(trs[i], meta.Captured)
		name, _, tentative := trs[i].Shown(p.trk.cfg)
		m := matches[i]
		m.Name = name
		mf := msg.Face{Name: m.Name, Votes: m.Votes, Candidate: m.Candidate, Track: trs[i].ID, Tentative: tentative,
			Box: [4]int{fc.Box.Min.X, fc.Box.Min.Y, fc.Box.Max.X, fc.Box.Max.Y}, Verdict: verdict}
		if m.Candidate != "" {
			mf.Distance = float64(int64(m.Distance*10000+0.5)) / 10000
		}
		ids.Faces = append(ids.Faces, mf)
		known := "false"
		if m.Known() && !tentative {
			known = "true"
		}
		p.m.faces.WithLabelValues(known).Inc()
	}
	var annotated []byte
	if p.ann != nil && p.annotating(f.Camera) {
		annotated, err = p.ann(f.JPEG, ids.Faces)
		if err != nil {
			p.log.Warn("annotate failed", "camera", f.Camera, "err", err)
		} else {
			// Keep the edge's metadata so it can tell the newest stream.
			if withMeta, err := msg.EmbedMeta(annotated, meta); err == nil {
				annotated = withMeta
			}
			p.pub.Publish(p.cfg.Space.Annotated(f.Camera), 0, false, annotated)
		}
	}
	ids.Processed = time.Now().UTC()
	if b, err := json.Marshal(ids); err == nil {
		p.pub.Publish(p.cfg.Space.Identities(f.Camera), 1, false, b)
	}
	p.processed.Add(1)
	p.m.processed.Inc()
	p.m.procSeconds.Observe(time.Since(start).Seconds())
	if !meta.Captured.IsZero() {
		p.m.latency.Observe(ids.Processed.Sub(meta.Captured).Seconds())
	}
	p.runHooks(&Result{Identities: ids, Frame: f, Faces: res.Faces, Annotated: annotated})
}

func (p *Pipeline) runHooks(r *Result) {
	p.hookMu.RLock()
	hooks := p.hooks
	p.hookMu.RUnlock()
	for _, h := range hooks {
		h(r)
	}
}
