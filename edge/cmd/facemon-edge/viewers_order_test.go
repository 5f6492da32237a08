package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/testbroker"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// TestRestartClearsViewersBeforeOnline: a killed edge leaves, retained, its
// last viewers count (1) and its will's "offline". The restarted edge must
// replace that count before it announces itself online: a recognizer
// draws for a camera whose edge is online with viewers, so "online" first
// gave it up to a poll (250 ms, 3 annotated frames measured) of drawing
// for nobody. One subscription to both topics hears them in the order the
// broker got them.
func TestRestartClearsViewersBeforeOnline(t *testing.T) {
	b := testbroker.Start(t)
	sp := topic.New("")
	const cam = "porch"
	stale, _ := json.Marshal(msg.Viewers{V: msg.Version, Viewers: 1})
	old := mqttClient(t, b.URL, "last-run", "")
	if err := old.PublishWait(sp.Viewers(cam), 1, true, stale, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := old.PublishWait(sp.Status(topic.KindEdge, cam), 1, true, []byte(topic.Offline), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	old.Close()

	var mu sync.Mutex
	var heard []string // "viewers=N" and "status=S", in arrival order
	sub := mqttClient(t, b.URL, "order-sub", "")
	defer sub.Close()
	sub.Subscribe("#", 1, func(tp string, p []byte) {
		var ev string
		switch tp {
		case sp.Viewers(cam):
			m, err := msg.DecodeViewers(p)
			if err != nil {
				t.Errorf("viewers %q: %v", p, err)
				return
			}
			ev = "viewers=" + strconv.Itoa(m.Viewers)
		case sp.Status(topic.KindEdge, cam):
			ev = "status=" + string(p)
		default:
			return
		}
		mu.Lock()
		heard = append(heard, ev)
		mu.Unlock()
	})
	snapshot := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(heard)
	}
	// The retained state of the last run first.
	deadline := time.Now().Add(10 * time.Second)
	for len(snapshot()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("retained state not heard: %q", snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	startEdge(t, b.URL, cam, "--no-login")
	for !slices.Contains(snapshot(), "status=online") {
		if time.Now().After(deadline) {
			t.Fatalf("edge not online: %q", snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := snapshot()
	i := slices.Index(got, "status=online")
	if i < 3 || got[i-1] != "viewers=0" {
		t.Errorf("heard %q: want the restarted edge's viewers=0 before its status=online (after the retained viewers=1, status=offline)", got)
	}
}
