package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/testbroker"
	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]string{"facemon-edge"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Broker != "tcp://127.0.0.1:1883" || c.FPS != 10 || c.Quality != 80 || c.Listen != ":8001" ||
		c.Dataset != "dataset" || c.Source.Kind != "device" || c.Reconnect != 2*time.Second || !topic.ValidID(c.CameraID) {
		t.Fatalf("defaults: %+v", c)
	}
	if c.EnrolBurst != 10 || c.EnrolInterval != 330*time.Millisecond || c.EnrolMaxBytes != 2_000_000 {
		t.Fatalf("burst defaults: %d %v %d", c.EnrolBurst, c.EnrolInterval, c.EnrolMaxBytes)
	}
	for _, bad := range [][]string{
		{"--broker", "http://x"}, {"--camera-id", "a/b"}, {"--fps", "0"}, {"--quality", "101"},
		{"--listen", "nonsense"}, {"--topic-prefix", "a/#"}, {"--source", ""}, {"extra"}, {"--reconnect-max", "0"},
		{"--enrol-burst", "0"}, {"--enrol-burst", "21"}, {"--enrol-burst-interval", "1ms"}, {"--enrol-max-bytes", "5000000"},
	} {
		if _, err := parseConfig(append([]string{"facemon-edge"}, bad...), io.Discard); err == nil {
			t.Errorf("%v: want error", bad)
		}
	}
	if code := run(t.Context(), []string{"facemon-edge", "--fps", "-1"}); code != 2 {
		t.Errorf("bad flags exit %d, want 2", code)
	}
	for in, want := range map[string]string{"pi-kitchen": "pi-kitchen", "My Pi!": "My-Pi", "": "edge", "日本": "edge"} {
		if got := ids.Sanitize(in, "edge"); got != want {
			t.Errorf("ids.Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLiveViewWithoutBroker: the live view works with no broker at all.
func TestLiveViewWithoutBroker(t *testing.T) {
	e := startEdge(t, "tcp://"+freePort(t), "nobroker")
	c, _ := e.Login(t)
	feed := openMJPEG(t, c, "http://"+e.Addr+"/video_feed")
	var last uint64
	for i := 0; i < 5; i++ {
		p := feed.next(t, 5*time.Second)
		if p.Mode != "raw" || p.Meta.Camera != "nobroker" || p.Meta.Seq <= last {
			t.Fatalf("part %d: mode %q meta %+v (last seq %d)", i, p.Mode, p.Meta, last)
		}
		last = p.Meta.Seq
	}
	if d := metric(t, e.Addr, `facemon_edge_frames_dropped_total{reason="disconnected"}`); d < 1 {
		t.Errorf("dropped(disconnected) = %v, want > 0", d)
	}
}

// TestEndToEnd runs the edge against mosquitto on loopback: frames reach
// cam/<id>/frames; a fake recognizer's annotated frames take over the live
// view and the raw feed comes back when it stops; with the broker down the
// capture and the live view continue.
func TestEndToEnd(t *testing.T) {
	b := testbroker.Start(t)
	e := startEdge(t, b.URL, "door")
	sp := topic.New("")

	// Frames arrive on cam/door/frames with increasing seq and metadata.
	var (
		mu   sync.Mutex
		seqs []uint64
	)
	got := make(chan struct{}, 100)
	sub := mqttClient(t, b.URL, "test-sub", "")
	defer sub.Close()
	sub.Subscribe(sp.Frames("door"), 0, func(_ string, p []byte) {
		m, err := msg.ExtractMeta(p)
		if err != nil || m.Camera != "door" {
			t.Errorf("frame without door metadata: %v %+v", err, m)
			return
		}
		mu.Lock()
		seqs = append(seqs, m.Seq)
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	})
	start := time.Now()
	for i := 0; i < 10; i++ {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d frames on %s", i, sp.Frames("door"))
		}
	}
	mu.Lock()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seq not increasing: %v", seqs)
		}
	}
	mu.Unlock()
	t.Logf("10 MQTT frames in %v", time.Since(start).Round(time.Millisecond))

	c, _ := e.Login(t)
	feed := openMJPEG(t, c, "http://"+e.Addr+"/video_feed")
	if p := feed.next(t, 5*time.Second); p.Mode != "raw" {
		t.Fatalf("first part mode %q, want raw", p.Mode)
	}

	// A recognizer starts: the view switches to annotated frames.
	rec := startRecognizer(t, b.URL, "r1")
	d := feed.waitMode(t, "annotated", 10*time.Second)
	t.Logf("recognizer start -> annotated view: %v", d.Round(time.Millisecond))
	for i := 0; i < 3; i++ {
		if p := feed.next(t, 5*time.Second); p.Mode != "annotated" || p.Meta.Camera != "door" {
			t.Fatalf("mode %q meta %+v, want annotated door frames", p.Mode, p.Meta)
		}
	}

	// It stops: the view falls back to raw after the freshness window.
	rec.Stop()
	d = feed.waitMode(t, "raw", 5*time.Second)
	t.Logf("recognizer stop -> raw view: %v", d.Round(time.Millisecond))
	if d > 3*time.Second {
		t.Errorf("fallback took %v", d)
	}

	// Broker down: capture continues and the live view keeps streaming.
	captured := metric(t, e.Addr, "facemon_edge_frames_captured_total")
	b.Stop()
	downAt := time.Now()
	var last uint64
	for i := 0; i < 15; i++ {
		p := feed.next(t, 5*time.Second)
		if p.Mode != "raw" || p.Meta.Seq <= last {
			t.Fatalf("broker down: part mode %q seq %d after %d", p.Mode, p.Meta.Seq, last)
		}
		last = p.Meta.Seq
	}
	if now := metric(t, e.Addr, "facemon_edge_frames_captured_total"); now < captured+10 {
		t.Errorf("captured %v -> %v with the broker down", captured, now)
	}
	if dr := metric(t, e.Addr, `facemon_edge_frames_dropped_total{reason="disconnected"}`); dr < 1 {
		t.Errorf("no frames counted as dropped while the broker was down")
	}
	resp, err := http.Get("http://" + e.Addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(hb), `"mqtt":false`) {
		t.Errorf("healthz with broker down: %s", hb)
	}
	t.Logf("broker down for %v: live view kept streaming", time.Since(downAt).Round(time.Millisecond))

	// Broker back: publishing resumes.
	b.Restart()
	before := metric(t, e.Addr, "facemon_edge_frames_published_total")
	deadline := time.Now().Add(30 * time.Second)
	for metric(t, e.Addr, "facemon_edge_frames_published_total") < before+5 {
		if time.Now().After(deadline) {
			t.Fatal("publishing did not resume within 30s of the broker restart")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("publishing resumed %v after the broker restart", time.Since(deadline.Add(-30*time.Second)).Round(time.Millisecond))
}
