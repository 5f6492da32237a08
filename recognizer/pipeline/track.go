package pipeline

import (
	"image"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
)

// TrackConfig configures tracking: faces are linked across frames of a
// camera by box continuity (never by descriptor alone), descriptors are
// computed when a track starts and then sparingly, within a per-track
// budget, and a track is named only when enough of its attempts agree.
type TrackConfig struct {
	// Agree is how many attempts of a track must name the same person before
	// the track is named (1 disables tracking decisions).
	Agree int
	// Window is how many of the track's latest decisions are kept for the
	// vote.
	Window int
	// MaxGap ends a track not seen for this long.
	MaxGap time.Duration
	// MaxDistance: a descriptor farther than this from its track's mean
	// descriptor means another person stepped into the box; the track is
	// split (a new track starts there).
	MaxDistance float64
	// MinIoU links a box to a track whose last box overlaps it this much;
	// boxes whose centres are within CentreFrac of the box width also link.
	MinIoU     float64
	CentreFrac float64
	// Budget is the most descriptor attempts for a track while it is
	// unknown, NamedBudget once it is named (Frigate: 12 and 6).
	Budget, NamedBudget int
	// Every is how many frames pass between attempts of a named track (an
	// unnamed track is attempted every frame until its budget runs out);
	// a box that changed much (IoU with the last described box below 0.5)
	// is attempted at once.
	Every int
	// UnknownAfter gives an unknown verdict to a track never named after
	// this long in view, even when it has budget left (0: budget only).
	UnknownAfter time.Duration
	// NoTentative shows a track as unknown until the verdict rule names it.
	// By default a track not yet named shows its best recognition so far
	// (see Track.Shown), flagged tentative; verdicts and the events keyed
	// off them wait for Agree either way.
	NoTentative bool
	// NoMeanName names tracks by the vote alone (see Tracker.decide).
	NoMeanName bool
}

// DefaultTrack names a track after 3 agreeing attempts out of its last 12.
var DefaultTrack = TrackConfig{Agree: 3, Window: 12, MaxGap: 2 * time.Second, MaxDistance: 0.6,
	MinIoU: 0.2, CentreFrac: 0.5, Budget: 12, NamedBudget: 6, Every: 10, UnknownAfter: 10 * time.Second}

// Track is one face followed across frames of one camera.
type Track struct {
	ID       int
	Box      image.Rectangle
	First    time.Time // first seen
	Last     time.Time // last seen
	Attempts int       // descriptors computed
	// Match is the latest gallery decision (distance, candidate).
	Match gallery.Match
	// Best is the nearest decision that named someone (zero before one).
	Best gallery.Match

	descBox   image.Rectangle
	sinceDesc int
	sum       [face.DescriptorLen]float64
	votes     []string
	named     string
	everNamed bool
	frames    int
	verdict   string // verdict already given
}

// Verdict returns msg.VerdictKnown or msg.VerdictUnknown the first time
// the track is decided, and "" otherwise: known when it is first named;
// unknown when it was never named and spent its budget (or UnknownAfter
// passed). A track gets at most one verdict.
func (t *Tracker) Verdict(tr *Track, now time.Time) string {
	if tr.verdict != "" {
		return ""
	}
	switch {
	case tr.everNamed:
		tr.verdict = msg.VerdictKnown
	case t.cfg.Budget > 0 && tr.Attempts >= t.cfg.Budget,
		t.cfg.Budget <= 0 && tr.Attempts >= max(t.cfg.Window, 12),
		t.cfg.UnknownAfter > 0 && tr.Attempts > 0 && now.Sub(tr.First) >= t.cfg.UnknownAfter:
		tr.verdict = msg.VerdictUnknown
	default:
		return ""
	}
	return tr.verdict
}

// Name is the track's current verdict (msg.Unknown until confirmed).
func (t *Track) Name() string {
	if t.named == "" {
		return msg.Unknown
	}
	return t.named
}

