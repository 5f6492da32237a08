package pipeline

import (
	"image"
	"sync"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
)

// Evidence over time: a face seen in consecutive frames forms a track, and
// a track is named only when enough of its frames agree on the same person,
// so a stranger's occasional near match does not become a named event.
type TrackConfig struct {
	// Agree is how many frames of a track must name the same person before
	// the track is named (1 disables tracking decisions).
	Agree int
	// Window is how many of the track's latest decisions are kept for the
	// vote (Frigate votes over up to 12 attempts).
	Window int
	// MaxGap ends a track not seen for this long.
	MaxGap time.Duration
	// MaxDistance links a face to a track when its descriptor is this close
	// to the track's last one (or its box overlaps the last box enough).
	MaxDistance float64
}

// DefaultTrack names a track after 3 agreeing frames out of its last 12.
var DefaultTrack = TrackConfig{Agree: 3, Window: 12, MaxGap: 2 * time.Second, MaxDistance: 0.5}

type track struct {
	id    int
	box   image.Rectangle
	desc  face.Descriptor
	last  time.Time
	votes []string // latest decisions, oldest first
	named string   // sticky once named, until the votes turn
}

// Tracker links faces across frames of one camera.
type Tracker struct {
	cfg    TrackConfig
	mu     sync.Mutex
	tracks map[string][]*track // per camera
	nextID int
}

// NewTracker returns a tracker.
func NewTracker(cfg TrackConfig) *Tracker {
	if cfg.Window < cfg.Agree {
		cfg.Window = cfg.Agree
	}
	return &Tracker{cfg: cfg, tracks: map[string][]*track{}}
}

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := float64(in.Dx() * in.Dy())
	return ia / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia)
}

// Update links this frame's faces to tracks and returns, per face, the
// track id and the name to report (msg.Unknown until the track is confirmed).
func (t *Tracker) Update(camera string, now time.Time, faces []face.Face, matches []gallery.Match) (ids []int, names []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.tracks[camera][:0]
	for _, tr := range t.tracks[camera] {
		if now.Sub(tr.last) <= t.cfg.MaxGap {
			live = append(live, tr)
		}
	}
	used := map[*track]bool{}
	ids = make([]int, len(faces))
	names = make([]string, len(faces))
	for i, f := range faces {
		var best *track
		bestScore := 0.0
		for _, tr := range live {
			if used[tr] {
				continue
			}
			score := iou(tr.box, f.Box)
			if d := face.Distance(tr.desc, f.Descriptor); d <= t.cfg.MaxDistance {
				score += 1 - d // a close descriptor links even after a jump
			}
			if score > bestScore && score > 0.3 {
				best, bestScore = tr, score
			}
		}
		if best == nil {
			t.nextID++
			best = &track{id: t.nextID}
			live = append(live, best)
		}
		used[best] = true
		best.box, best.desc, best.last = f.Box, f.Descriptor, now
		best.votes = append(best.votes, matches[i].Name)
		if len(best.votes) > t.cfg.Window {
			best.votes = best.votes[len(best.votes)-t.cfg.Window:]
		}
		ids[i] = best.id
		names[i] = t.decide(best)
	}
	t.tracks[camera] = live
	return ids, names
}

// decide returns the track's name: the person named by at least Agree of
// the window's decisions and by more decisions than "unknown"; a named track
// keeps its name while that person still has Agree votes.
func (t *Tracker) decide(tr *track) string {
	if t.cfg.Agree <= 1 {
		tr.named = tr.votes[len(tr.votes)-1]
		return tr.named
	}
	count := map[string]int{}
	for _, v := range tr.votes {
		count[v]++
	}
	if tr.named != "" && tr.named != msg.Unknown && count[tr.named] >= t.cfg.Agree {
		return tr.named
	}
	best, n := msg.Unknown, 0
	for name, c := range count {
		if name != msg.Unknown && (c > n || (c == n && name < best)) {
			best, n = name, c
		}
	}
	if n >= t.cfg.Agree && n > count[msg.Unknown] {
		tr.named = best
		return best
	}
	tr.named = msg.Unknown
	return msg.Unknown
}
