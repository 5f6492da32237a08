package bench

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/facemon/facemon/shared/msg"
)

// TruthFace is a face that is really there on a frame: its box (x0, y0,
// x1, y1) and who it is ("" for a stranger: someone not enrolled, or not
// named by the reference).
type TruthFace struct {
	Box  [4]int `json:"box"`
	Name string `json:"name,omitempty"`
}

// Truth is who is where, per frame (key camera/seq as in Report.Names).
// Frames without an entry are not judged; an entry with no face is a
// frame known to show nobody.
type Truth map[string][]TruthFace

// Link and match thresholds: a face continues an appearance (or a shown
// face matches a true one) when the boxes overlap by IoU >= minIoU or one's
// centre lies inside the other at a similar size (widths within 2x).
const minIoU = 0.3

func iou(a, b [4]int) float64 {
	x0, y0 := max(a[0], b[0]), max(a[1], b[1])
	x1, y1 := min(a[2], b[2]), min(a[3], b[3])
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	in := float64((x1 - x0) * (y1 - y0))
	area := func(r [4]int) float64 { return float64(max(0, r[2]-r[0]) * max(0, r[3]-r[1])) }
	return in / (area(a) + area(b) - in)
}

// overlap scores how well two boxes are the same face: IoU; else, at a
// similar size (widths within 2x), 0.01 when a centre lies inside the
// other box and 0.001 when the centres are at most the larger width apart
// (a tracked face's box is held between detections and lags a moving
// face); else 0 (no match).
func overlap(a, b [4]int) float64 {
	if v := iou(a, b); v >= minIoU {
		return v
	}
	wa, wb := a[2]-a[0], b[2]-b[0]
	if wa <= 0 || wb <= 0 || wa > 2*wb || wb > 2*wa {
		return 0
	}
	inside := func(r [4]int, x, y int) bool { return x >= r[0] && x < r[2] && y >= r[1] && y < r[3] }
	ax, ay, bx, by := (a[0]+a[2])/2, (a[1]+a[3])/2, (b[0]+b[2])/2, (b[1]+b[3])/2
	if inside(a, bx, by) || inside(b, ax, ay) {
		return 0.01
	}
	if dx, dy, w := float64(ax-bx), float64(ay-by), float64(max(wa, wb)); dx*dx+dy*dy <= w*w {
		return 0.001
	}
	return 0
}

// frameKey is camera/seq.
func frameKey(cam string, seq int) string { return fmt.Sprintf("%s/%d", cam, seq) }

func splitKey(k string) (string, int, bool) {
	i := strings.LastIndexByte(k, '/')
	if i < 0 {
		return "", 0, false
	}
	seq, err := strconv.Atoi(k[i+1:])
	return k[:i], seq, err == nil
}

// byCamera orders keys per camera by seq.
func byCamera(keys []string) map[string][]int {
	out := map[string][]int{}
	for _, k := range keys {
		if cam, seq, ok := splitKey(k); ok {
			out[cam] = append(out[cam], seq)
		}
	}
	for _, s := range out {
		sort.Ints(s)
	}
	return out
}

// pairs matches boxes a to boxes b one to one, best overlap first, among
// the pairs ok allows (nil: all); it returns for each a the index in b, or -1.
func pairs(a, b [][4]int, ok func(i, j int) bool) []int {
	type cand struct {
		i, j int
		v    float64
	}
	var cs []cand
	for i := range a {
		for j := range b {
			if v := overlap(a[i], b[j]); v > 0 && (ok == nil || ok(i, j)) {
				cs = append(cs, cand{i, j, v})
			}
		}
	}
	sort.SliceStable(cs, func(x, y int) bool { return cs[x].v > cs[y].v })
	out := make([]int, len(a))
	for i := range out {
		out[i] = -1
	}
	used := make([]bool, len(b))
	for _, c := range cs {
		if out[c.i] < 0 && !used[c.j] {
			out[c.i], used[c.j] = c.j, true
		}
	}
	return out
}

// appearance is one person's continuous presence on one camera: true faces
// linked frame to frame by their boxes.
type appearance struct {
	cam   string
	name  string      // "" a stranger
	seqs  []int       // frames, ascending
	faces []TruthFace // the face on each of them
	idx   []int       // its index in the frame's Truth entry
}

