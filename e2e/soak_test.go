package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSoak runs frames through edge and recognizer and samples both
// processes' resident memory ten times: after the warm-up, neither may
// grow by 5 % or more. FACEMON_SOAK_FRAMES sets the number of frames:
// `make test` runs a short soak (4,000 frames at the clip's 30 fps),
// `make soak` the full 10,000. The warm-up is the first 2,000 frames (half
// of a shorter run). Measured: the recognizer's native heap (dlib, OpenCV,
// glibc's per-thread arenas) grows by ~3 % over the first ~1,800 frames
// and is flat after that (a 6,000-frame run: 356.3 MiB at 1,800, 358.3 at
// 5,400, with the Go heap at 3-5 MiB throughout); the edge settles by
// ~2,100 frames (122.1 MiB at 1,500, 128.6 at 2,100, 129.6 at 3,000 in one
// run; 129-131.5 from 1,800 to 6,000 in another). A warm-up point earlier
// than that measures the warm-up, not a leak.
func TestSoak(t *testing.T) {
	total := 4000
	if v := os.Getenv("FACEMON_SOAK_FRAMES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 200 {
			t.Fatalf("FACEMON_SOAK_FRAMES=%q: want a number ≥ 200", v)
		}
		total = n
	}
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	rec, recHTTP := startRecognizer(t, "soak", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	obs := observe(t, url)
	edge := startEdge(t, url, "soak", 30)

	type sample struct {
		frames         int
		recRSS, edgeKB int
	}
	var samples []sample
	step := total / 10
	deadline := time.Now().Add(time.Duration(total)*time.Second/10 + 2*time.Minute) // ≥ 10 fps
	for next := step; next <= total; next += step {
		waitFor(t, time.Until(deadline), fmt.Sprintf("%d identities", next), func() bool {
			ids, _, _ := obs.snapshot()
			return len(ids) >= next
		})
		s := sample{frames: next, recRSS: rssKB(t, rec.cmd.Process.Pid), edgeKB: rssKB(t, edge.cmd.Process.Pid)}
		samples = append(samples, s)
		t.Logf("after %5d frames: recognizer RSS %6.1f MiB (Go heap in use %5.1f MiB), edge RSS %6.1f MiB",
			s.frames, float64(s.recRSS)/1024, goHeapMiB(t, recHTTP), float64(s.edgeKB)/1024)
	}
	wi := 0
	for wi < len(samples)-1 && samples[wi].frames < min(2000, total/2) {
		wi++
	}
	warm := samples[wi]
	peakRec, peakEdge := 0, 0
	for _, s := range samples[wi:] {
		peakRec, peakEdge = max(peakRec, s.recRSS), max(peakEdge, s.edgeKB)
	}
	final := samples[len(samples)-1]
	grow := func(a, b int) float64 { return 100 * (float64(b) - float64(a)) / float64(a) }
	t.Logf("growth after warm-up (%d frames → %d): recognizer %+.1f %% (peak %+.1f %%), edge %+.1f %% (peak %+.1f %%)",
		warm.frames, final.frames, grow(warm.recRSS, final.recRSS), grow(warm.recRSS, peakRec),
		grow(warm.edgeKB, final.edgeKB), grow(warm.edgeKB, peakEdge))
	if g := grow(warm.recRSS, final.recRSS); g >= 5 {
		t.Errorf("recognizer RSS grew %.1f %% after warm-up", g)
	}
	if g := grow(warm.edgeKB, final.edgeKB); g >= 5 {
		t.Errorf("edge RSS grew %.1f %% after warm-up", g)
	}
}

// goHeapMiB reads the Go heap in use from a process's /metrics, so a
// growth of RSS can be told apart: Go heap or native (dlib, OpenCV, SQLite).
func goHeapMiB(t *testing.T, addr string) float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics") // loopback: no token needed
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return f / (1 << 20)
		}
	}
	t.Fatalf("metrics of %s (%s): no go_memstats_heap_inuse_bytes in %.300q", addr, resp.Status, b)
	return 0
}

// rssKB reads a process's resident set size from /proc.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("rss: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(rest)
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
