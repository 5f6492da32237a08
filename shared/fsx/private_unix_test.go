//go:build unix

package fsx

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func syscallUmask(m int) int { return syscall.Umask(m) }

func TestWriteFileAtomicDirMode(t *testing.T) {
	old := syscallUmask(0o022)
	defer syscallUmask(old)
	dir := t.TempDir()
	for perm, want := range map[os.FileMode]os.FileMode{0o600: 0o700, 0o640: 0o750, 0o644: 0o755} {
		p := filepath.Join(dir, perm.String(), "a", "b")
		if err := WriteFileAtomic(p, []byte("x"), perm); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{filepath.Dir(p), filepath.Dir(filepath.Dir(p))} {
			if st, _ := os.Stat(d); st.Mode().Perm() != want {
				t.Errorf("file %04o: folder %s is %04o, want %04o", perm, d, st.Mode().Perm(), want)
			}
		}
	}
}

func TestMakePrivate(t *testing.T) {
	old := syscallUmask(0)
	defer syscallUmask(old)
	root := t.TempDir()
	ds := filepath.Join(root, "dataset")
	mk := func(p string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	mk(filepath.Join(ds, "alice", "1.jpg"), 0o644)
	mk(filepath.Join(ds, "alice", "2.jpg"), 0o600)
	mk(filepath.Join(ds, "bob", "deep", "3.jpg"), 0o664)
	mk(filepath.Join(root, "gallery.json"), 0o644)
	mk(filepath.Join(root, "history.db"), 0o640)
	mk(filepath.Join(root, "other.txt"), 0o644) // not named: untouched
	os.Chmod(filepath.Join(ds, "bob"), 0o775)
	outside := filepath.Join(root, "outside.jpg")
	mk(outside, 0o644)
	if err := os.Symlink(outside, filepath.Join(ds, "alice", "link.jpg")); err != nil {
		t.Fatal(err)
	}
	changes, err := MakePrivate(ds, filepath.Join(root, "gallery.json"), filepath.Join(root, "history.db"), filepath.Join(root, "history.db-wal"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{
		ds: 0o700, filepath.Join(ds, "alice"): 0o700, filepath.Join(ds, "bob"): 0o700, filepath.Join(ds, "bob", "deep"): 0o700,
		filepath.Join(ds, "alice", "1.jpg"): 0o600, filepath.Join(ds, "alice", "2.jpg"): 0o600, filepath.Join(ds, "bob", "deep", "3.jpg"): 0o600,
		filepath.Join(root, "gallery.json"): 0o600, filepath.Join(root, "history.db"): 0o600,
		filepath.Join(root, "other.txt"): 0o644, outside: 0o644, // a symlink is not followed
	}
	for p, m := range want {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != m {
			t.Errorf("%s: %v %v, want %04o", p, st.Mode(), err, m)
		}
	}
	// Everything changed is reported, and only that (2.jpg was private).
	if len(changes) != 8 {
		t.Errorf("changes %v (want 8)", changes)
	}
	for _, c := range changes {
		if c.Path == filepath.Join(ds, "alice", "2.jpg") {
			t.Errorf("unchanged file reported: %v", c)
		}
	}
	// A second run changes nothing.
	if again, err := MakePrivate(ds, filepath.Join(root, "gallery.json")); err != nil || len(again) != 0 {
		t.Errorf("second run: %v %v", again, err)
	}
}
