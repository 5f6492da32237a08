package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/train"
	"github.com/facemon/facemon/shared/msg"
)

// ErrNoPerson is returned for a person not in the gallery.
var ErrNoPerson = errors.New("no such person")

// ErrRefused marks a command refused for its arguments (a threshold out of
// range, a rename onto an existing person).
var ErrRefused = errors.New("refused")

// handlePerson returns the MQTT handler for a person command verb. The
// work (gallery and dataset writes) is queued for the person-command worker,
// or refused with an answer when the queue is full.
func (s *Service) handlePerson(verb string) func(string, []byte) {
	return func(_ string, payload []byte) {
		if !s.personWork.submit(func(context.Context) { s.personCommand(verb, payload) }) {
			id, _ := commandHead(payload)
			s.busyPerson(verb, id, personQueueFull)
		}
	}
}

func (s *Service) personCommand(verb string, payload []byte) {
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
	} else {
		res.ID, _ = commandHead(payload)
	}
	if err != nil {
		s.log.Warn("person command refused", "command", verb, "id", res.ID, "err", err)
		res.Error = err.Error()
	} else {
		res.OK = true
	}
	s.answerCommand(res)
}

func (s *Service) answerCommand(res msg.CommandResult) {
	b, _ := json.Marshal(res)
	if err := s.out.Publish(s.space.Result(), 1, false, b); err != nil {
		s.log.Warn("command result not sent", "command", res.Command, "id", res.ID, "err", err)
	}
}

// Person-command limits. A per-person threshold outside [MinThreshold,
// MaxThreshold] is refused: below 0.3 even the person's own photos rarely
// match (dlib's same-person distances are mostly 0.3-0.5), and above 0.7 most
// strangers are within reach (dlib's own cut-off is 0.6; at 0.7 the LFW
// household evaluation names well over 10 % of strangers). 0 resets the
// person to the global threshold.
const (
	MinThreshold = 0.3
	MaxThreshold = 0.7
)

// deletedDir holds a deleted person's dataset folder only while the delete
// runs (it is renamed there first, so a crash never leaves half a folder for
// training to pick up); leftovers from a crash are purged at start.
const deletedDir = ".deleted"

// DeletePerson removes a person: their dataset images, their gallery
// samples and negatives, and (unless the service keeps history) their
// history events with crops and frames and the unknown-face groups named
// after them.
func (s *Service) DeletePerson(name string) error {
	if !msg.ValidName(name) {
		return fmt.Errorf("%w: %q", msg.ErrBadName, name)
	}
	s.galMu.Lock()
	inGallery := s.Pipeline.Gallery().Person(name) != nil
	src := filepath.Join(s.cfg.Dataset, name)
	_, statErr := os.Stat(src)
	if !inGallery && statErr != nil {
		s.galMu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoPerson, name)
	}
	var staged string
	if statErr == nil {
		staged = filepath.Join(s.cfg.Dataset, deletedDir, name+"-"+time.Now().UTC().Format("20060102T150405.000000000Z"))
		if err := os.MkdirAll(filepath.Dir(staged), 0o700); err != nil {
			s.galMu.Unlock()
			return fmt.Errorf("delete %s: %w", src, err)
		}
		if err := os.Rename(src, staged); err != nil {
			s.galMu.Unlock()
			return fmt.Errorf("delete %s: %w", src, err)
		}
	}
	if s.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		err := s.db.DeleteFolder(ctx, name)
		cancel()
		if err != nil {
			if staged != "" {
				os.Rename(staged, src)
			}
			s.galMu.Unlock()
			return err
		}
	}
	err := s.mutateLocked("delete "+name, func(g *gallery.Gallery) error {
		g.Remove(name) // absent is fine: a replay, or only a dataset folder
		return nil
	})
	if err == nil && s.journal == nil {
		// An interrupted training run's journal may hold their encodings.
		os.Remove(train.JournalPath(s.cfg.Gallery))
	}
	if err != nil && staged != "" {
		os.Rename(staged, src) // the gallery still has them: keep their images too
	}
	s.galMu.Unlock()
	if err != nil {
		return err
	}
	s.onGalleryChange()
	// Captures an edge sharing this dataset folder still queues for them.
	os.RemoveAll(filepath.Join(s.cfg.Dataset, ".queue", name))
	if staged != "" {
		if err := os.RemoveAll(staged); err != nil {
			s.log.Error("deleted person's images not erased; they are purged at the next start", "name", name, "dir", staged, "err", err)
		}
	}
	if s.in != nil && s.in.store != nil {
		if err := s.in.store.DeletePerson(context.Background(), name, !s.cfg.KeepHistory); err != nil {
			s.log.Warn("history: delete person", "name", name, "err", err)
		}
	}
	s.log.Info("person deleted", "name", name, "history_kept", s.cfg.KeepHistory)
	return nil
}