// Shown is what the track displays (identities, annotated label): its
// confirmed name; else, unless cfg.NoTentative or the track has had its
// unknown verdict, a tentative name: the latest attempt's when it named
// someone, else the best recognition so far while that person has at
// least as many of the window's votes as "unknown"; else msg.Unknown. m
// is the decision to report with the name.
func (t *Track) Shown(cfg TrackConfig) (name string, m gallery.Match, tentative bool) {
	if t.named != "" && t.named != msg.Unknown {
		return t.named, t.Match, false
	}
	if cfg.NoTentative || t.Best.Name == "" || t.verdict == msg.VerdictUnknown {
		return msg.Unknown, t.Match, false
	}
	if t.Match.Name != "" && t.Match.Name != msg.Unknown {
		return t.Match.Name, t.Match, true
	}
	n, u := 0, 0
	for _, v := range t.votes {
		switch v {
		case t.Best.Name:
			n++
		case msg.Unknown:
			u++
		}
	}
	if n == 0 || n < u {
		return msg.Unknown, t.Match, false
	}
	return t.Best.Name, t.Best, true
}

// Exhausted reports whether the track spent its attempt budget.
func (t *Track) Exhausted(c TrackConfig) bool { return c.Budget > 0 && t.Attempts >= t.budget(c) }

func (t *Track) budget(c TrackConfig) int {
	if t.named != "" && t.named != msg.Unknown && c.NamedBudget > 0 {
		return c.NamedBudget
	}
	return c.Budget
}

// Mean is the mean of the track's descriptors (ok false before the first).
func (t *Track) Mean() (d face.Descriptor, ok bool) {
	if t.Attempts == 0 {
		return d, false
	}
	for i := range d {
		d[i] = float32(t.sum[i] / float64(t.Attempts))
	}
	return d, true
}

// NeedsDescriptor says whether this frame should compute the track's
// descriptor.
func (t *Track) NeedsDescriptor(c TrackConfig) bool {
	if c.Budget <= 0 { // no budget: every frame (the per-frame method)
		return true
	}
	if t.Attempts == 0 {
		return true
	}
	if t.Attempts >= t.budget(c) {
		return false
	}
	if t.named == "" || t.named == msg.Unknown {
		return true
	}
	return t.sinceDesc >= max(1, c.Every) || iou(t.descBox, t.Box) < 0.5
}

// Tracker links faces across frames, per camera.
type Tracker struct {
	cfg    TrackConfig
	mu     sync.Mutex
	tracks map[string][]*Track // per camera
	nextID int
}

// NewTracker returns a tracker.
func NewTracker(cfg TrackConfig) *Tracker {
	if cfg.Window < cfg.Agree {
		cfg.Window = cfg.Agree
	}
	if cfg.MinIoU == 0 && cfg.CentreFrac == 0 {
		cfg.MinIoU, cfg.CentreFrac = DefaultTrack.MinIoU, DefaultTrack.CentreFrac
	}
	return &Tracker{cfg: cfg, tracks: map[string][]*Track{}}
}

// Forget drops a camera's tracks.
func (t *Tracker) Forget(camera string) {
	t.mu.Lock()
	delete(t.tracks, camera)
	t.mu.Unlock()
}

// Config returns the tracker's configuration.
func (t *Tracker) Config() TrackConfig { return t.cfg }

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := float64(in.Dx() * in.Dy())
	return ia / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia)
}

// continuity scores how likely box b continues track box a (0: not at all).
func (t *Tracker) continuity(a, b image.Rectangle) float64 {
	s := iou(a, b)
	if s >= t.cfg.MinIoU && s > 0 {
		return 1 + s
	}
	ca := a.Min.Add(a.Max).Div(2)
	cb := b.Min.Add(b.Max).Div(2)
	dx, dy := float64(ca.X-cb.X), float64(ca.Y-cb.Y)
	w := float64(max(a.Dx(), b.Dx()))
	// Similar size and a close centre.
	ratio := float64(a.Dx()) / float64(max(1, b.Dx()))
	if w > 0 && dx*dx+dy*dy <= (t.cfg.CentreFrac*w)*(t.cfg.CentreFrac*w) && ratio > 0.6 && ratio < 1.66 {
		return 1 - (dx*dx+dy*dy)/((t.cfg.CentreFrac*w)*(t.cfg.CentreFrac*w)) // in [0, 1]
	}
	return 0
}

// expire drops tracks not seen within MaxGap (caller holds mu).
func (t *Tracker) expire(camera string, now time.Time) {
	live := t.tracks[camera][:0]
	for _, tr := range t.tracks[camera] {
		if now.Sub(tr.Last) <= t.cfg.MaxGap {
			live = append(live, tr)
		}
	}
	t.tracks[camera] = live
}

