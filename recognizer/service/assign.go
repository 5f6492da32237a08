package service

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facemon/facemon/recognizer/owner"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/topic"
)

// Assignment modes (serve --assign).
const (
	// AssignOwner gives each camera to exactly one live recognizer
	// (rendezvous hashing over the recognizers announced online, see
	// recognizer/owner); each subscribes to its own cameras' frames.
	AssignOwner = "owner"
	// AssignShare is a shared subscription ($share/<group>/cam/+/frames):
	// the broker deals frames round-robin, so one camera's frames go to
	// every recognizer of the group in turn (tracks and work split).
	AssignShare = "share"
)

// frameSubscriber is what the assigner needs of the MQTT client.
type frameSubscriber interface {
	Subscribe(filter string, qos byte, h mqttx.Handler)
	Unsubscribe(filter string)
}

// assigner keeps this recognizer subscribed to the frames of exactly the
// cameras it owns. The cameras are the registered ones (edges announced
// online on facemon/status/edge/<id>, or the --cameras list); the owners
// follow the recognizers announced online on facemon/status/recognizer/<id>
// (retained, with "offline" as last will, so a killed recognizer's cameras
// move as soon as the broker sees its connection drop). With --cameras any
// the camera set is unknown: one cam/+/frames subscription is kept and the
// frames of cameras owned elsewhere are dropped before anything is
// allocated. Frames still in flight after an UNSUBSCRIBE are dropped the
// same way, so in steady state no frame is processed by two recognizers.
// Tracks of a camera that comes back later restart: they expire after the
// tracker's MaxGap like those of any camera that stopped sending.
type assigner struct {
	set    *owner.Set
	space  topic.Space
	all    bool // --cameras any
	auto   bool // --cameras auto: edges announced online are cameras
	fixed  []string
	handle func(string, []byte) // the pipeline's frame handler
	onEdge func(string, []byte) // the pipeline's camera registry
	log    *slog.Logger

	mu    sync.Mutex
	sub   frameSubscriber
	cams  map[string]bool // registered cameras
	owned map[string]bool // cameras whose frames we subscribe to

	notOwned prometheus.Counter
	ownedG   prometheus.Gauge
	members  prometheus.Gauge
}

func newAssigner(s *Service) *assigner {
	a := &assigner{set: owner.NewSet(s.cfg.Instance), space: s.space, all: s.cfg.Cameras.Any || (!s.cfg.Cameras.Auto && len(s.cfg.Cameras.IDs) == 0),
		auto: s.cfg.Cameras.Auto, fixed: s.cfg.Cameras.IDs, handle: s.Pipeline.HandleFrame, onEdge: s.Pipeline.HandleEdgeStatus, log: s.log.With("component", "assign"),
		cams: map[string]bool{}, owned: map[string]bool{}}
	a.notOwned = prometheus.NewCounter(prometheus.CounterOpts{Name: "facemon_recognizer_frames_not_owned_total",
		Help: "Frames dropped because another recognizer owns their camera (in flight during a hand-over, or --cameras any)."})
	a.ownedG = prometheus.NewGauge(prometheus.GaugeOpts{Name: "facemon_recognizer_cameras_owned",
		Help: "Cameras this recognizer owns (--assign owner)."})
	a.members = prometheus.NewGauge(prometheus.GaugeOpts{Name: "facemon_recognizer_members",
		Help: "Recognizers announced online, this one included (--assign owner)."})
	s.reg.MustRegister(a.notOwned, a.ownedG, a.members)
	a.members.Set(1)
	return a
}

// start subscribes: recognizer and edge status, and the frames of the
// cameras owned so far (all of them while no other recognizer is known).
func (a *assigner) start(sub frameSubscriber) {
	a.mu.Lock()
	a.sub = sub
	for _, id := range a.fixed {
		a.cams[id] = true
	}
	a.mu.Unlock()
	sub.Subscribe(a.space.AllStatusOf(topic.KindRecognizer), 1, a.handleRecognizerStatus)
	sub.Subscribe(a.space.AllStatusOf(topic.KindEdge), 1, a.handleEdgeStatus)
	if a.all {
		sub.Subscribe(a.space.AllCameras(topic.Frames), 0, a.handleFrame)
	}
	a.rebalance()
}

