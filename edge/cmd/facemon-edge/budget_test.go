package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facemon/facemon/edge/internal/testbroker"
)

// TestEdgeBudget measures the facemon-edge process (CPU % of one core, CPU
// per published frame, RSS) at 10 fps for MJPEG cameras of 640x480 and
// 1280x720, with pass-through and with decode + re-encode (--quality 80), and
// for the OpenCV file path (H.264 decode, resize, encode). Each case runs
// the binary against mosquitto on 127.0.0.1 with a stand-in camera (sh
// writing the clip's JPEGs at ~11 fps, the edge keeps 10), optionally with
// one live viewer.
// Opt-in (it takes ~3 minutes): FACEMON_BUDGET=1 (make edge-budget).
// FACEMON_BUDGET_SECONDS sets the measuring window (default 15). With
// FACEMON_BUDGET_QEMU=1 it measures the cross-built arm64 edge
// (FACEMON_ARM64_BIN, FACEMON_ARM64_SYSROOT) under qemu-aarch64-static
// instead: emulation is slower than a real Cortex-A72, so that is an upper
// bound on a Pi's CPU cost.
func TestEdgeBudget(t *testing.T) {
	if os.Getenv("FACEMON_BUDGET") == "" {
		t.Skip("set FACEMON_BUDGET=1 to measure the edge budget (make edge-budget)")
	}
	window := 15 * time.Second
	if s, err := strconv.Atoi(os.Getenv("FACEMON_BUDGET_SECONDS")); err == nil && s > 0 {
		window = time.Duration(s) * time.Second
	}
	video := sharedVideo(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "facemon-edge")
	var prefix []string // the emulator, for FACEMON_BUDGET_QEMU
	if os.Getenv("FACEMON_BUDGET_QEMU") != "" {
		qemu, err := exec.LookPath("qemu-aarch64-static")
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(os.Getenv("FACEMON_ARM64_BIN"), "facemon-edge")
		prefix = []string{qemu, "-L", os.Getenv("FACEMON_ARM64_SYSROOT")}
	} else if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	b := testbroker.Start(t)
	type row struct{ name, cpu, perFrame, rss, fps string }
	var rows []row
	for _, sz := range [][2]int{{640, 480}, {1280, 720}} {
		dir := filepath.Join(tmp, fmt.Sprintf("%dx%d", sz[0], sz[1]))
		n, avg := writeClipFrames(t, video, dir, sz[0], sz[1], 100)
		t.Logf("%dx%d: %d camera frames, %d bytes each on average", sz[0], sz[1], n, avg)
		camera := `exec:sh -c 'while :; do for f in "$0"/*.jpg; do cat "$f"; sleep 0.08; done; done' ` + dir
		cases := []struct {
			name   string
			args   []string
			viewer bool
		}{
			{"MJPEG pass-through", []string{"--source", camera}, false},
			{"MJPEG pass-through + 1 viewer", []string{"--source", camera}, true},
			{"MJPEG decode+re-encode (--quality 80)", []string{"--source", camera, "--quality", "80"}, false},
			{"H.264 file via OpenCV (decode, resize, encode)", []string{"--source", video, "--loop", "--width", strconv.Itoa(sz[0]), "--height", strconv.Itoa(sz[1])}, false},
		}
		for _, c := range cases {
			r := measureEdge(t, prefix, bin, b.URL, c.args, c.viewer, window)
			rows = append(rows, row{fmt.Sprintf("%dx%d %s", sz[0], sz[1], c.name),
				fmt.Sprintf("%.1f", r.cpuPct), fmt.Sprintf("%.2f", r.msPerFrame), fmt.Sprintf("%.0f", r.rssMB), fmt.Sprintf("%.1f", r.fps)})
		}
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n| case | CPU %% of 1 core | CPU ms/frame | RSS MB | published fps |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&tab, "| %s | %s | %s | %s | %s |\n", r.name, r.cpu, r.perFrame, r.rss, r.fps)
	}
	t.Log(tab.String())
}

// writeClipFrames writes up to n frames of the video, resized to w×h, as
// quality-80 JPEG files (what an MJPEG camera delivers).
func writeClipFrames(t *testing.T, video, dir string, w, h, n int) (int, int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vc, err := gocv.VideoCaptureFile(video)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	img, small := gocv.NewMat(), gocv.NewMat()
	defer img.Close()
	defer small.Close()
	total, i := 0, 0
	for ; i < n && vc.Read(&img) && !img.Empty(); i++ {
		gocv.Resize(img, &small, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, small, []int{gocv.IMWriteJpegQuality, 80})
		if err != nil {
			t.Fatal(err)
		}
		total += buf.Len()
		err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.jpg", i)), buf.GetBytes(), 0o644)
		buf.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return i, total / max(i, 1)
}

type budget struct{ cpuPct, msPerFrame, rssMB, fps float64 }

// measureEdge runs the edge binary and samples it from /proc after a warm-up.
func measureEdge(t *testing.T, prefix []string, bin, broker string, args []string, viewer bool, window time.Duration) budget {
	t.Helper()
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	argv := append(append(append([]string{}, prefix...), bin, "--broker", broker, "--camera-id", "budget", "--fps", "10",
		"--listen", addr, "--dataset", t.TempDir(), "--log-level", "warn", "--no-login", "--state", t.TempDir()), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get("http://" + addr + "/healthz"); err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge not serving\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if viewer {
		feed := openMJPEG(t, http.DefaultClient, "http://"+addr+"/video_feed")
		go func() {
			for ctx.Err() == nil {
				if _, err := feed.mr.NextPart(); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(3 * time.Second) // warm-up: broker connection, first frames
	cpu0, pub0, t0 := procCPU(t, cmd.Process.Pid), metric(t, addr, "facemon_edge_frames_published_total"), time.Now()
	var rss float64
	for time.Since(t0) < window {
		time.Sleep(time.Second)
		rss = max(rss, procRSS(t, cmd.Process.Pid))
	}
	cpu1, pub1, el := procCPU(t, cmd.Process.Pid), metric(t, addr, "facemon_edge_frames_published_total"), time.Since(t0)
	frames := pub1 - pub0
	if frames < 1 {
		t.Fatalf("%v: no frames published\n%s", args, logs.String())
	}
	used := (cpu1 - cpu0).Seconds()
	return budget{cpuPct: 100 * used / el.Seconds(), msPerFrame: 1000 * used / frames, rssMB: rss / 1024, fps: frames / el.Seconds()}
}

// procCPU returns a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return time.Duration((ut + st) * float64(time.Second) / 100) // USER_HZ = 100 on Linux
}

// procRSS returns VmRSS in KiB.
func procRSS(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return v
		}
	}
	return 0
}
