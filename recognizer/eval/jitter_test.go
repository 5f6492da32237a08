//go:build cgo

package eval_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/facemon/facemon/recognizer/eval"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/train"
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
	lfw := testenv.Testdata(t, "lfw")
	f, err := os.Open(filepath.Join(lfw, "pairs.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := eval.ParsePairs(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ds := t.TempDir()
	linked := map[string]bool{}
	for _, r := range rows {
		if fold, _ := strconv.Atoi(r[3]); fold > 4 {
			continue
		}
		for _, img := range r[:2] {
			if linked[img] {
				continue
			}
			linked[img] = true
			dst := filepath.Join(ds, filepath.FromSlash(img))
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.Symlink(filepath.Join(lfw, filepath.FromSlash(img)), dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	encode := func(cfg dlib.Config) []eval.Item {
		pool, err := face.NewPool(2, func() (face.Engine, error) { return dlib.OpenConfig(cfg) })
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		a := face.DefaultAnalyzer
		a.CNNFallback = true
		g, sum, err := train.Run(context.Background(), pool, nil, train.Options{Dataset: ds, Largest: true, Analyzer: a})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("jitter %d: encoded %d images of %d people in %v", cfg.Jitter, sum.Encodings, sum.People, sum.Duration)
		return eval.FromGallery(g)
	}
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
