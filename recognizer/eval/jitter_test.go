//go:build cgo

package eval_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/facemon/facemon/recognizer/eval"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
)

// A measurement, not a check (minutes of CPU): FACEMON_EVAL_JITTER=N runs
// the household protocol on the LFW subset of TestShippedRuleOnLFWSubset
// (folds 1-4) with the enrolled photos described with dlib's num_jitters=N
// and the queries without, against plain descriptors for both, on the same
// households (same seed): named % and strangers named % across thresholds.
//
//	FACEMON_EVAL_JITTER=10 go test -run TestJitteredEnrolment -v -timeout 60m ./eval/
func TestJitteredEnrolment(t *testing.T) {
	jit, _ := strconv.Atoi(os.Getenv("FACEMON_EVAL_JITTER"))
	if jit <= 0 {
		t.Skip("set FACEMON_EVAL_JITTER=N to measure jittered enrolment descriptors")
	}
	ds, _ := lfwSubset(t)
	encode := func(cfg dlib.Config) []eval.Item { return encodeSubset(t, ds, cfg) }
	plain := encode(dlib.Config{Dir: testenv.Models(t)})
	jittered := map[string]face.Descriptor{}
	for _, it := range encode(dlib.Config{Dir: testenv.Models(t), Jitter: jit}) {
		jittered[it.Source] = it.Desc
	}
	rules := append(eval.Grid(0.40, 0.62, 0.02, []float64{0}), gallery.DefaultRule)
	for _, k := range []int{1, 2, 5} {
		a := eval.HouseholdEnrolledAs(plain, 10, k, 200, rules, 1, nil)
		b := eval.HouseholdEnrolledAs(plain, 10, k, 200, rules, 1, jittered)
		if a[0].Enrolled.Queries == 0 {
			t.Logf("K=%d: too few people", k)
			continue
		}
		t.Logf("household, 10 people, K=%d enrolment photos, 200 rounds: %d queries, %d stranger queries", k, a[0].Enrolled.Queries, a[0].Strangers.Queries)
		t.Logf("  %-22s %-20s %-20s", "rule", "plain named / FAR", "jitter "+strconv.Itoa(jit)+" named / FAR")
		for i, r := range rules {
			name := "threshold " + strconv.FormatFloat(r.Threshold, 'f', 2, 64)
			if i == len(rules)-1 {
				name = "shipped " + strconv.FormatFloat(r.Threshold, 'f', 2, 64) + " m" + strconv.FormatFloat(r.Margin, 'f', 2, 64)
			}
			t.Logf("  %-22s %6.1f%% / %5.2f%%      %6.1f%% / %5.2f%%", name,
				100*a[i].Enrolled.Rate(a[i].Enrolled.Correct), 100*a[i].FAR(), 100*b[i].Enrolled.Rate(b[i].Enrolled.Correct), 100*b[i].FAR())
		}
	}
}
