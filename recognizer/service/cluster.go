package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/facemon/facemon/recognizer/api"
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

// galleryVersion is the shared gallery version this recognizer holds.
func (s *Service) galleryVersion() int64 {
	s.galMu.Lock()
	defer s.galMu.Unlock()
	return s.galVersion
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

// pullDataset makes the dataset folder hold exactly the shared images
// (clusterdb.SyncDataset).
func (s *Service) pullDataset(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	s.dsMu.Lock()
	defer s.dsMu.Unlock()
	added, removed, err := s.db.SyncDataset(ctx, s.cfg.Dataset, s.log)
	if err != nil {
		s.log.Error("shared dataset not synced", "err", err)
	}
	if added+removed > 0 {
		s.log.Info("shared dataset synced", "added", added, "removed", removed)
	}
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
	s.db.Listen(ctx, func(ch, payload string) {
		switch ch {
		case clusterdb.ChanGallery:
			// The payload is the new version: our own change (or one we
			// already have) needs no read of the document.
			if v, err := strconv.ParseInt(payload, 10, 64); err == nil && v <= s.galleryVersion() {
				return
			}
			s.pullGallery(ctx)
		case clusterdb.ChanImages:
			s.pullDataset(ctx)
		}
	})
}

// dbSessions is the session store with --db: the cluster's sessions table,
// so a person's token issued by one recognizer is valid at every one (the
// edges' cam/<id>/enrol and train go to whichever recognizer takes them).
// A database error refuses the token (fail closed) and logs.
type dbSessions struct {
	db  *clusterdb.DB
	max int
	log *slog.Logger
}

const sessionDBTimeout = 3 * time.Second

func (d dbSessions) Issue(s api.Session) (string, error) {
	tok, key, err := api.NewSessionToken()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionDBTimeout)
	defer cancel()
	if err := d.db.PutSession(ctx, key, clusterdb.StoredSession{User: s.User, Stamp: s.Stamp, Expires: s.Expires}, d.max); err != nil {
		return "", err
	}
	return tok, nil
}

func (d dbSessions) Check(token string, now time.Time) (api.Session, bool) {
	if token == "" {
		return api.Session{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionDBTimeout)
	defer cancel()
	s, ok, err := d.db.Session(ctx, api.SessionKey(token), now)
	if err != nil {
		d.log.Warn("session check failed; token refused", "err", err)
		return api.Session{}, false
	}
	if !ok {
		return api.Session{}, false
	}
	return api.Session{User: s.User, Stamp: s.Stamp, Expires: s.Expires}, true
}

func (d dbSessions) Revoke(token string) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionDBTimeout)
	defer cancel()
	if err := d.db.RevokeSession(ctx, api.SessionKey(token)); err != nil {
		d.log.Warn("session revoke failed", "err", err)
	}
}