// linkAppearances links the faces of each camera's frames into
// appearances: a face continues the appearance whose last face, seen at
// most gap frames before, it overlaps best (see overlap); with sameName,
// only an appearance of the same name. Frames are visited in seq order.
func linkAppearances(t Truth, gap int, sameName bool) []*appearance {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	var all []*appearance
	cams := byCamera(keys)
	camNames := make([]string, 0, len(cams))
	for c := range cams {
		camNames = append(camNames, c)
	}
	sort.Strings(camNames)
	for _, cam := range camNames {
		var open []*appearance
		for _, seq := range cams[cam] {
			// Appearances still open: seen within gap frames.
			live := open[:0]
			for _, a := range open {
				if seq-a.seqs[len(a.seqs)-1] <= gap {
					live = append(live, a)
				}
			}
			open = live
			faces := t[frameKey(cam, seq)]
			last := make([][4]int, len(open))
			for i, a := range open {
				last[i] = a.faces[len(a.faces)-1].Box
			}
			boxes := make([][4]int, len(faces))
			for i, f := range faces {
				boxes[i] = f.Box
			}
			var ok func(i, j int) bool
			if sameName {
				ok = func(i, j int) bool { return faces[i].Name == open[j].name }
			}
			m := pairs(boxes, last, ok)
			var added []*appearance
			for i, f := range faces {
				if j := m[i]; j >= 0 {
					a := open[j]
					a.seqs, a.faces, a.idx = append(a.seqs, seq), append(a.faces, f), append(a.idx, i)
					continue
				}
				a := &appearance{cam: cam, name: f.Name, seqs: []int{seq}, faces: []TruthFace{f}, idx: []int{i}}
				all = append(all, a)
				added = append(added, a)
			}
			open = append(open, added...)
		}
	}
	return all
}

// NaiveTruth makes the reference from the naive run: every face it
// detected is a true face; its faces are linked into appearances (box
// continuity, gaps up to gap frames), and an appearance is the person the
// naive pipeline named on most of its frames, provided it named that
// person on at least two frames and on more than half of the frames where
// it named anyone; otherwise it is a stranger. (The naive pipeline matches
// each frame alone, so an enrolled person it names on a few frames of a
// long appearance is still that person.)
func NaiveTruth(naive *Report, gap int) Truth {
	raw := Truth{}
	for k, fs := range naive.Faces {
		tf := make([]TruthFace, len(fs))
		for i, f := range fs {
			tf[i] = TruthFace{Box: f.Box}
			if f.Name != msg.Unknown {
				tf[i].Name = f.Name
			}
		}
		raw[k] = tf
	}
	out := Truth{}
	for k, fs := range raw {
		out[k] = make([]TruthFace, 0, len(fs))
	}
	for _, a := range linkAppearances(raw, gap, false) {
		votes, named := map[string]int{}, 0
		for _, f := range a.faces {
			if f.Name != "" {
				votes[f.Name]++
				named++
			}
		}
		who, best := "", 0
		for n, c := range votes {
			if c > best || (c == best && n < who) {
				who, best = n, c
			}
		}
		if best < 2 || 2*best <= named {
			who = ""
		}
		for i, seq := range a.seqs {
			k := frameKey(a.cam, seq)
			out[k] = append(out[k], TruthFace{Box: a.faces[i].Box, Name: who})
		}
	}
	return out
}

// WidthBuckets are the face-width buckets (px, of the true box) recall is
// reported by: [0,40), [40,60), [60,80), [80,120), [120,inf).
var WidthBuckets = []int{40, 60, 80, 120}

// WidthBucketNames name WidthBuckets.
var WidthBucketNames = []string{"<40", "40-60", "60-80", "80-120", ">=120"}

func widthBucket(w int) int {
	for i, b := range WidthBuckets {
		if w < b {
			return i
		}
	}
	return len(WidthBuckets)
}

