// Package stream chooses, per camera, which JPEG stream the live view shows:
// the recognizer's annotated frames while they are fresh, the raw capture
// otherwise. It holds only the newest frame of each kind and hands frames to
// consumers through one-slot mailboxes, so a slow consumer drops frames and
// never makes anyone queue or wait.
//
// The package is pure Go (no cgo) so it can be tested with CGO_ENABLED=0.
package stream

import (
	"sort"
	"sync"
	"time"

	"github.com/facemon/facemon/shared/msg"
)

// Mode names the stream a frame comes from.
type Mode string

// Modes.
const (
	ModeNone      Mode = ""          // no frame yet
	ModeRaw       Mode = "raw"       // the camera's own frames
	ModeAnnotated Mode = "annotated" // the recognizer's annotated frames
)

// DefaultFreshness is how recent an annotated frame's capture must be for the
// annotated stream to stay live.
const DefaultFreshness = time.Second

// Frame is one JPEG frame. Frames are shared between consumers and must not
// be modified.
type Frame struct {
	Camera   string
	Mode     Mode
	JPEG     []byte
	Seq      uint64    // from the frame's metadata (0 when it has none)
	Captured time.Time // capture time from the metadata, else the arrival time
	Arrived  time.Time
	HasMeta  bool
}

// Options configure a Hub.
type Options struct {
	// Freshness is the age (by capture time) after which annotated frames
	// no longer count as live (default DefaultFreshness).
	Freshness time.Duration
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
	// OnViewers, when set, is called (outside the hub's lock, so it may
	// call Viewers; it must not block) after a camera's subscriber count
	// changed.
	OnViewers func(camera string)
}

// Hub holds the newest raw and annotated frame of every camera it is fed.
type Hub struct {
	fresh     time.Duration
	now       func() time.Time
	onViewers func(camera string)

	mu   sync.Mutex
	cams map[string]*camera
}

type camera struct {
	raw, ann *Frame
	mode     Mode // mode of the last frame handed to subscribers
	subs     map[*Sub]struct{}
}

