package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
)

// camState is per-camera state. A camera's frames go through the engine
// stage one at a time (Mailboxes keeps a camera busy until Done), and its
// output stage is one goroutine, so frames are published in order.
type camState struct {
	ref     Grey       // thumbnail at the last detection
	skipped int        // frames since the last detection
	shown   []*Track   // the tracks found by the last detection
	clk     scanClock  // when the last due and wide scans ran
	annMu   sync.Mutex // lastSig and lastAnn are written by the output goroutine
	lastSig string     // faces drawn on lastAnn
	lastAnn []byte     // last annotated frame
	out     chan *outJob
	evicted bool // set by free before it closes out: the camera is gone, not the pipeline stopped
	cutLast bool // the last detection was a cut's (motion.cut)
}

type outJob struct {
	f      *Frame
	meta   msg.FrameMeta
	ids    *msg.Identities
	faces  []face.Face
	pic    Picture // nil when no face is drawn or the last drawing is reused
	reuse  bool    // nothing moved and the faces are those of the last annotated frame
	start  time.Time
	engine time.Duration

	// annotate: draw and publish an annotated frame (Config.OnDemand: only
	// while someone watches; without, no decode for drawing either)
	annotate bool
}

func (p *Pipeline) cam(id string) *camState {
	p.camMu.Lock()
	defer p.camMu.Unlock()
	cs := p.cams[id]
	if cs == nil {
		cs = &camState{out: make(chan *outJob, 8)}
		p.cams[id] = cs
		p.outWG.Add(1)
		go func() {
			defer p.outWG.Done()
			for j := range cs.out {
				p.output(cs, j)
			}
			if cs.evicted {
				p.cameraGone(id)
			}
		}()
	}
	return cs
}

func (p *Pipeline) stage(name string, t0 time.Time) time.Time {
	now := time.Now()
	p.m.stage.WithLabelValues(name).Observe(now.Sub(t0).Seconds())
	return now
}

// processFrame is the engine stage, as named stages: gate (motion and the
// tracks decide whether this frame needs a detection), scan (which regions,
// with which detector; then detection), associate (boxes to tracks, or the
// tracks followed without a detection), describe (descriptors within the
// tracks' budgets), decide (gallery matches, track names and verdicts) and
// output (what the output goroutine draws and publishes). Drawing and
// publishing happen on the camera's output goroutine (see output).
func (p *Pipeline) processFrame(ctx context.Context, f *Frame) {
	start := time.Now()
	meta, err := msg.ExtractMeta(f.JPEG)
	if err != nil { // third-party camera: no metadata; use arrival time
		meta = msg.FrameMeta{Camera: f.Camera, Captured: f.Arrived}
	}
	now := meta.Captured
	cs := p.cam(f.Camera)
	t := time.Now()

	mo := motion{moved: true}
	if !p.cfg.Motion.Off {
		mo.thumb, err = p.cfg.Codec.Thumb(f.JPEG)
		t = p.stage("motion", t)
		if err != nil {
			p.badFrame(reason(err), p.cfg.Space.Frames(f.Camera), err)
			return
		}
		mo.changed, mo.frac, mo.moved = p.cfg.Motion.changedRect(cs.ref, mo.thumb)
	}
	live := p.trk.Live(f.Camera, now)
	// A cut: most of the view changed since the last detection, which was
	// not itself a cut (a view that changes all the time, a panning camera
	// or noise, is not cut on every frame).
	mo.cut = mo.moved && mo.frac >= sceneChange && !cs.cutLast
	detect, due := gate(p.cfg.Motion, p.trk.cfg, gateState{cs.clk.lastFull, cs.skipped, cs.shown, mo.cut}, mo.moved, now, live)

	var (
		pic    Picture
		tracks []*Track
		faces  []face.Face
	)
	if !detect {
		cs.skipped++
		tracks, faces = p.follow(cs.shown, live, now)
		p.m.gated.Inc()
	} else {
		pic, err = p.cfg.Codec.Decode(f.JPEG)
		t = p.stage("decode", t)
		if err != nil {
			p.badFrame(reason(err), p.cfg.Space.Frames(f.Camera), err)
			return
		}
		cs.ref, cs.skipped, cs.cutLast = mo.thumb, 0, mo.cut
		px := pic.Pixels()
		var sc scan
		sc, cs.clk = planScan(p.cfg.Motion, p.cfg.Analyzer.Detector, p.trk.cfg.Budget > 0, cs.clk,
			mo, due, now, image.Rect(0, 0, px.Width, px.Height), live, cs.shown)
		tracks, faces, err = p.detectDescribe(ctx, f.Camera, now, pic, sc, t)
		if err != nil {
			pic.Close()
			if ctx.Err() == nil {
				p.badFrame(reason(err), p.cfg.Space.Frames(f.Camera), err)
			}
			return
		}
		cs.shown = tracks
	}
	ids := p.identities(f.Camera, meta, now, tracks, faces)
	p.toOutput(cs, &outJob{f: f, meta: meta, ids: ids, faces: faces, start: start, engine: time.Since(start), annotate: p.annotating(f.Camera)}, pic, !detect && !mo.moved, t)
}

