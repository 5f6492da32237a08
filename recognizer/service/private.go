package service

import (
	"path/filepath"

	"github.com/facemon/facemon/recognizer/train"
	"github.com/facemon/facemon/shared/fsx"
)

// privatePaths are the files and folders holding biometric data on this
// machine: the gallery (face templates) and its training journal, the
// dataset (enrolled photos), pending enrolments, suggestions, and the SQLite history
// (event and unknown-face crops and frames) with its -wal/-shm/-journal.
func (s *Service) privatePaths() []string {
	ps := []string{s.cfg.Gallery, train.JournalPath(s.cfg.Gallery), s.cfg.Dataset, s.cfg.Pending, s.cfg.Suggestions}
	if h := s.historyPath(); h != "" {
		ps = append(ps, h, h+"-wal", h+"-shm", h+"-journal")
	}
	return ps
}

// historyPath is the SQLite history file ("" when there is none: --db
// keeps it in PostgreSQL, --history - turns it off).
func (s *Service) historyPath() string {
	switch {
	case s.cfg.DB != "", s.cfg.Integrations.HistoryDB == "-":
		return ""
	case s.cfg.Integrations.HistoryDB != "":
		return s.cfg.Integrations.HistoryDB
	}
	return filepath.Join(filepath.Dir(s.cfg.Gallery), "history.db")
}

// makePrivate tightens what an older version (or a copy, a restore, an
// umask) left readable by others: 0600 files in 0700 folders. New files are
// written that way already; this is for upgrades. It logs once what it
// changed and never stops the recognizer.
func (s *Service) makePrivate() {
	changes, err := fsx.MakePrivate(s.privatePaths()...)
	if err != nil {
		s.log.Warn("biometric data: could not make every file private (0600 files, 0700 folders)", "err", err)
	}
	if len(changes) == 0 {
		return
	}
	shown := changes[:min(len(changes), 10)]
	list := make([]string, len(shown))
	for i, c := range shown {
		list[i] = c.String()
	}
	s.log.Warn("biometric data was readable by other users: made private (0600 files, 0700 folders)",
		"changed", len(changes), "first", list)
}
