//go:build cgo

package eval_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/facemon/facemon/recognizer/eval"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/recognizer/train"
)

// The shipped decision rule on a subset of LFW (folds 3 and 4: about 1,500
// images of 800 people the tests never tuned on) under the household
// protocol (10 enrolled people, 2 photos each, everyone else a stranger).
// Measured with dlib's original ResNet and the 68-point landmarks: pair
// accuracy 98.41 %, 93.0 % of enrolled people's photos named correctly,
// 0.40 % of strangers named. The bounds leave a little room for BLAS
// rounding: pair accuracy >= 98 %, named >= 92 %, strangers named <= 0.6 %.
// The full run is `facemon-recognizer eval --lfw`.
func TestShippedRuleOnLFWSubset(t *testing.T) {
	ds, subset := lfwSubset(t)
	items := encodeSubset(t, ds, dlib.Config{Dir: testenv.Models(t)})
	byPath := map[string]face.Descriptor{}
	for _, it := range items {
		byPath[it.Source] = it.Desc
	}
	var pairs []eval.Pair
	for _, r := range subset {
		a, okA := byPath[r[0]]
		b, okB := byPath[r[1]]
		if !okA || !okB {
			continue
		}
		fold, _ := strconv.Atoi(r[3])
		pairs = append(pairs, eval.Pair{A: a, B: b, Same: r[2] == "1", Fold: fold})
	}
	mean, _, thr, n := eval.PairAccuracy(pairs)
	t.Logf("LFW folds 3-4 pair accuracy (%d-fold cross-validated): %.2f%% at threshold %.3f over %d pairs", n, 100*mean, thr, len(pairs))
	if mean < 0.98 {
		t.Errorf("pair accuracy %.2f%% < 98%%", 100*mean)
	}
	p := eval.Household(items, 10, 2, 20, []gallery.Rule{gallery.DefaultRule}, 1)[0]
	correct, far := p.Enrolled.Rate(p.Enrolled.Correct), p.FAR()
	t.Logf("household protocol, shipped rule (threshold %.2f): %d queries, %.1f%% named correctly, %.1f%% wrong, %.1f%% rejected; %d stranger queries, %.2f%% named",
		gallery.DefaultRule.Threshold, p.Enrolled.Queries, 100*correct, 100*p.Enrolled.Rate(p.Enrolled.Wrong), 100*p.Enrolled.Rate(p.Enrolled.Rejected), p.Strangers.Queries, 100*far)
	if far > 0.006 {
		t.Errorf("stranger false accepts %.2f%% > 0.6%%", 100*far)
	}
	// A track's identity (issue 10): the mean descriptor of its faces
	// against per-face voting, on tracks of 3 LFW images (different photos
	// of one person: harder than a video track's neighbouring frames).
	for _, agree := range []int{2, 3} {
		mean, vote, hybrid := eval.Tracks(items, 10, 1, 3, agree, 20, gallery.DefaultRule, 1)
		for _, row := range []struct {
			how string
			p   eval.Point
		}{{"mean descriptor", mean}, {fmt.Sprintf("vote %d of 3", agree), vote}, {fmt.Sprintf("vote %d of 3, or mean + %d", agree, pipeline.MeanVotes(agree)), hybrid}} {
			t.Logf("tracks of 3 images, one enrolled image per person: %-15s %d tracks, %.1f%% named correctly, %.1f%% wrong; %d stranger tracks, %.2f%% named",
				row.how, row.p.Enrolled.Queries, 100*row.p.Enrolled.Rate(row.p.Enrolled.Correct), 100*row.p.Enrolled.Rate(row.p.Enrolled.Wrong),
				row.p.Strangers.Queries, 100*row.p.FAR())
		}
		if mean.Enrolled.Queries == 0 || mean.Strangers.Queries == 0 {
			t.Error("no tracks evaluated")
		}
	}
	if correct < 0.92 {
		t.Errorf("enrolled people named correctly %.1f%% < 92%%", 100*correct)
	}
}

// lfwSubset links the images of LFW folds 1-4's pairs (../shared) into a
// dataset folder and returns it with those pairs.
func lfwSubset(t *testing.T) (string, [][4]string) {
	t.Helper()
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
	var subset [][4]string
	for _, r := range rows {
		if fold, _ := strconv.Atoi(r[3]); fold > 4 {
			continue
		}
		subset = append(subset, r)
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
	return ds, subset
}

// encodeSubset encodes every image of ds (the largest face, CNN fallback)
// with two engines of cfg.
func encodeSubset(t *testing.T, ds string, cfg dlib.Config) []eval.Item {
	t.Helper()
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
	t.Logf("jitter %d: encoded %d images of %d people in %v, %d without a face", cfg.Jitter, sum.Encodings, sum.People, sum.Duration, len(sum.Skipped))
	return eval.FromGallery(g)
}
