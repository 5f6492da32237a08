package train

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/fakemqtt"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

type events struct {
	mu sync.Mutex
	ev []state.Event
}

func (e *events) add(ev state.Event) { e.mu.Lock(); e.ev = append(e.ev, ev); e.mu.Unlock() }
func (e *events) all() []state.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]state.Event(nil), e.ev...)
}

func setup(t *testing.T, sp topic.Space, online *bool) (*Trainer, *fakemqtt.Client, *events) {
	t.Helper()
	c := &fakemqtt.Client{}
	ev := &events{}
	tr := New(Options{Client: c, Space: sp, Camera: "door", Events: ev.add,
		RecognizerOnline: func() bool { return *online },
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil))})
	return tr, c, ev
}

func status(t *testing.T, st msg.TrainStatus) []byte {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStartPublishesCommand(t *testing.T) {
	sp := topic.New("site1")
	online := true
	tr, c, _ := setup(t, sp, &online)
	if _, err := tr.Start(""); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Start without a session: %v", err)
	}
	if _, err := tr.Start("bad token"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Start with a malformed session: %v", err)
	}
	id, err := tr.Start("tok-1")
	if err != nil || id == "" {
		t.Fatalf("Start = %q, %v", id, err)
	}
	ms := c.Messages()
	// The edge's own camera topic, never facemon/cmd/train.
	if len(ms) != 1 || ms[0].Topic != "site1/cam/door/train" || ms[0].QoS != 1 {
		t.Fatalf("published %+v", ms)
	}
	cmd, err := msg.DecodeTrain(ms[0].Payload)
	if err != nil || cmd.V != msg.Version || cmd.ID != id || cmd.Session != "tok-1" {
		t.Fatalf("command %+v, %v (id %q)", cmd, err, id)
	}
	id2, _ := tr.Start("tok-1")
	if id2 == id {
		t.Fatal("request ids repeat")
	}
}

func TestStartUnavailable(t *testing.T) {
	online := true
	tr, c, _ := setup(t, topic.New(""), &online)
	c.SetDown(true)
	if _, err := tr.Start("tok"); !errors.Is(err, ErrBrokerDown) {
		t.Fatalf("broker down: %v", err)
	}
	c.SetDown(false)
	online = false
	if _, err := tr.Start("tok"); !errors.Is(err, ErrNoRecognizer) {
		t.Fatalf("no recognizer: %v", err)
	}
	if n := len(c.Messages()); n != 0 {
		t.Fatalf("%d commands sent while unavailable", n)
	}
}

func TestStatusForwarded(t *testing.T) {
	sp := topic.New("")
	online := true
	tr, c, ev := setup(t, sp, &online)
	if tr.Last() != nil {
		t.Fatal("Last before any status")
	}
	now := time.Now().UTC()
	c.Deliver(sp.TrainStatus(), status(t, msg.TrainStatus{V: 1, ID: "a", State: msg.TrainRunning, Seen: 34, Total: 102, Skipped: 2, Time: now}))
	c.Deliver(sp.TrainStatus(), status(t, msg.TrainStatus{V: 1, ID: "a", State: msg.TrainDone, Seen: 102, Total: 102,
		Encoded: 100, Skipped: 2, Reasons: map[string]int{"no_face": 2}, People: 28, Encodings: 100, DurationMS: 13500, Time: now}))
	// Ignored: garbage, wrong version, unknown state, empty (cleared retained).
	for _, bad := range [][]byte{[]byte("nope"), status(t, msg.TrainStatus{V: 2, State: msg.TrainDone}),
		status(t, msg.TrainStatus{V: 1, State: "paused"}), nil} {
		c.Deliver(sp.TrainStatus(), bad)
	}
	got := ev.all()
	if len(got) != 2 {
		t.Fatalf("events %+v", got)
	}
	for i, want := range []string{msg.TrainRunning, msg.TrainDone} {
		st, ok := got[i].Data.(msg.TrainStatus)
		if got[i].Type != EventType || got[i].Camera != "" || !ok || st.State != want || st.ID != "a" {
			t.Fatalf("event %d: %+v", i, got[i])
		}
	}
	b, _ := state.MarshalEvent(got[1])
	var wire struct {
		Type string          `json:"type"`
		Data msg.TrainStatus `json:"data"`
	}
	if err := json.Unmarshal(b, &wire); err != nil || wire.Type != "train" || wire.Data.People != 28 ||
		wire.Data.Reasons["no_face"] != 2 || wire.Data.DurationMS != 13500 {
		t.Fatalf("wire %s", b)
	}
	if l := tr.Last(); l == nil || l.State != msg.TrainDone || l.Encodings != 100 {
		t.Fatalf("Last = %+v", l)
	}
}

// Handlers run concurrently: a "running" status published before "done"
// may be handled after it. The newer status wins.
func TestStaleStatusDropped(t *testing.T) {
	sp := topic.New("")
	online := true
	tr, c, ev := setup(t, sp, &online)
	t0 := time.Now().UTC()
	c.Deliver(sp.TrainStatus(), status(t, msg.TrainStatus{V: 1, ID: "a", State: msg.TrainDone, Seen: 103, Total: 103, Time: t0.Add(time.Millisecond)}))
	c.Deliver(sp.TrainStatus(), status(t, msg.TrainStatus{V: 1, ID: "a", State: msg.TrainRunning, Seen: 103, Total: 103, Time: t0}))
	if l := tr.Last(); l == nil || l.State != msg.TrainDone {
		t.Fatalf("Last = %+v, want done", l)
	}
	if got := ev.all(); len(got) != 1 {
		t.Fatalf("stale status forwarded: %+v", got)
	}
	// A later run replaces it.
	c.Deliver(sp.TrainStatus(), status(t, msg.TrainStatus{V: 1, ID: "b", State: msg.TrainRunning, Time: t0.Add(time.Second)}))
	if l := tr.Last(); l.ID != "b" {
		t.Fatalf("Last = %+v, want run b", l)
	}
}

// A refusal on cam/<id>/result reaches the page as a failed train event.
func TestAnswerRefused(t *testing.T) {
	online := true
	tr, _, ev := setup(t, topic.New(""), &online)
	tr.HandleAnswer(msg.EnrolResult{V: 1, ID: "x", Command: msg.CommandTrain, Status: msg.TrainAccepted})
	tr.HandleAnswer(msg.EnrolResult{V: 1, ID: "y", Status: msg.EnrolSaved}) // an enrolment: not ours
	if n := len(ev.all()); n != 0 {
		t.Fatalf("events for accepted / foreign answers: %d", n)
	}
	tr.HandleAnswer(msg.EnrolResult{V: 1, ID: "x", Command: msg.CommandTrain, Status: msg.EnrolRefused, Error: "no valid session"})
	got := ev.all()
	if len(got) != 1 {
		t.Fatalf("events %+v", got)
	}
	st := got[0].Data.(msg.TrainStatus)
	if got[0].Type != EventType || st.ID != "x" || st.State != msg.TrainError || !strings.Contains(st.Error, "no valid session") {
		t.Errorf("refusal event %+v", got[0])
	}
}
