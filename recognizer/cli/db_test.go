//go:build unix

package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/clusterdb"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/history"
	"github.com/facemon/facemon/recognizer/internal/fakeface"
	"github.com/facemon/facemon/shared/testx"
)

func fakeEnv(out, errb *bytes.Buffer) Env {
	return Env{Stdout: out, Stderr: errb, OpenPool: func(string, int, int) (*face.Pool, error) {
		return fakeface.Pool(1, fakeface.Engine{}), nil
	}}
}

// A single machine's state moves into PostgreSQL with db migrate (gallery,
// images, history with its ids), a second migrate is refused without
// --force, and train --db on another machine mirrors the shared dataset,
// trains and stores the result in the database.
func TestMigrateAndTrainOnDB(t *testing.T) {
	ctx := context.Background()
	pg := testx.StartPostgres(t)
	dir := t.TempDir()
	dataset := filepath.Join(dir, "dataset")
	// bob's folder is linked into the dataset (training follows such
	// links; migrate uploads through them).
	linked := filepath.Join(dir, "photos")
	for i, name := range []string{"alice", "alice", "bob"} {
		base := dataset
		if name == "bob" {
			base = linked
		}
		p := filepath.Join(base, name, string(rune('a'+i))+".jpg")
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, fakeface.JPEG(uint64(i+1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(linked, "bob"), filepath.Join(dataset, "bob")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dataset, ".queue", "x"), 0o700)
	os.WriteFile(filepath.Join(dataset, ".queue", "x", "q.jpg"), fakeface.JPEG(99), 0o600)
	gal := filepath.Join(dir, "gallery.json")
	var out, errb bytes.Buffer
	if err := Train(ctx, fakeEnv(&out, &errb), []string{"--dataset", dataset, "--gallery", gal, "--no-quality", "--models", dir}); err != nil {
		t.Fatalf("train: %v\n%s%s", err, out.String(), errb.String())
	}
	hs, err := history.Open(history.Config{Path: filepath.Join(dir, "history.db")})
	if err != nil {
		t.Fatal(err)
	}
	var d face.Descriptor
	d[3] = 0.2
	rec, err := hs.Record(ctx, history.Observation{Camera: "door", Time: time.Now(), Frame: fakeface.JPEG(7),
		Faces: []history.Seen{{Name: "alice", Distance: 0.3, Candidate: "alice", Box: [4]int{40, 40, 120, 120}, Descriptor: d}}})
	if err != nil {
		t.Fatal(err)
	}
	hs.Close()

	out.Reset()
	args := []string{"migrate", "--db", pg.DSN, "--gallery", gal, "--dataset", dataset}
	if err := DB(ctx, fakeEnv(&out, &errb), args); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	t.Log(out.String())
	for _, want := range []string{"dataset: 3 images", "gallery: 2 people, 3 samples", "history: 1 events"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out.String())
		}
	}
	if err := DB(ctx, fakeEnv(&out, &errb), args); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("a second migrate without --force: %v, want a refusal naming --force", err)
	}
	dst, err := history.Open(history.Config{DSN: pg.DSN})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := dst.Events(ctx, history.Query{})
	dst.Close()
	if err != nil || len(evs) != 1 || evs[0].ID != rec.Events[0].ID || evs[0].Name != "alice" {
		t.Fatalf("events in the database: %+v %v, want the migrated event %d", evs, err, rec.Events[0].ID)
	}

	// Another machine trains from the database.
	dir2 := t.TempDir()
	ds2, gal2 := filepath.Join(dir2, "dataset"), filepath.Join(dir2, "gallery.json")
	out.Reset()
	if err := Train(ctx, fakeEnv(&out, &errb), []string{"--db", pg.DSN, "--dataset", ds2, "--gallery", gal2, "--no-quality", "--models", dir2}); err != nil {
		t.Fatalf("train --db: %v\n%s%s", err, out.String(), errb.String())
	}
	if m, _ := filepath.Glob(filepath.Join(ds2, "*", "*.jpg")); len(m) != 3 {
		t.Errorf("mirrored dataset holds %v, want the 3 shared images (not the local queue)", m)
	}
	db, err := clusterdb.Open(ctx, pg.DSN, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	doc, v, err := db.Gallery(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gallery.Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if p, s := g.Counts(); p != 2 || s != 3 || v != 2 {
		t.Errorf("shared gallery after train --db: %d people, %d samples, version %d; want 2, 3, 2", p, s, v)
	}
	// While one holds the training lock, train --db refuses.
	if ok, err := db.TryLockTraining(ctx); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	err = Train(ctx, fakeEnv(&out, &errb), []string{"--db", pg.DSN, "--dataset", ds2, "--gallery", gal2, "--no-quality", "--models", dir2})
	if err == nil || !strings.Contains(err.Error(), "another recognizer is training") {
		t.Errorf("train --db during another run: %v", err)
	}
	db.UnlockTraining()
}
