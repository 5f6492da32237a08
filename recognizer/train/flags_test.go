package train_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/fakeface"
	"github.com/facemon/facemon/recognizer/quality"
	"github.com/facemon/facemon/recognizer/train"
)

func fakeDataset(t *testing.T, people map[string]int) string {
	t.Helper()
	dir := t.TempDir()
	seed := uint64(1)
	for name, n := range people {
		for i := 0; i < n; i++ {
			p := filepath.Join(dir, name, fmt.Sprintf("%02d.jpg", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, fakeface.JPEG(seed), 0o644); err != nil {
				t.Fatal(err)
			}
			seed++
		}
	}
	return dir
}

// Quality flags are stored with the samples, so a run that reuses cached
// encodings still flags them, and --reject-low-quality still rejects them.
func TestQualityFlagsSurviveRetraining(t *testing.T) {
	dir := fakeDataset(t, map[string]int{"alice": 2, "bob": 2})
	var calls atomic.Int64
	pool := fakeface.Pool(1, fakeface.Engine{Calls: &calls})
	defer pool.Close()
	strict := quality.DefaultLimits
	strict.MinSize = 10000 // every face is "small"
	o := train.Options{Dataset: dir, Analyzer: face.DefaultAnalyzer, Quality: &strict}
	g, sum, err := train.Run(context.Background(), pool, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Flagged) != 4 {
		t.Fatalf("flagged %d of 4", len(sum.Flagged))
	}
	for _, p := range g.People {
		for _, s := range p.Samples {
			if len(s.Problems) == 0 {
				t.Errorf("%s: sample %s lost its quality flags", p.Name, s.Source)
			}
		}
	}
	before := calls.Load()
	o.RejectLowQuality = true
	g2, sum2, err := train.Run(context.Background(), pool, g, o)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != before {
		t.Fatalf("retraining re-encoded %d images instead of reusing them", calls.Load()-before)
	}
	if _, n := g2.Counts(); n != 0 || len(sum2.Skipped) != 4 {
		t.Fatalf("--reject-low-quality on cached encodings: %d samples enrolled, %d skipped", n, len(sum2.Skipped))
	}
}

// --full re-encodes every image but keeps per-person thresholds and negatives.
func TestFullKeepsThresholdsAndNegatives(t *testing.T) {
	dir := fakeDataset(t, map[string]int{"alice": 2})
	var calls atomic.Int64
	pool := fakeface.Pool(1, fakeface.Engine{Calls: &calls})
	defer pool.Close()
	o := train.Options{Dataset: dir, Analyzer: face.DefaultAnalyzer}
	g, _, err := train.Run(context.Background(), pool, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	g.Person("alice").Threshold = 0.42
	if err := g.AddNegative("alice", gallery.Sample{Source: "event:1"}); err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	o.Full = true
	g2, sum, err := train.Run(context.Background(), pool, g, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Reused != 0 || calls.Load()-before != 2 {
		t.Errorf("--full reused %d encodings, %d engine calls", sum.Reused, calls.Load()-before)
	}
	p := g2.Person("alice")
	if p == nil || p.Threshold != 0.42 || len(p.Negatives) != 1 {
		t.Fatalf("--full dropped alice's threshold or negatives: %+v", p)
	}
}
