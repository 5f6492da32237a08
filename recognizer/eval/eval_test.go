package eval

import (
	"strings"
	"testing"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
)

func d(axis int, v float32) face.Descriptor { var x face.Descriptor; x[axis] = v; return x }

func TestLeaveOneOutSynthetic(t *testing.T) {
	// Three well-separated people (2 axes apart) with 3 tight samples each.
	var items []Item
	for p, name := range []string{"a", "b", "c"} {
		for i := 0; i < 3; i++ {
			x := d(p*2, 1)
			x[100] = float32(i) * 0.05
			items = append(items, Item{Person: name, Source: name + string(rune('0'+i)), Desc: x})
		}
	}
	enr, str := LeaveOneOut(items, 3, gallery.DefaultRule)
	if enr.Queries != 9 || enr.Correct != 9 {
		t.Fatalf("enrolled %+v", enr)
	}
	if str.Queries != 9 || str.Wrong != 0 {
		t.Fatalf("strangers %+v", str)
	}
}

func TestSplitAndSweep(t *testing.T) {
	var items []Item
	for i := 0; i < 4; i++ {
		items = append(items, Item{Person: "a", Source: string(rune('a' + i)), Desc: d(0, 1+float32(i)*0.01)})
	}
	items = append(items, Item{Person: "loner", Source: "l", Desc: d(0, 1.5)}) // 0.5 from a
	s := MakeSplit(items, 2, nil, 1)
	if len(s.Queries) != 2 || len(s.Strangers) != 1 {
		t.Fatalf("split %d queries %d strangers", len(s.Queries), len(s.Strangers))
	}
	pts := Sweep(s, gallery.Rule{}, 0.4, 0.6, 0.1)
	if len(pts) != 3 {
		t.Fatalf("%d points", len(pts))
	}
	if pts[0].FAR() != 0 || pts[2].FAR() != 1 {
		t.Fatalf("FAR at 0.4 = %v, at 0.6 = %v", pts[0].FAR(), pts[2].FAR())
	}
	var sb strings.Builder
	PrintCurve(&sb, "t", pts)
	if !strings.Contains(sb.String(), "stranger-FAR") {
		t.Fatal(sb.String())
	}
}

func TestPairAccuracy(t *testing.T) {
	var pairs []Pair
	for f := 1; f <= 4; f++ {
		pairs = append(pairs, Pair{A: d(0, 0), B: d(0, 0.3), Same: true, Fold: f}, Pair{A: d(0, 0), B: d(0, 0.9), Same: false, Fold: f})
	}
	mean, std, thr, n := PairAccuracy(pairs)
	if mean != 1 || std != 0 || n != 4 || thr < 0.3 || thr > 0.9 {
		t.Fatalf("mean %v std %v thr %v n %d", mean, std, thr, n)
	}
}

func TestParsePairs(t *testing.T) {
	got, err := ParsePairs(strings.NewReader("img1\timg2\tsame\tfold\na/1.jpg\ta/2.jpg\t1\t3\n"))
	if err != nil || len(got) != 1 || got[0][3] != "3" {
		t.Fatal(got, err)
	}
	if _, err := ParsePairs(strings.NewReader("x\ty\n")); err == nil {
		t.Fatal("short line accepted")
	}
}

func TestHousehold(t *testing.T) {
	var items []Item
	for p := 0; p < 6; p++ {
		for i := 0; i < 3; i++ {
			x := d(p, 1)
			x[120] = float32(i) * 0.05
			items = append(items, Item{Person: string(rune('a' + p)), Source: string(rune('a'+p)) + string(rune('0'+i)), Desc: x})
		}
	}
	pts := Household(items, 2, 2, 5, []gallery.Rule{{Threshold: 0.6}}, 1)
	p := pts[0]
	if p.Enrolled.Queries != 10 || p.Enrolled.Correct != 10 || p.Strangers.Queries != 5*4*3 || p.Strangers.Wrong != 0 {
		t.Fatalf("%+v", p)
	}
	if len(Grid(0.4, 0.5, 0.05, []float64{0, 0.1})) != 6 {
		t.Fatal("grid")
	}
}

// Tracks on synthetic people: a track whose faces scatter around the
// person (one of three faces far off) is named by its mean but not always
// by 2-of-3 voting; strangers are named by neither.
func TestTracksSynthetic(t *testing.T) {
	var items []Item
	for p := 0; p < 6; p++ {
		for i := 0; i < 5; i++ {
			v := d(p, 1)
			if i >= 3 { // two of the five images lie 0.7 off the person
				v[p+10] = 0.7
			}
			items = append(items, Item{Person: string(rune('a' + p)), Source: string(rune('a'+p)) + string(rune('0'+i)), Desc: v})
		}
	}
	r := gallery.Rule{Threshold: 0.5}
	mean, vote, _ := Tracks(items, 3, 1, 3, 2, 20, r, 1)
	if mean.Enrolled.Queries != 60 || vote.Enrolled.Queries != 60 || mean.Strangers.Queries != 60 {
		t.Fatalf("queries: mean %+v vote %+v", mean, vote)
	}
	if mean.Enrolled.Wrong != 0 || vote.Enrolled.Wrong != 0 || mean.Strangers.Wrong != 0 || vote.Strangers.Wrong != 0 {
		t.Fatalf("wrong names: mean %+v vote %+v", mean, vote)
	}
	if mean.Enrolled.Correct <= vote.Enrolled.Correct {
		t.Fatalf("mean named %d, vote %d: the mean should absorb one far face", mean.Enrolled.Correct, vote.Enrolled.Correct)
	}
	// agree larger than the track: nothing evaluated.
	if m, _, _ := Tracks(items, 3, 1, 3, 4, 1, r, 1); m.Enrolled.Queries != 0 {
		t.Fatal("agree > size evaluated")
	}
}
