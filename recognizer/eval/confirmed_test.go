//go:build cgo

package eval_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/facemon/facemon/recognizer/eval"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/quality"
)

// A measurement, not a check (minutes of CPU to encode the LFW subset of
// TestShippedRuleOnLFWSubset, folds 1-4): FACEMON_EVAL_CONFIRMED=1 runs
// the "one photo plus N confirmed crops" household protocol
// (eval.HouseholdConfirmed): offers picked by the one-photo gallery's
// shipped rule, never by the ground truth, accepted blindly.
// FACEMON_EVAL_GALLERY=FILE keeps the encoded subset in FILE (written once,
// read after) so reruns skip the encoding.
//
//	FACEMON_EVAL_CONFIRMED=1 FACEMON_EVAL_GALLERY=/tmp/lfw14.json go test -run TestConfirmedCrops -v -timeout 60m ./eval/
func TestConfirmedCrops(t *testing.T) {
	if os.Getenv("FACEMON_EVAL_CONFIRMED") == "" {
		t.Skip("set FACEMON_EVAL_CONFIRMED=1 to measure enrolment from one photo plus N confirmed crops")
	}
	var items []eval.Item
	cache := os.Getenv("FACEMON_EVAL_GALLERY")
	if g, err := gallery.Load(cache); cache != "" && err == nil {
		items = eval.FromGallery(g)
		t.Logf("encoded subset read from %s", cache)
	} else {
		ds, _ := lfwSubset(t)
		items = encodeSubset(t, ds, dlib.Config{Dir: testenv.Models(t)})
		if cache != "" {
			g := gallery.New()
			for _, it := range items {
				g.Add(it.Person, gallery.Sample{Descriptor: it.Desc, Source: it.Source})
			}
			if err := g.Save(cache); err != nil {
				t.Fatal(err)
			}
		}
	}
	rules := append(eval.Grid(0.40, 0.56, 0.04, []float64{0}), gallery.DefaultRule)
	setup := eval.ConfirmedSetup{People: 10, Rounds: 200, Ns: []int{0, 1, 3, 5}, Confirm: gallery.DefaultRule,
		MinDistance: quality.DefaultBurst.MinDistance, Seed: 1}
	res := eval.HouseholdConfirmed(items, setup, rules)
	if res[0].Points[0].Enrolled.Queries == 0 {
		t.Fatal("too few people")
	}
	t.Logf("household, 10 people (>= 3 photos each), 1 enrolment photo + N accepted suggestions, 200 rounds: %d queries, %d stranger queries per N",
		res[0].Points[0].Enrolled.Queries, res[0].Points[0].Strangers.Queries)
	for _, r := range res {
		t.Logf("N=%d: accepted %d crops (%d of someone else), %d offers, %d near-duplicates skipped", r.N, r.Accepted, r.Wrong, r.Offered, r.Duplicates)
	}
	head := "  rule              "
	for _, r := range res {
		head += "  N=" + strconv.Itoa(r.N) + " named / FAR   "
	}
	t.Log(head)
	for j, rule := range rules {
		name := "threshold " + strconv.FormatFloat(rule.Threshold, 'f', 2, 64)
		if j == len(rules)-1 {
			name = "shipped " + strconv.FormatFloat(rule.Threshold, 'f', 2, 64)
		}
		line := "  " + name
		for len(line) < 20 {
			line += " "
		}
		for _, r := range res {
			p := r.Points[j]
			line += "  " + strconv.FormatFloat(100*p.Enrolled.Rate(p.Enrolled.Correct), 'f', 1, 64) + "% / " + strconv.FormatFloat(100*p.FAR(), 'f', 2, 64) + "%  "
		}
		t.Log(line)
	}
}