// motion is what the motion check saw: the frame's thumbnail, the
// bounding box of what changed since the last detection's thumbnail (in
// thumbnail pixels), the changed fraction, and whether that counts as
// motion. With motion gating off every frame moved.
type motion struct {
	thumb   Grey
	changed image.Rectangle
	frac    float64
	moved   bool
	cut     bool // the view was cut (see processFrame): detect now, wide
}

// gateState is the per-camera state the gate reads.
type gateState struct {
	lastFull time.Time // capture time of the last detection that was due (FullEvery)
	skipped  int       // frames since the last detection
	shown    []*Track  // the tracks found by the last detection
	cut      bool      // the view was cut (motion.cut)
}

// gate decides whether a frame captured at now needs a detection (due:
// FullEvery has passed since the last due one, or the clock went back).
// Without motion and not due there is none. With motion, faces tracked and
// the last detection's tracks settled (named or out of budget: an unknown
// track with budget left wants an attempt on every frame, but not once a
// detection missed it), only every DetectEvery-th frame detects, unless
// the view was cut (a tracked face's box and name would stay on the old
// view until then); with motion and no face tracked, every
// IdleDetectEvery-th.
func gate(c MotionConfig, tc TrackConfig, st gateState, moved bool, now time.Time, live []*Track) (detect, due bool) {
	due = st.lastFull.IsZero() || now.Sub(st.lastFull) >= c.FullEvery || now.Before(st.lastFull)
	if c.Off || due {
		return true, due
	}
	if !moved {
		return false, false
	}
	if tc.Budget > 0 { // tracking
		if len(live) > 0 && !st.cut && settled(st.shown, live, tc) && st.skipped+1 < c.DetectEvery {
			return false, false // tracked faces: boxes follow their tracks until the next detection
		}
		if len(live) == 0 && st.skipped+1 < c.IdleDetectEvery {
			return false, false
		}
	}
	return true, false
}

// follow is associate for a frame without a detection: the last
// detection's tracks that are still live keep their boxes and names (their
// faces have no descriptor of their own).
func (p *Pipeline) follow(shown, live []*Track, now time.Time) (tracks []*Track, faces []face.Face) {
	for _, tr := range shown {
		if now.Sub(tr.Last) <= p.trk.cfg.MaxGap && slices.Contains(live, tr) {
			tracks = append(tracks, tr)
		}
	}
	p.trk.Touch(tracks, now)
	faces = make([]face.Face, len(tracks))
	for i, tr := range tracks {
		faces[i] = face.Face{Box: tr.Box}
	}
	return tracks, faces
}

// scanClock is the per-camera state planScan keeps.
type scanClock struct {
	lastFull time.Time // capture time of the last detection that was due
	lastWide time.Time // capture time of the last detection wider than the track crops
	cropRuns int       // detections on track crops since the last wider one
}

