package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facemon/facemon/recognizer/history"
)

func TestBackupArchive(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("gallery.json", `{"people":{}}`)
	write("dataset/alice/1.jpg", "jpeg-bytes")
	write("dataset/alice/.tmp-123", "half-written")
	write("pending/p1.json", "{}")
	h, err := history.Open(history.Config{Path: filepath.Join(dir, "history.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close() // open while backing up, as under serve

	out := filepath.Join(t.TempDir(), "b.tar")
	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr}
	args := []string{"--out", out, "--gallery", filepath.Join(dir, "gallery.json"), "--dataset", filepath.Join(dir, "dataset")}
	if err := Backup(context.Background(), env, args); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "dataset files: 1") {
		t.Errorf("summary: %s", stdout.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[hdr.Name] = string(b)
	}
	for name, want := range map[string]string{"gallery.json": `{"people":{}}`, "dataset/alice/1.jpg": "jpeg-bytes", "pending/p1.json": "{}"} {
		if got[name] != want {
			t.Errorf("member %s = %q, want %q", name, got[name], want)
		}
	}
	if _, ok := got["history.db"]; !ok {
		t.Error("no history.db in the archive")
	}
	if _, ok := got["dataset/alice/.tmp-123"]; ok {
		t.Error("a temp file was archived")
	}
	// Restored: the history opens.
	restored := t.TempDir()
	if err := os.WriteFile(filepath.Join(restored, "history.db"), []byte(got["history.db"]), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := history.Open(history.Config{Path: filepath.Join(restored, "history.db")})
	if err != nil {
		t.Fatalf("restored history: %v", err)
	}
	r.Close()

	// An existing archive is never overwritten; --out is required.
	if err := Backup(context.Background(), env, args); err == nil {
		t.Error("an existing --out was overwritten")
	}
	if err := Backup(context.Background(), env, nil); err == nil {
		t.Error("no --out accepted")
	}
}
