package service

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/history"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/recognizer/quality"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
	"github.com/facemon/facemon/shared/ttl"
)

// Suggestions (issue 20, "train from recent recognitions"): a confirmed
// track (named, not tentative) offers its best few face crops to be added
// to that person's samples by a person's click. The bounds: each track
// has at most SuggestTries crops judged (frames where the pipeline
// described its face), at least SuggestEvery apart,
// and keeps its SuggestPerTrack best; a person has at most
// SuggestPerPerson waiting, all of them SuggestTotal and SuggestMaxBytes;
// each waits SuggestMaxAge. The oldest go first (they are offers, not a
// person's captures: dropping one loses nothing of the gallery).
const (
	SuggestPerTrack  = 3
	SuggestTries     = 10
	SuggestEvery     = time.Second
	SuggestPerPerson = 12
	SuggestTotal     = 300
	SuggestMaxBytes  = 16 << 20
	SuggestMaxAge    = 7 * 24 * time.Hour
	// SuggestMargin widens the face box of a crop on every side (a
	// fraction of its size): enough context for the detector to find the
	// face again when the crop is accepted.
	SuggestMargin = 0.5
	// suggestQueue bounds the frames waiting to be judged; more are dropped
	// (the track offers another one SuggestEvery later).
	suggestQueue = 2
)

// SuggestMinDistance: a crop whose descriptor is nearer than this to one of
// the person's samples (or to a better suggestion of the person) is a
// near-duplicate and is not offered: it would teach the gallery nothing.
// The same limit as a burst's near-duplicates (quality.DefaultBurst).
var SuggestMinDistance = quality.DefaultBurst.MinDistance

// suggestionMeta is a suggestion's <id>.json.
type suggestionMeta struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Camera     string          `json:"camera"`
	Track      int             `json:"track"`
	Created    time.Time       `json:"created"`
	Quality    float64         `json:"quality"`  // sharpness (quality.Report.Sharpness) of the crop's face
	Distance   float64         `json:"distance"` // to the person's nearest sample when offered
	Bytes      int             `json:"bytes"`
	Descriptor face.Descriptor `json:"descriptor"` // the crop's own, for the near-duplicate checks
}

// suggestionStore keeps suggestions in an imageDir (see pending.go's
// store, the same files), an index in memory, and per live track the
// crops tried and kept (memory only: after a restart the files stay, the
// tracks are new).
type suggestionStore struct {
	files imageDir[suggestionMeta]
	log   *slog.Logger
	now   func() time.Time
	// bounds (the Suggest* constants; smaller in tests)
	perTrack, perPerson, total int
	maxBytes                   int
	maxAge                     time.Duration

	mu     sync.Mutex
	items  map[string]suggestionMeta
	bytes  int
	tracks map[string]*suggestTrack
	seen   map[string]time.Time
	sweep  int
}

type suggestTrack struct {
	tries int
	last  time.Time
}

