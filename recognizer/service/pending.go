package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/recognizer/quality"
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
	// Frames is the number of images of a pending burst (its kept frames:
	// <id>.jpg, then <id>.1.jpg ...); 0 or 1: one image.
	Frames int `json:"frames,omitempty"`
}

// pendingStore keeps pending enrolments in an imageDir (a resent image is
// the same entry). An index in memory, loaded at start, bounds them per
// camera and by age.
type pendingStore struct {
	files     imageDir[pendingMeta]
	perCamera int
	total     int
	maxAge    time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu    sync.Mutex
	items map[string]pendingMeta
}

// openPending loads dir (creating it 0700; an existing one is made 0700).
func openPending(dir string, log *slog.Logger) (*pendingStore, error) {
	d, items, err := openImageDir(dir, "pending enrolment", log, func(id string, m *pendingMeta) error {
		if m.ID != id || !msg.ValidName(m.Name) || !topic.ValidID(m.Camera) {
			return errors.New("bad fields")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p := &pendingStore{files: d, perCamera: PendingPerCamera, total: PendingTotal, maxAge: PendingMaxAge, now: time.Now,
		log: log, items: items}
	p.mu.Lock()
	p.pruneLocked()
	p.mu.Unlock()
	return p, nil
}

// pruneLocked drops entries older than maxAge.
func (p *pendingStore) pruneLocked() {
	cut := p.now().Add(-p.maxAge)
	for id, m := range p.items {
		if m.Created.Before(cut) {
			p.log.Info("pending enrolment expired; removed", "id", id, "name", m.Name, "camera", m.Camera, "created", m.Created)
			p.files.remove(id)
			delete(p.items, id)
		}
	}
}

// add stores a pending enrolment of one image, or of the kept frames of a
// burst (imgs[0] first; the id is of them all); dup reports that the same
// images were already pending (its entry is kept as it was).
func (p *pendingStore) add(name, camera, requestID string, faces int, imgs ...[]byte) (m pendingMeta, dup bool, err error) {
	if len(imgs) == 0 {
		return pendingMeta{}, false, errors.New("pending enrolment without an image")
	}
	id := imageID(bytes.Join(imgs, nil))
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
	if len(imgs) > 1 {
		m.Frames = len(imgs)
	}
	if err := p.files.put(id, imgs[0], m, imgs[1:]...); err != nil {
		return pendingMeta{}, false, err
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
	b, err := p.files.read(id)
	if err != nil {
		return pendingMeta{}, nil, err
	}
	return m, b, nil
}

// frames returns every image of an entry: the image, then a burst's
// further kept frames.
func (p *pendingStore) frames(id string) (pendingMeta, [][]byte, error) {
	m, b, err := p.get(id)
	if err != nil {
		return m, nil, err
	}
	out := [][]byte{b}
	for i := 1; i < m.Frames; i++ {
		x, err := p.files.readExtra(id, i)
		if err != nil {
			return m, nil, err
		}
		out = append(out, x)
	}
	return m, out, nil
}

func (p *pendingStore) delete(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.items[id]; !ok {
		return fmt.Errorf("%w: pending enrolment %s", api.ErrNotFound, id)
	}
	p.files.remove(id)
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
		out = append(out, api.PendingEnrolment{ID: m.ID, Name: m.Name, Camera: m.Camera, Created: m.Created, Faces: m.Faces, Frames: max(m.Frames, 1)})
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
	m, imgs, err := a.s.pending.frames(id)
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
	cmd := &msg.Enrol{V: msg.Version, ID: reqID, Name: name, Camera: m.Camera, Image: imgs[0]}
	var res msg.EnrolResult
	if len(imgs) > 1 {
		// The frames the burst's selection kept when it came: all of
		// them are enrolled (a rule that drops none with one face).
		cmd.Burst = imgs[1:]
		res = a.s.enrolBurst(ctx, cmd, quality.BurstRule{})
	} else {
		res = a.s.enrol(ctx, cmd)
	}
	if res.Status == msg.EnrolSaved {
		if err := a.s.pending.delete(id); err != nil && !errors.Is(err, api.ErrNotFound) {
			a.s.log.Warn("confirmed pending enrolment not removed", "id", id, "err", err)
		}
	}
	a.s.log.Info("pending enrolment confirmed by a person", "id", id, "name", name, "camera", m.Camera, "status", res.Status)
	a.s.answerCamera(m.Camera, res)
	return res, nil
}
