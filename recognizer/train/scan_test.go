package train

import (
	"os"
	"path/filepath"
	"testing"
)

func TestScanLayout(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte("x"), 0o644)
	}
	mk("alice/1.jpg")
	mk("alice/2.PNG")
	mk("alice/notes.txt")
	mk("alice/.hidden.jpg")
	mk(".queue/bob/1.jpg")
	mk("stray.jpg")
	mk("bad name!/1.jpg")
	other := t.TempDir()
	os.MkdirAll(filepath.Join(other, "carol"), 0o755)
	os.WriteFile(filepath.Join(other, "carol", "1.jpg"), []byte("x"), 0o644)
	if err := os.Symlink(filepath.Join(other, "carol"), filepath.Join(root, "carol")); err != nil {
		t.Fatal(err)
	}
	imgs, skips, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, im := range imgs {
		got = append(got, im.Rel)
	}
	want := []string{"alice/1.jpg", "alice/2.PNG", "carol/1.jpg"}
	if len(got) != len(want) {
		t.Fatalf("images %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("images %v, want %v", got, want)
		}
	}
	if len(skips) != 2 {
		t.Fatalf("skips %v", skips)
	}
	if _, _, err := Scan(filepath.Join(root, "missing")); err == nil {
		t.Fatal("missing dataset: no error")
	}
}