// Metrics are the name metrics of one run against a reference (Score).
type Metrics struct {
	// Per frame (a face on a frame of the reference):
	KnownFaces  int `json:"known_faces"`  // faces of enrolled people
	Confirmed   int `json:"confirmed"`    // shown with their confirmed name
	TentRight   int `json:"tent_right"`   // shown with their name, tentative
	Wrong       int `json:"wrong"`        // shown with another person's confirmed name
	TentWrong   int `json:"tent_wrong"`   // shown with another person's name, tentative
	NotFound    int `json:"not_found"`    // no shown face there
	Strangers   int `json:"strangers"`    // faces of strangers
	StrangerFnd int `json:"stranger_fnd"` // of them, shown (a face there, named or not)
	StrangerNmd int `json:"stranger_nmd"` // a stranger shown with a confirmed name
	StrangerTnt int `json:"stranger_tnt"` // a stranger shown with a tentative name
	NamedNoFace int `json:"named_noface"` // confirmed names on no reference face
	// After an appearance's first confirmed name: its faces, those shown
	// with the confirmed name, and those shown unknown or tentative while
	// found (unknown flicker).
	AfterFirst     int `json:"after_first"`
	AfterConfirmed int `json:"after_confirmed"`
	Flicker        int `json:"flicker"`
	// Per appearance:
	KnownApps     int       `json:"known_apps"`
	ConfirmedApps int       `json:"confirmed_apps"` // ever shown with their confirmed name
	WrongApps     int       `json:"wrong_apps"`     // ever shown with another's confirmed name
	FlickerApps   int       `json:"flicker_apps"`   // shown unknown/tentative after their confirmed name
	StrangerApps  int       `json:"stranger_apps"`
	StrangerNApps int       `json:"stranger_named_apps"` // strangers ever shown with a confirmed name
	ToConfirmed   []float64 `json:"to_confirmed_s"`      // per confirmed appearance: first face -> confirmed name
	// Recall by true face width (WidthBuckets): faces of enrolled people,
	// and those shown with their confirmed name.
	WidthFaces []int `json:"width_faces"`
	WidthNamed []int `json:"width_named"`
	// Agreement both ways with the naive run, on confirmed names per frame
	// (the sorted set of names on a frame must be equal): frames naive
	// names someone on, of them the ones this run names the same; frames
	// this run names someone on, of them the ones naive names the same.
	NaiveNamed, NaiveSame int
	OwnNamed, OwnSame     int
	// Frames with a tentative name (none confirmed on that frame).
	TentativeFrames int `json:"tentative_frames"`
}

func confirmedNames(fs []Shown) string {
	var ns []string
	for _, f := range fs {
		if f.Name != msg.Unknown && !f.Tentative {
			ns = append(ns, f.Name)
		}
	}
	sort.Strings(ns)
	return strings.Join(ns, ",")
}

func pct(n, d int) float64 {
	if d == 0 {
		return math.NaN()
	}
	return float64(n) / float64(d)
}

// Coverage is the share of enrolled people's faces shown with their
// confirmed name.
func (m *Metrics) Coverage() float64 { return pct(m.Confirmed, m.KnownFaces) }

// CoverageAfterFirst is Coverage on the faces from each appearance's first
// confirmed name on.
func (m *Metrics) CoverageAfterFirst() float64 { return pct(m.AfterConfirmed, m.AfterFirst) }

