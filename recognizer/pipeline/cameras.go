package pipeline

import (
	"sync"
	"time"
)

// Defaults for the camera bound.
const (
	DefaultMaxCameras = 32
	DefaultCameraIdle = 10 * time.Minute
)

// cameras bounds how many cameras have state in the pipeline (a mailbox
// slot, tracks, an output goroutine, Home Assistant entities). A frame of a
// camera not seen before is admitted while fewer than max cameras are
// known; at the limit it takes the slot of the camera seen longest ago if
// that one has been idle for idle or more (its state is then forgotten),
// and is refused otherwise. So any number of camera ids on cam/+/frames
// (from a client the broker lets publish them) costs at most max cameras'
// state, and the cameras that keep sending keep theirs.
type cameras struct {
	mu   sync.Mutex
	max  int
	idle time.Duration
	last map[string]time.Time
}

func newCameras(max int, idle time.Duration) *cameras {
	if max <= 0 {
		max = DefaultMaxCameras
	}
	if idle <= 0 {
		idle = DefaultCameraIdle
	}
	return &cameras{max: max, idle: idle, last: map[string]time.Time{}}
}

// admit reports whether a frame of camera id at now may be processed, and
// which camera (if any) lost its slot to it.
func (c *cameras) admit(id string, now time.Time) (ok bool, evicted string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.last[id]; known || len(c.last) < c.max {
		c.last[id] = now
		return true, ""
	}
	oldest, at := "", now
	for cam, t := range c.last {
		if t.Before(at) {
			oldest, at = cam, t
		}
	}
	if oldest == "" || now.Sub(at) < c.idle {
		return false, ""
	}
	delete(c.last, oldest)
	c.last[id] = now
	return true, oldest
}

// count returns how many cameras are known.
func (c *cameras) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.last)
}
