package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facemon/facemon/shared/topic"
)

// Hostile input against the real recognizer (issue 11): 10,000 distinct
// camera ids with one small JPEG each, a burst of 1,000 enrol commands and
// malformed payloads on every topic it subscribes to. Its memory stays
// bounded, every command gets an answer, it stays up, and the real camera
// keeps getting identities throughout.
func TestHostileInput(t *testing.T) {
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	url := "tcp://" + addr
	// Its own copy of the gallery: an empty payload on facemon/cmd/train is
	// a valid train command, and training from this test's empty dataset
	// must not empty the gallery the other tests share.
	gal := filepath.Join(t.TempDir(), "gallery.json")
	copyFile(t, gallery, gal)
	// --assign share: every camera's frames reach the pipeline, so this
	// tests its own bound on cameras with state (as with --cameras any).
	// With the default --assign owner a recognizer subscribes only to the
	// registered cameras it owns, so unregistered ids never reach it at all
	// (recognizer/service TestOneOwnerPerCamera).
	rec, httpAddr := startRecognizer(t, "rhost", "--listen", addr, "--max-cameras", "32", "--gallery", gal, "--assign", "share")
	waitTCP(t, addr, 30*time.Second)
	obs := observe(t, url)
	startEdge(t, url, "real", 10)
	sp := topic.New("")
	realIDs := func() int {
		ids, _, _ := obs.snapshot()
		n := 0
		for _, m := range ids {
			if m.Camera == "real" {
				n++
			}
		}
		return n
	}
	waitFor(t, 60*time.Second, "identities from the real camera", func() bool { return realIDs() > 20 })
	pid := rec.cmd.Process.Pid
	rssBefore := rssKB(t, pid)

	attacker, err := dialOnce(url, "", "", "hostile-attacker", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Disconnect(100)
	jpeg := smallJPEG()
	start := time.Now()
	// The attacker (any loopback process, with --allow-anonymous) can also
	// announce edges online: 100 of the ids are registered that way, so
	// both bounds are exercised: unregistered ids are refused outright,
	// registered ones at --max-cameras.
	for i := 0; i < 100; i++ {
		attacker.Publish(sp.Status(topic.KindEdge, fmt.Sprintf("fake%05d", i)), 1, false, []byte(topic.Online))
	}
	attacker.Publish(sp.Status(topic.KindEdge, "fake00099"), 1, false, []byte(topic.Online)).WaitTimeout(10 * time.Second)
	for i := 0; i < 10000; i++ {
		attacker.Publish(fmt.Sprintf("cam/fake%05d/frames", i), 0, false, jpeg)
	}
	attacker.Publish("cam/fake09999/frames", 1, false, jpeg).WaitTimeout(30 * time.Second)
	flood := time.Since(start)
	before := realIDs()
	waitFor(t, 30*time.Second, "the real camera's identities during and after the flood", func() bool { return realIDs() > before+20 })
	ids, _, _ := obs.snapshot()
	var lat []time.Duration
	fakes := 0
	for _, m := range ids {
		switch {
		case m.Camera == "real" && m.Processed.After(start):
			lat = append(lat, m.Processed.Sub(m.Captured))
		case strings.HasPrefix(m.Camera, "fake"):
			fakes++
		}
	}
	time.Sleep(2 * time.Second)
	rssAfter := rssKB(t, pid)
	rejected := metric(t, httpAddr, "facemon_recognizer_frames_rejected_total")
	unregistered := metric(t, httpAddr, `facemon_recognizer_frames_rejected_total{reason="unregistered"}`)
	t.Logf("10,000 camera ids in %v: recognizer RSS %.1f → %.1f MiB (%+.1f %%), %v frames refused (%v of unregistered cameras, the rest at the --max-cameras bound), %d fake cameras got identities; real camera p95 capture→identity after the flood %v",
		flood.Round(time.Millisecond), float64(rssBefore)/1024, float64(rssAfter)/1024, 100*(float64(rssAfter)-float64(rssBefore))/float64(rssBefore),
		rejected, unregistered, fakes, percentile(lat, 0.95))
	// QoS 0: the broker may drop some of the burst for the recognizer's
	// full write queue, and on a loaded machine the recognizer's frame
	// queue drops (counted) what its handler has not reached; most must be
	// accounted for, as refused or as counted drops.
	shed := metric(t, httpAddr, `facemon_mqtt_dropped_total{direction="in",topic_kind="frames"}`)
	t.Logf("%v frames shed by the recognizer's full frame queue (counted)", shed)
	if unregistered < 5000 || unregistered < 0.9*rejected || rejected-unregistered < 30 {
		t.Errorf("refused: %v unregistered, %v at the bound; want most unregistered and some (of the 100 registered fakes) at the bound", unregistered, rejected-unregistered)
	}
	if rejected+shed < 9000 {
		t.Errorf("only %v frames refused at the camera bound and %v shed by the full frame queue, of 10,000", rejected, shed)
	}
	if fakes > 32 {
		t.Errorf("%d fake cameras were processed (bound 32)", fakes)
	}
	if float64(rssAfter) > 1.25*float64(rssBefore) {
		t.Errorf("RSS grew from %d to %d KiB", rssBefore, rssAfter)
	}
	if p95 := percentile(lat, 0.95); p95 > 2*time.Second {
		t.Errorf("real camera p95 latency %v after the flood", p95)
	}

	// 1,000 enrol commands at once: every one answered (saved, no face or
	// busy), none dropped silently, the recognizer still up.
	var answers atomic.Int64
	var answeredMu sync.Mutex
	answered := map[string]string{}
	ans, err := dialOnce(url, "", "", "hostile-answers", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ans.Disconnect(100)
	ans.Subscribe(sp.EnrolResult(), 1, func(_ mqtt.Client, m mqtt.Message) {
		var r struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m.Payload(), &r) == nil && strings.HasPrefix(r.ID, "burst-") {
			answers.Add(1)
			answeredMu.Lock()
			answered[r.ID] = string(m.Payload())
			answeredMu.Unlock()
		}
	}).WaitTimeout(5 * time.Second)
	img := b64(jpeg)
	for i := 0; i < 1000; i++ {
		attacker.Publish(sp.Command("enrol"), 1, false, []byte(fmt.Sprintf(`{"v":1,"id":"burst-%d","name":"burst","image":"%s"}`, i, img)))
	}
	deadline := time.Now().Add(120 * time.Second)
	for answers.Load() < 1000 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if answers.Load() < 1000 {
		answeredMu.Lock()
		var missing []string
		for i := 0; i < 1000; i++ {
			if _, ok := answered[fmt.Sprintf("burst-%d", i)]; !ok {
				missing = append(missing, fmt.Sprint(i))
			}
		}
		answeredMu.Unlock()
		t.Fatalf("after 2 min, %d of 1,000 enrol commands answered; no answer to ids %s; commands shed by the recognizer's full queue: %v, answers dropped by its publish queue: %v",
			answers.Load(), strings.Join(missing, ","), metric(t, httpAddr, `facemon_mqtt_dropped_total{direction="in",topic_kind="cmd"}`),
			metric(t, httpAddr, `facemon_mqtt_dropped_total{direction="out",topic_kind="enrol_result"}`))
	}
	refused := metric(t, httpAddr, "facemon_recognizer_commands_refused_total")
	t.Logf("1,000 enrol commands: %d answers, %v refused as busy", answers.Load(), refused)

	// Malformed payloads on every subscribed topic.
	garbage := [][]byte{nil, []byte("{"), []byte(`{"v":99}`), []byte(`{"v":1,"name":"../../etc"}`), []byte(strings.Repeat("A", 1<<20)),
		[]byte(`{"v":1,"id":"x","name":"a","threshold":1e308}`), []byte(`{"v":1,"image":"!!!"}`), {0xFF, 0xD8, 0xFF}}
	for _, tp := range []string{sp.Command("train"), sp.Command("enrol"), sp.Command("delete"), sp.Command("rename"),
		sp.Command("threshold"), "homeassistant/status", sp.Frames("real"), sp.Status(topic.KindEdge, "real")} {
		for _, g := range garbage {
			attacker.Publish(tp, 1, false, g).WaitTimeout(5 * time.Second)
		}
	}
	after := realIDs()
	waitFor(t, 30*time.Second, "identities after the malformed payloads", func() bool { return realIDs() > after+10 })
	if !rec.running() {
		t.Fatal("the recognizer died")
	}
}
