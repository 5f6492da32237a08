package ha

import (
	"encoding/json"
	"github.com/facemon/facemon/shared/ttl"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// MQTT publishes without blocking (mqttx.Client fits).
type MQTT interface {
	Publish(topic string, qos byte, retained bool, payload []byte) error
}

// Publisher keeps Home Assistant's view of facemon current: it publishes
// the discovery configs (retained), re-sends them when Home Assistant comes
// back online, updates the state topics from identities, and removes the
// entities of deleted people. Its methods are safe for concurrent use.
type Publisher struct {
	cfg Config
	mq  MQTT
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	cameras map[string]bool
	people  map[string]bool
	last    map[string]time.Time // camera\x00name -> last state update, within Debounce
	sweep   int

	warnedAt atomic.Int64 // unix nanoseconds of the last publish-failure warning
}

// warnEvery bounds publish-failure warnings (a broker outage fails every
// state update; one line a minute says so, the rest go to Debug).
const warnEvery = time.Minute

func (p *Publisher) publishFailed(what, topic string, err error) {
	now := p.now().UnixNano()
	last := p.warnedAt.Load()
	if now-last >= int64(warnEvery) && p.warnedAt.CompareAndSwap(last, now) {
		p.log.Warn(what+" failed (Home Assistant misses it; further failures within a minute are logged at debug level)", "topic", topic, "err", err)
		return
	}
	p.log.Debug(what+" failed", "topic", topic, "err", err)
}

// NewPublisher returns a publisher; call PublishAll once connected.
func NewPublisher(cfg Config, mq MQTT, log *slog.Logger) (*Publisher, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if mq == nil {
		return nil, errNoPublisher
	}
	if log == nil {
		log = slog.Default()
	}
	return &Publisher{cfg: cfg, mq: mq, log: log.With("component", "ha"), now: time.Now,
		cameras: map[string]bool{}, people: map[string]bool{}, last: map[string]time.Time{}}, nil
}

// Config returns the effective configuration.
func (p *Publisher) Config() Config { return p.cfg }

// SetClock replaces time.Now (tests).
func (p *Publisher) SetClock(now func() time.Time) { p.now = now }

// HAStatusTopic is the topic to subscribe HandleHAStatus to.
func (p *Publisher) HAStatusTopic() string { return p.cfg.HAStatusTopic() }

func (p *Publisher) send(msgs []Message) {
	for _, m := range msgs {
		if err := p.mq.Publish(m.Topic, 1, true, m.Payload); err != nil {
			p.publishFailed("discovery publish", m.Topic, err)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PublishAll publishes every config retained.
func (p *Publisher) PublishAll() {
	p.mu.Lock()
	msgs := p.cfg.Configs(sortedKeys(p.cameras), sortedKeys(p.people))
	p.mu.Unlock()
	p.send(msgs)
}

// HandleHAStatus is the MQTT handler for <prefix>/status: Home Assistant
// publishes "online" there when it starts, and then needs the configs again.
func (p *Publisher) HandleHAStatus(_ string, payload []byte) {
	if string(payload) == topic.Online {
		p.log.Info("home assistant online; re-sending discovery")
		p.PublishAll()
	}
}

// AddCamera announces a camera (no-op when known or invalid).
func (p *Publisher) AddCamera(id string) {
	if checkCamera(id) != nil {
		return
	}
	p.mu.Lock()
	known := p.cameras[id]
	p.cameras[id] = true
	p.mu.Unlock()
	if !known {
		p.send(p.cfg.CameraConfigs(id))
	}
}

// RemoveCamera deletes a camera's entities from Home Assistant (empty
// retained configs), e.g. when the recognizer drops an idle camera's state.
func (p *Publisher) RemoveCamera(id string) {
	if checkCamera(id) != nil {
		return
	}
	p.mu.Lock()
	known := p.cameras[id]
	delete(p.cameras, id)
	p.mu.Unlock()
	if known {
		p.send(Removals(p.cfg.CameraConfigs(id)))
	}
}

// AddPerson announces a person (no-op when known or invalid).
func (p *Publisher) AddPerson(name string) {
	if checkPerson(name) != nil {
		return
	}
	p.mu.Lock()
	known := p.people[name]
	p.people[name] = true
	p.mu.Unlock()
	if !known {
		p.send(p.cfg.PersonConfigs(name))
	}
}

// RemovePerson deletes a person's entities from Home Assistant (empty
// retained configs) and clears their retained state.
func (p *Publisher) RemovePerson(name string) {
	if checkPerson(name) != nil {
		return
	}
	p.mu.Lock()
	delete(p.people, name)
	for k := range p.last {
		if _, n, _ := strings.Cut(k, "\x00"); n == name {
			delete(p.last, k)
		}
	}
	p.mu.Unlock()
	p.send(Removals(p.cfg.PersonConfigs(name)))
	p.mq.Publish(p.cfg.LastCameraTopic(name), 1, true, nil)
}

// SetPeople makes the announced people exactly names (e.g. after the
// gallery changed): new ones are announced, missing ones removed.
func (p *Publisher) SetPeople(names []string) {
	want := map[string]bool{}
	for _, n := range names {
		if checkPerson(n) == nil {
			want[n] = true
		}
	}
	p.mu.Lock()
	var gone []string
	for n := range p.people {
		if !want[n] {
			gone = append(gone, n)
		}
	}
	p.mu.Unlock()
	sort.Strings(gone)
	for _, n := range gone {
		p.RemovePerson(n)
	}
	for _, n := range sortedKeys(want) {
		p.AddPerson(n)
	}
}

func key(camera, name string) string { return camera + "\x00" + name }

// due reports whether camera/name is out of its debounce window, and
// starts a new window when it is.
func (p *Publisher) due(camera, name string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(camera, name)
	if last, ok := p.last[k]; ok && now.Sub(last) < p.cfg.Debounce && now.Sub(last) > -p.cfg.Debounce {
		return false
	}
	p.last[k] = now
	ttl.Sweep(p.last, now, p.cfg.Debounce, &p.sweep)
	return true
}

// LastPerson is the payload of facemon/ha/<cam>/last_person.
type LastPerson struct {
	Name     string    `json:"name"`
	Distance float64   `json:"distance"`
	Time     time.Time `json:"time"`
	Camera   string    `json:"camera"`
	Snapshot string    `json:"snapshot,omitempty"`
}

// LastCamera is the payload of facemon/ha/person/<slug>/last_camera.
type LastCamera struct {
	Camera   string    `json:"camera"`
	Time     time.Time `json:"time"`
	Distance float64   `json:"distance"`
}

// Event is the payload of facemon/ha/<cam>/event.
type Event struct {
	EventType string    `json:"event_type"`
	Camera    string    `json:"camera"`
	Time      time.Time `json:"time"`
	Distance  float64   `json:"distance"`
	Name      string    `json:"name,omitempty"`
	Candidate string    `json:"candidate,omitempty"`
}

func (p *Publisher) publishJSON(t string, retained bool, v any) {
	b, _ := json.Marshal(v)
	if err := p.mq.Publish(t, 1, retained, b); err != nil {
		p.publishFailed("state publish", t, err)
	}
}

// Observe updates the state topics from one identities message (call it
// for every processed frame; it debounces per person and camera). Unknown
// cameras and people are announced first.
func (p *Publisher) Observe(ids *msg.Identities) {
	if ids == nil || checkCamera(ids.Camera) != nil {
		return
	}
	p.AddCamera(ids.Camera)
	now := p.now()
	at := ids.Captured
	if at.IsZero() {
		at = now
	}
	at = at.UTC()
	// Events follow track verdicts: unknown_face only for a track that
	// stayed unknown for its whole budget, known_person once per track (the
	// frame it is first named), both also debounced. Presence states follow
	// every named frame (debounced); a tentative name (not yet agreed by
	// the track's attempts) raises nothing.
	for _, f := range ids.Faces {
		if f.Tentative {
			continue
		}
		if f.Name == msg.Unknown {
			if f.Verdict == msg.VerdictUnknown && p.due(ids.Camera, msg.Unknown, now) {
				p.publishJSON(p.cfg.EventTopic(ids.Camera), false, Event{EventType: EventUnknown, Camera: ids.Camera, Time: at, Distance: f.Distance, Candidate: f.Candidate})
			}
			continue
		}
		if checkPerson(f.Name) != nil || !p.due(ids.Camera, f.Name, now) {
			continue
		}
		p.AddPerson(f.Name)
		p.publishJSON(p.cfg.LastPersonTopic(ids.Camera), true, LastPerson{Name: f.Name, Distance: f.Distance, Time: at, Camera: ids.Camera, Snapshot: p.cfg.SnapshotURL(ids.Camera, f.Name)})
		p.publishJSON(p.cfg.LastCameraTopic(f.Name), true, LastCamera{Camera: ids.Camera, Time: at, Distance: f.Distance})
		if err := p.mq.Publish(p.cfg.PresentTopic(f.Name), 1, false, []byte("ON")); err != nil {
			p.publishFailed("state publish", p.cfg.PresentTopic(f.Name), err)
		}
		if f.Verdict != msg.VerdictKnown {
			continue
		}
		p.publishJSON(p.cfg.EventTopic(ids.Camera), false, Event{EventType: EventKnown, Camera: ids.Camera, Time: at, Distance: f.Distance, Name: f.Name})
	}
}
