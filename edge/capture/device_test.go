package capture

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// missingDevice returns a /dev/videoN path (and its N) that does not exist.
func missingDevice(t *testing.T) (string, int) {
	t.Helper()
	for n := 97; n < 200; n++ {
		p := fmt.Sprintf("/dev/video%d", n)
		if _, err := os.Stat(p); os.IsNotExist(err) {
			return p, n
		}
	}
	t.Fatal("no free /dev/videoN number")
	return "", 0
}

// A V4L2 device that is not there (given as a path or as an index) is
// retried with backoff, and the error names the device and says it is
// missing. A device that vanishes while it delivers frames cannot be made
// here (that needs v4l2loopback, a kernel module); its read failure takes
// the reopen path the RTSP fault test (e2e) covers, and reopening lands here.
func TestMissingDeviceRetriesWithClearError(t *testing.T) {
	path, n := missingDevice(t)
	for _, arg := range []string{path, fmt.Sprint(n)} {
		t.Run(arg, func(t *testing.T) {
			src, err := ParseSource(arg)
			if err != nil || src.Kind != KindDevice {
				t.Fatalf("ParseSource(%q) = %+v, %v", arg, src, err)
			}
			var mu sync.Mutex
			var errs []error
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err = Run(ctx, Options{Source: src, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
				OnError: func(e error) { mu.Lock(); errs = append(errs, e); mu.Unlock() }}, func(Frame) { t.Error("a frame from a missing device") })
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			// Attempts at 0, 50, 150, 350, 550, 750, 950 ms: 7; a busy
			// loop would make thousands.
			if len(errs) < 3 || len(errs) > 9 {
				t.Fatalf("%d open attempts in 1 s with backoff 50-200 ms: %v", len(errs), errs)
			}
			for _, e := range errs {
				if !strings.Contains(e.Error(), path) || !strings.Contains(e.Error(), "does not exist") {
					t.Fatalf("error %q does not say that %s is missing", e, path)
				}
			}
		})
	}
}

// A URL nothing answers on gives an error that names the stream (password
// masked) and says what to check, not gocv's "Error opening file".
func TestUnreachableStreamError(t *testing.T) {
	src, _ := ParseSource("rtsp://u:pw1@127.0.0.1:1/cam")
	var mu sync.Mutex
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	Run(ctx, Options{Source: src, MinBackoff: 100 * time.Millisecond,
		OnError: func(e error) { mu.Lock(); errs = append(errs, e); mu.Unlock() }}, func(Frame) {})
	mu.Lock()
	defer mu.Unlock()
	if len(errs) == 0 {
		t.Fatal("no open failure")
	}
	if e := errs[0].Error(); !strings.Contains(e, "rtsp://u:xxxxx@127.0.0.1:1/cam") || !strings.Contains(e, "could not open") || strings.Contains(e, "pw1") {
		t.Fatalf("error %q", e)
	}
}

// The stream timeout is set in OpenCV's FFmpeg options only while a stream
// is opened, and options the user set are left as they are.
func TestStreamTimeoutEnv(t *testing.T) {
	src, _ := ParseSource("rtsp://127.0.0.1:1/cam")
	run := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		Run(ctx, Options{Source: src, MinBackoff: 100 * time.Millisecond}, func(Frame) {})
	}
	os.Unsetenv(ffmpegOptionsEnv)
	restore := streamTimeout(slogDiscard())
	if v := os.Getenv(ffmpegOptionsEnv); v != "timeout;5000000" {
		t.Fatalf("%s = %q during open", ffmpegOptionsEnv, v)
	}
	restore()
	run()
	if v, ok := os.LookupEnv(ffmpegOptionsEnv); ok {
		t.Fatalf("%s = %q left set after open", ffmpegOptionsEnv, v)
	}
	t.Setenv(ffmpegOptionsEnv, "rtsp_transport;tcp")
	run()
	if v := os.Getenv(ffmpegOptionsEnv); v != "rtsp_transport;tcp" {
		t.Fatalf("the user's %s became %q", ffmpegOptionsEnv, v)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
