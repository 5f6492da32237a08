package state

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// A tentative name (the recognizer's best guess before the track's
// attempts agree) is listed as unknown; a confirmed one by name.
func TestTentativeNameListedAsUnknown(t *testing.T) {
	sp := topic.New("")
	s := New(Options{Space: sp, Local: "c1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	send := func(f msg.Face) []Person {
		b, _ := json.Marshal(msg.Identities{V: msg.Version, Camera: "c1", Seq: 1, Captured: time.Now(), Faces: []msg.Face{f}})
		s.HandleIdentities(sp.Identities("c1"), b)
		return s.People("c1")
	}
	if ps := send(msg.Face{Name: "alice", Distance: 0.48, Tentative: true}); len(ps) != 1 || ps[0].Name != msg.Unknown {
		t.Fatalf("tentative: %+v", ps)
	}
	ps := send(msg.Face{Name: "alice", Distance: 0.45})
	found := false
	for _, p := range ps {
		found = found || (p.Name == "alice" && p.InView)
	}
	if !found {
		t.Fatalf("confirmed: %+v", ps)
	}
}

func TestDisconnectedForgetsRecognizers(t *testing.T) {
	sp := topic.New("")
	s := New(Options{Space: sp, Local: "c1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ev := s.Subscribe()
	hook := make(chan struct{}, 4)
	s.OnRecognizerOnline(func() { hook <- struct{}{} })
	recv := func() Event {
		t.Helper()
		select {
		case e := <-ev:
			return e
		case <-time.After(time.Second):
			t.Fatal("no event")
			return Event{}
		}
	}
	s.HandleStatus(sp.Status(topic.KindRecognizer, "r1"), []byte(topic.Online))
	if e := recv(); e.Type != "recognizer" || !e.Data.(map[string]bool)["online"] || !s.RecognizerOnline() {
		t.Fatalf("online: %+v", e)
	}
	<-hook
	s.Disconnected()
	if e := recv(); e.Type != "recognizer" || e.Data.(map[string]bool)["online"] || s.RecognizerOnline() {
		t.Fatalf("after disconnect: %+v", e)
	}
	s.Disconnected() // nothing to forget: no event
	select {
	case e := <-ev:
		t.Fatalf("unexpected event %+v", e)
	default:
	}
	// The retained "online" after reconnecting counts as a new arrival.
	s.HandleStatus(sp.Status(topic.KindRecognizer, "r1"), []byte(topic.Online))
	if e := recv(); !e.Data.(map[string]bool)["online"] {
		t.Fatalf("back: %+v", e)
	}
	select {
	case <-hook:
	case <-time.After(time.Second):
		t.Fatal("OnRecognizerOnline hook not run after reconnect")
	}
}
