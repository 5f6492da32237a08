package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/facemon/facemon/shared/msg"
)

// box is a face box of width w at x.
func box(x, w int) [4]int { return [4]int{x, 50, x + w, 50 + w} }

// scripted builds a report of one camera: frame seq (1-based) shows what
// the function returns.
func scripted(variant string, frames int, f func(seq int) []Shown) *Report {
	r := &Report{Variant: variant, Faces: map[string][]Shown{}, Enrolled: []string{"alice", "bob"}}
	for seq := 1; seq <= frames; seq++ {
		r.Faces[frameKey(camName(0), seq)] = f(seq)
	}
	return r
}

func TestScoreCountsEachKindOfName(t *testing.T) {
	// The naive run: alice (80 px) on frames 1-20, named on 12 of them;
	// a stranger (30 px) on frames 5-14 whom naive never names.
	naive := scripted("naive", 20, func(seq int) []Shown {
		s := []Shown{{Box: box(100, 80), Name: msg.Unknown}}
		if seq%5 != 0 && seq > 2 { // 14 frames: 3, 4, 6-9, 11-14, 16-19
			s[0].Name = "alice"
		}
		if seq >= 5 && seq <= 14 {
			s = append(s, Shown{Box: box(400, 30), Name: msg.Unknown})
		}
		return s
	})
	// facemon: tentative on 1-2, confirmed from 3, unknown on 10 (flicker),
	// not found on 11, bob (wrong) on 12; the stranger named alice on 7
	// and tentative on 8; a confirmed name on no face on frame 20.
	fm := scripted("facemon", 20, func(seq int) []Shown {
		a := Shown{Box: box(104, 78), Name: "alice", Track: 1}
		switch {
		case seq <= 2:
			a.Tentative = true
		case seq == 10:
			a.Name = msg.Unknown
		case seq == 12:
			a.Name = "bob"
		}
		s := []Shown{a}
		if seq == 11 {
			s = nil
		}
		if seq >= 5 && seq <= 14 {
			st := Shown{Box: box(402, 30), Name: msg.Unknown, Track: 2}
			if seq == 7 {
				st.Name = "alice"
			}
			if seq == 8 {
				st.Name, st.Tentative = "bob", true
			}
			s = append(s, st)
		}
		if seq == 20 {
			s = append(s, Shown{Box: box(500, 60), Name: "bob"})
		}
		return s
	})
	reps := []*Report{naive, fm}
	ScoreReports(reps, nil, 10, 1)
	m := fm.Metrics
	if m == nil {
		t.Fatal("no metrics")
	}
	if m.KnownFaces != 20 || m.KnownApps != 1 || m.Strangers != 10 || m.StrangerApps != 1 {
		t.Fatalf("reference: %d known faces in %d appearances, %d strangers in %d; want 20 in 1, 10 in 1", m.KnownFaces, m.KnownApps, m.Strangers, m.StrangerApps)
	}
	// Confirmed alice: frames 3-20 except 10, 11, 12 = 15.
	if m.Confirmed != 15 || m.TentRight != 2 || m.Wrong != 1 || m.NotFound != 1 {
		t.Errorf("confirmed %d tentative %d wrong %d not found %d; want 15, 2, 1, 1", m.Confirmed, m.TentRight, m.Wrong, m.NotFound)
	}
	if got := m.Coverage(); math.Abs(got-0.75) > 1e-9 {
		t.Errorf("coverage %v, want 0.75", got)
	}
	// From frame 3 on: 18 faces, 15 confirmed; flicker on frame 10 only
	// (11 is not found, 12 is a wrong name).
	if m.AfterFirst != 18 || m.AfterConfirmed != 15 || m.Flicker != 1 || m.FlickerApps != 1 {
		t.Errorf("after first: %d faces %d confirmed, flicker %d (%d apps); want 18, 15, 1 (1)", m.AfterFirst, m.AfterConfirmed, m.Flicker, m.FlickerApps)
	}
	if m.ConfirmedApps != 1 || len(m.ToConfirmed) != 1 || math.Abs(m.ToConfirmed[0]-0.2) > 1e-9 || m.WrongApps != 1 {
		t.Errorf("appearances: confirmed %d, to confirmed %v, wrong %d; want 1, [0.2], 1", m.ConfirmedApps, m.ToConfirmed, m.WrongApps)
	}
	if m.StrangerFnd != 10 || m.StrangerNmd != 1 || m.StrangerTnt != 1 || m.StrangerNApps != 1 || m.NamedNoFace != 1 {
		t.Errorf("strangers found %d, named %d tentative %d apps %d, named on no face %d; want 10 1 1 1 1", m.StrangerFnd, m.StrangerNmd, m.StrangerTnt, m.StrangerNApps, m.NamedNoFace)
	}
	// Both ways: naive names alice on 14 frames (3,4,6-9,11-14,16-19); facemon
	// names the same set on those except 7 (alice twice), 11 (lost), 12 (bob)
	// = 11. facemon names someone on 16 frames (3-20 minus 10 and 11), naive
	// the same on those 11.
	if m.NaiveNamed != 14 || m.NaiveSame != 11 || m.OwnNamed != 16 || m.OwnSame != 11 || m.TentativeFrames != 2 {
		t.Errorf("agreement naive %d/%d own %d/%d, tentative frames %d; want 11/14, 11/16, 2", m.NaiveSame, m.NaiveNamed, m.OwnSame, m.OwnNamed, m.TentativeFrames)
	}
	// Widths: alice's faces are 80 px (80-120), all of them.
	if m.WidthFaces[3] != 20 || m.WidthNamed[3] != 15 {
		t.Errorf("widths %v named %v", m.WidthFaces, m.WidthNamed)
	}
	// The naive run judged against itself: 6 of alice's faces are shown unknown.
	if n := naive.Metrics; n.Confirmed != 14 || n.Wrong != 0 || n.StrangerNmd != 0 || n.NaiveSame != n.NaiveNamed {
		t.Errorf("naive against itself: %+v", n)
	}
	var b strings.Builder
	printNames(&b, reps, flags{})
	for _, want := range []string{"75.0%", "83.3%", "11/14 79%", "11/16 69%", "0.20 / 0.20", "15/20 75.0%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestNaiveTruthNamesAnAppearanceByItsMajority(t *testing.T) {
	// One name on one frame of a long appearance is not enough: a stranger.
	once := scripted("naive", 10, func(seq int) []Shown {
		n := msg.Unknown
		if seq == 4 {
			n = "bob"
		}
		return []Shown{{Box: box(100, 80), Name: n}}
	})
	for k, fs := range NaiveTruth(once, 10) {
		if fs[0].Name != "" {
			t.Fatalf("%s: %q, want a stranger", k, fs[0].Name)
		}
	}
	// Two cuts: a jump of the box starts a new appearance, and so does a
	// gap longer than gap frames.
	cuts := scripted("naive", 30, func(seq int) []Shown {
		switch {
		case seq <= 10:
			return []Shown{{Box: box(100, 80), Name: "alice"}}
		case seq <= 20:
			return []Shown{{Box: box(400, 80), Name: "bob"}}
		case seq <= 24:
			return nil
		}
		return []Shown{{Box: box(400, 80), Name: "bob"}}
	})
	apps := linkAppearances(NaiveTruth(cuts, 3), 3, true)
	if len(apps) != 3 || apps[0].name != "alice" || len(apps[0].seqs) != 10 || apps[1].name != "bob" || apps[2].seqs[0] != 25 {
		for _, a := range apps {
			t.Logf("%s %v", a.name, a.seqs)
		}
		t.Fatalf("%d appearances, want alice 1-10, bob 11-20, bob 25-30", len(apps))
	}
}

func TestGroundTruthMapsVideoFrames(t *testing.T) {
	gt, err := ParseGroundTruth(strings.NewReader(`# frame numbers of the video
{"frame":0,"boxes":[{"x":100,"y":50,"w":80,"h":80,"name":"alice"}]}

{"frame":3,"boxes":[]}
{"frame":6,"boxes":[{"x":100,"y":50,"w":80,"h":80,"name":"alice"},{"x":400,"y":50,"w":30,"h":30}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	// Sampled every 3rd video frame: seq 1 = frame 0, seq 2 = 3, seq 3 = 6, seq 4 = 9.
	tr := TruthAt(gt, []int{0, 3, 6, 9}, 2)
	if len(tr) != 6 || len(tr["bench1/2"]) != 0 || tr["bench0/3"][1].Name != "" || tr["bench0/1"][0].Box != box(100, 80) {
		t.Fatalf("truth %v", tr)
	}
	if _, ok := tr["bench0/4"]; ok {
		t.Fatal("frame 9 is not annotated: it must not be judged")
	}
}

func TestParseGroundTruthRefusesBadLines(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, "no frame"},
		{`{"frame":1}`, `"boxes" is missing`},
		{`{"boxes":[]}`, `"frame" is missing`},
		{`{"frame":-1,"boxes":[]}`, "want 0.."},
		{`{"frame":1,"boxes":[{"x":1,"y":1,"w":0,"h":5}]}`, "w 0"},
		{`{"frame":1,"boxes":[{"x":1,"y":1,"h":5}]}`, "required"},
		{`{"frame":1,"boxes":[{"x":1,"y":1,"w":5,"h":5,"name":"unknown"}]}`, "leave it empty"},
		{`{"frame":1,"boxes":[],"extra":1}`, "unknown field"},
		{`{"frame":1,"boxes":[]} {"frame":2,"boxes":[]}`, "more than one"},
		{"{\"frame\":1,\"boxes\":[]}\n{\"frame\":1,\"boxes\":[]}", "line 2: frame 1 listed twice"},
		{`[1,2]`, "not a JSON object"},
		{`{"frame":1,"boxes":[{"x":1,"y":1,"w":5,"h":5,"name":"` + strings.Repeat("a", 200) + `"}]}`, "at most 128"},
	} {
		_, err := ParseGroundTruth(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60q: error %v, want %q", c.in, err, c.want)
		}
	}
}

// FuzzParseGroundTruth: any input parses or is refused with an error,
// never a panic, and what parses is within the documented bounds.
func FuzzParseGroundTruth(f *testing.F) {
	f.Add([]byte(`{"frame":0,"boxes":[{"x":100,"y":50,"w":80,"h":80,"name":"alice"}]}`))
	f.Add([]byte("# c\n{\"frame\":3,\"boxes\":[]}\n\n{\"frame\":6,\"boxes\":[{\"x\":-5,\"y\":0,\"w\":30,\"h\":30}]}"))
	f.Add([]byte(`{"frame":1,"boxes":[{"x":1,"y":1,"w":5,"h":5,"name":"\u00e9"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		gt, err := ParseGroundTruth(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for fr, fs := range gt {
			if fr < 0 || len(fs) > maxTruthBoxes {
				t.Fatalf("frame %d with %d boxes", fr, len(fs))
			}
			for _, f := range fs {
				if f.Box[2] <= f.Box[0] || f.Box[3] <= f.Box[1] || f.Name == msg.Unknown || len(f.Name) > maxTruthName {
					t.Fatalf("frame %d: %+v", fr, f)
				}
			}
		}
	})
}