func openSuggestions(dir string, log *slog.Logger) (*suggestionStore, error) {
	d, items, err := openImageDir(dir, "suggestion", log, func(id string, m *suggestionMeta) error {
		if m.ID != id || !msg.ValidName(m.Name) || !topic.ValidID(m.Camera) || m.Bytes <= 0 {
			return errors.New("bad fields")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st := &suggestionStore{files: d, log: log, now: time.Now, perTrack: SuggestPerTrack, perPerson: SuggestPerPerson,
		total: SuggestTotal, maxBytes: SuggestMaxBytes, maxAge: SuggestMaxAge, items: items,
		tracks: map[string]*suggestTrack{}, seen: map[string]time.Time{}}
	st.mu.Lock()
	for _, m := range items {
		st.bytes += m.Bytes
	}
	st.pruneLocked()
	st.mu.Unlock()
	return st, nil
}

// want reports whether a confirmed track's face at now is worth a crop
// (at most SuggestTries per track, SuggestEvery apart), and counts it.
func (st *suggestionStore) want(camera string, track int, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := trackKey(camera, track)
	t := st.tracks[k]
	if t == nil {
		t = &suggestTrack{}
		st.tracks[k] = t
	} else if t.tries >= SuggestTries || now.Sub(t.last) < SuggestEvery {
		return false
	}
	t.tries++
	t.last = now
	st.seen[k] = now
	before := len(st.seen)
	ttl.Sweep(st.seen, now, time.Minute, &st.sweep)
	if len(st.seen) < before {
		for k := range st.tracks {
			if _, ok := st.seen[k]; !ok {
				delete(st.tracks, k)
			}
		}
	}
	return true
}

func (st *suggestionStore) dropLocked(id, why string) {
	m := st.items[id]
	st.files.remove(id)
	st.bytes -= m.Bytes
	delete(st.items, id)
	if why != "" {
		st.log.Debug("suggestion removed", "id", id, "name", m.Name, "why", why)
	}
}

// pruneLocked drops expired suggestions, then the oldest over the bounds.
func (st *suggestionStore) pruneLocked() {
	cut := st.now().Add(-st.maxAge)
	for id, m := range st.items {
		if m.Created.Before(cut) {
			st.dropLocked(id, "expired")
		}
	}
	all := st.sortedLocked(func(suggestionMeta) bool { return true })
	for len(all) > 0 && (len(st.items) > st.total || st.bytes > st.maxBytes) {
		st.dropLocked(all[0].ID, "over the bounds")
		all = all[1:]
	}
}

// sortedLocked returns the entries keep accepts, oldest first.
func (st *suggestionStore) sortedLocked(keep func(suggestionMeta) bool) []suggestionMeta {
	var out []suggestionMeta
	for _, m := range st.items {
		if keep(m) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// offer stores crop as a suggestion unless the track already has
// perTrack better ones or the person a better near-duplicate; it reports
// whether it was kept.
func (st *suggestionStore) offer(m suggestionMeta, crop []byte) (bool, error) {
	m.ID, m.Bytes, m.Created = imageID(crop), len(crop), st.now().UTC()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pruneLocked()
	if _, ok := st.items[m.ID]; ok {
		return false, nil
	}
	var evict []string
	for _, x := range st.sortedLocked(func(x suggestionMeta) bool { return x.Name == m.Name }) {
		if face.Distance(x.Descriptor, m.Descriptor) < SuggestMinDistance {
			if x.Quality >= m.Quality {
				return false, nil // a better near-duplicate waits already
			}
			evict = append(evict, x.ID)
		}
	}
	same := st.sortedLocked(func(x suggestionMeta) bool {
		return x.Camera == m.Camera && x.Track == m.Track && x.Name == m.Name && !contains(evict, x.ID)
	})
	if len(same) >= st.perTrack {
		worst := same[0]
		for _, x := range same {
			if x.Quality < worst.Quality {
				worst = x
			}
		}
		if worst.Quality >= m.Quality {
			return false, nil
		}
		evict = append(evict, worst.ID)
	}
	if err := st.files.put(m.ID, crop, m); err != nil {
		return false, err
	}
	for _, id := range evict {
		st.dropLocked(id, "a better crop of the track")
	}
	st.items[m.ID] = m
	st.bytes += m.Bytes
	if mine := st.sortedLocked(func(x suggestionMeta) bool { return x.Name == m.Name }); len(mine) > st.perPerson {
		for _, x := range mine[:len(mine)-st.perPerson] {
			st.dropLocked(x.ID, "over the person's bound")
		}
	}
	st.pruneLocked()
	_, kept := st.items[m.ID]
	return kept, nil
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// list returns the suggestions still worth offering against g: the
// person exists and none of their samples is a near-duplicate (a sample
// added since, e.g. an accepted suggestion of the same track, ends its
// near-duplicates). Best first per person, people by name.
func (st *suggestionStore) list(g *gallery.Gallery) []suggestionMeta {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pruneLocked()
	var out []suggestionMeta
	for id, m := range st.items {
		p := g.Person(m.Name)
		if p == nil {
			st.dropLocked(id, "person not in the gallery")
			continue
		}
		if d := nearestSample(p, m.Descriptor); d < SuggestMinDistance {
			st.dropLocked(id, "near-duplicate of a sample")
			continue
		} else {
			m.Distance = math.Round(d*10000) / 10000
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		if out[i].Quality != out[j].Quality {
			return out[i].Quality > out[j].Quality
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func nearestSample(p *gallery.Person, d face.Descriptor) float64 {
	best := math.Inf(1)
	for _, s := range p.Samples {
		best = math.Min(best, face.Distance(s.Descriptor, d))
	}
	return best
}

func (st *suggestionStore) get(id string) (suggestionMeta, []byte, error) {
	st.mu.Lock()
	m, ok := st.items[id]
	st.mu.Unlock()
	if !ok {
		return suggestionMeta{}, nil, fmt.Errorf("%w: suggestion %s", api.ErrNotFound, id)
	}
	b, err := st.files.read(id)
	return m, b, err
}

func (st *suggestionStore) delete(id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.items[id]; !ok {
		return fmt.Errorf("%w: suggestion %s", api.ErrNotFound, id)
	}
	st.dropLocked(id, "")
	return nil
}

// suggestJob is one confirmed face to consider, taken on a pipeline
// worker (cheap) and judged on the suggestion worker.
type suggestJob struct {
	name, camera string
	track        int
	face         face.Face         // the pipeline's own, described this frame (box, landmarks, descriptor; frame pixels)
	others       []image.Rectangle // the frame's other faces: none may show in the crop
	frame        []byte
}

// observeSuggestions is the OnResult hook: for each confirmed face of a
// known person that the pipeline described in this frame (so its box,
// landmarks and descriptor are this frame's) and whose track still wants
// crops, it queues the frame (never blocking: a full queue drops it).
// Faces only followed this frame are not candidates: judging them would
// need an engine of their own (earlier versions ran the analyzer on every
// crop, about 2 CPU-ms per frame of a one-camera stream, issue 21).
func (s *Service) observeSuggestions(r *pipeline.Result) {
	if r.Frame == nil || len(r.Frame.JPEG) == 0 || r.Identities == nil {
		return
	}
	g := s.Pipeline.Gallery()
	now := time.Now()
	for i, f := range r.Identities.Faces {
		if f.Name == msg.Unknown || f.Tentative || f.Track == 0 || i >= len(r.Faces) || g.Person(f.Name) == nil {
			continue
		}
		pf := r.Faces[i]
		if len(pf.Landmarks) == 0 || pf.Descriptor == (face.Descriptor{}) || pf.Box.Empty() {
			continue // followed, not described, this frame
		}
		if !s.suggest.want(r.Identities.Camera, f.Track, now) {
			continue
		}
		var others []image.Rectangle
		for k, o := range r.Identities.Faces {
			if k != i {
				others = append(others, image.Rect(o.Box[0], o.Box[1], o.Box[2], o.Box[3]))
			}
		}
		j := suggestJob{name: f.Name, camera: r.Identities.Camera, track: f.Track, face: pf, others: others, frame: r.Frame.JPEG}
		s.suggestWork.submit(func(ctx context.Context) { s.considerSuggestion(j) })
	}
}

// considerSuggestion judges the pipeline's face without an engine: it
// offers the crop when no other face shows in it, the face passes every
// quality check (on the frame's pixels, with the pipeline's landmarks),
// the descriptor still names the person, and it is no near-duplicate of
// their samples. The crop's margin (SuggestMargin) leaves the enrolment
// detector the context it needs to find the face again on Accept, which
// analyses the crop like any Capture and refuses it when it cannot.
func (s *Service) considerSuggestion(j suggestJob) {
	img, err := history.DecodeFrame(j.frame)
	if err != nil {
		return
	}
	f := j.face
	box := [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}
	r, err := history.CropRect(img.Bounds(), box, SuggestMargin)
	if err != nil {
		return
	}
	for _, o := range j.others {
		if o.Overlaps(r) {
			return // another face in the crop: an enrolment would refuse it
		}
	}
	q := quality.AssessImage(img, 1, f, quality.DefaultLimits)
	if !q.OK() {
		return
	}
	g := s.Pipeline.Gallery()
	p := g.Person(j.name)
	if p == nil {
		return
	}
	if m := g.Match(f.Descriptor, s.cfg.Rule); m.Candidate != j.name {
		return // this frame alone looks more like someone else: not offered
	}
	d := nearestSample(p, f.Descriptor)
	if d < SuggestMinDistance {
		return
	}
	crop, err := history.CropImage(img, box, SuggestMargin)
	if err != nil {
		return
	}
	kept, err := s.suggest.offer(suggestionMeta{Name: j.name, Camera: j.camera, Track: j.track, Quality: math.Round(q.Sharpness*10) / 10,
		Distance: math.Round(d*10000) / 10000, Descriptor: f.Descriptor}, crop)
	if err != nil {
		s.log.Warn("suggestion not stored", "name", j.name, "camera", j.camera, "err", err)
		return
	}
	if kept {
		s.log.Debug("suggestion offered", "name", j.name, "camera", j.camera, "track", j.track, "sharpness", q.Sharpness, "distance", d)
	}
}

// apiSuggestions adapts the store to api.Suggestions; Accept enrols the
// crop through the same path as an enrolment command (dataset file,
// gallery update, training journal).
type apiSuggestions struct{ s *Service }

func (a apiSuggestions) List(context.Context) ([]api.Suggestion, error) {
	ms := a.s.suggest.list(a.s.Pipeline.Gallery())
	out := make([]api.Suggestion, 0, len(ms))
	for _, m := range ms {
		out = append(out, api.Suggestion{ID: m.ID, Name: m.Name, Camera: m.Camera, Created: m.Created, Quality: m.Quality, Distance: m.Distance})
	}
	return out, nil
}

func (a apiSuggestions) Image(_ context.Context, id string) ([]byte, error) {
	_, b, err := a.s.suggest.get(id)
	return b, err
}

func (a apiSuggestions) Delete(_ context.Context, id string) error {
	if err := a.s.suggest.delete(id); err != nil {
		return err
	}
	a.s.log.Info("suggestion discarded", "id", id)
	return nil
}

func (a apiSuggestions) Accept(ctx context.Context, id string) (msg.EnrolResult, error) {
	m, img, err := a.s.suggest.get(id)
	if err != nil {
		return msg.EnrolResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enrolWait)
	defer cancel()
	res := a.s.enrol(ctx, &msg.Enrol{V: msg.Version, ID: "suggestion-" + id, Name: m.Name, Camera: m.Camera, Image: img})
	if res.Status == msg.EnrolSaved {
		if err := a.s.suggest.delete(id); err != nil && !errors.Is(err, api.ErrNotFound) {
			a.s.log.Warn("accepted suggestion not removed", "id", id, "err", err)
		}
	}
	a.s.log.Info("suggestion accepted by a person", "id", id, "name", m.Name, "camera", m.Camera, "status", res.Status)
	return res, nil
}
