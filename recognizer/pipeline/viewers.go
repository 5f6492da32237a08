package pipeline

import (
	"sync"
	"time"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Annotated frames on demand (CONTRACTS C2). Drawing, encoding and relaying
// an annotated JPEG costs about as much as the engine's own work on a
// followed frame, and nobody needs it while no live view shows the camera:
// with Config.OnDemand the pipeline draws and publishes cam/<id>/annotated
// only while the camera's edge says it has viewers (the retained
// cam/<id>/viewers, see HandleViewers) and that edge is announced online
// (a killed edge's will says offline, so its last retained count, maybe
// above zero, does not keep the drawing on), plus one frame every
// Config.ImageEvery for Home Assistant's image entity. Identities always go
// out.

// viewers holds the cameras whose edges announced viewers, and when each
// camera last got an annotated frame.
type viewers struct {
	mu    sync.Mutex
	n     map[string]int       // cameras with viewers > 0 only
	last  map[string]time.Time // last annotated frame, per camera with state
	limit int
	// remote: per edge (its camera id) that shows other cameras' live
	// views (--view-all), those cameras; edges with a non-empty list only.
	remote map[string][]string
}

func newViewers(limit int) *viewers {
	return &viewers{n: map[string]int{}, last: map[string]time.Time{}, limit: limit, remote: map[string][]string{}}
}

// set records camera id's count and the remote cameras its edge shows; it
// reports false when a new camera with viewers could not be recorded
// (limit cameras already have some).
func (v *viewers) set(id string, n int, remote []string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, had := v.n[id]
	_, hadRemote := v.remote[id]
	if n <= 0 {
		delete(v.n, id)
	}
	if len(remote) == 0 {
		delete(v.remote, id)
	}
	if n > 0 {
		if !had && len(v.n) >= v.limit {
			return false
		}
		v.n[id] = n
	}
	if len(remote) > 0 {
		if !hadRemote && len(v.remote) >= v.limit {
			return false
		}
		v.remote[id] = remote
	}
	return true
}

// remoteViews counts the edges, online by online(), that show camera id
// as a remote camera.
func (v *viewers) remoteViews(id string, online func(string) bool) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for edge, cams := range v.remote {
		for _, c := range cams {
			if c == id && online(edge) {
				n++
				break
			}
		}
	}
	return n
}

func (v *viewers) count(id string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.n[id]
}

func (v *viewers) forget(id string) {
	v.mu.Lock()
	delete(v.last, id)
	v.mu.Unlock()
}

// HandleViewers is the MQTT handler for cam/+/viewers (retained
// msg.Viewers from each camera's edge; empty: none). It never blocks.
func (p *Pipeline) HandleViewers(t string, payload []byte) {
	cam, kind, err := p.cfg.Space.ParseCamera(t)
	if err != nil || kind != topic.Viewers {
		p.log.Debug("viewers message ignored", "topic", t, "err", err)
		return
	}
	m, err := msg.DecodeViewers(payload)
	if err != nil {
		p.log.Warn("malformed viewers message ignored", "topic", t, "err", err)
		return
	}
	if !p.views.set(cam, m.Viewers, m.Remote) {
		p.log.Warn("viewers message ignored: too many cameras have viewers", "camera", cam, "max", p.views.limit)
		return
	}
	p.log.Debug("viewers", "camera", cam, "viewers", m.Viewers, "remote", m.Remote)
}

// Viewers returns the viewers count that counts for camera id: its edge's
// last retained count while the edge is announced online, plus one per
// other online edge (--view-all) that shows it live.
func (p *Pipeline) Viewers(id string) int {
	n := 0
	if p.reg.isOnline(id) {
		n = p.views.count(id)
	}
	return n + p.views.remoteViews(id, p.reg.isOnline)
}

// annotating decides whether camera id's frame gets an annotated frame:
// always without OnDemand; else while it has viewers, or when ImageEvery
// has passed since its last one.
func (p *Pipeline) annotating(id string) bool {
	if !p.cfg.OnDemand {
		return true
	}
	watched := p.Viewers(id) > 0
	if !watched && p.cfg.ImageEvery <= 0 {
		p.m.annotatedSkipped.Inc()
		return false
	}
	now := time.Now()
	p.views.mu.Lock()
	defer p.views.mu.Unlock()
	if !watched && now.Sub(p.views.last[id]) < p.cfg.ImageEvery {
		p.m.annotatedSkipped.Inc()
		return false
	}
	p.views.last[id] = now
	return true
}
