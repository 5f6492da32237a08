// Package state keeps what the edge knows besides frames: which cameras and
// recognizers are online (from retained status topics), who the recognizer
// saw on each camera, and a bus of JSON events for the dashboard.
package state

import (
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Event is a JSON message for dashboard clients. Type names the event;
// Camera, when set, limits it to clients viewing that camera.
type Event struct {
	Type   string `json:"type"`
	Camera string `json:"camera,omitempty"`
	Data   any    `json:"data,omitempty"`
}

// Camera is a camera known from its edge's status topic (or the local one).
type Camera struct {
	ID     string    `json:"id"`
	Online bool      `json:"online"`
	Local  bool      `json:"local"`
	Since  time.Time `json:"since"`
}

// Person is someone the recognizer saw on a camera.
type Person struct {
	Name     string    `json:"name"`
	Distance float64   `json:"distance"`
	LastSeen time.Time `json:"last_seen"`
	InView   bool      `json:"in_view"` // in the latest identities message
}

// Options configure a State.
type Options struct {
	Space  topic.Space
	Local  string // this edge's camera id
	Logger *slog.Logger
	// Remember is how long a person stays listed after last being seen
	// (default 30s).
	Remember time.Duration
	// MaxCameras bounds the cameras tracked (default 64).
	MaxCameras int
	Now        func() time.Time
}

// State is safe for concurrent use.
type State struct {
	o   Options
	log *slog.Logger

	mu          sync.Mutex
	cams        map[string]*Camera
	recognizers map[string]bool
	people      map[string]map[string]*Person
	subs        map[chan Event]struct{}
	onRecog     []func()
}

// New returns a State with the local camera online.
func New(o Options) *State {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Remember <= 0 {
		o.Remember = 30 * time.Second
	}
	if o.MaxCameras <= 0 {
		o.MaxCameras = 64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &State{o: o, log: o.Logger, cams: map[string]*Camera{}, recognizers: map[string]bool{},
		people: map[string]map[string]*Person{}, subs: map[chan Event]struct{}{}}
	s.cams[o.Local] = &Camera{ID: o.Local, Online: true, Local: true, Since: o.Now()}
	return s
}

// OnRecognizerOnline registers f to run (in its own goroutine) whenever a
// recognizer's status turns online.
func (s *State) OnRecognizerOnline(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRecog = append(s.onRecog, f)
}

// HandleStatus processes a message on facemon/status/<kind>/<id>.
func (s *State) HandleStatus(t string, payload []byte) {
	kind, id, err := s.o.Space.ParseStatus(t)
	if err != nil {
		return
	}
	online := string(payload) == topic.Online
	s.mu.Lock()
	switch kind {
	case topic.KindEdge:
		if id == s.o.Local {
			s.mu.Unlock()
			return
		}
		c := s.cams[id]
		if c == nil {
			if len(payload) == 0 || len(s.cams) >= s.o.MaxCameras {
				s.mu.Unlock()
				return
			}
			c = &Camera{ID: id}
			s.cams[id] = c
		} else if c.Online == online {
			s.mu.Unlock()
			return
		}
		c.Online, c.Since = online, s.o.Now()
		s.log.Info("camera status", "camera", id, "online", online)
		s.mu.Unlock()
		s.Publish(Event{Type: "cameras", Data: s.Cameras()})
	case topic.KindRecognizer:
		was := s.recognizers[id]
		if online {
			s.recognizers[id] = true
		} else {
			delete(s.recognizers, id)
		}
		hooks := append([]func(){}, s.onRecog...)
		anyOnline := len(s.recognizers) > 0
		s.mu.Unlock()
		if was == online {
			return
		}
		s.log.Info("recognizer status", "recognizer", id, "online", online)
		s.Publish(Event{Type: "recognizer", Data: map[string]bool{"online": anyOnline}})
		if online {
			for _, f := range hooks {
				go f()
			}
		}
	default:
		s.mu.Unlock()
	}
}

// Disconnected forgets which recognizers are online, for when the broker
// connection is lost: their status is unknown then (a broker that dies
// takes their last wills with it), and the retained statuses bring them
// back after reconnecting, which also fires the OnRecognizerOnline hooks.
func (s *State) Disconnected() {
	s.mu.Lock()
	had := len(s.recognizers) > 0
	clear(s.recognizers)
	s.mu.Unlock()
	if had {
		s.log.Info("broker connection lost; recognizer status unknown")
		s.Publish(Event{Type: "recognizer", Data: map[string]bool{"online": false}})
	}
}

// RecognizerOnline reports whether any recognizer is online.
func (s *State) RecognizerOnline() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recognizers) > 0
}

// Known reports whether camera id is known (local or from a status topic).
func (s *State) Known(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cams[id] != nil
}

// Cameras lists the known cameras, local first, then by id.
func (s *State) Cameras() []Camera {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Camera, 0, len(s.cams))
	for _, c := range s.cams {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Local != out[j].Local {
			return out[i].Local
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// HandleIdentities processes a message on cam/<id>/identities.
func (s *State) HandleIdentities(t string, payload []byte) {
	cam, _, err := s.o.Space.ParseCamera(t)
	if err != nil {
		return
	}
	m, err := msg.DecodeIdentities(payload)
	if err != nil {
		s.log.Debug("bad identities message", "topic", t, "err", err)
		return
	}
	now := s.o.Now()
	s.mu.Lock()
	ppl := s.people[cam]
	if ppl == nil {
		if len(s.people) >= s.o.MaxCameras {
			s.mu.Unlock()
			return
		}
		ppl = map[string]*Person{}
		s.people[cam] = ppl
	}
	for _, p := range ppl {
		p.InView = false
	}
	for _, f := range m.Faces {
		name := f.Name
		if f.Tentative { // not yet agreed by the track: listed as unknown
			name = msg.Unknown
		}
		p := ppl[name]
		if p == nil {
			p = &Person{Name: name}
			ppl[name] = p
		}
		if !p.InView || f.Distance < p.Distance {
			p.Distance = f.Distance
		}
		p.LastSeen, p.InView = now, true
	}
	list := s.peopleLocked(cam, now)
	s.mu.Unlock()
	s.Publish(Event{Type: "identities", Camera: cam, Data: list})
}

// People lists who was seen on camera cam recently, most recent first.
func (s *State) People(cam string) []Person {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peopleLocked(cam, s.o.Now())
}

func (s *State) peopleLocked(cam string, now time.Time) []Person {
	out := []Person{}
	for name, p := range s.people[cam] {
		if now.Sub(p.LastSeen) > s.o.Remember {
			delete(s.people[cam], name)
			continue
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Subscribe returns a channel of events. A client that does not keep up
// loses events rather than delaying anyone. Call Unsubscribe when done.
func (s *State) Subscribe() chan Event {
	ch := make(chan Event, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[ch] = struct{}{}
	return ch
}

// Unsubscribe stops delivering to ch.
func (s *State) Unsubscribe(ch chan Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, ch)
}

// Publish sends ev to every subscriber that has room.
func (s *State) Publish(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// MarshalEvent encodes ev as JSON.
func MarshalEvent(ev Event) ([]byte, error) { return json.Marshal(ev) }
