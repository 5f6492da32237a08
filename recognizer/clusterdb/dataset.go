package clusterdb

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/facemon/facemon/shared/fsx"
)

// localOnly reports whether a dataset-relative path is one that is never
// shared: the folders starting with "." (the edge's .queue, pending
// enrolments, .deleted staging).
func localOnly(rel string) bool { return strings.HasPrefix(rel, ".") }

// SafePath reports whether rel is a dataset-relative image path that stays
// inside the dataset and is shared.
func SafePath(rel string) bool {
	return rel != "" && !strings.HasPrefix(rel, "/") && !strings.Contains(rel, "\\") && !localOnly(rel) &&
		filepath.ToSlash(filepath.Clean(filepath.FromSlash(rel))) == rel && !strings.HasPrefix(rel, "../")
}

// SyncDataset makes dir hold exactly the shared images, apart from its
// local-only folders: missing images are written (0600 files, 0700
// folders, atomically), others removed, empty person folders too.
func (d *DB) SyncDataset(ctx context.Context, dir string, log *slog.Logger) (added, removed int, err error) {
	imgs, err := d.Images(ctx)
	if err != nil {
		return 0, 0, err
	}
	want := make(map[string]bool, len(imgs))
	for _, im := range imgs {
		if !SafePath(im.Path) {
			log.Warn("shared dataset: unsafe image path ignored", "path", im.Path)
			continue
		}
		want[im.Path] = true
		p := filepath.Join(dir, filepath.FromSlash(im.Path))
		if _, err := os.Stat(p); err == nil {
			continue
		}
		b, err := d.ImageData(ctx, im.Path)
		if err != nil {
			return added, removed, err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return added, removed, fmt.Errorf("dataset: %w", err)
		}
		if err := fsx.WriteFileAtomic(p, b, 0o600); err != nil {
			return added, removed, fmt.Errorf("dataset: %w", err)
		}
		added++
	}
	walkShared(dir, func(rel, p string) {
		if !want[rel] && os.Remove(p) == nil {
			removed++
		}
	})
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if e.IsDir() && !localOnly(e.Name()) {
				os.Remove(filepath.Join(dir, e.Name())) // fails unless empty
			}
		}
	}
	return added, removed, nil
}

// walkShared calls f for every shared file under dir.
func walkShared(dir string, f func(rel, path string)) {
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if localOnly(rel) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.IsDir() {
			f(rel, p)
		}
		return nil
	})
}

// UploadDataset stores every shared file of dir (a single machine's
// dataset being migrated) and returns how many it stored.
func (d *DB) UploadDataset(ctx context.Context, dir string, progress func(n int)) (int, error) {
	var paths, files []string
	walkShared(dir, func(rel, p string) {
		// A person folder linked into the dataset (training follows such
		// links) is read through the link: its files are the person's.
		// Only here: the mirror (SyncDataset) never walks into a link, so
		// it cannot remove the files a link points at.
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return
			}
			walkShared(target, func(sub, sp string) { paths, files = append(paths, rel+"/"+sub), append(files, sp) })
			return
		}
		paths, files = append(paths, rel), append(files, p)
	})
	for i, rel := range paths {
		b, err := os.ReadFile(files[i])
		if err != nil {
			return i, fmt.Errorf("dataset: %w", err)
		}
		if err := d.PutImage(ctx, rel, b); err != nil {
			return i, err
		}
		if progress != nil {
			progress(i + 1)
		}
	}
	return len(paths), nil
}
