package state

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/topic"
)

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
