package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/pipeline"
)

// enrol builds a gallery from the shared faces of the given people.
func enrol(t *testing.T, pool *face.Pool, people ...string) *gallery.Gallery {
	t.Helper()
	g := gallery.New()
	for _, name := range people {
		dir := testenv.Testdata(t, "faces", name)
		files, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no photos of %s in %s", name, dir)
		}
		for _, fn := range files {
			data, err := os.ReadFile(fn)
			if err != nil {
				t.Fatal(err)
			}
			var res *face.Result
			if err := pool.Do(context.Background(), func(e face.Engine) error {
				var err error
				res, err = face.DefaultAnalyzer.Analyze(e, data)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if i := face.Largest(res.Faces); i >= 0 {
				if err := g.Add(name, gallery.Sample{Descriptor: res.Faces[i].Descriptor, Source: fn}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return g
}

func setup(t *testing.T) (*face.Pool, [][]byte) {
	t.Helper()
	models := testenv.Models(t)
	video := testenv.Testdata(t, "video", "short_hamilton_clip.mp4")
	pool, err := face.NewPool(2, dlib.Opener(models))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	// The whole 10 s clip at 5 fps: 50 frames, a few seconds per variant.
	frames, err := LoadFrames(video, 5, 10*time.Second, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 50 {
		t.Fatalf("%d frames", len(frames))
	}
	return pool, frames
}

func opts(pool *face.Pool, frames [][]byte, g *gallery.Gallery) Options {
	return Options{Frames: frames, FPS: 5, Cameras: 1, Pool: pool, Gallery: g, Rule: gallery.DefaultRule,
		Analyzer: face.DefaultAnalyzer, Track: pipeline.DefaultTrack, Motion: pipeline.DefaultMotion}
}

// TestBenchShort is the bench command's short mode: the naive and facemon
// pipelines on the same frames. facemon must publish every frame, name the
// performer on most frames the naive run names him, use less CPU, and
// raise no unknown verdict for him.
func TestBenchShort(t *testing.T) {
	pool, frames := setup(t)
	g := enrol(t, pool, "lin_manuel_miranda", "alex_lacamoire", "obama")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	naive, err := Run(ctx, opts(pool, frames, g), Variants[0])
	if err != nil {
		t.Fatal(err)
	}
	fm, err := Run(ctx, opts(pool, frames, g), Variant{Name: "facemon"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("naive: %.1f annotated/CPU-s, %d named; facemon: %.1f annotated/CPU-s, %d named, verdicts %d known %d unknown",
		naive.PerCPUSecond, naive.NamedFrames, fm.PerCPUSecond, fm.NamedFrames, fm.KnownVerdicts, fm.UnknownVerdicts)
	if naive.Annotated != 50 || fm.Annotated != 50 || len(fm.Names) != 50 {
		t.Fatalf("annotated naive %d facemon %d, identities %d; want 50", naive.Annotated, fm.Annotated, len(fm.Names))
	}
	if naive.NamedFrames < 5 {
		t.Fatalf("naive named only %d frames: gallery or video changed?", naive.NamedFrames)
	}
	// The name metrics (what `bench` prints), judged against the naive
	// run's faces: sane shares, no wrong name and no stranger named on the
	// shared clip, the performer's appearance confirmed and then kept.
	reps := []*Report{naive, fm}
	ScoreReports(reps, nil, 5, 1)
	var b strings.Builder
	printNames(&b, reps, flags{})
	t.Logf("name metrics:\n%s", b.String())
	for _, r := range reps {
		m := r.Metrics
		for name, v := range map[string]float64{"coverage": m.Coverage(), "coverage after first": m.CoverageAfterFirst()} {
			if !(v >= 0 && v <= 1) {
				t.Errorf("%s: %s %v, want within [0, 1]", r.Variant, name, v)
			}
		}
		if m.Wrong != 0 || m.WrongApps != 0 || m.StrangerNmd != 0 {
			t.Errorf("%s: %d wrong names (%d appearances), %d strangers named; want 0", r.Variant, m.Wrong, m.WrongApps, m.StrangerNmd)
		}
		if m.KnownFaces < 5 || m.ConfirmedApps < 1 {
			t.Errorf("%s: %d faces of enrolled people, %d appearances confirmed; want >= 5 and >= 1", r.Variant, m.KnownFaces, m.ConfirmedApps)
		}
	}
	m := fm.Metrics
	if c := m.CoverageAfterFirst(); c < 0.9 {
		t.Errorf("facemon shows the performer's confirmed name on %.0f%% of his faces after its first confirmation, want >= 90%%", c*100)
	}
	if a := float64(m.NaiveSame) / float64(m.NaiveNamed); a < 0.8 {
		t.Errorf("facemon's confirmed names agree with naive on %.0f%% of its named frames, want >= 80%%", a*100)
	}
	if fm.CPUSeconds >= naive.CPUSeconds {
		t.Errorf("facemon used %.2f CPU-s, naive %.2f", fm.CPUSeconds, naive.CPUSeconds)
	}
	if fm.UnknownVerdicts != 0 || fm.KnownVerdicts < 1 {
		t.Errorf("enrolled performer: %d unknown verdicts, %d known; want 0 and >= 1", fm.UnknownVerdicts, fm.KnownVerdicts)
	}
}

// TestUnknownVerdictWhenNotEnrolled: without the performer in the gallery
// his track gets one unknown verdict (one alert, one history group).
func TestUnknownVerdictWhenNotEnrolled(t *testing.T) {
	pool, frames := setup(t)
	g := enrol(t, pool, "alex_lacamoire", "obama")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fm, err := Run(ctx, opts(pool, frames, g), Variant{Name: "facemon"})
	if err != nil {
		t.Fatal(err)
	}
	if fm.UnknownVerdicts != 1 || fm.KnownVerdicts != 0 {
		t.Errorf("performer not enrolled: %d unknown verdicts, %d known; want 1 and 0", fm.UnknownVerdicts, fm.KnownVerdicts)
	}
}

// TestPhotoRecall: on two people's shared photos, leave-one-out, obama's
// five photos are named at native size and none is named as someone else;
// biden's two name each other; downscaled to 48 px faces they land in the
// 40-60 bucket.
func TestPhotoRecall(t *testing.T) {
	models := testenv.Models(t)
	pool, err := face.NewPool(1, dlib.Opener(models))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	dir := t.TempDir()
	for _, who := range []string{"obama", "biden"} {
		files, _ := filepath.Glob(filepath.Join(testenv.Testdata(t, "faces", who), "*.jpg"))
		if err := os.MkdirAll(filepath.Join(dir, who), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, fn := range files {
			b, err := os.ReadFile(fn)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, who, filepath.Base(fn)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	g := enrol(t, pool, "obama", "biden")
	for i := range g.People { // enrol leaves Hash empty: set it as train does
		for j := range g.People[i].Samples {
			s := &g.People[i].Samples[j]
			b, err := os.ReadFile(s.Source)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			s.Hash = hex.EncodeToString(sum[:])
		}
	}
	a := face.DefaultAnalyzer
	a.CNNFallback = true
	r, err := RunPhotoRecall(context.Background(), pool, g, gallery.DefaultRule, a, dir, []int{48})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.Print(&b, dir)
	t.Logf("\n%s", b.String())
	if r.Photos != 7 || len(r.Rows) != 2 {
		t.Fatalf("%d photos, %d rows; want 7, 2", r.Photos, len(r.Rows))
	}
	native, small := r.Rows[0], r.Rows[1]
	sum := func(v []int) int {
		n := 0
		for _, x := range v {
			n += x
		}
		return n
	}
	if faces := sum(native.Faces); faces+r.NaiveMissed != 7 || faces < 6 || sum(native.Named) < faces-1 || native.Wrong != 0 || native.Strangers != 0 {
		t.Errorf("native: %+v (naive missed %d); want >= 6 faces, all but one named, none wrong", native, r.NaiveMissed)
	}
	if small.Faces[1] != sum(small.Faces) || small.Faces[1] == 0 {
		t.Errorf("at 48 px: faces by bucket %v, want all in 40-60", small.Faces)
	}
}
