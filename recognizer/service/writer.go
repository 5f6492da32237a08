package service

import (
	"fmt"

	"github.com/facemon/facemon/recognizer/gallery"
)

// The gallery has one writer: every change the service makes (a training
// result, an enrolment, a rename, a delete, a threshold, a negative) goes
// through mutate or finishTraining, serialised by galMu. Training works on a
// snapshot for minutes without the lock; the edits made meanwhile are
// journaled and replayed onto the trained gallery before it is saved, so no
// edit is lost and a deleted person stays deleted.

// galleryEdit is one journaled change. apply must tolerate a gallery that
// already reflects it (training may have seen the dataset after the edit).
type galleryEdit struct {
	what  string
	apply func(*gallery.Gallery) error
}

// mutate applies f to a copy of the current gallery, saves it atomically and
// swaps it in, then runs the gallery hooks.
func (s *Service) mutate(what string, f func(*gallery.Gallery) error) error {
	s.galMu.Lock()
	err := s.mutateLocked(what, f)
	s.galMu.Unlock()
	if err == nil {
		s.onGalleryChange()
	}
	return err
}

// mutateLocked is mutate with galMu held and without the hooks.
func (s *Service) mutateLocked(what string, f func(*gallery.Gallery) error) error {
	var g *gallery.Gallery
	if s.db != nil {
		var err error
		if g, err = s.updateShared(f); err != nil {
			return fmt.Errorf("save gallery: %w", err)
		}
	} else {
		g = s.Pipeline.Gallery().Clone()
		if err := f(g); err != nil {
			return err
		}
		if err := g.Save(s.cfg.Gallery); err != nil {
			return fmt.Errorf("save gallery: %w", err)
		}
	}
	s.stampGallery()
	s.Pipeline.SetGallery(g)
	if s.journal != nil {
		s.journal = append(s.journal, galleryEdit{what, f})
	}
	return nil
}

// beginTraining returns the snapshot a training run starts from and starts
// journaling the edits made after it.
func (s *Service) beginTraining() *gallery.Gallery {
	s.galMu.Lock()
	defer s.galMu.Unlock()
	s.journal = []galleryEdit{}
	return s.Pipeline.Gallery()
}

// abortTraining stops journaling (the run failed; the live gallery already
// has every edit).
func (s *Service) abortTraining() {
	s.galMu.Lock()
	s.journal = nil
	s.galMu.Unlock()
}

// finishTraining replays the edits made during the run onto the trained
// gallery g, saves it and swaps it in. It returns how many edits it replayed.
func (s *Service) finishTraining(g *gallery.Gallery) (int, error) {
	s.galMu.Lock()
	edits := s.journal
	s.journal = nil
	for _, e := range edits {
		if err := e.apply(g); err != nil {
			s.log.Info("edit made during training does not apply to the trained gallery", "edit", e.what, "err", err)
		}
	}
	var err error
	if s.db != nil {
		err = s.replaceShared(g)
	} else {
		err = g.Save(s.cfg.Gallery)
	}
	if err == nil {
		s.stampGallery()
		s.Pipeline.SetGallery(g)
	}
	s.galMu.Unlock()
	if err != nil {
		return len(edits), fmt.Errorf("save gallery: %w", err)
	}
	s.onGalleryChange()
	return len(edits), nil
}

// addNegative records that the face in neg is not the named person.
func (s *Service) addNegative(name string, neg gallery.Sample) error {
	return s.mutate("negative "+name, func(g *gallery.Gallery) error {
		if p := g.Person(name); p != nil {
			for _, o := range p.Negatives {
				if o.Source == neg.Source && o.Descriptor == neg.Descriptor {
					return nil // already there (a replay)
				}
			}
		}
		return g.AddNegative(name, neg)
	})
}