// planScan is the scan stage's plan for a frame that detects: which
// regions of frame, with which detector, and which tracks to look for
// again if it misses them; and the camera's updated clock. det is the
// configured (full) detector; tracking is whether tracks have a budget.
//   - due, motion off, or no thumbnail: the whole frame.
//   - faces tracked, crops on (CropFullEvery > 1), not the CropFullEvery-th
//     crop run nor cropMaxAge since the last wide scan, and the view not
//     cut (motion.cut): crops around the live tracks with det; a face the
//     last detection found that the crops miss (it moved farther than the
//     crop's margin) is looked for twice as far at once, unless most of
//     the view changed.
//   - else the region around what moved and the live tracks (all of the
//     frame when that is most of it).
//
// Wide scans use det.Fast() when crops are on and WideFull is not set; a
// tracked face such a scan misses is looked for around its box with det,
// unless the view was cut (the old boxes show another scene).
func planScan(c MotionConfig, det face.Detector, tracking bool, clk scanClock, mo motion, due bool, now time.Time,
	frame image.Rectangle, live, shown []*Track) (scan, scanClock) {
	tracking = tracking && !c.Off
	sc := scan{regions: []image.Rectangle{frame}, det: det}
	retry := false // look again for the faces the last detection found, if this one misses them
	if tracking && c.CropFullEvery > 1 && !c.WideFull {
		sc.det = det.Fast()
	}
	switch {
	case due || c.Off || mo.thumb.Width == 0:
		clk = scanClock{lastFull: now, lastWide: now}
	case tracking && len(live) > 0 && c.CropFullEvery > 1 && clk.cropRuns+1 < c.CropFullEvery &&
		now.Sub(clk.lastWide) < cropMaxAge && !now.Before(clk.lastWide) && !mo.cut:
		sc.regions, sc.det, sc.retryDet, sc.retryFar = trackCrops(frame, live), det, sc.det, true
		sc.around = live
		retry = mo.frac < sceneChange
		clk.cropRuns++
	default:
		clk.cropRuns, clk.lastWide = 0, now
		region := detectRegion(frame, mo.thumb, mo.changed, live, regionMargin)
		if region.Dx()*region.Dy()*10 >= frame.Dx()*frame.Dy()*7 { // most of the frame: all of it
			region = frame
		}
		sc.regions = []image.Rectangle{region}
		if region != frame {
			for k := range sc.moved {
				sc.moved[k] = detectRegion(frame, mo.thumb, mo.changed, live, regionMargin>>(k+1))
			}
		}
	}
	if sc.det != det { // fast wide scan: a tracked face it misses is looked for with the full detector
		sc.retryDet, retry = det, !mo.cut
	}
	if retry {
		for _, tr := range shown { // the faces the last detection found
			if slices.Contains(live, tr) {
				sc.expect = append(sc.expect, tr)
			}
		}
	}
	return sc, clk
}

// scan is what one detection looks at.
type scan struct {
	regions []image.Rectangle
	det     face.Detector
	// expect are tracks this detection should find. One it misses is
	// looked for again in the same frame with retryDet, around its last
	// box: with a margin of two widths when retryFar (after a crop scan:
	// the face moved farther than its crop's margin), else of a crop's
	// margin (after a fast wide scan: the full detector finds what the
	// fast one missed, a tilted head, say).
	expect   []*Track
	retryDet face.Detector
	retryFar bool
	// around are the tracks regions are crops around (nil: wide regions);
	// a crop around a small face is scanned upsampled (cropUpsample).
	around []*Track
	// moved, when set, is the part of the frame that moved (regions[0],
	// not all of the frame) with the margin for faces upsampled once and
	// twice: scanned instead, upsampled, while that stays cheap
	// (movedUpsample).
	moved [2]image.Rectangle
}

// sceneChange is the fraction of changed thumbnail pixels above which
// crops around the tracks are not retried wider: the whole view changed
// (a cut, the camera moved), and the next wide scan looks at all of it.
const sceneChange = 1.0 / 3

