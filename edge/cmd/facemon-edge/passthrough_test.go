package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/testbroker"
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
	dir := t.TempDir()
	var want [][]byte
	for i := 0; i < 2; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 320, 240))
		for y := 0; y < 240; y++ {
			for x := 0; x < 320; x++ {
				img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(100 * i), 255})
			}
		}
		var b bytes.Buffer
		jpeg.Encode(&b, img, &jpeg.Options{Quality: 75})
		want = append(want, b.Bytes())
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.jpg", i)), b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
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

func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	return img
}
