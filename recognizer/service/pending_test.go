package service

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPendingStoreBounds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pending")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := openPending(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	p.now = func() time.Time { return now }
	p.perCamera, p.total = 2, 3
	img := func(i int) []byte { return []byte{0xff, 0xd8, byte(i), 0xff, 0xd9} }
	a, dup, err := p.add("alice", "door", "r1", 1, img(1))
	if err != nil || dup {
		t.Fatal(err, dup)
	}
	if b, dup, _ := p.add("bob", "door", "r2", 1, img(1)); !dup || b.ID != a.ID || b.Name != "alice" {
		t.Fatalf("same image: %+v %v", b, dup)
	}
	if _, _, err := p.add("bob", "door", "r2", 1, img(2)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.add("carol", "door", "r3", 1, img(3)); !errors.Is(err, ErrPendingFull) {
		t.Fatalf("third of one camera: %v", err)
	}
	if _, _, err := p.add("carol", "garage", "r3", 1, img(3)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.add("dave", "porch", "r4", 1, img(4)); !errors.Is(err, ErrPendingFull) {
		t.Fatalf("over the total: %v", err)
	}
	for _, f := range []string{a.ID + ".jpg", a.ID + ".json"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	// Reopened: the same entries.
	q, err := openPending(dir, log)
	if err != nil || len(q.list()) != 3 {
		t.Fatalf("reopen: %d %v", len(q.list()), err)
	}
	// Delete, then age.
	if err := p.delete(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, a.ID+".jpg")); !os.IsNotExist(err) {
		t.Fatal("deleted image still there")
	}
	if err := p.delete(a.ID); err == nil {
		t.Fatal("second delete")
	}
	now = now.Add(PendingMaxAge + time.Second)
	if n := len(p.list()); n != 0 {
		t.Fatalf("%d left after %v", n, PendingMaxAge)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Fatalf("expired files left: %v", m)
	}
}
