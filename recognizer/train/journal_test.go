package train_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/internal/fakeface"
	"github.com/facemon/facemon/recognizer/train"
)

// An interrupted run leaves its finished encodings in the journal (whole
// batches; a torn line is skipped) and the next run reuses them.
func TestJournalResumesInterruptedRun(t *testing.T) {
	dir := fakeDataset(t, map[string]int{"alice": 10, "bob": 10, "carol": 10})
	journal := train.JournalPath(filepath.Join(t.TempDir(), "gallery.json"))
	var calls atomic.Int64
	pool := fakeface.Pool(1, fakeface.Engine{Delay: 10 * time.Millisecond, Calls: &calls})
	defer pool.Close()
	ctx, cancel := context.WithCancel(context.Background())
	o := train.Options{Dataset: dir, Analyzer: face.DefaultAnalyzer, Journal: journal, Progress: func(p train.Progress) {
		if p.Seen == 20 {
			cancel()
		}
	}}
	if _, _, err := train.Run(ctx, pool, nil, o); err == nil {
		t.Fatal("cancelled run succeeded")
	}
	first := calls.Load()
	// A kill in the middle of a write leaves a torn line.
	f, err := os.OpenFile(journal, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"p":"carol","h":"abc","s":{"descr`)
	f.Close()
	o.Progress = nil
	calls.Store(0)
	g, sum, err := train.Run(context.Background(), pool, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, n := g.Counts(); n != 30 {
		t.Fatalf("%d samples, want 30", n)
	}
	if sum.Resumed < 16 || sum.Reused != sum.Resumed || calls.Load() != 30-int64(sum.Resumed) {
		t.Fatalf("first run encoded %d; resumed %d, reused %d, encoded %d again", first, sum.Resumed, sum.Reused, calls.Load())
	}
	t.Logf("first run encoded %d before the cancel; second resumed %d and encoded %d", first, sum.Resumed, calls.Load())
	// Full restarts the journal.
	o.Full = true
	calls.Store(0)
	if _, sum, err = train.Run(context.Background(), pool, nil, o); err != nil || sum.Reused != 0 || calls.Load() != 30 {
		t.Fatalf("--full: err %v, reused %d, encoded %d", err, sum.Reused, calls.Load())
	}
}
