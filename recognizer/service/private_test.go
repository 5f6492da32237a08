//go:build unix

package service

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/history"
	"github.com/facemon/facemon/recognizer/internal/fakeface"
	"github.com/facemon/facemon/recognizer/train"
	"github.com/facemon/facemon/shared/testx"
)

// runStartup starts a recognizer (fake engines, embedded broker) on the
// gallery in dir with the default history (dir/history.db) and pending
// folder, waits until it is ready and returns its log; the service keeps
// running until the test ends.
func runStartup(t *testing.T, dir string) *testx.Buffer {
	t.Helper()
	pool := fakeface.Pool(1, fakeface.Engine{})
	t.Cleanup(func() { pool.Close() })
	var logs testx.Buffer
	s, err := New(Config{Gallery: filepath.Join(dir, "gallery.json"), Dataset: filepath.Join(dir, "dataset"),
		Listen: "127.0.0.1:0", AllowAnonymous: true, Instance: "private", Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule,
		Integrations: Integrations{HAPrefix: "-"}}, pool, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-s.Ready():
	case <-done:
		t.Fatalf("stopped during start-up:\n%s", logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("not ready within 20 s:\n%s", logs.String())
	}
	return &logs
}

// checkPrivate asserts 0600 files and 0700 folders for every path given
// (folders: everything beneath them too).
func checkPrivate(t *testing.T, paths ...string) {
	t.Helper()
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			want := fs.FileMode(0o600)
			if d.IsDir() {
				want = 0o700
			}
			if info.Mode().Perm() != want {
				t.Errorf("%s: mode %04o, want %04o", p, info.Mode().Perm(), want)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", root, err)
		}
	}
}

// TestUpgradeMakesBiometricDataPrivate (issue 17.6): an install written by
// an older version (0644 files, 0755 folders: gallery, training journal,
// dataset, pending enrolments, SQLite history) is made private (0600 files
// in 0700 folders) when the recognizer starts, with one log line saying
// what changed; a fresh install is private from the start, the history's
// -wal and -shm files included.
func TestUpgradeMakesBiometricDataPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	t.Run("upgrade", func(t *testing.T) {
		dir := t.TempDir()
		write := func(rel string) string {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		gal := filepath.Join(dir, "gallery.json")
		if err := gallery.New().Save(gal); err != nil {
			t.Fatal(err)
		}
		write("dataset/alice/20250101-ab12.jpg")
		write("dataset/bob/old/1.jpg")
		write("pending/0123456789abcdef01234567.jpg")
		write(filepath.Base(train.JournalPath(gal)))
		h, err := history.Open(history.Config{Path: filepath.Join(dir, "history.db")})
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
		untouched := write("notes.txt") // not biometric data: left alone
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
			if p == dir {
				return nil
			}
			if d.IsDir() {
				return os.Chmod(p, 0o755)
			}
			return os.Chmod(p, 0o644)
		})

		logs := runStartup(t, dir)
		checkPrivate(t, gal, train.JournalPath(gal), filepath.Join(dir, "dataset"), filepath.Join(dir, "pending"))
		checkPrivate(t, historyFiles(t, dir)...)
		if st, _ := os.Stat(untouched); st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %04o, want 0644 (not ours to change)", untouched, st.Mode().Perm())
		}
		out := logs.String()
		if n := strings.Count(out, "made private"); n != 1 || !strings.Contains(out, "gallery.json 0644->0600") || !strings.Contains(out, "dataset 0755->0700") {
			t.Errorf("want one line saying what was made private:\n%s", out)
		}
	})

	t.Run("fresh install", func(t *testing.T) {
		dir := t.TempDir()
		logs := runStartup(t, dir)
		// (The dataset folder appears with the first enrolment, made by
		// fsx.WriteFileAtomic with 0700 folders for 0600 files.)
		checkPrivate(t, filepath.Join(dir, "pending"))
		files := historyFiles(t, dir)
		if len(files) < 2 {
			t.Errorf("history files %v: want the database and its WAL files while open", files)
		}
		checkPrivate(t, files...)
		if strings.Contains(logs.String(), "made private") {
			t.Errorf("a fresh install had something to tighten:\n%s", logs.String())
		}
	})
}

func historyFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "history.db*"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no history files in %s: %v", dir, err)
	}
	return m
}
