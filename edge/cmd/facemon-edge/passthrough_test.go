package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/testbroker"
	"github.com/facemon/facemon/edge/internal/testjpeg"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	printVersion(&out)
	if !strings.Contains(out.String(), "facemon-edge ") || !strings.Contains(out.String(), "OpenCV 4.") {
		t.Fatalf("version line %q", out.String())
	}
	if code := run(t.Context(), []string{"facemon-edge", "--version"}); code != 0 {
		t.Fatalf("--version exit code %d", code)
	}
}

// An exec: source (a stand-in for rpicam-vid writing MJPEG) is published
// as the camera's own JPEG bytes, and the live view shows it.
func TestExecSourcePassThrough(t *testing.T) {
	dir, want := testjpeg.Dir(t, 2, 320, 240)
	b := testbroker.Start(t)
	got := make(chan []byte, 50)
	sub := mqttClient(t, b.URL, "test-sub-pt", "")
	defer sub.Close()
	sub.Subscribe(topic.New("").Frames("picam"), 0, func(_ string, p []byte) {
		select {
		case got <- p:
		default:
		}
	})
	e := startEdge(t, b.URL, "picam", "--width", "0",
		"--source", `exec:sh -c 'while :; do cat "$0"/f0.jpg "$0"/f1.jpg; sleep 0.1; done' `+dir)
	for i := 0; i < 5; i++ {
		var p []byte
		select {
		case p = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d frames published", i)
		}
		m, err := msg.ExtractMeta(p)
		if err != nil || m.Camera != "picam" {
			t.Fatalf("frame meta %+v %v", m, err)
		}
		n := int(p[4])<<8 | int(p[5])
		orig := append([]byte{0xFF, 0xD8}, p[4+n:]...)
		if !bytes.Equal(orig, want[0]) && !bytes.Equal(orig, want[1]) {
			t.Fatalf("frame %d is not the camera's JPEG byte for byte", i)
		}
	}
	c, _ := e.Login(t)
	feed := openMJPEG(t, c, "http://"+e.Addr+"/video_feed")
	if p := feed.next(t, 5*time.Second); p.Mode != "raw" || p.Meta.Camera != "picam" {
		t.Fatalf("live view part %q %+v", p.Mode, p.Meta)
	}
	if v := metric(t, e.Addr, "facemon_edge_frames_passthrough_total"); v < 5 {
		t.Errorf("passthrough frames %v, want >= 5", v)
	}
}
