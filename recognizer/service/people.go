package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
)

// ErrNoPerson is returned for a person not in the gallery.
var ErrNoPerson = errors.New("no such person")

// handlePerson returns the MQTT handler for a person command verb. The
// work (gallery and dataset writes) runs off the MQTT goroutine.
func (s *Service) handlePerson(verb string) func(string, []byte) {
	return func(_ string, payload []byte) { go s.personCommand(verb, payload) }
}

func (s *Service) personCommand(verb string, payload []byte) {
	{
		res := msg.CommandResult{V: msg.Version, Command: verb}
		cmd, err := msg.DecodePersonCmd(payload)
		if err == nil {
			res.ID = cmd.ID
			switch verb {
			case "delete":
				err = s.DeletePerson(cmd.Name)
			case "rename":
				if cmd.NewName == "" {
					err = errors.New("rename needs new_name")
				} else {
					err = s.RenamePerson(cmd.Name, cmd.NewName)
				}
			case "threshold":
				if cmd.Threshold == nil {
					err = errors.New("threshold command needs threshold")
				} else {
					err = s.SetThreshold(cmd.Name, *cmd.Threshold)
				}
			}
		}
		if err != nil {
			s.log.Warn("person command failed", "command", verb, "err", err)
			res.Error = err.Error()
		} else {
			res.OK = true
		}
		b, _ := json.Marshal(res)
		if s.client != nil {
			s.client.Publish(s.space.Result(), 1, false, b)
		}
	}
}

// editGallery applies f to a copy of the gallery, saves it atomically and
// swaps it in.
func (s *Service) editGallery(f func(g *gallery.Gallery) error) error {
	s.galMu.Lock()
	g := s.Pipeline.Gallery().Clone()
	if err := f(g); err != nil {
		s.galMu.Unlock()
		return err
	}
	if err := g.Save(s.cfg.Gallery); err != nil {
		s.galMu.Unlock()
		return fmt.Errorf("save gallery: %w", err)
	}
	s.stampGallery()
	s.Pipeline.SetGallery(g)
	s.galMu.Unlock()
	s.onGalleryChange()
	return nil
}

// DeletePerson removes a person from the gallery and moves their dataset
// folder to <dataset>/.deleted/<name>-<time> (recoverable, and ignored by
// training).
func (s *Service) DeletePerson(name string) error {
	err := s.editGallery(func(g *gallery.Gallery) error {
		if !g.Remove(name) {
			return fmt.Errorf("%w: %q", ErrNoPerson, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	src := filepath.Join(s.cfg.Dataset, name)
	if _, err := os.Stat(src); err == nil {
		dst := filepath.Join(s.cfg.Dataset, ".deleted", name+"-"+time.Now().UTC().Format("20060102T150405Z"))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("person removed from the gallery, but moving %s aside failed: %w", src, err)
		}
	}
	if s.in != nil && s.in.store != nil {
		if err := s.in.store.DeletePerson(context.Background(), name, false); err != nil {
			s.log.Warn("history: delete person", "name", name, "err", err)
		}
	}
	s.log.Info("person deleted", "name", name)
	return nil
}

// RenamePerson renames a person in the gallery and their dataset folder.
func (s *Service) RenamePerson(from, to string) error {
	if !msg.ValidName(to) {
		return msg.ErrBadName
	}
	src, dst := filepath.Join(s.cfg.Dataset, from), filepath.Join(s.cfg.Dataset, to)
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("dataset folder %s already exists", dst)
	}
	err := s.editGallery(func(g *gallery.Gallery) error {
		p := g.Person(from)
		if p == nil {
			return fmt.Errorf("%w: %q", ErrNoPerson, from)
		}
		if g.Person(to) != nil {
			return fmt.Errorf("person %q already exists", to)
		}
		moved := *p
		moved.Name = to
		for i := range moved.Samples {
			if rel := moved.Samples[i].Source; len(rel) > len(from) && rel[:len(from)+1] == from+"/" {
				moved.Samples[i].Source = to + rel[len(from):]
			}
		}
		g.Remove(from)
		g.People = append(g.People, moved)
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := os.Stat(src); err == nil {
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("renamed in the gallery, but renaming %s failed: %w", src, err)
		}
	}
	if s.in != nil && s.in.store != nil {
		if err := s.in.store.RenamePerson(context.Background(), from, to); err != nil {
			s.log.Warn("history: rename person", "from", from, "to", to, "err", err)
		}
	}
	s.log.Info("person renamed", "from", from, "to", to)
	return nil
}

// SetThreshold sets a person's own distance threshold (0 = global).
func (s *Service) SetThreshold(name string, thr float64) error {
	if thr < 0 || thr > 2 {
		return fmt.Errorf("threshold %v out of range [0, 2]", thr)
	}
	return s.editGallery(func(g *gallery.Gallery) error {
		p := g.Person(name)
		if p == nil {
			return fmt.Errorf("%w: %q", ErrNoPerson, name)
		}
		p.Threshold = thr
		return nil
	})
}
