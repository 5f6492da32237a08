package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/facemon/facemon/recognizer/clusterdb"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/fsx"
)

// With --db, the gallery and the dataset live in PostgreSQL (clusterdb) and
// the gallery file and dataset folder are this recognizer's cache of them:
// every change is written to the database first (the gallery under its row
// lock, applied to the newest document), then to the cache; the others hear
// of it through NOTIFY and refresh theirs (pullGallery, pullDataset).

const dbTimeout = 30 * time.Second

// updateShared applies f to the newest shared gallery (galMu held) and
// returns the result, also written to the gallery file.
func (s *Service) updateShared(f func(*gallery.Gallery) error) (*gallery.Gallery, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	var out *gallery.Gallery
	v, err := s.db.UpdateGallery(ctx, func(cur []byte) ([]byte, error) {
		base := s.Pipeline.Gallery()
		if cur != nil {
			g, err := gallery.Decode(cur)
			if err != nil {
				return nil, fmt.Errorf("shared gallery: %w", err)
			}
			base = g
		}
		g := base.Clone()
		if err := f(g); err != nil {
			return nil, err
		}
		out = g
		return g.Encode()
	})
	if err != nil {
		return nil, err
	}
	if err := out.Save(s.cfg.Gallery); err != nil {
		return nil, err
	}
	s.galVersion = v
	return out, nil
}

// replaceShared stores a whole new gallery (a training result) as the
// shared one (galMu held).
func (s *Service) replaceShared(g *gallery.Gallery) error {
	_, err := s.updateShared(func(cur *gallery.Gallery) error {
		*cur = *g.Clone()
		return nil
	})
	return err
}

// pullGallery fetches the shared gallery when it is newer than ours.
func (s *Service) pullGallery(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	doc, v, err := s.db.Gallery(ctx)
	if errors.Is(err, clusterdb.ErrNoGallery) {
		return
	}
	if err != nil {
		s.log.Error("shared gallery not read; keeping ours", "err", err)
		return
	}
	s.galMu.Lock()
	if v <= s.galVersion {
		s.galMu.Unlock()
		return
	}
	g, err := gallery.Decode(doc)
	if err == nil {
		err = fsx.WriteFileAtomic(s.cfg.Gallery, doc, 0o600)
	}
	if err != nil {
		s.galMu.Unlock()
		s.log.Error("shared gallery not applied; keeping ours", "version", v, "err", err)
		return
	}
	s.galVersion = v
	s.stampGallery()
	s.Pipeline.SetGallery(g)
	s.galMu.Unlock()
	people, samples := g.Counts()
	s.log.Info("shared gallery loaded", "version", v, "people", people, "samples", samples)
	s.onGalleryChange()
}

// localDirs are dataset folders that are never shared (queues, staging).
func localOnly(rel string) bool {
	return strings.HasPrefix(rel, ".")
}

// pullDataset makes the dataset folder hold exactly the shared images
// (except its local-only folders): missing ones are written, others removed.
func (s *Service) pullDataset(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	imgs, err := s.db.Images(ctx)
	if err != nil {
		s.log.Error("shared dataset not read", "err", err)
		return
	}
	s.dsMu.Lock()
	defer s.dsMu.Unlock()
	want := make(map[string]bool, len(imgs))
	added, removed := 0, 0
	for _, im := range imgs {
		if !safeRel(im.Path) {
			s.log.Warn("shared dataset: unsafe image path ignored", "path", im.Path)
			continue
		}
		want[im.Path] = true
		p := filepath.Join(s.cfg.Dataset, filepath.FromSlash(im.Path))
		if _, err := os.Stat(p); err == nil {
			continue
		}
		b, err := s.db.ImageData(ctx, im.Path)
		if err != nil {
			s.log.Error("shared dataset: image not read", "path", im.Path, "err", err)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
			err = fsx.WriteFileAtomic(p, b, 0o600)
		}
		if err != nil {
			s.log.Error("shared dataset: image not written", "path", im.Path, "err", err)
			continue
		}
		added++
	}
	filepath.WalkDir(s.cfg.Dataset, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == s.cfg.Dataset {
			return nil
		}
		rel, _ := filepath.Rel(s.cfg.Dataset, p)
		rel = filepath.ToSlash(rel)
		if localOnly(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && !want[rel] {
			if os.Remove(p) == nil {
				removed++
			}
		}
		return nil
	})
	// Empty person folders left by a delete or rename elsewhere.
	if ents, err := os.ReadDir(s.cfg.Dataset); err == nil {
		for _, e := range ents {
			if e.IsDir() && !localOnly(e.Name()) {
				os.Remove(filepath.Join(s.cfg.Dataset, e.Name())) // fails unless empty
			}
		}
	}
	if added+removed > 0 {
		s.log.Info("shared dataset synced", "added", added, "removed", removed, "images", len(want))
	}
}

func safeRel(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && !strings.Contains(p, "\\") && !localOnly(p) &&
		filepath.ToSlash(filepath.Clean(filepath.FromSlash(p))) == p && !strings.HasPrefix(p, "../")
}

// shareImage stores a newly saved dataset image in the database.
func (s *Service) shareImage(rel string, img []byte) error {
	if s.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	return s.db.PutImage(ctx, rel, img)
}

// listenShared follows the other recognizers' changes until ctx ends.
func (s *Service) listenShared(ctx context.Context) {
	s.db.Listen(ctx, func(ch, _ string) {
		switch ch {
		case clusterdb.ChanGallery:
			s.pullGallery(ctx)
		case clusterdb.ChanImages:
			s.pullDataset(ctx)
		}
	})
}