// Live returns the camera's tracks seen within MaxGap of now.
func (t *Tracker) Live(camera string, now time.Time) []*Track {
	t.mu.Lock()
	t.expire(camera, now)
	live := append([]*Track(nil), t.tracks[camera]...)
	t.mu.Unlock()
	return live
}

// Touch marks tracks as seen at now without a new detection (the frame did
// not move).
func (t *Tracker) Touch(tracks []*Track, now time.Time) {
	for _, tr := range tracks {
		tr.Last = now
		tr.frames++
		tr.sinceDesc++
	}
}

// Associate links this frame's boxes to the camera's live tracks by box
// continuity (best pairs first) and starts tracks for the rest.
func (t *Tracker) Associate(camera string, now time.Time, boxes []image.Rectangle) []*Track {
	t.mu.Lock()
	t.expire(camera, now)
	live := t.tracks[camera]
	type pair struct {
		b, t  int
		score float64
	}
	var pairs []pair
	for i, b := range boxes {
		for j, tr := range live {
			if s := t.continuity(tr.Box, b); s > 0 {
				pairs = append(pairs, pair{i, j, s})
			}
		}
	}
	sort.Slice(pairs, func(a, b int) bool { return pairs[a].score > pairs[b].score })
	out := make([]*Track, len(boxes))
	used := make([]bool, len(live))
	for _, p := range pairs {
		if out[p.b] != nil || used[p.t] {
			continue
		}
		out[p.b], used[p.t] = live[p.t], true
	}
	for i, b := range boxes {
		tr := out[i]
		if tr == nil {
			t.nextID++
			tr = &Track{ID: t.nextID, First: now}
			live = append(live, tr)
			out[i] = tr
		}
		tr.Box, tr.Last = b, now
		tr.frames++
		tr.sinceDesc++
	}
	t.tracks[camera] = live
	t.mu.Unlock()
	return out
}

// Observe records a descriptor attempt for tr and returns the track the
// face belongs to: tr, or a new track when the descriptor is far from tr's
// mean (another person in the same place).
func (t *Tracker) Observe(camera string, tr *Track, d face.Descriptor, m gallery.Match) *Track {
	return t.ObserveMean(camera, tr, d, m, nil)
}

// ObserveMean is Observe with matchMean, which matches the track's mean
// descriptor against the gallery: a track the vote leaves unknown after
// Agree attempts is named by its mean when at least MeanVotes(Agree) of
// its attempts named that person too (see Tracker.decide).
func (t *Tracker) ObserveMean(camera string, tr *Track, d face.Descriptor, m gallery.Match, matchMean func(face.Descriptor) gallery.Match) *Track {
	if tr.Attempts == 0 {
		if old := t.relink(camera, tr, d, m); old != nil {
			tr = old
		}
	}
	if mean, ok := tr.Mean(); ok && t.cfg.MaxDistance > 0 && face.Distance(mean, d) > t.cfg.MaxDistance {
		t.mu.Lock()
		t.nextID++
		nt := &Track{ID: t.nextID, First: tr.Last, Last: tr.Last, Box: tr.Box, frames: 1}
		live := t.tracks[camera]
		for i, x := range live {
			if x == tr {
				live[i] = nt // the old track ends here
			}
		}
		t.mu.Unlock()
		tr = nt
	}
	tr.Attempts++
	tr.sinceDesc = 0
	tr.descBox = tr.Box
	for i, v := range d {
		tr.sum[i] += float64(v)
	}
	tr.Match = m
	if m.Name != "" && m.Name != msg.Unknown && (tr.Best.Name == "" || m.Distance < tr.Best.Distance) {
		tr.Best = m
	}
	tr.votes = append(tr.votes, m.Name)
	if len(tr.votes) > t.cfg.Window {
		tr.votes = tr.votes[len(tr.votes)-t.cfg.Window:]
	}
	t.decide(tr, matchMean)
	return tr
}

