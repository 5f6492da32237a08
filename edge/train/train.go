// Package train lets the dashboard re-train the recognizer's gallery: it
// publishes msg.Train commands on cam/<id>/train with the recognizer session
// token of the dashboard login that asked (the recognizer refuses one
// without a valid token and says so on cam/<id>/result), and forwards the
// recognizer's msg.TrainStatus messages (facemon/train/status, QoS 1,
// retained) to the dashboard as "train" events.
package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/facemon/facemon/edge/publish"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// EventType is the dashboard event carrying a msg.TrainStatus.
const EventType = "train"

// Errors returned by Start; both mean the command was not sent.
var (
	ErrBrokerDown   = errors.New("MQTT broker unreachable: cannot ask the recognizer to train")
	ErrNoRecognizer = errors.New("no recognizer online to train")
	ErrNoSession    = errors.New("training needs a login with a recognizer session")
)

// Options configure a Trainer.
type Options struct {
	Client publish.Client
	Space  topic.Space
	// Camera is this edge's camera id (commands go on cam/<id>/train).
	Camera string
	// RecognizerOnline reports whether a recognizer is online (nil: do not
	// check).
	RecognizerOnline func() bool
	// Events receives a "train" event per status message (may be nil).
	Events func(state.Event)
	Logger *slog.Logger
}

// Trainer is safe for concurrent use.
type Trainer struct {
	o   Options
	log *slog.Logger

	mu   sync.Mutex
	last *msg.TrainStatus
}

// New returns a Trainer and subscribes to the training status topic.
func New(o Options) *Trainer {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	t := &Trainer{o: o, log: o.Logger}
	o.Client.Subscribe(o.Space.TrainStatus(), 1, t.handleStatus)
	return t
}

func (t *Trainer) handleStatus(_ string, payload []byte) {
	if len(payload) == 0 {
		return // a cleared retained message
	}
	var st msg.TrainStatus
	if err := msg.Decode(payload, msg.MaxJSONBytes, &st); err != nil {
		t.log.Debug("bad train status", "err", err)
		return
	}
	if st.V != msg.Version {
		t.log.Debug("train status with unsupported version", "v", st.V)
		return
	}
	switch st.State {
	case msg.TrainRunning, msg.TrainDone, msg.TrainError:
	default:
		t.log.Debug("train status with unknown state", "state", st.State)
		return
	}
	// MQTT handlers run concurrently, so a status can arrive after a newer
	// one (a fully cached run publishes "running 103/103" and "done" within
	// milliseconds): keep the newest by its publish time, and forward under
	// the lock so the page sees them in order too.
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last != nil && !st.Time.IsZero() && st.Time.Before(t.last.Time) {
		t.log.Debug("stale train status dropped", "state", st.State, "time", st.Time)
		return
	}
	t.last = &st
	if st.State != msg.TrainRunning {
		t.log.Info("training "+st.State, "id", st.ID, "people", st.People, "encodings", st.Encodings,
			"skipped", st.Skipped, "duration_ms", st.DurationMS, "error", st.Error)
	}
	if t.o.Events != nil {
		t.o.Events(state.Event{Type: EventType, Data: st})
	}
}

// Last returns the newest training status seen (the retained one right
// after connecting), or nil.
func (t *Trainer) Last() *msg.TrainStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		return nil
	}
	c := *t.last
	return &c
}

// HandleAnswer takes the recognizer's answer to a train command (from
// cam/<id>/result, via the enroller's subscription): "accepted" is logged,
// "refused" reaches the dashboard as a failed "train" event.
func (t *Trainer) HandleAnswer(r msg.EnrolResult) {
	if r.Command != msg.CommandTrain {
		return
	}
	switch r.Status {
	case msg.TrainAccepted:
		t.log.Info("training accepted by the recognizer", "id", r.ID)
	default:
		why := r.Error
		if why == "" {
			why = r.Status
		}
		t.log.Warn("training refused by the recognizer", "id", r.ID, "status", r.Status, "err", why)
		st := msg.TrainStatus{V: msg.Version, ID: r.ID, State: msg.TrainError,
			Error: "the recognizer refused to train: " + why, Time: time.Now().UTC()}
		if t.o.Events != nil {
			t.o.Events(state.Event{Type: EventType, Data: st})
		}
	}
}

// Start publishes a train command with the session token tok and returns
// its request id. Progress arrives as "train" events carrying that id.
func (t *Trainer) Start(tok string) (string, error) {
	if tok == "" || !msg.ValidSession(tok) {
		return "", ErrNoSession
	}
	if !t.o.Client.Connected() {
		return "", ErrBrokerDown
	}
	if t.o.RecognizerOnline != nil && !t.o.RecognizerOnline() {
		return "", ErrNoRecognizer
	}
	id := ids.New()
	b, err := json.Marshal(msg.Train{V: msg.Version, ID: id, Session: tok})
	if err != nil {
		return "", err
	}
	if err := t.o.Client.Publish(t.o.Space.CamTrain(t.o.Camera), 1, false, b); err != nil {
		return "", fmt.Errorf("%w (%v)", ErrBrokerDown, err)
	}
	t.log.Info("training requested", "id", id)
	return id, nil
}
