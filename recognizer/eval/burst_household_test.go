//go:build cgo

package eval_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/facemon/facemon/recognizer/eval"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/quality"
	"github.com/facemon/facemon/recognizer/train"
)

// A measurement, not a check (minutes of CPU): FACEMON_EVAL_BURST=1 runs
// the household protocol on the LFW subset of TestShippedRuleOnLFWSubset
// (folds 1-4, 10 people per household, 200 rounds) with each enrolled
// person's K photos taken as one enrolment burst: all K enrolled, against
// only the ones quality.SelectBurst (DefaultBurst) keeps, on the same
// households and queries (same seed). LFW photos are not a camera burst
// (different days, no near-duplicates of one another), and the selection
// sees each photo's quality problems (quality.DefaultLimits, as training
// assesses them) but not its sharpness (train keeps none), so frames are
// ordered by the random burst order, not sharpest first.
//
//	FACEMON_EVAL_BURST=1 go test -run TestHouseholdBurst -v -timeout 60m ./eval/
func TestHouseholdBurst(t *testing.T) {
	if os.Getenv("FACEMON_EVAL_BURST") == "" {
		t.Skip("set FACEMON_EVAL_BURST=1 to measure the household protocol from one enrolment burst")
	}
	ds, _ := lfwSubset(t)
	pool, err := face.NewPool(2, func() (face.Engine, error) { return dlib.OpenConfig(dlib.Config{Dir: testenv.Models(t)}) })
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a := face.DefaultAnalyzer
	a.CNNFallback = true
	lim := quality.DefaultLimits
	g, sum, err := train.Run(context.Background(), pool, nil, train.Options{Dataset: ds, Largest: true, Analyzer: a, Quality: &lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("encoded %d images of %d people in %v", sum.Encodings, sum.People, sum.Duration)
	problems := map[string][]string{}
	flagged := 0
	for _, p := range g.People {
		for _, s := range p.Samples {
			problems[s.Source] = s.Problems
			if len(s.Problems) > 0 {
				flagged++
			}
		}
	}
	t.Logf("%d of %d photos flagged by the quality checks", flagged, sum.Encodings)
	items := eval.FromGallery(g)
	keptTotal, bursts := 0, 0
	reasons := map[string]int{}
	// pick is SelectBurst's choice; withFlags false hides the quality
	// problems from it (only near-duplicates, spread and MaxKeep remain).
	pick := func(withFlags bool) func(burst []eval.Item) []eval.Item {
		return func(burst []eval.Item) []eval.Item {
			c := make([]quality.Candidate, len(burst))
			for i, it := range burst {
				c[i] = quality.Candidate{Faces: 1, Face: face.Face{Descriptor: it.Desc}}
				if withFlags {
					c[i].Report.Problems = problems[it.Source]
				}
			}
			var out []eval.Item
			for i, ch := range quality.SelectBurst(c, quality.DefaultBurst) {
				if ch.Kept {
					out = append(out, burst[i])
				} else {
					r, _, _ := strings.Cut(ch.Reason, " (")
					r, _, _ = strings.Cut(r, ":")
					reasons[r]++
				}
			}
			keptTotal += len(out)
			bursts++
			return out
		}
	}
	// Raw centroid distances at 0.48, 0.49 and 0.50, and nearest-sample scoring.
	rules := []gallery.Rule{{Threshold: 0.48, Centroid: true}, {Threshold: 0.49, Centroid: true}, {Threshold: 0.50, Centroid: true}, {Threshold: 0.48}, {Threshold: 0.50}}
	// Scores calibrated by sample count (Rule.SampleNoise; the shipped
	// rule is 0.50 with DefaultSampleNoise).
	for _, n := range []float64{0.04, 0.06, 0.08, 0.10} {
		rules = append(rules, gallery.Rule{Threshold: 0.50, Centroid: true, SampleNoise: n})
	}
	rules = append(rules, gallery.Rule{Threshold: 0.49, Centroid: true, SampleNoise: 0.06}, gallery.Rule{Threshold: 0.51, Centroid: true, SampleNoise: 0.06})
	for _, k := range []int{2, 3, 5, 8} {
		all := eval.Household(items, 10, k, 200, rules, 1)
		keptTotal, bursts, reasons = 0, 0, map[string]int{}
		sel := eval.HouseholdSelected(items, 10, k, 200, rules, 1, pick(true))
		keptFlags, whyFlags := float64(keptTotal)/float64(max(bursts, 1)), reasons
		keptTotal, bursts, reasons = 0, 0, map[string]int{}
		noFlags := eval.HouseholdSelected(items, 10, k, 200, rules, 1, pick(false))
		keptNoFlags, whyNoFlags := float64(keptTotal)/float64(max(bursts, 1)), reasons
		if all[0].Enrolled.Queries == 0 {
			t.Logf("K=%d: too few people", k)
			continue
		}
		t.Logf("household, 10 people, one burst of K=%d photos each, 200 rounds: %d queries, %d stranger queries", k, all[0].Enrolled.Queries, all[0].Strangers.Queries)
		t.Logf("  SelectBurst kept %.2f photos per burst, dropped: %v", keptFlags, whyFlags)
		t.Logf("  without the quality flags it kept %.2f, dropped: %v", keptNoFlags, whyNoFlags)
		t.Logf("  %-24s %-22s %-22s %-22s", "threshold", "all K: named / FAR", "kept: named / FAR", "kept, no flags")
		for i, r := range rules {
			name := strconv.FormatFloat(r.Threshold, 'f', 2, 64) + " nearest"
			if r.Centroid {
				name = strconv.FormatFloat(r.Threshold, 'f', 2, 64) + " centroid"
			}
			if r.SampleNoise > 0 {
				name += " n" + strconv.FormatFloat(r.SampleNoise, 'f', 2, 64)
			}
			t.Logf("  %-24s %6.1f%% / %5.2f%%       %6.1f%% / %5.2f%%       %6.1f%% / %5.2f%%", name,
				100*all[i].Enrolled.Rate(all[i].Enrolled.Correct), 100*all[i].FAR(), 100*sel[i].Enrolled.Rate(sel[i].Enrolled.Correct), 100*sel[i].FAR(),
				100*noFlags[i].Enrolled.Rate(noFlags[i].Enrolled.Correct), 100*noFlags[i].FAR())
		}
	}
}
