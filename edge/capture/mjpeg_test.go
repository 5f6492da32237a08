package capture

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/testjpeg"
	"github.com/facemon/facemon/shared/msg"
)

// stripMeta removes the facemon COM segment again.
func stripMeta(t *testing.T, b []byte) []byte {
	t.Helper()
	if b[2] != 0xFF || b[3] != 0xFE {
		t.Fatal("no COM segment after SOI")
	}
	n := int(b[4])<<8 | int(b[5])
	return append([]byte{0xFF, 0xD8}, b[4+n:]...)
}

// frameDir writes n distinct JPEGs of w×h into a directory.
func frameDir(t *testing.T, n, w, h int) (string, [][]byte) { return testjpeg.Dir(t, n, w, h) }

// runFor captures until n frames arrived (or 15 s passed).
func runFor(t *testing.T, o Options, n int) ([]Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		frames []Frame
	)
	err := Run(ctx, o, func(f Frame) {
		mu.Lock()
		defer mu.Unlock()
		if frames = append(frames, f); len(frames) == n {
			cancel()
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(frames) < n {
		t.Fatalf("got %d frames, want %d (err %v)", len(frames), n, err)
	}
	return frames, err
}

func TestParseProgramSources(t *testing.T) {
	for in, want := range map[string]Source{
		`exec:rpicam-vid --codec mjpeg -o -`: {Kind: KindExec, Args: []string{"rpicam-vid", "--codec", "mjpeg", "-o", "-"}},
		`exec:sh -c 'cat "a b.jpg"'`:         {Kind: KindExec, Args: []string{"sh", "-c", `cat "a b.jpg"`}},
		`rpicam:`:                            {Kind: KindRPiCam},
		`rpicam:--camera 1 --hflip`:          {Kind: KindRPiCam, Args: []string{"--camera", "1", "--hflip"}},
	} {
		got, err := ParseSource(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"exec:", "exec:   ", `exec:sh -c 'unclosed`, "rpicam:-o file.mjpeg", "rpicam:--codec h264"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q): want error", bad)
		}
	}
	for _, in := range []string{"rtsp://admin:hunter2@cam/stream", "exec:ffmpeg -i rtsp://admin:hunter2@cam/s -c copy -f mjpeg -"} {
		s, _ := ParseSource(in)
		if strings.Contains(s.String(), "hunter2") || !strings.Contains(s.String(), "admin") {
			t.Errorf("Source.String() = %s: must hide the password only", s)
		}
	}
}

func TestExecPassThrough(t *testing.T) {
	dir, want := frameDir(t, 3, 320, 240)
	// A camera at ~20 fps: the three frames over and over.
	src, err := ParseSource(`exec:sh -c 'while :; do for f in "$0"/f*.jpg; do cat "$f"; sleep 0.05; done; done' ` + dir)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := runFor(t, Options{Source: src, Camera: "pi", FPS: 10}, 12)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	seen := map[int]bool{}
	for i, f := range frames {
		if !f.PassThrough || f.Width != 320 || f.Height != 240 {
			t.Fatalf("frame %d: passthrough=%v %dx%d", i, f.PassThrough, f.Width, f.Height)
		}
		m, err := msg.ExtractMeta(f.JPEG)
		if err != nil || m.Camera != "pi" || m.Seq != uint64(i+1) {
			t.Fatalf("frame %d meta %+v %v", i, m, err)
		}
		orig := stripMeta(t, f.JPEG)
		match := -1
		for j, w := range want {
			if bytes.Equal(orig, w) {
				match = j
			}
		}
		if match < 0 {
			t.Fatalf("frame %d is not one of the camera's JPEGs byte for byte", i)
		}
		seen[match] = true
	}
	if len(seen) < 2 {
		t.Errorf("only frames %v seen; the stream must advance", seen)
	}
	fps := float64(len(frames)-1) / frames[len(frames)-1].Captured.Sub(frames[0].Captured).Seconds()
	t.Logf("delivered %.1f fps from a ~20 fps producer at --fps 10", fps)
	if fps < 7 || fps > 13 {
		t.Errorf("delivered %.1f fps, want about 10", fps)
	}
}

func TestExecReencodes(t *testing.T) {
	dir, _ := frameDir(t, 2, 320, 240)
	src, _ := ParseSource(`exec:sh -c 'while :; do cat "$0"/f0.jpg "$0"/f1.jpg; sleep 0.05; done' ` + dir)
	for name, o := range map[string]Options{
		"resize":  {Width: 160},
		"quality": {Quality: 50},
	} {
		t.Run(name, func(t *testing.T) {
			o.Source, o.Camera, o.FPS = src, "pi", 20
			frames, _ := runFor(t, o, 3)
			for _, f := range frames {
				img, err := jpeg.Decode(bytes.NewReader(f.JPEG))
				if err != nil || f.PassThrough {
					t.Fatalf("passthrough=%v decode %v", f.PassThrough, err)
				}
				wantW := 320
				if o.Width > 0 {
					wantW = o.Width
				}
				if img.Bounds().Dx() != wantW || f.Width != wantW {
					t.Fatalf("width %d, want %d", img.Bounds().Dx(), wantW)
				}
				if _, err := msg.ExtractMeta(f.JPEG); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A stand-in rpicam-vid on PATH: records its arguments and writes MJPEG.
func TestRPiCamStandIn(t *testing.T) {
	dir, want := frameDir(t, 1, 640, 480)
	bin := t.TempDir()
	script := "#!/bin/sh\necho \"$@\" > " + filepath.Join(dir, "args") + "\necho 'fake rpicam-vid starting' >&2\n" +
		"while :; do cat " + filepath.Join(dir, "f0.jpg") + "; sleep 0.1; done\n"
	if err := os.WriteFile(filepath.Join(bin, "rpicam-vid"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	src, _ := ParseSource("rpicam:--rotation 180")
	frames, err := runFor(t, Options{Source: src, Camera: "pi", FPS: 10, Width: 640, Height: 480}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if !f.PassThrough || !bytes.Equal(stripMeta(t, f.JPEG), want[0]) {
			t.Fatal("rpicam frame at the asked size must pass through unchanged")
		}
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if got := strings.TrimSpace(string(args)); got != "--codec mjpeg -t 0 --nopreview --width 640 --height 480 --framerate 10 -o - --rotation 180" {
		t.Errorf("rpicam-vid args: %q", got)
	}
}

func TestRPiCamMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	src, _ := ParseSource("rpicam:")
	if _, err := src.Command(0, 0, 10); !errors.Is(err, ErrNoRPiCam) || !strings.Contains(err.Error(), "rpicam-apps") {
		t.Fatalf("Command: %v", err)
	}
	var errs []error
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	Run(ctx, Options{Source: src, MinBackoff: 50 * time.Millisecond, OnError: func(e error) { mu.Lock(); errs = append(errs, e); mu.Unlock() }}, func(Frame) {})
	mu.Lock()
	defer mu.Unlock()
	if len(errs) == 0 || !errors.Is(errs[0], ErrNoRPiCam) {
		t.Fatalf("errors %v", errs)
	}
}

func TestHTTPMultipartPassThrough(t *testing.T) {
	_, want := frameDir(t, 2, 320, 240)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=frame")
		mw := multipart.NewWriter(w)
		mw.SetBoundary("frame")
		for i := 0; r.Context().Err() == nil && i < 200; i++ {
			pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"image/jpeg"}})
			pw.Write(want[i%2])
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	defer srv.Close()
	src, _ := ParseSource(srv.URL + "/video.mjpg")
	frames, err := runFor(t, Options{Source: src, Camera: "ipcam", FPS: 10}, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		o := stripMeta(t, f.JPEG)
		if !f.PassThrough || !(bytes.Equal(o, want[0]) || bytes.Equal(o, want[1])) {
			t.Fatalf("frame %d not passed through", i)
		}
	}
}

// A producer that stops writing without exiting is restarted.
func TestExecStall(t *testing.T) {
	dir, _ := frameDir(t, 1, 64, 48)
	old := StallTimeout
	StallTimeout = 300 * time.Millisecond
	defer func() { StallTimeout = old }()
	src, _ := ParseSource(`exec:sh -c 'cat "$0"/f0.jpg; sleep 60' ` + dir)
	var errs []error
	var mu sync.Mutex
	o := Options{Source: src, Camera: "c", FPS: 10, MinBackoff: 20 * time.Millisecond,
		OnError: func(e error) { mu.Lock(); errs = append(errs, e); mu.Unlock() }}
	start := time.Now()
	runFor(t, o, 3) // one frame per producer start
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("3 restarts took %v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) < 2 {
		t.Errorf("want a stream error per stall, got %v", errs)
	}
}
