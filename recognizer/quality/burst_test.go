package quality

import (
	"errors"
	"strings"
	"testing"

	"github.com/facemon/facemon/recognizer/face"
)

func desc(x ...float32) face.Descriptor {
	var d face.Descriptor
	copy(d[:], x)
	return d
}

func TestSelectBurst(t *testing.T) {
	ok := func(sharp float64, d face.Descriptor) Candidate {
		return Candidate{Faces: 1, Face: face.Face{Descriptor: d}, Report: Report{Sharpness: sharp}}
	}
	blurry := ok(20, desc(0, 0.5))
	blurry.Report.Problems = []string{"blurry (sharpness 20 < 55)"}
	c := []Candidate{
		ok(100, desc(0, 0)),    // 0 kept
		ok(90, desc(0.05, 0)),  // 1 near-duplicate of 0
		ok(80, desc(0.3, 0)),   // 2 kept: turned
		{Faces: 0},             // 3 no face
		{Faces: 2},             // 4 two faces
		{Err: errors.New("x")}, // 5 unreadable
		ok(120, desc(0, 0, 2)), // 6 someone else
		blurry,                 // 7 flagged while good ones exist
		ok(70, desc(-0.3, 0)),  // 8 kept
		ok(60, desc(0, -0.3)),  // 9 over MaxKeep
	}
	got := SelectBurst(c, BurstRule{MaxKeep: 3, MinDistance: 0.12, MaxSpread: 0.6})
	want := []string{"", "near-duplicate of frame 1", "", "no face", "2 faces", "unreadable", "not the same person", "lower quality", "", "enough frames"}
	for i, w := range want {
		g := got[i]
		if (w == "") != g.Kept || !strings.HasPrefix(g.Reason, w) {
			t.Errorf("frame %d: %+v, want kept=%v reason %q", i, g, w == "", w)
		}
	}
	// With only flagged frames the best is kept.
	b2 := blurry
	b2.Report.Sharpness = 30
	got = SelectBurst([]Candidate{blurry, b2}, DefaultBurst)
	if got[0].Kept || !got[1].Kept {
		t.Errorf("only flagged frames: %+v", got)
	}
}

// MinKeep: single-problem frames fill up after the problem-free ones, the
// sharpest first, until MinKeep are kept; a frame with several problems
// does not.
func TestSelectBurstMinKeep(t *testing.T) {
	frame := func(sharp float64, d face.Descriptor, problems ...string) Candidate {
		return Candidate{Faces: 1, Face: face.Face{Descriptor: d}, Report: Report{Sharpness: sharp, Problems: problems}}
	}
	c := []Candidate{
		frame(40, desc(0.3, 0), "blurry"),                     // 0 kept: fills up
		frame(100, desc(0, 0)),                                // 1 kept: problem-free
		frame(50, desc(-0.3, 0), "head turned"),               // 2 kept: fills up, sharper than 0
		frame(35, desc(0, 0.3), "small face"),                 // 3 dropped: MinKeep reached, blurrier than 0 and 2
		frame(90, desc(0, -0.3), "too dark", "flat lighting"), // 4 dropped: two problems
		frame(95, desc(0.01, 0.01), "blurry"),                 // 5 near-duplicate of 1
	}
	rule := BurstRule{MaxKeep: 5, MinKeep: 3, MinDistance: 0.12, MaxSpread: 0.6}
	got := SelectBurst(c, rule)
	want := []string{"", "", "", "lower quality", "lower quality", "near-duplicate of frame 2"}
	for i, w := range want {
		if g := got[i]; (w == "") != g.Kept || !strings.HasPrefix(g.Reason, w) {
			t.Errorf("frame %d: %+v, want kept=%v reason %q", i, g, w == "", w)
		}
	}
	// Without MinKeep only the problem-free frame is kept.
	rule.MinKeep = 0
	for i, g := range SelectBurst(c, rule) {
		if g.Kept != (i == 1) {
			t.Errorf("MinKeep 0, frame %d: %+v", i, g)
		}
	}
}
