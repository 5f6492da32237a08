package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/facemon/facemon/recognizer/history"
)

// Backup implements `facemon-recognizer backup --out FILE.tar`: one tar of
// what a recognizer keeps (gallery, history, dataset, pending enrolments),
// consistent while serve runs: the history is copied with SQLite's online
// backup API, the gallery and dataset files are only ever replaced
// atomically (a reader sees the old or the new file). The members are
// named as in the container layout (gallery.json, history.db, dataset/,
// pending/), so `tar -xf FILE.tar -C DIR` restores it into a fresh DIR.
func Backup(ctx context.Context, env Env, args []string) error {
	flags := newFlagSet(env, "backup", "backup --out FILE.tar [flags]")
	out := flags.String("out", "", "archive to write (a new tar file; written to a temp file and renamed)")
	galPath := flags.String("gallery", "gallery.json", "gallery file (archived as gallery.json)")
	dataset := flags.String("dataset", "dataset", "dataset folder (archived as dataset/)")
	hist := flags.String("history", "", "SQLite history (archived as history.db; default: history.db beside the gallery; '-' = none)")
	pending := flags.String("pending", "", "pending enrolments folder (archived as pending/; default: pending beside the gallery; '-' = none)")
	if err := parse(flags, args); err != nil {
		return err
	}
	if *out == "" {
		flags.Usage()
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%w: --out %s already exists", errUsage, *out)
	}
	if *hist == "" {
		*hist = filepath.Join(filepath.Dir(*galPath), "history.db")
	}
	if *pending == "" {
		*pending = filepath.Join(filepath.Dir(*galPath), "pending")
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(*out), ".backup-")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmpDir)

	f, err := os.OpenFile(filepath.Join(tmpDir, "archive.tar"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	counts := map[string]int{}
	if err := addFile(tw, *galPath, "gallery.json"); err == nil {
		counts["gallery"]++
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if *hist != "-" {
		if _, err := os.Stat(*hist); err == nil {
			snap := filepath.Join(tmpDir, "history.db")
			if err := history.BackupSQLite(ctx, *hist, snap); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			if err := addFile(tw, snap, "history.db"); err != nil {
				return err
			}
			counts["history"]++
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup: %w", err)
		}
	}
	for _, d := range []struct{ dir, name string }{{*dataset, "dataset"}, {*pending, "pending"}} {
		if d.dir == "-" {
			continue
		}
		n, err := addTree(tw, d.dir, d.name)
		if err != nil {
			return err
		}
		counts[d.name] = n
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(f.Name(), *out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(env.Stdout, "backup: wrote %s (gallery: %d, history: %d, dataset files: %d, pending files: %d)\n",
		*out, counts["gallery"], counts["history"], counts["dataset"], counts["pending"])
	return nil
}

// addFile writes the regular file path into tw as name (mode 0600).
func addFile(tw *tar.Writer, path, name string) error {
	src, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("backup: %s is not a regular file", path)
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// A file replaced meanwhile is still this open one; one that grew is
	// cut at the size in the header (tar needs it exact).
	if _, err := io.CopyN(tw, src, st.Size()); err != nil {
		return fmt.Errorf("backup: %s: %w", path, err)
	}
	return nil
}

// addTree writes the regular files under dir into tw below name/ (dirs
// 0700) and returns how many; a missing dir adds nothing. Temp files of
// atomic writes in progress (names starting with '.') are left out.
func addTree(tw *tar.Writer, dir, name string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if path == dir {
					return fs.SkipAll
				}
				return nil // removed while walking
			}
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		member := filepath.ToSlash(filepath.Join(name, rel))
		if path != dir && d.Name()[0] == '.' {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Name: member + "/", Mode: 0o700, Typeflag: tar.TypeDir})
		case d.Type().IsRegular():
			if err := addFile(tw, path, member); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed while walking
				}
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("backup: %s: %w", dir, err)
	}
	return n, nil
}
