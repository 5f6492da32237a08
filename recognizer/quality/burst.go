package quality

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/facemon/facemon/recognizer/face"
)

// Candidate is one frame of an enrolment burst after detection: the number
// of faces found, the face (when exactly one) and its quality report.
type Candidate struct {
	Faces  int
	Face   face.Face
	Report Report
	Err    error // unreadable frame
}

// BurstRule says which frames of a burst to keep.
type BurstRule struct {
	// MaxKeep bounds the frames kept (the sharpest, most diverse first).
	MaxKeep int
	// MinKeep: while fewer frames than this are kept, frames with a single
	// quality problem (one face, the same person) fill up after every
	// problem-free one, the sharpest first; beyond it, or with more than
	// one problem, a flagged frame is kept only when no frame passed every
	// check.
	MinKeep int
	// MinDistance: a frame whose descriptor is closer than this to a kept
	// one is a near-duplicate (the person did not move) and is dropped.
	MinDistance float64
	// MaxSpread: with three or more usable frames, one farther than this
	// from the burst's medoid is dropped as probably someone else (a
	// person walking past during the capture).
	MaxSpread float64
}

// DefaultBurst keeps up to 5 frames at least 0.12 apart (a judgement, not
// a measured optimum: two of the shared photos, faces/obama/1.jpg and
// 5.jpg, are 0.07 apart; different photos of one person 0.3-0.5) and drops
// frames over 0.6 from the burst's medoid (dlib's same-person limit).
//
// MinKeep 3: one sharp frame alone names too few (LFW households, one
// burst of K=5 photos: keeping only problem-free frames, 2.7 a burst, named
// 87.1 % at 0.48; recognizer/eval TestHouseholdBurst).
var DefaultBurst = BurstRule{MaxKeep: 5, MinKeep: 3, MinDistance: 0.12, MaxSpread: 0.6}

// Choice is the verdict on one frame.
type Choice struct {
	Kept   bool
	Reason string // why dropped
}

// SelectBurst chooses the frames of one burst to enrol: frames with one
// face, the same person as the rest, problem-free ones before flagged ones
// (a flagged frame is kept only while fewer than MinKeep are kept, or when
// no frame passed every check), sharper
// before blurrier, none a near-duplicate of one already kept.
func SelectBurst(c []Candidate, r BurstRule) []Choice {
	out := make([]Choice, len(c))
	var usable []int
	for i, k := range c {
		switch {
		case k.Err != nil:
			out[i].Reason = "unreadable: " + k.Err.Error()
		case k.Faces == 0:
			out[i].Reason = "no face"
		case k.Faces > 1:
			out[i].Reason = fmt.Sprintf("%d faces", k.Faces)
		default:
			usable = append(usable, i)
		}
	}
	if len(usable) >= 3 && r.MaxSpread > 0 {
		med, best := -1, 0.0
		for _, i := range usable {
			ds := make([]float64, 0, len(usable)-1)
			for _, j := range usable {
				if i != j {
					ds = append(ds, face.Distance(c[i].Face.Descriptor, c[j].Face.Descriptor))
				}
			}
			sort.Float64s(ds)
			if m := ds[len(ds)/2]; med < 0 || m < best {
				med, best = i, m
			}
		}
		same := usable[:0:0]
		for _, i := range usable {
			if d := face.Distance(c[i].Face.Descriptor, c[med].Face.Descriptor); d > r.MaxSpread {
				out[i].Reason = fmt.Sprintf("not the same person as the rest of the burst (%.2f from its typical frame)", d)
				continue
			}
			same = append(same, i)
		}
		usable = same
	}
	slices.SortStableFunc(usable, func(a, b int) int {
		pa, pb := len(c[a].Report.Problems) > 0, len(c[b].Report.Problems) > 0
		switch {
		case pa != pb && !pa:
			return -1
		case pa != pb:
			return 1
		case c[a].Report.Sharpness > c[b].Report.Sharpness:
			return -1
		case c[a].Report.Sharpness < c[b].Report.Sharpness:
			return 1
		}
		return 0
	})
	var kept []int
	goodKept := false
	for _, i := range usable {
		flagged := len(c[i].Report.Problems) > 0
		if flagged && goodKept && (len(kept) >= r.MinKeep || len(c[i].Report.Problems) > 1) {
			out[i].Reason = "lower quality than the frames kept: " + strings.Join(c[i].Report.Problems, ", ")
			continue
		}
		if r.MaxKeep > 0 && len(kept) >= r.MaxKeep {
			out[i].Reason = fmt.Sprintf("enough frames kept (%d)", r.MaxKeep)
			continue
		}
		dup, dd := -1, 0.0
		for _, j := range kept {
			if d := face.Distance(c[i].Face.Descriptor, c[j].Face.Descriptor); d < r.MinDistance && (dup < 0 || d < dd) {
				dup, dd = j, d
			}
		}
		if dup >= 0 {
			out[i].Reason = fmt.Sprintf("near-duplicate of frame %d (%.2f apart)", dup+1, dd) // counted from 1, as people do
			continue
		}
		out[i].Kept = true
		kept = append(kept, i)
		goodKept = goodKept || !flagged
	}
	return out
}
