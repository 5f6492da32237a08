// Package pipeline turns camera frames into identities: per-camera one-slot
// mailboxes (the newest frame wins, older ones are dropped and counted), a
// worker per engine, matching against the current gallery, annotation, and
// publishing. It is pure Go: the engine and annotator are injected.
package pipeline

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Frame is one received camera frame.
type Frame struct {
	Camera  string
	JPEG    []byte
	Arrived time.Time
}

// Mailboxes hold the latest unprocessed frame of each camera. Put never
// blocks; Take hands cameras out round-robin so a busy camera cannot starve
// another. A camera is busy from the Take of its frame to Done: no other
// frame of it is handed out meanwhile, and Evict frees its state only
// while it is not busy.
type Mailboxes struct {
	mu      sync.Mutex
	slots   map[string]*Frame
	ready   []string // cameras with a frame waiting and not busy, each at most once
	busy    map[string]bool
	evicted map[string][]func() // per busy camera, what Evict left to run at Done
	signal  chan struct{}
	dropped uint64
}

// NewMailboxes returns empty mailboxes.
func NewMailboxes() *Mailboxes {
	return &Mailboxes{slots: map[string]*Frame{}, busy: map[string]bool{}, evicted: map[string][]func(){}, signal: make(chan struct{}, 1)}
}

// Put stores f as its camera's latest frame. It reports whether an older,
// unprocessed frame was replaced (dropped).
func (m *Mailboxes) Put(f *Frame) (dropped bool) {
	m.mu.Lock()
	if old := m.slots[f.Camera]; old != nil {
		dropped = true
		m.dropped++
	} else if !m.busy[f.Camera] {
		m.ready = append(m.ready, f.Camera)
	}
	m.slots[f.Camera] = f
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
	return dropped
}

// Take waits for the next frame.
func (m *Mailboxes) Take(ctx context.Context) (*Frame, error) {
	for {
		m.mu.Lock()
		if len(m.ready) > 0 {
			cam := m.ready[0]
			m.ready = m.ready[1:]
			f := m.slots[cam]
			delete(m.slots, cam)
			m.busy[cam] = true
			more := len(m.ready) > 0
			m.mu.Unlock()
			if more { // wake another worker
				select {
				case m.signal <- struct{}{}:
				default:
				}
			}
			return f, nil
		}
		m.mu.Unlock()
		select {
		case <-m.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Done marks the camera of a taken frame as free again: until then its
// next frame waits, so one camera's frames are processed in order. The
// camera goes to the back of the round-robin queue (fairness). What Evict
// left to run for the camera runs first, before its next frame can be
// taken.
func (m *Mailboxes) Done(camera string) {
	m.mu.Lock()
	for free := m.evicted[camera]; len(free) > 0; free = m.evicted[camera] {
		delete(m.evicted, camera)
		m.mu.Unlock()
		for _, f := range free {
			f()
		}
		m.mu.Lock()
	}
	delete(m.busy, camera)
	waiting := m.slots[camera] != nil
	if waiting {
		m.ready = append(m.ready, camera)
	}
	m.mu.Unlock()
	if waiting {
		select {
		case m.signal <- struct{}{}:
		default:
		}
	}
}

// Evict drops camera's waiting frame, if any (it reports whether it did:
// a dropped frame, counted), and runs free once no frame of the camera is
// being processed: at once, on the caller's goroutine, when none is (the
// camera is marked busy meanwhile, so none can be taken), else in the Done
// of the frame being processed. Either way free runs before any frame of
// the camera Put after Evict is taken, so state freed there can never be
// in use, and state made for a later frame is not freed by it.
func (m *Mailboxes) Evict(camera string, free func()) (dropped bool) {
	m.mu.Lock()
	if m.slots[camera] != nil {
		delete(m.slots, camera)
		m.ready = slices.DeleteFunc(m.ready, func(c string) bool { return c == camera })
		m.dropped++
		dropped = true
	}
	if m.busy[camera] {
		m.evicted[camera] = append(m.evicted[camera], free)
		m.mu.Unlock()
		return dropped
	}
	m.busy[camera] = true
	m.mu.Unlock()
	free()
	m.Done(camera)
	return dropped
}

// Dropped returns how many frames were replaced before being processed.
func (m *Mailboxes) Dropped() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}
