package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/fakeface"
	"github.com/facemon/facemon/recognizer/train"
	"github.com/facemon/facemon/shared/msg"
)

func writeImages(t *testing.T, dataset, name string, n int, seed uint64) {
	t.Helper()
	for i := 0; i < n; i++ {
		p := filepath.Join(dataset, name, fmt.Sprintf("%02d.jpg", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fakeface.JPEG(seed+uint64(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newTestService(t *testing.T, delay time.Duration) *Service {
	t.Helper()
	dir := t.TempDir()
	pool := fakeface.Pool(2, fakeface.Engine{Delay: delay})
	t.Cleanup(func() { pool.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s, err := New(Config{Gallery: filepath.Join(dir, "gallery.json"), Dataset: filepath.Join(dir, "dataset"),
		Instance: "t", Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, Integrations: Integrations{HistoryDB: "-", HAPrefix: "-"}}, pool, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func enrolPayload(t *testing.T, name string, img []byte) []byte {
	b, err := json.Marshal(msg.Enrol{V: msg.Version, ID: "e-" + name, Name: name, Image: img})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Edits made while a (slow) training run is in flight all survive its
// result, and a person deleted after training encoded them stays deleted.
func TestEditsDuringTrainingSurvive(t *testing.T) {
	s := newTestService(t, 40*time.Millisecond)
	ctx := context.Background()
	for i, n := range []string{"alice", "bob", "carol", "dave"} {
		writeImages(t, s.cfg.Dataset, n, 3, uint64(100*i))
	}
	s.Train(ctx, "first")
	if st := s.TrainStatus(); st.State != msg.TrainDone || st.People != 4 {
		t.Fatalf("first training: %+v", st)
	}
	// A second run has to encode erin's 20 new images (~0.4 s with two
	// engines) after reusing the 12 cached ones.
	writeImages(t, s.cfg.Dataset, "erin", 20, 1000)
	done := make(chan struct{})
	go func() { s.Train(ctx, "second"); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.TrainStatus()
		if st.ID == "second" && st.State == msg.TrainRunning && st.Seen >= 13 {
			break // alice..dave already encoded into the run's result
		}
		if time.Now().After(deadline) {
			t.Fatalf("training did not get going: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := s.Enrol(ctx, enrolPayload(t, "alice", fakeface.JPEG(5000))); r.Status != msg.EnrolSaved {
		t.Fatalf("enrol alice: %+v", r)
	}
	if r := s.Enrol(ctx, enrolPayload(t, "frank", fakeface.JPEG(6000))); r.Status != msg.EnrolSaved {
		t.Fatalf("enrol frank: %+v", r)
	}
	if err := s.RenamePerson("bob", "robert"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePerson("carol"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetThreshold("dave", 0.45); err != nil {
		t.Fatal(err)
	}
	var neg face.Descriptor
	neg[0] = 0.5
	if err := s.addNegative("alice", gallery.Sample{Descriptor: neg, Source: "event:7"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("training did not finish")
	}
	if st := s.TrainStatus(); st.State != msg.TrainDone {
		t.Fatalf("second training: %+v", st)
	}
	if s.TrainStatus().Seen < 32 {
		t.Fatalf("the run was meant to see 32 images: %+v", s.TrainStatus())
	}
	check := func(where string, g *gallery.Gallery) {
		t.Helper()
		names := []string{}
		for _, p := range g.People {
			names = append(names, fmt.Sprintf("%s:%d", p.Name, len(p.Samples)))
		}
		if got, want := strings.Join(names, " "), "alice:4 dave:3 erin:20 frank:1 robert:3"; got != want {
			t.Errorf("%s: people %q, want %q", where, got, want)
		}
		if p := g.Person("dave"); p == nil || p.Threshold != 0.45 {
			t.Errorf("%s: dave's threshold lost (person %v)", where, p != nil)
		}
		if p := g.Person("alice"); p == nil || len(p.Negatives) != 1 {
			t.Errorf("%s: alice's negative lost", where)
		}
		if p := g.Person("robert"); p != nil {
			for _, sm := range p.Samples {
				if !strings.HasPrefix(sm.Source, "robert/") {
					t.Errorf("%s: robert's sample still points at %s", where, sm.Source)
				}
			}
		}
	}
	check("live", s.Pipeline.Gallery())
	disk, err := gallery.Load(s.cfg.Gallery)
	if err != nil {
		t.Fatal(err)
	}
	check("disk", disk)
	if _, err := os.Stat(filepath.Join(s.cfg.Dataset, "carol")); !os.IsNotExist(err) {
		t.Errorf("carol's images still in the dataset: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.cfg.Dataset, deletedDir)); len(ents) != 0 {
		t.Errorf("%d entries linger in .deleted", len(ents))
	}
	// Retraining from the dataset alone keeps all of it.
	s.Train(ctx, "third")
	if st := s.TrainStatus(); st.State != msg.TrainDone {
		t.Fatalf("third training: %+v", st)
	}
	check("retrained", s.Pipeline.Gallery())
}

// A resent enrolment of the same image does not add a second sample.
func TestEnrolSameImageTwice(t *testing.T) {
	s := newTestService(t, 0)
	img := fakeface.JPEG(42)
	for i := 0; i < 2; i++ {
		if r := s.Enrol(context.Background(), enrolPayload(t, "alice", img)); r.Status != msg.EnrolSaved {
			t.Fatalf("enrol: %+v", r)
		}
	}
	if p := s.Pipeline.Gallery().Person("alice"); p == nil || len(p.Samples) != 1 {
		t.Fatalf("alice: %+v", p)
	}
	if m, _ := filepath.Glob(filepath.Join(s.cfg.Dataset, "alice", "*")); len(m) != 1 {
		t.Fatalf("dataset files %v, want one", m)
	}
}

func TestPersonCommandValidation(t *testing.T) {
	s := newTestService(t, 0)
	if r := s.Enrol(context.Background(), enrolPayload(t, "alice", fakeface.JPEG(1))); r.Status != msg.EnrolSaved {
		t.Fatalf("enrol: %+v", r)
	}
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"threshold 2", s.SetThreshold("alice", 2)},
		{"threshold 0.29", s.SetThreshold("alice", 0.29)},
		{"threshold 0.71", s.SetThreshold("alice", 0.71)},
		{"threshold -1", s.SetThreshold("alice", -1)},
		{"threshold of nobody", s.SetThreshold("nobody", 0.5)},
		{"threshold bad name", s.SetThreshold("../x", 0.5)},
		{"rename to bad name", s.RenamePerson("alice", "a/b")},
		{"rename to itself", s.RenamePerson("alice", "alice")},
		{"rename nobody", s.RenamePerson("nobody", "x")},
		{"delete bad name", s.DeletePerson("..")},
		{"delete nobody", s.DeletePerson("nobody")},
	} {
		if tc.err == nil {
			t.Errorf("%s: accepted", tc.what)
		}
	}
	for _, thr := range []float64{0, 0.3, 0.5, 0.7} {
		if err := s.SetThreshold("alice", thr); err != nil {
			t.Errorf("threshold %v refused: %v", thr, err)
		}
	}
}

// Deleting a person leaves nothing of theirs on disk: dataset folder,
// gallery samples, a shared edge queue, an interrupted run's journal.
func TestDeleteLeavesNothing(t *testing.T) {
	s := newTestService(t, 0)
	if r := s.Enrol(context.Background(), enrolPayload(t, "alice", fakeface.JPEG(3))); r.Status != msg.EnrolSaved {
		t.Fatalf("enrol: %+v", r)
	}
	queued := filepath.Join(s.cfg.Dataset, ".queue", "alice", "x.jpg")
	os.MkdirAll(filepath.Dir(queued), 0o755)
	os.WriteFile(queued, fakeface.JPEG(4), 0o600)
	journal := train.JournalPath(s.cfg.Gallery)
	os.WriteFile(journal, []byte("{}\n"), 0o600)
	if err := s.DeletePerson("alice"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(s.cfg.Dataset, "alice"), filepath.Dir(queued), journal} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", p, err)
		}
	}
	if g, _ := gallery.Load(s.cfg.Gallery); g == nil || g.Person("alice") != nil {
		t.Error("alice still in the gallery file")
	}
	if ents, _ := os.ReadDir(filepath.Join(s.cfg.Dataset, deletedDir)); len(ents) != 0 {
		t.Errorf("%d entries linger in .deleted", len(ents))
	}
}