// detectDescribe runs the scan, associate, describe and decide stages on
// one engine: detection as planned by sc, boxes linked to tracks, the
// descriptors the tracks need as one batch, then their gallery matches.
func (p *Pipeline) detectDescribe(ctx context.Context, cam string, now time.Time, pic Picture, sc scan, t time.Time) (tracks []*Track, faces []face.Face, err error) {
	px := pic.Pixels()
	var (
		boxes     []image.Rectangle
		need      []int
		described []face.Face
	)
	err = p.pool.Do(ctx, func(e face.Engine) error {
		fe, ok := e.(face.FrameEngine)
		if !ok {
			return fmt.Errorf("pipeline: engine %T cannot work on decoded frames", e)
		}
		p.m.framePx.Add(float64(px.Width * px.Height))
		var err error
		if boxes, err = p.runScan(fe, px, sc); err != nil {
			return err
		}
		t = p.stage("detect", t)
		tracks = p.trk.Associate(cam, now, boxes)
		need = wanted(tracks, p.trk.cfg)
		if len(need) == 0 {
			return nil
		}
		described, err = p.describe(fe, px, boxes, need)
		p.stage("describe", t)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	t = time.Now()
	faces = make([]face.Face, len(boxes))
	for i, b := range boxes {
		faces[i] = face.Face{Box: b}
	}
	p.decide(cam, tracks, faces, need, described)
	p.stage("match", t)
	return tracks, faces, nil
}

// runScan is the scan stage's detection: sc's regions with sc.det, then
// the expected tracks it missed around their boxes with sc.retryDet;
// overlapping boxes are kept once, and boxes narrower than the analyzer's
// MinFace dropped.
func (p *Pipeline) runScan(fe face.FrameEngine, px face.Pixels, sc scan) ([]image.Rectangle, error) {
	frame := image.Rect(0, 0, px.Width, px.Height)
	a := p.cfg.Analyzer
	up := 0
	if a.Prep.UpsampleBelow > 0 && max(px.Width, px.Height) < a.Prep.UpsampleBelow {
		up = 1
	}
	var boxes []image.Rectangle
	// detect scans regions with det, each upsampled level(region) times.
	detect := func(regions []image.Rectangle, det face.Detector, level func(image.Rectangle) int) error {
		for _, region := range regions {
			if region.Empty() {
				continue
			}
			p.m.detectPx.Add(float64(region.Dx() * region.Dy()))
			bs, err := fe.Detect(px.Sub(region), det, level(region))
			if err != nil {
				return err
			}
			for _, b := range bs {
				// Regions may overlap (a retry): a face is kept once.
				if b = b.Add(region.Min); !slices.ContainsFunc(boxes, func(o image.Rectangle) bool { return iou(o, b) > 0.3 }) {
					boxes = append(boxes, b)
				}
			}
		}
		return nil
	}
	around := func(trs []*Track) func(image.Rectangle) int {
		return func(r image.Rectangle) int { return cropUpsample(r, trs, up) }
	}
	regions, level := sc.regions, around(sc.around)
	if r, u, ok := movedUpsample(sc.moved, up, frame); ok { // what moved, upsampled instead
		regions, level = []image.Rectangle{r}, func(image.Rectangle) int { return u }
	}
	if err := detect(regions, sc.det, level); err != nil {
		return nil, err
	}
	var missed []*Track
	for _, tr := range sc.expect {
		if !slices.ContainsFunc(boxes, func(b image.Rectangle) bool { return p.trk.continuity(tr.Box, b) > 0 }) {
			missed = append(missed, tr)
		}
	}
	if len(missed) > 0 {
		crops := trackCrops(frame, missed)
		if sc.retryFar {
			crops = cropsAround(frame, missed, 2, 1)
		}
		if err := detect(crops, sc.retryDet, around(missed)); err != nil {
			return nil, err
		}
	}
	kept := boxes[:0]
	for _, b := range boxes {
		if a.MinFace <= 0 || b.Dx() >= a.MinFace {
			kept = append(kept, b)
		}
	}
	return kept, nil
}

// smallFace is the face width HOG finds reliably (its 80x80 window less
// the box's margin); a crop around a narrower tracked face is upsampled
// until that face is this wide (up to dlib's 2 levels), so a distant face
// stays found while it is tracked. maxUpsampledPx bounds such a crop's
// upsampled size (a 640x360 frame's worth of HOG).
const (
	smallFace      = 80
	maxUpsampledPx = 640 * 360
)

// cropUpsample is how many times HOG upsamples region: up (the frame's
// own rule, Prep.UpsampleBelow), or more when region is a crop around a
// tracked face narrower than smallFace (at up) and the upsampled crop stays
// within maxUpsampledPx.
func cropUpsample(region image.Rectangle, around []*Track, up int) int {
	w := 0
	for _, tr := range around {
		if tr.Box.Overlaps(region) && (w == 0 || tr.Box.Dx() < w) {
			w = tr.Box.Dx()
		}
	}
	if w <= 0 {
		return up
	}
	for u := up + 1; u <= 2 && w<<(u-1) < smallFace; u++ {
		if region.Dx()*region.Dy()<<(2*u) > maxUpsampledPx {
			break
		}
		up = u
	}
	return up
}

// movedUpsampledPx bounds the upsampled size of a wide scan of what moved
// (movedUpsample): twice a 640x360 frame's worth of HOG, or the frame's own
// pixels when that is more (a scan of the whole frame at its own size
// costs as much).
const movedUpsampledPx = 2 * maxUpsampledPx

// movedUpsample chooses how a wide scan of the part of the frame that
// moved is upsampled: the most levels over the frame's own rule (up), at
// most dlib's 2 in all, whose region (moved[levels-1], margins shrunk
// alike) stays within movedUpsampledPx, or the frame's own size, once
// upsampled. A distant face (a person in a corner of a wide view, 40-70
// px) is below HOG's 80 px window, so no track would start on it; once
// tracked, the crops around it are upsampled (cropUpsample). Whole-frame
// scans are not: on a 640x360 frame that costs about 50 % more CPU per
// frame.
func movedUpsample(moved [2]image.Rectangle, up int, frame image.Rectangle) (image.Rectangle, int, bool) {
	limit := max(movedUpsampledPx, frame.Dx()*frame.Dy())
	for k := 2; k >= 1; k-- {
		r, u := moved[k-1], up+k
		if u > 2 || r.Empty() {
			continue
		}
		if r.Dx()*r.Dy()<<(2*u) <= limit {
			return r, u, true
		}
	}
	return image.Rectangle{}, 0, false
}

// wanted is the describe stage's choice: the indexes of the tracks that
// need a descriptor this frame (Track.NeedsDescriptor).
func wanted(tracks []*Track, c TrackConfig) []int {
	var need []int
	for i, tr := range tracks {
		if tr.NeedsDescriptor(c) {
			need = append(need, i)
		}
	}
	return need
}

// describe computes the descriptors of boxes[need[k]], as one batch
// unless NoBatch.
func (p *Pipeline) describe(fe face.FrameEngine, px face.Pixels, boxes []image.Rectangle, need []int) ([]face.Face, error) {
	want := make([]image.Rectangle, len(need))
	for k, i := range need {
		want[k] = boxes[i]
	}
	p.m.described.Add(float64(len(want)))
	if !p.cfg.NoBatch {
		return fe.Describe(px, want)
	}
	var described []face.Face
	for _, b := range want {
		fs, err := fe.Describe(px, []image.Rectangle{b})
		if err != nil {
			return nil, err
		}
		described = append(described, fs...)
	}
	return described, nil
}

// decide matches each described face (described[k] is the face of
// tracks[need[k]]) against the gallery and records the attempt on its
// track, which may name it (Tracker.ObserveMean) or split it (another
// person in the same place: tracks[i] is then the new track); faces[i]
// becomes the described face.
func (p *Pipeline) decide(cam string, tracks []*Track, faces []face.Face, need []int, described []face.Face) {
	g := p.idx.Load()
	matchMean := func(md face.Descriptor) gallery.Match { return g.Match(md, p.cfg.Rule) }
	for k, i := range need {
		d := described[k]
		faces[i] = d
		tracks[i] = p.trk.ObserveMean(cam, tracks[i], d.Descriptor, g.Match(d.Descriptor, p.cfg.Rule), matchMean)
	}
}

// identities is the rest of decide, for every frame: what each track
// shows (Track.Shown) and its verdict, the first time it has one. A face
// without a descriptor of its own (a followed frame), and every face with
// an unknown verdict, gets its track's mean descriptor (history groups
// unknown faces by it; the mean is the steadier key).
func (p *Pipeline) identities(cam string, meta msg.FrameMeta, now time.Time, tracks []*Track, faces []face.Face) *msg.Identities {
	ids := &msg.Identities{V: msg.Version, Camera: cam, Seq: meta.Seq, Captured: meta.Captured,
		Recognizer: p.cfg.Instance, Faces: make([]msg.Face, 0, len(tracks))}
	for i, tr := range tracks {
		verdict := p.trk.Verdict(tr, now)
		name, m, tentative := tr.Shown(p.trk.cfg)
		mf := msg.Face{Name: name, Votes: m.Votes, Candidate: m.Candidate, Track: tr.ID, Tentative: tentative,
			Box: [4]int{tr.Box.Min.X, tr.Box.Min.Y, tr.Box.Max.X, tr.Box.Max.Y}, Verdict: verdict}
		if m.Candidate != "" {
			mf.Distance = float64(int64(m.Distance*10000+0.5)) / 10000
		}
		if mf.Name == msg.Unknown {
			mf.Votes = 0
		}
		if i < len(faces) && (mf.Verdict == msg.VerdictUnknown || faces[i].Descriptor == (face.Descriptor{})) {
			if d, ok := tr.Mean(); ok {
				faces[i].Descriptor = d
			}
		}
		ids.Faces = append(ids.Faces, mf)
		known := "false"
		if mf.Name != msg.Unknown && !mf.Tentative {
			known = "true"
		}
		p.m.faces.WithLabelValues(known).Inc()
	}
	return ids
}

// toOutput is the engine side of the output stage: it picks the picture
// the output goroutine draws on (pic, or a decode when a face is to be
// drawn on a frame that was not decoded; none when the frame is forwarded
// as it is or the last drawing is reused: still, nothing moved and the
// same faces) and hands j to the camera's output goroutine (or runs the
// output stage here with InlineOutput).
func (p *Pipeline) toOutput(cs *camState, j *outJob, pic Picture, still bool, t time.Time) {
	var err error
	if j.annotate && len(j.ids.Faces) > 0 {
		cs.annMu.Lock()
		j.reuse = still && cs.lastAnn != nil && cs.lastSig == signature(j.ids.Faces)
		cs.annMu.Unlock()
	}
	draw := j.annotate && len(j.ids.Faces) > 0 && !j.reuse // nobody watches: identities only
	if pic == nil && (draw || (j.annotate && len(j.ids.Faces) == 0 && p.cfg.NoPassthrough)) {
		pic, err = p.cfg.Codec.Decode(j.f.JPEG)
		p.stage("decode", t)
		if err != nil {
			p.badFrame(reason(err), p.cfg.Space.Frames(j.f.Camera), err)
			return
		}
	}
	if draw || (j.annotate && p.cfg.NoPassthrough) {
		j.pic, pic = pic, nil
	}
	if pic != nil {
		pic.Close()
	}
	if p.cfg.InlineOutput {
		p.output(cs, j)
		return
	}
	cs.out <- j
}

// settled reports whether every track of trs that is still live is named
// or out of budget (an unknown track with budget left wants a detection
// and an attempt on every frame, so naming is not delayed).
func settled(trs, live []*Track, c TrackConfig) bool {
	for _, tr := range trs {
		if tr.Name() == msg.Unknown && !tr.Exhausted(c) && slices.Contains(live, tr) {
			return false
		}
	}
	return true
}

// detectRegion is where faces can be this frame: around what moved since
// the last detection and around the live tracks (a still face stays
// found), with a margin of a face's size. Faces elsewhere did not move and
// were not there at the last detection; a periodic full detection
// (FullEvery) catches the rest.
func detectRegion(frame image.Rectangle, thumb Grey, changed image.Rectangle, live []*Track, margin int) image.Rectangle {
	var r image.Rectangle
	if !changed.Empty() && thumb.Width > 0 {
		sx := float64(frame.Dx()) / float64(thumb.Width)
		sy := float64(frame.Dy()) / float64(thumb.Height)
		r = image.Rect(int(float64(changed.Min.X)*sx), int(float64(changed.Min.Y)*sy), int(float64(changed.Max.X)*sx+0.999), int(float64(changed.Max.Y)*sy+0.999))
		r = r.Inset(-margin)
	}
	for _, tr := range live {
		m := max(margin, tr.Box.Dx()*3/4)
		r = r.Union(tr.Box.Inset(-m))
	}
	return r.Intersect(frame)
}

// cropMaxAge bounds how long detections stay on track crops: a face that
// enters while others are tracked is looked for at least this often.
const cropMaxAge = time.Second

// trackCrops are the regions around the live tracks' last boxes (each
// grown by 3/4 of its width on every side, so a face that moved about its
// own size between frames stays inside), overlapping ones merged so no
// face is found twice.
func trackCrops(frame image.Rectangle, live []*Track) []image.Rectangle {
	return cropsAround(frame, live, 3, 4)
}

// cropsAround is trackCrops with a margin of num/den of each box's width
// (at least 32 px).
func cropsAround(frame image.Rectangle, live []*Track, num, den int) []image.Rectangle {
	var rs []image.Rectangle
	for _, tr := range live {
		r := tr.Box.Inset(-max(32, tr.Box.Dx()*num/den)).Intersect(frame)
		if !r.Empty() {
			rs = append(rs, r)
		}
	}
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(rs) && !merged; i++ {
			for j := i + 1; j < len(rs); j++ {
				if rs[i].Overlaps(rs[j]) {
					rs[i] = rs[i].Union(rs[j])
					rs = append(rs[:j], rs[j+1:]...)
					merged = true
					break
				}
			}
		}
	}
	return rs
}

// regionMargin pads motion regions by about a detectable face (HOG finds
// faces of ~80 px and up).
const regionMargin = 96

// signature identifies what is drawn on an annotated frame.
func signature(fs []msg.Face) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%d %s %.2f %v;", f.Track, f.Name, f.Distance, f.Box)
	}
	return b.String()
}

