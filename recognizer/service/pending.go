package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/shared/fsx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Pending enrolment bounds (issue 17): an edge's word alone never enrols
// a face; what it sends without a person's session waits here.
const (
	PendingPerCamera = 50
	PendingTotal     = 1000
	PendingMaxAge    = 72 * time.Hour
)

// ErrPendingFull refuses a pending enrolment over the per-camera or total
// bound: new ones are refused (answered), old ones are never dropped
// silently, so a flood from one camera cannot evict a person's captures
// of another.
var ErrPendingFull = errors.New("pending enrolments full")

// pendingMeta is a pending enrolment's <id>.json.
type pendingMeta struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Camera    string    `json:"camera"`
	Created   time.Time `json:"created"`
	Faces     int       `json:"faces"`
	RequestID string    `json:"request_id,omitempty"`
}

// pendingStore keeps pending enrolments as <dir>/<id>.jpg + <id>.json
// (0600 files written atomically, dir 0700), id = the first 24 hex digits
// of the image's SHA-256 (a resent image is the same entry). An index in
// memory, loaded at start, bounds them per camera and by age.
type pendingStore struct {
	dir       string
	perCamera int
	total     int
	maxAge    time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu    sync.Mutex
	items map[string]pendingMeta
}

func pendingID(img []byte) string {
	h := sha256.Sum256(img)
	return hex.EncodeToString(h[:])[:24]
}

// openPending loads dir (creating it 0700; an existing one is made 0700).
func openPending(dir string, log *slog.Logger) (*pendingStore, error) {
	p := &pendingStore{dir: dir, perCamera: PendingPerCamera, total: PendingTotal, maxAge: PendingMaxAge, now: time.Now,
		log: log, items: map[string]pendingMeta{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pending enrolments: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pending enrolments: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pending enrolments: %w", err)
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !api.ValidPendingID(id) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		var m pendingMeta
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err == nil && (m.ID != id || !msg.ValidName(m.Name) || !topic.ValidID(m.Camera)) {
			err = errors.New("bad fields")
		}
		if err == nil {
			_, err = os.Stat(p.image(id))
		}
		if err != nil {
			log.Warn("pending enrolment unreadable; removed", "id", id, "err", err)
			p.remove(id)
			continue
		}
		p.items[id] = m
	}
	p.mu.Lock()
	p.pruneLocked()
	p.mu.Unlock()
	return p, nil
}

func (p *pendingStore) image(id string) string { return filepath.Join(p.dir, id+".jpg") }
func (p *pendingStore) meta(id string) string  { return filepath.Join(p.dir, id+".json") }

func (p *pendingStore) remove(id string) {
	os.Remove(p.meta(id)) // the metadata first: without it the image is an orphan, never listed
	os.Remove(p.image(id))
}

// pruneLocked drops entries older than maxAge.
func (p *pendingStore) pruneLocked() {
	cut := p.now().Add(-p.maxAge)
	for id, m := range p.items {
		if m.Created.Before(cut) {
			p.log.Info("pending enrolment expired; removed", "id", id, "name", m.Name, "camera", m.Camera, "created", m.Created)
			p.remove(id)
			delete(p.items, id)
		}
	}
}

// add stores a pending enrolment; dup reports that the same image was
// already pending (its entry is kept as it was).
func (p *pendingStore) add(name, camera, requestID string, faces int, img []byte) (m pendingMeta, dup bool, err error) {
	id := pendingID(img)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked()
	if old, ok := p.items[id]; ok {
		return old, true, nil
	}
	n := 0
	for _, x := range p.items {
		if x.Camera == camera {
			n++
		}
	}
	if n >= p.perCamera {
		return pendingMeta{}, false, fmt.Errorf("%w: camera %s has %d waiting for a person to confirm or discard them", ErrPendingFull, camera, n)
	}
	if len(p.items) >= p.total {
		return pendingMeta{}, false, fmt.Errorf("%w: %d waiting for a person to confirm or discard them", ErrPendingFull, len(p.items))
	}
	m = pendingMeta{ID: id, Name: name, Camera: camera, Created: p.now().UTC(), Faces: faces, RequestID: requestID}
	b, _ := json.Marshal(m)
	// The image first, the metadata last: an entry exists once both do.
	if err := fsx.WriteFileAtomic(p.image(id), img, 0o600); err != nil {
		return pendingMeta{}, false, fmt.Errorf("pending enrolment: %w", err)
	}
	if err := fsx.WriteFileAtomic(p.meta(id), b, 0o600); err != nil {
		os.Remove(p.image(id))
		return pendingMeta{}, false, fmt.Errorf("pending enrolment: %w", err)
	}
	p.items[id] = m
	return m, false, nil
}

func (p *pendingStore) list() []pendingMeta {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked()
	out := make([]pendingMeta, 0, len(p.items))
	for _, m := range p.items {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (p *pendingStore) get(id string) (pendingMeta, []byte, error) {
	p.mu.Lock()
	m, ok := p.items[id]
	p.mu.Unlock()
	if !ok {
		return pendingMeta{}, nil, fmt.Errorf("%w: pending enrolment %s", api.ErrNotFound, id)
	}
	b, err := os.ReadFile(p.image(id))
	if err != nil {
		return pendingMeta{}, nil, fmt.Errorf("pending enrolment %s: %w", id, err)
	}
	return m, b, nil
}

func (p *pendingStore) delete(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.items[id]; !ok {
		return fmt.Errorf("%w: pending enrolment %s", api.ErrNotFound, id)
	}
	p.remove(id)
	delete(p.items, id)
	return nil
}

// apiPending adapts the store to api.Pending; Confirm enrols through the
// same path as an enrolment command.
type apiPending struct{ s *Service }

func (a apiPending) List(context.Context) ([]api.PendingEnrolment, error) {
	ms := a.s.pending.list()
	out := make([]api.PendingEnrolment, 0, len(ms))
	for _, m := range ms {
		out = append(out, api.PendingEnrolment{ID: m.ID, Name: m.Name, Camera: m.Camera, Created: m.Created, Faces: m.Faces})
	}
	return out, nil
}

func (a apiPending) Image(_ context.Context, id string) ([]byte, error) {
	_, b, err := a.s.pending.get(id)
	return b, err
}

func (a apiPending) Delete(_ context.Context, id string) error {
	if err := a.s.pending.delete(id); err != nil {
		return err
	}
	a.s.log.Info("pending enrolment discarded", "id", id)
	return nil
}

func (a apiPending) Confirm(ctx context.Context, id, name string) (msg.EnrolResult, error) {
	m, img, err := a.s.pending.get(id)
	if err != nil {
		return msg.EnrolResult{}, err
	}
	if name == "" {
		name = m.Name
	}
	reqID := m.RequestID
	if reqID == "" {
		reqID = "pending-" + id
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enrolWait)
	defer cancel()
	res := a.s.enrol(ctx, &msg.Enrol{V: msg.Version, ID: reqID, Name: name, Camera: m.Camera, Image: img})
	if res.Status == msg.EnrolSaved {
		if err := a.s.pending.delete(id); err != nil && !errors.Is(err, api.ErrNotFound) {
			a.s.log.Warn("confirmed pending enrolment not removed", "id", id, "err", err)
		}
	}
	a.s.log.Info("pending enrolment confirmed by a person", "id", id, "name", name, "camera", m.Camera, "status", res.Status)
	a.s.answerCamera(m.Camera, res)
	return res, nil
}