// New returns an empty Hub.
func New(o Options) *Hub {
	if o.Freshness <= 0 {
		o.Freshness = DefaultFreshness
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Hub{fresh: o.Freshness, now: o.Now, onViewers: o.OnViewers, cams: map[string]*camera{}}
}

// Freshness returns the freshness window.
func (h *Hub) Freshness() time.Duration { return h.fresh }

func (h *Hub) cam(id string) *camera {
	c := h.cams[id]
	if c == nil {
		c = &camera{subs: map[*Sub]struct{}{}}
		h.cams[id] = c
	}
	return c
}

func (h *Hub) frame(id string, mode Mode, jpeg []byte) *Frame {
	now := h.now()
	f := &Frame{Camera: id, Mode: mode, JPEG: jpeg, Captured: now, Arrived: now}
	if m, err := msg.ExtractMeta(jpeg); err == nil {
		f.Seq, f.HasMeta = m.Seq, true
		// A capture time from the future (clock skew between hosts) is
		// not trusted; the arrival time is used instead.
		if !m.Captured.After(now) {
			f.Captured = m.Captured
		}
	}
	return f
}

// isFresh reports whether the annotated frame a is live at time now.
func (h *Hub) isFresh(a *Frame, now time.Time) bool {
	return a != nil && now.Sub(a.Captured) < h.fresh
}

// PutRaw stores a raw frame of camera id and, unless fresh annotated frames
// are being shown, hands it to the camera's subscribers.
func (h *Hub) PutRaw(id string, jpeg []byte) {
	f := h.frame(id, ModeRaw, jpeg)
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.cam(id)
	c.raw = f
	if h.isFresh(c.ann, f.Arrived) {
		return
	}
	h.deliver(c, f)
}

// PutAnnotated stores an annotated frame of camera id and hands it to the
// camera's subscribers when it is fresh.
func (h *Hub) PutAnnotated(id string, jpeg []byte) {
	f := h.frame(id, ModeAnnotated, jpeg)
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.cam(id)
	c.ann = f
	if !h.isFresh(f, f.Arrived) {
		return
	}
	h.deliver(c, f)
}

func (h *Hub) deliver(c *camera, f *Frame) {
	c.mode = f.Mode
	for s := range c.subs {
		s.put(f)
	}
}

// Current returns the frame the live view of camera id shows now: the
// newest annotated frame while fresh, else the newest raw frame.
func (h *Hub) Current(id string) (*Frame, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.cams[id]
	if c == nil {
		return nil, false
	}
	f := h.current(c)
	return f, f != nil
}

func (h *Hub) current(c *camera) *Frame {
	if h.isFresh(c.ann, h.now()) {
		return c.ann
	}
	if c.raw != nil {
		return c.raw
	}
	return c.ann
}

// Mode returns which stream of camera id is live now.
func (h *Hub) Mode(id string) Mode {
	f, ok := h.Current(id)
	if !ok {
		return ModeNone
	}
	return f.Mode
}

// LatestRaw returns the newest raw frame of camera id.
func (h *Hub) LatestRaw(id string) (*Frame, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.cams[id]; c != nil && c.raw != nil {
		return c.raw, true
	}
	return nil, false
}

// Cameras returns the ids of cameras the hub has frames for.
func (h *Hub) Cameras() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.cams))
	for id, c := range h.cams {
		if c.raw != nil || c.ann != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// Sub is a consumer of one camera's live frames. Its mailbox holds one
// frame: a frame not taken before the next arrives is replaced (dropped).
type Sub struct {
	h       *Hub
	id      string
	c       chan *Frame
	dropped uint64 // guarded by h.mu
	once    sync.Once
}

// Subscribe returns a consumer of camera id's live frames. The current frame,
// if any, is already in its mailbox. Call Close when done.
func (h *Hub) Subscribe(id string) *Sub {
	s := &Sub{h: h, id: id, c: make(chan *Frame, 1)}
	h.mu.Lock()
	c := h.cam(id)
	c.subs[s] = struct{}{}
	if f := h.current(c); f != nil {
		s.c <- f
	}
	h.mu.Unlock()
	if h.onViewers != nil {
		h.onViewers(id)
	}
	return s
}

// Viewers returns how many subscribers (live views) camera id has.
func (h *Hub) Viewers(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.cams[id]; c != nil {
		return len(c.subs)
	}
	return 0
}

// Viewed returns the cameras that have subscribers (live views), sorted.
func (h *Hub) Viewed() []string {
	h.mu.Lock()
	var ids []string
	for id, c := range h.cams {
		if len(c.subs) > 0 {
			ids = append(ids, id)
		}
	}
	h.mu.Unlock()
	sort.Strings(ids)
	return ids
}

// put replaces whatever is in the mailbox with f. Called with h.mu held, so
// there is a single sender at a time.
func (s *Sub) put(f *Frame) {
	select {
	case s.c <- f:
		return
	default:
	}
	select {
	case <-s.c:
		s.dropped++
	default:
	}
	select {
	case s.c <- f:
	default:
	}
}

// C returns the mailbox channel.
func (s *Sub) C() <-chan *Frame { return s.c }

// Camera returns the subscribed camera id.
func (s *Sub) Camera() string { return s.id }

// Dropped returns how many frames were replaced before being taken.
func (s *Sub) Dropped() uint64 {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.dropped
}

// Close unsubscribes. It is safe to call more than once.
func (s *Sub) Close() {
	s.once.Do(func() {
		s.h.mu.Lock()
		if c := s.h.cams[s.id]; c != nil {
			delete(c.subs, s)
		}
		s.h.mu.Unlock()
		if s.h.onViewers != nil {
			s.h.onViewers(s.id)
		}
	})
}
