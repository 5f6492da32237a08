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
	ref      Grey       // thumbnail at the last detection
	lastFull time.Time  // capture time of the last detection
	annMu    sync.Mutex // lastSig and lastAnn are written by the output goroutine
	lastSig  string     // faces drawn on lastAnn
	lastAnn  []byte     // last annotated frame
	skipped  int        // frames since the last detection
	cropRuns int        // detections on track crops since the last wider one
	lastWide time.Time  // capture time of the last detection wider than the track crops
	shown    []*Track   // the tracks found by the last detection
	out      chan *outJob
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
		}()
	}
	return cs
}

func (p *Pipeline) stage(name string, t0 time.Time) time.Time {
	now := time.Now()
	p.m.stage.WithLabelValues(name).Observe(now.Sub(t0).Seconds())
	return now
}

// processFrame is the engine stage: motion gate, one decode, detection,
// tracking, descriptors within the track budget, matching. Drawing and
// publishing happen on the camera's output goroutine.
func (p *Pipeline) processFrame(ctx context.Context, f *Frame) {
	start := time.Now()
	meta, err := msg.ExtractMeta(f.JPEG)
	if err != nil { // third-party camera: no metadata; use arrival time
		meta = msg.FrameMeta{Camera: f.Camera, Captured: f.Arrived}
	}
	now := meta.Captured
	cs := p.cam(f.Camera)
	t := time.Now()

	moved := true
	var (
		thumb       Grey
		changed     image.Rectangle // in thumbnail pixels
		changedFrac float64
	)
	if !p.cfg.Motion.Off {
		thumb, err = p.cfg.Codec.Thumb(f.JPEG)
		t = p.stage("motion", t)
		if err != nil {
			p.badFrame(reason(err), p.cfg.Space.Frames(f.Camera), err)
			return
		}
		changed, changedFrac, moved = p.cfg.Motion.changedRect(cs.ref, thumb)
	}
	due := cs.lastFull.IsZero() || now.Sub(cs.lastFull) >= p.cfg.Motion.FullEvery || now.Before(cs.lastFull)
	live := p.trk.Live(f.Camera, now)

	var (
		pic    Picture
		tracks []*Track
		faces  []face.Face
	)
	detect := moved || due || p.cfg.Motion.Off
	tracking := !p.cfg.Motion.Off && p.trk.cfg.Budget > 0
	// Tracks the last detection found (cs.shown) decide whether this frame
	// needs one: an unknown track with budget left wants an attempt on
	// every frame, but not once a detection missed it (it coasts like a
	// named one until the next detection looks around its last box).
	if detect && !due && tracking && len(live) > 0 && settled(cs.shown, live, p.trk.cfg) && cs.skipped+1 < p.cfg.Motion.DetectEvery {
		detect = false // tracked faces: boxes follow their tracks until the next detection
	}
	if detect && !due && tracking && len(live) == 0 && cs.skipped+1 < p.cfg.Motion.IdleDetectEvery {
		detect = false
	}
	if !detect {
		cs.skipped++
		// Nothing moved since the last detection: the live tracks keep
		// their boxes and names; no decode, no detection.
		for _, tr := range cs.shown {
			if now.Sub(tr.Last) <= p.trk.cfg.MaxGap && slices.Contains(live, tr) {
				tracks = append(tracks, tr)
			}
		}
		p.trk.Touch(tracks, now)
		faces = make([]face.Face, len(tracks))
		for i, tr := range tracks {
			faces[i] = face.Face{Box: tr.Box}
		}
		p.m.gated.Inc()
	} else {
		pic, err = p.cfg.Codec.Decode(f.JPEG)
		t = p.stage("decode", t)
		if err != nil {
			p.badFrame(reason(err), p.cfg.Space.Frames(f.Camera), err)
			return
		}
		cs.ref, cs.skipped = thumb, 0
		px := pic.Pixels()
		frame := image.Rect(0, 0, px.Width, px.Height)
		// Wide scans use the fast detector when detections around tracked
		// faces (with the full one) follow them; see WideFull.
		sc := scan{regions: []image.Rectangle{frame}, det: p.cfg.Analyzer.Detector}
		retry := false // look again for the faces the last detection found, if this one misses them
		if tracking && p.cfg.Motion.CropFullEvery > 1 && !p.cfg.Motion.WideFull {
			sc.det = sc.det.Fast()
		}
		switch {
		case due || p.cfg.Motion.Off || thumb.Width == 0:
			cs.lastFull, cs.lastWide, cs.cropRuns = now, now, 0
		case tracking && len(live) > 0 && p.cfg.Motion.CropFullEvery > 1 && cs.cropRuns+1 < p.cfg.Motion.CropFullEvery &&
			now.Sub(cs.lastWide) < cropMaxAge && !now.Before(cs.lastWide):
			// Tracked faces: look for them near their last boxes only; a
			// wider detection every CropFullEvery-th time (and at least
			// every cropMaxAge) finds new faces. A face the last detection
			// found that is not in its crop (it moved farther than the
			// crop's margin) is looked for twice as far at once, unless the
			// whole view changed.
			sc.regions, sc.det, sc.retryDet, sc.retryFar = trackCrops(frame, live), p.cfg.Analyzer.Detector, sc.det, true
			// Unless the scene changed (a cut, the camera moved): then the
			// next wide scan looks.
			retry = changedFrac < sceneChange
			cs.cropRuns++
		default:
			cs.cropRuns, cs.lastWide = 0, now
			region := detectRegion(frame, thumb, changed, live)
			if region.Dx()*region.Dy()*10 >= px.Width*px.Height*7 { // most of the frame: all of it
				region = frame
			}
			sc.regions = []image.Rectangle{region}
		}
		if sc.det != p.cfg.Analyzer.Detector { // fast wide scan: a tracked face it misses is looked for with the full detector
			sc.retryDet, retry = p.cfg.Analyzer.Detector, true
		}
		if retry {
			for _, tr := range cs.shown { // the faces the last detection found
				if slices.Contains(live, tr) {
					sc.expect = append(sc.expect, tr)
				}
			}
		}
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

	ids := &msg.Identities{V: msg.Version, Camera: f.Camera, Seq: meta.Seq, Captured: meta.Captured,
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
			// History records faces with a descriptor (it groups unknown
			// ones by it): a followed frame has none of its own, so the
			// mean of the track's descriptors stands in; an unknown verdict
			// always uses the mean, the steadier key for grouping.
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
	j := &outJob{f: f, meta: meta, ids: ids, faces: faces, start: start, engine: time.Since(start), annotate: p.annotating(f.Camera)}
	if !j.annotate { // nobody watches: identities only
	} else if len(ids.Faces) > 0 {
		cs.annMu.Lock()
		j.reuse = !detect && !moved && cs.lastAnn != nil && cs.lastSig == signature(ids.Faces)
		cs.annMu.Unlock()
		if !j.reuse && pic == nil {
			pic, err = p.cfg.Codec.Decode(f.JPEG)
			p.stage("decode", t)
			if err != nil {
				p.badFrame(reason(err), p.cfg.Space.Frames(f.Camera), err)
				return
			}
		}
	} else if p.cfg.NoPassthrough && pic == nil {
		pic, err = p.cfg.Codec.Decode(f.JPEG)
		p.stage("decode", t)
		if err != nil {
			p.badFrame(reason(err), p.cfg.Space.Frames(f.Camera), err)
			return
		}
	}
	if j.annotate && ((len(ids.Faces) > 0 && !j.reuse) || p.cfg.NoPassthrough) {
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
}

// sceneChange is the fraction of changed thumbnail pixels above which
// crops around the tracks are not retried wider: the whole view changed
// (a cut, the camera moved), and the next wide scan looks at all of it.
const sceneChange = 1.0 / 3

// detectDescribe runs the scan on pic, links boxes to tracks and computes
// descriptors for the tracks that need one, as one batch.
func (p *Pipeline) detectDescribe(ctx context.Context, cam string, now time.Time, pic Picture, sc scan, t time.Time) (tracks []*Track, faces []face.Face, err error) {
	px := pic.Pixels()
	frame := image.Rect(0, 0, px.Width, px.Height)
	a := p.cfg.Analyzer
	up := 0
	if a.Prep.UpsampleBelow > 0 && max(px.Width, px.Height) < a.Prep.UpsampleBelow {
		up = 1
	}
	var boxes []image.Rectangle
	var described []face.Face
	var need []int
	err = p.pool.Do(ctx, func(e face.Engine) error {
		fe, ok := e.(face.FrameEngine)
		if !ok {
			return fmt.Errorf("pipeline: engine %T cannot work on decoded frames", e)
		}
		var err error
		p.m.framePx.Add(float64(px.Width * px.Height))
		detect := func(regions []image.Rectangle, det face.Detector) error {
			for _, region := range regions {
				if region.Empty() {
					continue
				}
				p.m.detectPx.Add(float64(region.Dx() * region.Dy()))
				bs, err := fe.Detect(px.Sub(region), det, up)
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
		if err := detect(sc.regions, sc.det); err != nil {
			return err
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
			if err := detect(crops, sc.retryDet); err != nil {
				return err
			}
		}
		t = p.stage("detect", t)
		kept := boxes[:0]
		for _, b := range boxes {
			if a.MinFace <= 0 || b.Dx() >= a.MinFace {
				kept = append(kept, b)
			}
		}
		boxes = kept
		tracks = p.trk.Associate(cam, now, boxes)
		var want []image.Rectangle
		for i, tr := range tracks {
			if tr.NeedsDescriptor(p.trk.cfg) {
				need = append(need, i)
				want = append(want, boxes[i])
			}
		}
		if len(want) == 0 {
			return nil
		}
		p.m.described.Add(float64(len(want)))
		if p.cfg.NoBatch {
			for _, b := range want {
				fs, err := fe.Describe(px, []image.Rectangle{b})
				if err != nil {
					return err
				}
				described = append(described, fs...)
			}
		} else {
			described, err = fe.Describe(px, want)
		}
		p.stage("describe", t)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	t = time.Now()
	g := p.idx.Load()
	faces = make([]face.Face, len(boxes))
	for i, b := range boxes {
		faces[i] = face.Face{Box: b}
	}
	matchMean := func(md face.Descriptor) gallery.Match { return g.Match(md, p.cfg.Rule) }
	for k, i := range need {
		d := described[k]
		faces[i] = d
		tracks[i] = p.trk.ObserveMean(cam, tracks[i], d.Descriptor, g.Match(d.Descriptor, p.cfg.Rule), matchMean)
	}
	p.stage("match", t)
	return tracks, faces, nil
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
func detectRegion(frame image.Rectangle, thumb Grey, changed image.Rectangle, live []*Track) image.Rectangle {
	var r image.Rectangle
	if !changed.Empty() && thumb.Width > 0 {
		sx := float64(frame.Dx()) / float64(thumb.Width)
		sy := float64(frame.Dy()) / float64(thumb.Height)
		r = image.Rect(int(float64(changed.Min.X)*sx), int(float64(changed.Min.Y)*sy), int(float64(changed.Max.X)*sx+0.999), int(float64(changed.Max.Y)*sy+0.999))
		r = r.Inset(-regionMargin)
	}
	for _, tr := range live {
		m := max(regionMargin, tr.Box.Dx()*3/4)
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
