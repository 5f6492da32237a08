package firstrun

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsTerminalNotForPipesFilesOrNull(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, out := range map[string]io.Writer{"pipe": w, "/dev/null": null, "file": f, "buffer": &bytes.Buffer{}} {
		if IsTerminal(out) {
			t.Errorf("%s taken for a terminal", name)
		}
	}
}

func TestShowWritesTheFileWhenNotATerminal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var out bytes.Buffer
	path, err := Show(&out, dir, "admin / Secret-1\n")
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("secret written to a non-terminal stdout: %q", out.String())
	}
	if path != Path(dir) {
		t.Fatalf("path %q, want %q", path, Path(dir))
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", st, err)
	}
	if dst, _ := os.Stat(dir); dst.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", dst.Mode().Perm())
	}
	// A second secret (a rotation) keeps the first, unread one.
	if _, err := Show(&out, dir, "new token: Secret-2"); err != nil {
		t.Fatal(err)
	}
	b, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "admin / Secret-1\n") || !strings.HasSuffix(string(b), "new token: Secret-2\n") {
		t.Errorf("file content:\n%s", b)
	}
	if h := Hint("facemon-recognizer users", dir); strings.Contains(h, "Secret") || !strings.Contains(h, "show --first-run --state "+dir) || !strings.Contains(h, path) {
		t.Errorf("hint %q", h)
	}
	os.Remove(path)
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "no first-run credentials") {
		t.Errorf("Read of a deleted file: %v", err)
	}
}