// relink continues a track that lost its face for a few frames (the
// detector missed it, or it moved fast): a new track nt whose first
// descriptor is close to a lost track's mean (3/4 of MaxDistance) and
// whose box is near that track's last box takes the lost track's place.
// Location and descriptor both have to agree, except for a confirmed
// track whose person the new face's gallery match m names too: then a
// face anywhere in the frame within MaxDistance of the track's mean (the
// distance up to which an attempt stays on its track) continues it. The
// same person cannot be in two places and the old track was not seen in
// this frame; so after a big jump, or a fast move the detector missed, the
// track keeps its confirmed name instead of restarting tentative.
func (t *Tracker) relink(camera string, nt *Track, d face.Descriptor, m gallery.Match) *Track {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.tracks[camera]
	var best *Track
	bestD := math.Inf(1)
	for _, tr := range live {
		if tr == nt || tr.Attempts == 0 || !tr.Last.Before(nt.Last) {
			continue // new, or seen in this frame
		}
		ca, cb := tr.Box.Min.Add(tr.Box.Max).Div(2), nt.Box.Min.Add(nt.Box.Max).Div(2)
		dx, dy := float64(ca.X-cb.X), float64(ca.Y-cb.Y)
		w := 2 * float64(max(tr.Box.Dx(), nt.Box.Dx()))
		limit := t.cfg.MaxDistance * 0.75
		if samePerson := m.Name != "" && m.Known() && tr.named == m.Name; samePerson {
			limit = t.cfg.MaxDistance
		} else if dx*dx+dy*dy > w*w {
			continue
		}
		mean, _ := tr.Mean()
		if dist := face.Distance(mean, d); dist <= limit && dist < bestD {
			best, bestD = tr, dist
		}
	}
	if best == nil {
		return nil
	}
	best.Box, best.Last = nt.Box, nt.Last
	best.frames++
	out := live[:0]
	for _, tr := range live {
		if tr != nt {
			out = append(out, tr)
		}
	}
	t.tracks[camera] = out
	return best
}

// UpdateTracks links faces that all have descriptors (the per-frame path:
// Pipeline.processLegacy) to tracks and records each face's match as an
// attempt; it returns each face's track.
func (t *Tracker) UpdateTracks(camera string, now time.Time, faces []face.Face, matches []gallery.Match) []*Track {
	boxes := make([]image.Rectangle, len(faces))
	for i, f := range faces {
		boxes[i] = f.Box
	}
	trs := t.Associate(camera, now, boxes)
	for i, f := range faces {
		trs[i] = t.Observe(camera, trs[i], f.Descriptor, matches[i])
	}
	return trs
}

// decide sets the track's name: the person named by at least Agree of
// the window's decisions and by more decisions than "unknown"; a named track
// keeps its name while that person still has Agree votes. Else, after at
// least Agree attempts, matchMean (when set) matches the mean of the
// track's descriptors: it names the track when it names someone whom at
// least MeanVotes(Agree) of the window's decisions name. The mean is
// steadier than single frames near the threshold (eval.Tracks on LFW:
// see README "Recognize once per track"), and the votes keep a stranger
// whose mean drifts near someone from being named by the mean alone.
func (t *Tracker) decide(tr *Track, matchMean func(face.Descriptor) gallery.Match) {
	if t.cfg.Agree <= 1 {
		tr.named = tr.votes[len(tr.votes)-1]
		tr.everNamed = tr.everNamed || tr.named != msg.Unknown
		return
	}
	count := map[string]int{}
	for _, v := range tr.votes {
		count[v]++
	}
	if tr.named != "" && tr.named != msg.Unknown && count[tr.named] >= t.cfg.Agree {
		return
	}
	best, n := msg.Unknown, 0
	for name, c := range count {
		if name != msg.Unknown && (c > n || (c == n && name < best)) {
			best, n = name, c
		}
	}
	if n >= t.cfg.Agree && n > count[msg.Unknown] {
		tr.named = best
		tr.everNamed = true
		return
	}
	if matchMean != nil && !t.cfg.NoMeanName && tr.Attempts >= t.cfg.Agree {
		if mean, ok := tr.Mean(); ok {
			if m := matchMean(mean); m.Known() && count[m.Name] >= MeanVotes(t.cfg.Agree) {
				tr.named = m.Name
				tr.everNamed = true
				return
			}
		}
	}
	tr.named = msg.Unknown
}

// MeanVotes is how many of a track's attempts must name the person its
// mean descriptor names for the mean to name the track (see Tracker.decide).
func MeanVotes(agree int) int { return max(1, (agree+1)/2) }