// purgeDeleted erases what a crashed delete left in <dataset>/.deleted.
func (s *Service) purgeDeleted() {
	dir := filepath.Join(s.cfg.Dataset, deletedDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(p); err != nil {
			s.log.Error("purging a deleted person's images failed", "dir", p, "err", err)
			continue
		}
		s.log.Info("purged a deleted person's images left by an interrupted delete", "dir", p)
	}
}

// RenamePerson renames a person in the gallery and their dataset folder.
func (s *Service) RenamePerson(from, to string) error {
	if !msg.ValidName(from) {
		return fmt.Errorf("%w: %q", msg.ErrBadName, from)
	}
	if !msg.ValidName(to) {
		return fmt.Errorf("%w: new_name %q", msg.ErrBadName, to)
	}
	if from == to {
		return fmt.Errorf("%w: rename %q to itself", ErrRefused, from)
	}
	s.galMu.Lock()
	g := s.Pipeline.Gallery()
	if g.Person(from) == nil {
		s.galMu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoPerson, from)
	}
	if g.Person(to) != nil {
		s.galMu.Unlock()
		return fmt.Errorf("%w: person %q already exists", ErrRefused, to)
	}
	src, dst := filepath.Join(s.cfg.Dataset, from), filepath.Join(s.cfg.Dataset, to)
	if _, err := os.Stat(dst); err == nil {
		s.galMu.Unlock()
		return fmt.Errorf("%w: dataset folder %s already exists", ErrRefused, dst)
	}
	moved := false
	if _, err := os.Stat(src); err == nil {
		if err := os.Rename(src, dst); err != nil {
			s.galMu.Unlock()
			return fmt.Errorf("rename %s: %w", src, err)
		}
		moved = true
	}
	if s.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		err := s.db.RenameFolder(ctx, from, to)
		cancel()
		if err != nil {
			if moved {
				os.Rename(dst, src)
			}
			s.galMu.Unlock()
			return err
		}
	}
	err := s.mutateLocked("rename "+from+" to "+to, func(g *gallery.Gallery) error {
		if g.Person(from) == nil {
			return nil // a replay onto a gallery trained after the rename
		}
		return g.Rename(from, to)
	})
	if err != nil && moved {
		os.Rename(dst, src) // the gallery still has the old name
	}
	s.galMu.Unlock()
	if err != nil {
		return err
	}
	s.onGalleryChange()
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
	if !msg.ValidName(name) {
		return fmt.Errorf("%w: %q", msg.ErrBadName, name)
	}
	if math.IsNaN(thr) || (thr != 0 && (thr < MinThreshold || thr > MaxThreshold)) {
		return fmt.Errorf("%w: threshold %v out of range: want %.1f-%.1f, or 0 for the global threshold", ErrRefused, thr, MinThreshold, MaxThreshold)
	}
	if s.Pipeline.Gallery().Person(name) == nil {
		return fmt.Errorf("%w: %q", ErrNoPerson, name)
	}
	return s.mutate("threshold "+name, func(g *gallery.Gallery) error {
		p := g.Person(name)
		if p == nil {
			return fmt.Errorf("%w: %q", ErrNoPerson, name)
		}
		p.Threshold = thr
		return nil
	})
}
