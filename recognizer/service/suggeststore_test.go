package service

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
)

// The store's bounds: a track keeps its best SuggestPerTrack crops, a
// person's near-duplicate keeps the sharper one, a person and the whole
// store are bounded (oldest out), entries expire, survive a reopen, and
// are hidden once the person has a near-duplicate sample.
func TestSuggestionStoreBounds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "suggestions")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := openSuggestions(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	st.now = func() time.Time { now = now.Add(time.Second); return now }
	desc := func(i int) face.Descriptor { var d face.Descriptor; d[i%128] = 1; return d } // 1.41 apart
	img := func(i int) []byte { return []byte{0xff, 0xd8, byte(i), byte(i >> 8), 0xff, 0xd9} }
	offer := func(i int, name string, track int, q float64, d face.Descriptor) bool {
		t.Helper()
		kept, err := st.offer(suggestionMeta{Name: name, Camera: "door", Track: track, Quality: q, Descriptor: d}, img(i))
		if err != nil {
			t.Fatal(err)
		}
		return kept
	}
	g := &gallery.Gallery{People: []gallery.Person{{Name: "alice", Samples: []gallery.Sample{{Descriptor: desc(100)}}}, {Name: "bob", Samples: []gallery.Sample{{Descriptor: desc(101)}}}}}
	// One track: its 3 best.
	for i, q := range []float64{50, 60, 70} {
		if !offer(i, "alice", 1, q, desc(i)) {
			t.Fatalf("crop %d not kept", i)
		}
	}
	if offer(3, "alice", 1, 40, desc(3)) {
		t.Fatal("a 4th, worse crop of the track kept")
	}
	if !offer(4, "alice", 1, 80, desc(4)) {
		t.Fatal("a better 4th crop not kept")
	}
	if n := len(st.list(g)); n != 3 {
		t.Fatalf("track: %d kept, want 3", n)
	}
	// A near-duplicate of a waiting suggestion: the sharper stays.
	if offer(5, "alice", 2, 10, desc(4)) {
		t.Fatal("a blurrier near-duplicate kept")
	}
	if !offer(6, "alice", 2, 90, desc(4)) || len(st.list(g)) != 3 {
		t.Fatalf("a sharper near-duplicate: %d", len(st.list(g)))
	}
	// The same image twice is one entry.
	if offer(6, "alice", 3, 95, desc(7)) {
		t.Fatal("the same image kept twice")
	}
	// Per person, then in total, the oldest go.
	st.perPerson, st.total = 4, 5
	for i := 10; i < 13; i++ {
		offer(i, "alice", 10+i, 50, desc(i))
	}
	if n := len(st.list(g)); n != 4 {
		t.Fatalf("per person: %d, want 4", n)
	}
	for i := 20; i < 23; i++ {
		offer(i, "bob", 10+i, 50, desc(i))
	}
	ls := st.list(g)
	if len(ls) != 5 || ls[0].Name != "alice" || ls[len(ls)-1].Name != "bob" {
		t.Fatalf("total: %+v", ls)
	}
	for _, f := range []string{ls[0].ID + ".jpg", ls[0].ID + ".json"} {
		if s, err := os.Stat(filepath.Join(dir, f)); err != nil || s.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, s, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 10 {
		t.Fatalf("%d files for 5 suggestions", len(ents))
	}
	// Bytes bound.
	st.maxBytes = 4 * len(img(0))
	offer(30, "bob", 40, 50, desc(30))
	if n := len(st.list(g)); n != 4 || st.bytes != 4*len(img(0)) {
		t.Fatalf("bytes: %d entries, %d bytes", n, st.bytes)
	}
	// Reopened: the same entries.
	re, err := openSuggestions(dir, log)
	if err != nil || len(re.list(g)) != 4 || re.bytes != st.bytes {
		t.Fatalf("reopen: %d %d %v", len(re.list(g)), re.bytes, err)
	}
	// A sample of bob near a suggestion hides (and removes) it; so does
	// the person's absence.
	var bobs []suggestionMeta
	for _, m := range re.list(g) {
		if m.Name == "bob" {
			bobs = append(bobs, m)
		}
	}
	g.People[1].Samples = append(g.People[1].Samples, gallery.Sample{Descriptor: bobs[0].Descriptor})
	if n := len(re.list(g)); n != 3 {
		t.Fatalf("after bob's new sample: %d", n)
	}
	g.People = g.People[1:]
	for _, m := range re.list(g) {
		if m.Name == "alice" {
			t.Fatalf("alice is gone from the gallery: %+v", m)
		}
	}
	// Expiry.
	re.now = func() time.Time { return now.Add(SuggestMaxAge + time.Hour) }
	if n := len(re.list(g)); n != 0 {
		t.Fatalf("after %v: %d", SuggestMaxAge, n)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("%d files left after expiry", len(ents))
	}
}
