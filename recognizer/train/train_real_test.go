//go:build cgo && !race

package train_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/facemon/facemon/recognizer/eval"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/cmykjpeg"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/train"
)

var (
	facesOnce sync.Once
	facesGal  *gallery.Gallery
	facesSum  *train.Summary
	facesErr  error
)

func openPool(t testing.TB) *face.Pool {
	t.Helper()
	pool, err := face.NewPool(2, dlib.Opener(testenv.Models(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

func defaultOptions(dataset string) train.Options {
	a := face.DefaultAnalyzer
	a.CNNFallback = true
	return train.Options{Dataset: dataset, Analyzer: a}
}

// trainedFaces trains once on the shared faces/ folder.
func trainedFaces(t *testing.T) (*gallery.Gallery, *train.Summary) {
	t.Helper()
	dir := testenv.Testdata(t, "faces")
	pool := openPool(t)
	facesOnce.Do(func() {
		facesGal, facesSum, facesErr = train.Run(context.Background(), pool, nil, defaultOptions(dir))
	})
	if facesErr != nil {
		t.Fatal(facesErr)
	}
	return facesGal, facesSum
}

func TestTrainSharedFaces(t *testing.T) {
	g, sum := trainedFaces(t)
	people, samples := g.Counts()
	t.Logf("people %d, encodings %d, skipped %d, CNN fallback %d, %v", people, samples, len(sum.Skipped), sum.CNN, sum.Duration)
	if people != 28 || samples != 102 || len(sum.Skipped) != 0 {
		t.Fatalf("people %d samples %d skipped %v", people, samples, sum.Skipped)
	}
	if sum.CNN < 1 {
		t.Errorf("jimin/3.jpg (a turned head) should need the CNN fallback")
	}
}

// minLOO is the floor for leave-one-out accuracy on faces/. With
// centroid scoring this model measures 76/79 = 96.2 % (nearest-photo
// scoring: 75/79); the misses are K-pop look-alikes (chaeyeon/tzuyu at
// 0.34-0.40, bona/jimin) that this model barely separates.
const minLOO = 0.95

// Leave-one-out identification over the people with >= 3 images, and
// every person queried against a gallery without them (a stranger).
func TestLeaveOneOutSharedFaces(t *testing.T) {
	g, _ := trainedFaces(t)
	items := eval.FromGallery(g)
	enr, str := eval.LeaveOneOut(items, 3, gallery.DefaultRule)
	acc := enr.Rate(enr.Correct)
	t.Logf("leave-one-out (people with >= 3 images): %d/%d correct (%.1f%%), %d wrong, %d rejected",
		enr.Correct, enr.Queries, 100*acc, enr.Wrong, enr.Rejected)
	t.Logf("not enrolled: %d/%d stayed unknown (%.1f%%), %d named", str.Correct, str.Queries, 100*str.Rate(str.Correct), str.Wrong)
	for _, m := range enr.Mistakes {
		t.Logf("  wrong: %s", m)
	}
	if acc < minLOO {
		t.Fatalf("leave-one-out accuracy %.1f%% < 95%%", 100*acc)
	}
	if enr.Queries < 75 {
		t.Fatalf("only %d queries", enr.Queries)
	}
}

func TestGroupsNamed(t *testing.T) {
	g, _ := trainedFaces(t)
	pool := openPool(t)
	cases := map[string][]string{
		"two_people.jpg":    {"obama", "biden"},
		"kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(testenv.Testdata(t, "groups", file))
			if err != nil {
				t.Fatal(err)
			}
			var res *face.Result
			err = pool.Do(context.Background(), func(e face.Engine) error {
				res, err = face.DefaultAnalyzer.Analyze(e, data)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, f := range res.Faces {
				m := g.Match(f.Descriptor, gallery.DefaultRule)
				t.Logf("%v: %s (%.3f)", f.Box, m.Name, m.Distance)
				got[m.Name] = true
			}
			for _, w := range want {
				if !got[w] {
					t.Errorf("%s not named in %s", w, file)
				}
			}
		})
	}
}

// A dataset with problems: a group photo, a photo without a face, a corrupt
// file, a bad folder name. Each is skipped with its reason; the rest trains;
// re-training reuses every unchanged encoding.
func TestTrainSkipsWithReasonsAndCaches(t *testing.T) {
	ds := t.TempDir()
	link := func(src, dst string) {
		os.MkdirAll(filepath.Dir(filepath.Join(ds, dst)), 0o755)
		if err := os.Symlink(testenv.Testdata(t, src), filepath.Join(ds, dst)); err != nil {
			t.Fatal(err)
		}
	}
	link("faces/obama/1.jpg", "obama/1.jpg")
	link("faces/obama/2.jpg", "obama/2.jpg")
	link("groups/two_people.jpg", "obama/group.jpg")
	link("noface/dogs.jpg", "biden/dogs.jpg")
	link("faces/biden/1.jpg", "biden/1.jpg")
	link("edge/32bit.png", "obama/3.png")
	os.WriteFile(filepath.Join(ds, "biden", "broken.jpg"), []byte("\xff\xd8 not a jpeg"), 0o644)
	os.MkdirAll(filepath.Join(ds, ".queue", "x"), 0o755)
	link("faces/obama/4.jpg", ".queue/x/1.jpg")
	pool := openPool(t)
	g, sum, err := train.Run(context.Background(), pool, nil, defaultOptions(ds))
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, s := range sum.Skipped {
		reasons[filepath.Base(s.Path)] = s.Reason
	}
	t.Logf("skipped: %v", reasons)
	if !strings.Contains(reasons["group.jpg"], "2 faces") || reasons["dogs.jpg"] != train.ReasonNoFace ||
		!strings.HasPrefix(reasons["broken.jpg"], train.ReasonUnreadable) || len(reasons) != 3 {
		t.Fatalf("skip reasons %v", reasons)
	}
	if p := g.Person("obama"); p == nil || len(p.Samples) != 3 {
		t.Fatalf("obama samples: %+v", p)
	}
	// --largest takes the group photo's largest face.
	o := defaultOptions(ds)
	o.Largest = true
	g2, sum2, err := train.Run(context.Background(), pool, g, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(g2.Person("obama").Samples) != 4 || sum2.Reused != 4 {
		t.Fatalf("largest: obama %d samples, reused %d", len(g2.Person("obama").Samples), sum2.Reused)
	}
	// The image without a face is remembered by hash: not searched again.
	if len(g.NoFace) != 1 || len(g2.NoFace) != 1 || g2.NoFace[0].Source != "biden/dogs.jpg" {
		t.Fatalf("no-face cache: %+v then %+v", g.NoFace, g2.NoFace)
	}
	t.Logf("first run %v, second run (cached) %v", sum.Duration, sum2.Duration)
}

// Greyscale and CMYK photos train; a "no face" from a scan without the CNN
// fallback (in the gallery and in the journal) is not reused by one with
// it, which finds the turned head; serve's grey HOG falls back to CNN too.
func TestTrainGreyPhotosAndNoFaceKeyedByDetector(t *testing.T) {
	ds := t.TempDir()
	put := func(dst string, data []byte) {
		p := filepath.Join(ds, dst)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	obama, err := os.ReadFile(testenv.Testdata(t, "faces", "obama", "1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := cmykjpeg.Variants(obama)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		ext := ".jpg"
		if strings.HasSuffix(v.Name, "png") {
			ext = ".png"
		}
		put("obama/"+v.Name+ext, v.Data)
	}
	turned, err := os.ReadFile(testenv.Testdata(t, "faces", "jimin", "3.jpg")) // HOG finds no face
	if err != nil {
		t.Fatal(err)
	}
	put("jimin/3.jpg", turned)
	pool := openPool(t)
	journal := train.JournalPath(filepath.Join(t.TempDir(), "gallery.json"))
	a := face.DefaultAnalyzer
	a.Detector = face.HOGGrey // as serve sets it
	g, sum, err := train.Run(context.Background(), pool, nil, train.Options{Dataset: ds, Analyzer: a, Journal: journal})
	if err != nil {
		t.Fatal(err)
	}
	if p := g.Person("obama"); p == nil || len(p.Samples) != len(vs) {
		t.Fatalf("obama from grey/CMYK photos: %+v, skipped %v", p, sum.Skipped)
	}
	if len(g.NoFace) != 1 || g.NoFace[0].Detector != "hog-grey" {
		t.Fatalf("no-face list without the fallback: %+v", g.NoFace)
	}
	a.CNNFallback = true
	for _, c := range []struct {
		name string
		prev *gallery.Gallery
	}{{"journal cache", nil}, {"gallery cache", g}} { // the journal first: the run after it removes it
		name, prev := c.name, c.prev
		g2, sum2, err := train.Run(context.Background(), pool, prev, train.Options{Dataset: ds, Analyzer: a, Journal: journal})
		if err != nil {
			t.Fatal(err)
		}
		if p := g2.Person("jimin"); p == nil || len(p.Samples) != 1 || sum2.CNN != 1 || len(g2.NoFace) != 0 {
			t.Fatalf("%s: the turned head with the CNN fallback: jimin %+v, CNN %d, no face %+v", name, p, sum2.CNN, g2.NoFace)
		}
		os.Remove(journal)
	}
}