// handleFrame passes on frames of owned cameras only. It never blocks.
func (a *assigner) handleFrame(t string, payload []byte) {
	if cam, kind, err := a.space.ParseCamera(t); err == nil && kind == topic.Frames && !a.set.Owns(cam) {
		a.notOwned.Inc()
		return
	}
	a.handle(t, payload)
}

func (a *assigner) handleRecognizerStatus(t string, payload []byte) {
	kind, id, err := a.space.ParseStatus(t)
	if err != nil || kind != topic.KindRecognizer {
		return
	}
	if a.set.Set(id, string(payload) == topic.Online) {
		a.members.Set(float64(len(a.set.Members())))
		a.log.Info("recognizers changed", "members", a.set.Members())
		a.rebalance()
	}
}

func (a *assigner) handleEdgeStatus(t string, payload []byte) {
	a.onEdge(t, payload)
	if a.all || !a.auto {
		return
	}
	kind, id, err := a.space.ParseStatus(t)
	if err != nil || kind != topic.KindEdge {
		return
	}
	// A camera stays assigned once its edge announced itself: an edge
	// going offline sends no frames anyway, and a restart, or a garbage
	// status from a client allowed to publish one, must not drop its
	// subscription. The set is bounded (maxAssignedCameras).
	if string(payload) != topic.Online {
		return
	}
	a.mu.Lock()
	changed := false
	if !a.isFixed(id) && !a.cams[id] && len(a.cams) < maxAssignedCameras {
		a.cams[id], changed = true, true
	}
	a.mu.Unlock()
	if changed {
		a.rebalance()
	}
}

// maxAssignedCameras bounds the registered cameras the assigner tracks
// (the pipeline bounds the cameras with state separately).
const maxAssignedCameras = 4096

func (a *assigner) isFixed(id string) bool {
	for _, f := range a.fixed {
		if f == id {
			return true
		}
	}
	return false
}

// rebalance subscribes to the frames of the cameras we now own and
// unsubscribes from those another recognizer took. SUBSCRIBE and
// UNSUBSCRIBE are queued without waiting, so it never blocks a handler.
func (a *assigner) rebalance() {
	if a.all {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sub == nil {
		return
	}
	var gained, lost []string
	for cam := range a.cams {
		if a.set.Owns(cam) && !a.owned[cam] {
			a.owned[cam] = true
			a.sub.Subscribe(a.space.Frames(cam), 0, a.handleFrame)
			gained = append(gained, cam)
		}
	}
	for cam := range a.owned {
		if !a.cams[cam] || !a.set.Owns(cam) {
			delete(a.owned, cam)
			a.sub.Unsubscribe(a.space.Frames(cam))
			if a.cams[cam] {
				lost = append(lost, cam)
			}
		}
	}
	a.ownedG.Set(float64(len(a.owned)))
	if len(gained)+len(lost) > 0 {
		sort.Strings(gained)
		sort.Strings(lost)
		a.log.Info("cameras assigned", "gained", gained, "handed_over", lost, "owned", len(a.owned))
	}
}

// Heartbeat: every recognizer says "online" again this often; a member
// silent for memberTTL is dropped (see owner.Set.Expire).
const (
	heartbeat = 15 * time.Second
	memberTTL = 50 * time.Second
)

// run republishes this recognizer's status and expires silent members
// until ctx ends.
func (a *assigner) run(ctx context.Context, publish func()) {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		publish()
		if gone := a.set.Expire(time.Now().Add(-memberTTL)); len(gone) > 0 {
			a.members.Set(float64(len(a.set.Members())))
			a.log.Warn("recognizers silent too long, their cameras move", "gone", gone, "members", a.set.Members())
			a.rebalance()
		}
	}
}

// Owned returns the cameras this recognizer subscribes to, sorted.
func (a *assigner) Owned() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.owned))
	for c := range a.owned {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// OwnedCameras returns the cameras whose frames this recognizer subscribes
// to (--assign owner; nil with --assign share or --cameras any).
func (s *Service) OwnedCameras() []string {
	if s.assign == nil {
		return nil
	}
	return s.assign.Owned()
}