// Score judges what r showed against the truth. apps are the truth's
// appearances (linkAppearances); naive, when not nil, is the naive run for
// the agreement both ways; fps converts frames to seconds.
func Score(truth Truth, apps []*appearance, r, naive *Report, fps float64) *Metrics {
	enrolled := map[string]bool{}
	for _, n := range r.Enrolled {
		enrolled[n] = true
	}
	m := &Metrics{WidthFaces: make([]int, len(WidthBuckets)+1), WidthNamed: make([]int, len(WidthBuckets)+1)}
	// shownFor[key][i]: the shown face matched to truth face i (or nil).
	shownFor := map[string][]*Shown{}
	for k, tf := range truth {
		shown := r.Faces[k]
		tb := make([][4]int, len(tf))
		for i, f := range tf {
			tb[i] = f.Box
		}
		sb := make([][4]int, len(shown))
		for i, s := range shown {
			sb[i] = s.Box
		}
		p := pairs(tb, sb, nil)
		ptrs := make([]*Shown, len(tf))
		used := make([]bool, len(shown))
		for i, j := range p {
			if j >= 0 {
				ptrs[i], used[j] = &shown[j], true
			}
		}
		shownFor[k] = ptrs
		for j, s := range shown {
			if !used[j] && s.Name != msg.Unknown && !s.Tentative {
				m.NamedNoFace++
			}
		}
		for i, f := range tf {
			s := ptrs[i]
			known := f.Name != "" && enrolled[f.Name]
			named := s != nil && s.Name != msg.Unknown
			if !known {
				m.Strangers++
				if s != nil {
					m.StrangerFnd++
				}
				if named && !s.Tentative {
					m.StrangerNmd++
				} else if named {
					m.StrangerTnt++
				}
				continue
			}
			m.KnownFaces++
			b := widthBucket(f.Box[2] - f.Box[0])
			m.WidthFaces[b]++
			switch {
			case s == nil:
				m.NotFound++
			case s.Name == f.Name && !s.Tentative:
				m.Confirmed++
				m.WidthNamed[b]++
			case s.Name == f.Name:
				m.TentRight++
			case named && !s.Tentative:
				m.Wrong++
			case named:
				m.TentWrong++
			}
		}
	}
	for _, a := range apps {
		known := a.name != "" && enrolled[a.name]
		if !known {
			m.StrangerApps++
			for i, seq := range a.seqs {
				if s := shownAt(shownFor, a, i, seq); s != nil && s.Name != msg.Unknown && !s.Tentative {
					m.StrangerNApps++
					break
				}
			}
			continue
		}
		m.KnownApps++
		first, wrong, flick := -1, false, false
		for i, seq := range a.seqs {
			s := shownAt(shownFor, a, i, seq)
			ok := s != nil && s.Name == a.faces[i].Name && !s.Tentative
			if s != nil && s.Name != msg.Unknown && s.Name != a.faces[i].Name && !s.Tentative {
				wrong = true
			}
			if first < 0 && ok {
				first = i
				m.ConfirmedApps++
				m.ToConfirmed = append(m.ToConfirmed, float64(seq-a.seqs[0])/fps)
			}
			if first >= 0 {
				m.AfterFirst++
				if ok {
					m.AfterConfirmed++
				} else if s != nil && (s.Name == msg.Unknown || s.Tentative) {
					m.Flicker++
					flick = true
				}
			}
		}
		if wrong {
			m.WrongApps++
		}
		if flick {
			m.FlickerApps++
		}
	}
	for k, fs := range r.Faces {
		c := confirmedNames(fs)
		if c != "" {
			m.OwnNamed++
		} else {
			for _, f := range fs {
				if f.Name != msg.Unknown && f.Tentative {
					m.TentativeFrames++
					break
				}
			}
		}
		if naive == nil {
			continue
		}
		nv := confirmedNames(naive.Faces[k])
		if nv != "" {
			m.NaiveNamed++
			if c == nv {
				m.NaiveSame++
			}
		}
		if c != "" && c == nv {
			m.OwnSame++
		}
	}
	return m
}

// shownAt is the shown face matched to appearance a's i-th face (on seq).
func shownAt(shownFor map[string][]*Shown, a *appearance, i, seq int) *Shown {
	return shownFor[frameKey(a.cam, seq)][a.idx[i]]
}

// ScoreReports fills each report's Metrics: against the ground truth gt
// (video frame number -> faces) when given, else against the naive run's
// faces (NaiveTruth); without either, Metrics stay nil. Appearances end
// after a second without the face.
func ScoreReports(reps []*Report, gt map[int][]TruthFace, fps float64, cameras int) Truth {
	var naive *Report
	for _, r := range reps {
		if r.Variant == "naive" {
			naive = r
			break
		}
	}
	gap := max(1, int(math.Round(entryGap.Seconds()*fps)))
	var truth Truth
	switch {
	case gt != nil && len(reps) > 0:
		truth = TruthAt(gt, reps[0].At, cameras)
	case naive != nil:
		truth = NaiveTruth(naive, gap)
	default:
		return nil
	}
	apps := linkAppearances(truth, gap, true)
	for _, r := range reps {
		r.Metrics = Score(truth, apps, r, naive, fps)
	}
	return truth
}