// output is the publishing stage: draw and encode (or forward the received
// JPEG when there is nothing to draw), identities JSON, publish, hooks.
func (p *Pipeline) output(cs *camState, j *outJob) {
	t := time.Now()
	var annotated []byte
	var err error
	if j.reuse {
		cs.annMu.Lock()
		if cs.lastSig == signature(j.ids.Faces) {
			annotated = cs.lastAnn
		}
		cs.annMu.Unlock()
		if annotated == nil { // a frame queued before this one drew something else
			if j.pic, err = p.cfg.Codec.Decode(j.f.JPEG); err != nil {
				p.log.Warn("decode for annotation failed", "camera", j.f.Camera, "err", err)
			}
		}
	}
	switch {
	case !j.annotate: // the next drawing starts afresh (no reuse of an old one)
		cs.annMu.Lock()
		cs.lastAnn, cs.lastSig = nil, ""
		cs.annMu.Unlock()
	case annotated != nil:
	case j.pic != nil:
		annotated, err = p.cfg.Codec.Annotate(j.pic, j.ids.Faces, p.cfg.MaxAnnotatedBytes)
		j.pic.Close()
		t = p.stage("annotate", t)
		if err != nil {
			p.log.Warn("annotate failed", "camera", j.f.Camera, "err", err)
			annotated = nil
		} else if len(j.ids.Faces) > 0 {
			cs.annMu.Lock()
			cs.lastAnn, cs.lastSig = annotated, signature(j.ids.Faces)
			cs.annMu.Unlock()
		}
	case len(j.ids.Faces) > 0: // could not draw: publish no annotated frame
	default: // nothing to draw: the received frame is the annotated frame
		annotated = j.f.JPEG
	}
	if annotated != nil {
		// Keep the edge's metadata so it can tell the newest stream.
		if withMeta, err := msg.EmbedMeta(annotated, j.meta); err == nil {
			annotated = withMeta
		}
		p.pub.Publish(p.cfg.Space.Annotated(j.f.Camera), 0, false, annotated)
	}
	j.ids.Processed = time.Now().UTC()
	if b, err := json.Marshal(j.ids); err == nil {
		p.pub.Publish(p.cfg.Space.Identities(j.f.Camera), 1, false, b)
	}
	p.stage("publish", t)
	p.processed.Add(1)
	p.m.processed.Inc()
	p.m.procSeconds.Observe(time.Since(j.start).Seconds())
	if !j.meta.Captured.IsZero() {
		p.m.latency.Observe(j.ids.Processed.Sub(j.meta.Captured).Seconds())
	}
	p.runHooks(&Result{Identities: j.ids, Frame: j.f, Faces: j.faces, Annotated: annotated})
}
