package service

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/shared/fsx"
)

// imageDir is the on-disk form shared by pending enrolments and
// suggestions: <dir>/<id>.jpg + <id>.json, 0600 files written atomically
// in a 0700 dir, id = the first 24 hex digits of the image's SHA-256 (the
// same image is the same entry). An entry exists once its metadata does:
// the image is written first and removed last.
type imageDir[M any] struct {
	dir  string
	what string // for errors and logs: "pending enrolment", "suggestion"
}

func imageID(img []byte) string {
	h := sha256.Sum256(img)
	return hex.EncodeToString(h[:])[:24]
}

// openImageDir creates dir (0700; an existing one is made 0700) and loads
// every entry valid(id, meta) accepts; the others are removed with a log line.
func openImageDir[M any](dir, what string, log *slog.Logger, valid func(id string, m *M) error) (imageDir[M], map[string]M, error) {
	d := imageDir[M]{dir: dir, what: what}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return d, nil, fmt.Errorf("%ss: %w", what, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return d, nil, fmt.Errorf("%ss: %w", what, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return d, nil, fmt.Errorf("%ss: %w", what, err)
	}
	items := map[string]M{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !api.ValidPendingID(id) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		var m M
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err == nil {
			err = valid(id, &m)
		}
		if err == nil {
			_, err = os.Stat(d.image(id))
		}
		if err != nil {
			log.Warn(what+" unreadable; removed", "id", id, "err", err)
			d.remove(id)
			continue
		}
		items[id] = m
	}
	return d, items, nil
}

func (d imageDir[M]) image(id string) string { return filepath.Join(d.dir, id+".jpg") }
func (d imageDir[M]) meta(id string) string  { return filepath.Join(d.dir, id+".json") }

// extra is the path of an entry's further image i (1, 2, ...: the other
// kept frames of a pending burst).
func (d imageDir[M]) extra(id string, i int) string {
	return filepath.Join(d.dir, fmt.Sprintf("%s.%d.jpg", id, i))
}

// put writes the further images, the image, then the metadata (all
// atomically, 0600).
func (d imageDir[M]) put(id string, img []byte, m M, more ...[]byte) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: %w", d.what, err)
	}
	for i, x := range more {
		if err := fsx.WriteFileAtomic(d.extra(id, i+1), x, 0o600); err != nil {
			d.remove(id)
			return fmt.Errorf("%s: %w", d.what, err)
		}
	}
	if err := fsx.WriteFileAtomic(d.image(id), img, 0o600); err != nil {
		return fmt.Errorf("%s: %w", d.what, err)
	}
	if err := fsx.WriteFileAtomic(d.meta(id), b, 0o600); err != nil {
		os.Remove(d.image(id))
		return fmt.Errorf("%s: %w", d.what, err)
	}
	return nil
}

// read returns an entry's image.
func (d imageDir[M]) read(id string) ([]byte, error) {
	b, err := os.ReadFile(d.image(id))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", d.what, id, err)
	}
	return b, nil
}

// readExtra returns an entry's further image i.
func (d imageDir[M]) readExtra(id string, i int) ([]byte, error) {
	b, err := os.ReadFile(d.extra(id, i))
	if err != nil {
		return nil, fmt.Errorf("%s %s frame %d: %w", d.what, id, i, err)
	}
	return b, nil
}

func (d imageDir[M]) remove(id string) {
	os.Remove(d.meta(id)) // the metadata first: without it the image is an orphan, never listed
	os.Remove(d.image(id))
	more, _ := filepath.Glob(filepath.Join(d.dir, id+".*.jpg"))
	for _, f := range more {
		os.Remove(f)
	}
}
