package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/facemon/facemon/shared/topic"
)

// Defaults for the camera bound.
const (
	DefaultMaxCameras = 32
	DefaultCameraIdle = 10 * time.Minute
)

// CameraPolicy says which camera ids may have state in the pipeline at
// all (the bound below then limits how many). The zero value admits any id
// (the library's default, for benchmarks and tests that feed frames
// directly); `facemon-recognizer serve` defaults to Auto.
type CameraPolicy struct {
	// Any admits every camera id (up to the bound).
	Any bool
	// Auto admits the cameras whose edge has announced itself online on
	// facemon/status/edge/<id> (retained, with an "offline" will): see
	// Pipeline.HandleEdgeStatus.
	Auto bool
	// IDs are admitted always (configured cameras, e.g. publishers that
	// are not facemon edges and announce nothing).
	IDs []string
}

// ParseCameraPolicy reads a --cameras value: "auto" (edges that announce
// themselves online), "any" (every id), or a comma-separated list of
// camera ids, which may include "auto".
func ParseCameraPolicy(s string) (CameraPolicy, error) {
	var p CameraPolicy
	s = strings.TrimSpace(s)
	if s == "" {
		return CameraPolicy{}, fmt.Errorf("--cameras: empty (want auto, any, or camera ids separated by commas)")
	}
	for _, f := range strings.Split(s, ",") {
		switch f = strings.TrimSpace(f); f {
		case "auto":
			p.Auto = true
		case "any":
			p.Any = true
		default:
			if !topic.ValidID(f) {
				return CameraPolicy{}, fmt.Errorf("--cameras: %q is not a valid camera id (letters, digits, '.', '_', '-'), nor auto or any", f)
			}
			if !slices.Contains(p.IDs, f) {
				p.IDs = append(p.IDs, f)
			}
		}
	}
	if p.Any && (p.Auto || len(p.IDs) > 0) {
		return CameraPolicy{}, fmt.Errorf("--cameras %q: any admits every camera already; give it alone", s)
	}
	return p, nil
}

// String is the policy as a --cameras value.
func (p CameraPolicy) String() string {
	if p.Any || (!p.Auto && len(p.IDs) == 0) {
		return "any"
	}
	var f []string
	if p.Auto {
		f = append(f, "auto")
	}
	return strings.Join(append(f, p.IDs...), ",")
}

// Why a frame was refused.
const (
	refusedUnregistered = "unregistered"
	refusedBound        = "bound"
)

// cameras bounds how many cameras have state in the pipeline (a mailbox
// slot, tracks, an output goroutine, Home Assistant entities). Only
// registered cameras (CameraPolicy) are admitted. A frame of a registered
// camera not seen before is admitted while fewer than max cameras are
// known; at the limit it takes the slot of the camera seen longest ago if
// that one has been idle for idle or more (its state is then forgotten),
// and is refused otherwise. So any number of camera ids on cam/+/frames
// (from a client the broker lets publish them) costs at most max cameras'
// state, and the cameras that keep sending keep theirs.
type cameras struct {
	mu     sync.Mutex
	max    int
	idle   time.Duration
	policy CameraPolicy
	fixed  map[string]bool
	last   map[string]time.Time
	// online holds the edges announced online, bounded by maxOnline so a
	// flood of status messages costs a bounded map too.
	online    map[string]bool
	maxOnline int
}

func newCameras(maxCams int, idle time.Duration, policy CameraPolicy) *cameras {
	if maxCams <= 0 {
		maxCams = DefaultMaxCameras
	}
	if idle <= 0 {
		idle = DefaultCameraIdle
	}
	c := &cameras{max: maxCams, idle: idle, policy: policy, fixed: map[string]bool{}, last: map[string]time.Time{},
		online: map[string]bool{}, maxOnline: max(8*maxCams, 256)}
	for _, id := range policy.IDs {
		c.fixed[id] = true
	}
	if !policy.Auto && len(policy.IDs) == 0 {
		c.policy.Any = true
	}
	return c
}

// setOnline records an edge's announced status. It reports false when an
// online edge could not be recorded because maxOnline edges already are.
func (c *cameras) setOnline(id string, on bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !on {
		delete(c.online, id)
		return true
	}
	if !c.online[id] && len(c.online) >= c.maxOnline {
		return false
	}
	c.online[id] = true
	return true
}

// isOnline reports whether camera id's edge is announced online.
func (c *cameras) isOnline(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.online[id]
}

func (c *cameras) registered(id string) bool {
	return c.policy.Any || c.fixed[id] || (c.policy.Auto && c.online[id])
}

// admit reports whether a frame of camera id at now may be processed,
// which camera (if any) lost its slot to it, and, when refused, why
// (refusedUnregistered or refusedBound).
func (c *cameras) admit(id string, now time.Time) (ok bool, evicted, refused string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.last[id]; known {
		c.last[id] = now
		return true, "", ""
	}
	if !c.registered(id) {
		return false, "", refusedUnregistered
	}
	if len(c.last) < c.max {
		c.last[id] = now
		return true, "", ""
	}
	oldest, at := "", now
	for cam, t := range c.last {
		if t.Before(at) {
			oldest, at = cam, t
		}
	}
	if oldest == "" || now.Sub(at) < c.idle {
		return false, "", refusedBound
	}
	delete(c.last, oldest)
	c.last[id] = now
	return true, oldest, ""
}

// count returns how many cameras are known.
func (c *cameras) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.last)
}
