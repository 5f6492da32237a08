package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/facemon/facemon/recognizer/gallery"
)

// The encoding journal makes training resumable: every finished encoding
// (or "no face" verdict) is appended to a file beside the gallery in
// batches, each batch one write followed by fsync. A run killed at any point
// leaves whole batches plus at most one torn line, which loading skips; the
// next run reuses every whole record instead of encoding the image again.
// The caller removes the journal once the trained gallery is saved (the
// gallery then holds the same encodings).

// JournalPath is the journal kept for a gallery file.
func JournalPath(galleryPath string) string {
	return filepath.Join(filepath.Dir(galleryPath), "."+filepath.Base(galleryPath)+".encodings")
}

// A batch is written (and fsynced) when it holds journalBatch records or
// its oldest record is journalEvery old.
const (
	journalBatch = 8
	journalEvery = time.Second
)

type journalHead struct {
	Journal int    `json:"journal"`
	Model   string `json:"model"`
}

type journalRecord struct {
	Person string          `json:"p"`
	Hash   string          `json:"h"`
	NoFace bool            `json:"no_face,omitempty"`
	Det    string          `json:"det,omitempty"` // the scan that found no face (face.Analyzer.ScanKey)
	Sample *gallery.Sample `json:"s,omitempty"`
}

// loadJournal reads the records of a journal file into cache and noFace. A
// missing file, another model's journal or a torn line are not errors.
func loadJournal(path string, cache map[string]gallery.Sample, noFace map[string]bool) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("encoding journal: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		if first {
			first = false
			var h journalHead
			if json.Unmarshal(line, &h) != nil || h.Journal != 1 || h.Model != gallery.Model {
				return 0, nil // not ours: start afresh
			}
			continue
		}
		var r journalRecord
		if json.Unmarshal(line, &r) != nil || r.Hash == "" {
			continue // a torn last line
		}
		switch {
		case r.NoFace:
			noFace[r.Hash+"\x00"+r.Det] = true
		case r.Sample != nil && r.Sample.Hash == r.Hash:
			cache[r.Person+"\x00"+r.Hash] = *r.Sample
		default:
			continue
		}
		n++
	}
	return n, nil
}

// journal appends records to the journal file.
type journal struct {
	f       *os.File
	pending bytes.Buffer
	n       int // records queued
	since   time.Time
	err     error
}

// openJournal opens (or, with truncate, restarts) the journal at path.
func openJournal(path string, truncate bool) (*journal, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("encoding journal: %w", err)
	}
	j := &journal{f: f}
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		b, _ := json.Marshal(journalHead{Journal: 1, Model: gallery.Model})
		j.pending.Write(append(b, '\n'))
	} else if err == nil {
		// Start on a fresh line in case the last one was torn.
		j.pending.WriteByte('\n')
	}
	return j, nil
}

// add queues one outcome; every journalBatch records are flushed.
func (j *journal) add(out outcome) {
	if j == nil || out.reused || out.hash == "" {
		return
	}
	r := journalRecord{Person: out.img.Person, Hash: out.hash}
	switch {
	case out.skip == ReasonNoFace:
		r.NoFace, r.Det = true, out.det
	case out.skip == "":
		s := out.sample
		r.Sample = &s
	default:
		return // unreadable or several faces: cheap to find again
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	if j.n == 0 {
		j.since = time.Now()
	}
	j.pending.Write(append(b, '\n'))
	j.n++
	if j.n >= journalBatch || time.Since(j.since) >= journalEvery {
		j.flush()
	}
}

// flush writes the queued records in one write and fsyncs.
func (j *journal) flush() {
	if j == nil || j.pending.Len() == 0 || j.err != nil {
		return
	}
	if _, err := j.f.Write(j.pending.Bytes()); err != nil {
		j.err = err
		return
	}
	j.pending.Reset()
	j.n = 0
	if err := j.f.Sync(); err != nil {
		j.err = err
	}
}

// close flushes and closes; it may be called more than once.
func (j *journal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	j.flush()
	if err := j.f.Close(); err != nil && j.err == nil {
		j.err = err
	}
	j.f = nil
	return j.err
}
