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

// TestSoak runs frames through edge and recognizer (annotated frames drawn
// for every frame, --annotate-always, so the whole output path runs) and
// samples both processes' resident memory 40 times. After the warm-up,
// the growth per frame is bounded in absolute terms: the least-squares
// slope of RSS over answered frames must stay under soakSlope(post), a
// base of soakBytesPerFrame plus a one-off step of soakStepMiB spread over
// the post-warm-up frames (glibc arenas and the Go heap move RSS in steps
// of a few MiB; a longer run tightens the bound towards the base).
// FACEMON_SOAK_FRAMES sets the number of frames: `make test` runs a short
// soak (4,000 frames at the clip's 30 fps: bound 4.7 KB/frame; measured
// +1,096 B/frame for the recognizer, +108 for the edge, and in a full
// make test run +3,755 and +362 with a 5.5 MiB step, Go heap flat at 4-5
// MiB), `make soak` 20,000 (bound 978 B/frame, about 35 MB an hour at 10 fps; measured +425
// B/frame for the recognizer, whose RSS was flat at 358.5-359.7 MiB from
// 4,000 to 18,000 frames and then stepped to 366.8 MiB, and -8 for the
// edge, load average below 1). The warm-up is
// the first 2,000 frames (half of a shorter run). Measured: the
// recognizer's native heap (dlib, OpenCV, glibc's per-thread arenas) grows
// by ~3 % over the first ~1,800 frames and is flat after that (a
// 6,000-frame run: 356.3 MiB at 1,800, 358.3 at 5,400, with the Go heap at
// 3-5 MiB throughout); the edge settles by ~2,100 frames (122.1 MiB at
// 1,500, 128.6 at 2,100, 129.6 at 3,000 in one run; 129-131.5 from 1,800
// to 6,000 in another). A warm-up point earlier than that measures the
// warm-up, not a leak. The native steps are glibc's arenas: each new OS
// thread got its own (13, logged by nativeMem), each keeping its own
// high-water mark (a run with 16 allowed: +4,089 B/frame, main arena 5.2 ->
// 8.1 MiB); serve now runs with MALLOC_ARENA_MAX=2 unless it is set, and a
// run with it was flat at 330.9-332.4 MiB (+911 B/frame, 2 arenas; see
// docs/reference-performance.md).
func TestSoak(t *testing.T) {
	total := 4000
	if v := os.Getenv("FACEMON_SOAK_FRAMES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 400 {
			t.Fatalf("FACEMON_SOAK_FRAMES=%q: want a number ≥ 400", v)
		}
		total = n
	}
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	rec, recHTTP := startRecognizer(t, "soak", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--annotate-always")
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	obs := observe(t, url)
	edge := startEdge(t, url, "soak", 30)

	var samples []soakSample
	const n = 40
	step := total / n
	deadline := time.Now().Add(time.Duration(total)*time.Second/10 + 2*time.Minute) // ≥ 10 fps
	for next := step; next <= total; next += step {
		waitFor(t, time.Until(deadline), fmt.Sprintf("%d identities", next), func() bool {
			ids, _, _ := obs.snapshot()
			return len(ids) >= next
		})
		s := soakSample{frames: next, recKB: rssKB(t, rec.cmd.Process.Pid), edgeKB: rssKB(t, edge.cmd.Process.Pid)}
		samples = append(samples, s)
		if len(samples)%4 == 0 || os.Getenv("FACEMON_SOAK_VERBOSE") != "" {
			nm := nativeMem(rec.cmd.Process.Pid)
			t.Logf("after %5d frames: recognizer RSS %6.1f MiB (Go heap in use %5.1f MiB; native: %s), edge RSS %6.1f MiB",
				s.frames, float64(s.recKB)/1024, goHeapMiB(t, recHTTP), nm, float64(s.edgeKB)/1024)
		}
	}
	warmAt := min(2000, total/2)
	var post []soakSample
	for _, s := range samples {
		if s.frames >= warmAt {
			post = append(post, s)
		}
	}
	_, annotated, _ := obs.snapshot()
	span := post[len(post)-1].frames - post[0].frames
	bound := soakSlope(span)
	rec1 := slope(post, func(s soakSample) int { return s.recKB })
	edge1 := slope(post, func(s soakSample) int { return s.edgeKB })
	first, last := post[0], post[len(post)-1]
	fmt.Fprintf(os.Stderr, "e2e: soak %d frames (%d annotated), after the warm-up (%d -> %d): recognizer %.1f -> %.1f MiB, %+.0f B/frame; edge %.1f -> %.1f MiB, %+.0f B/frame; bound %.0f B/frame\n",
		total, annotated, first.frames, last.frames, float64(first.recKB)/1024, float64(last.recKB)/1024, rec1,
		float64(first.edgeKB)/1024, float64(last.edgeKB)/1024, edge1, bound)
	if rec1 > bound {
		t.Errorf("recognizer RSS grows %.0f bytes per frame after the warm-up (least squares over %d samples); bound %.0f", rec1, len(post), bound)
	}
	if edge1 > bound {
		t.Errorf("edge RSS grows %.0f bytes per frame after the warm-up (least squares over %d samples); bound %.0f", edge1, len(post), bound)
	}
}

type soakSample struct {
	frames        int
	recKB, edgeKB int
}

// The soak's bound on RSS growth after the warm-up (see TestSoak).
const (
	soakBytesPerFrame = 512
	soakStepMiB       = 8
)

// soakSlope is the bound in bytes per frame over span post-warm-up frames.
func soakSlope(span int) float64 {
	return soakBytesPerFrame + soakStepMiB*(1<<20)/float64(max(span, 1))
}

// slope is the least-squares slope of kb(s) (KiB) over s.frames, in bytes
// per frame.
func slope(ss []soakSample, kb func(soakSample) int) float64 {
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := float64(s.frames), float64(kb(s))*1024
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(ss))
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
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

// nativeMemory is where a process's native (non-Go) resident memory is,
// from /proc/<pid>/smaps: the threads it runs, glibc's main arena
// ([heap]), the other malloc arenas (anonymous rw mappings aligned to
// glibc's 64 MiB HEAP_MAX_SIZE outside the Go heap's 0xc0... range: one
// per arena heap, created when a thread first mallocs while the others'
// arenas are locked), and every other anonymous mapping (thread stacks,
// large mmap'd allocations, the Go heap). The soak logs it with RSS, so
// a step in RSS can be put on an arena, a thread or the Go heap.
type nativeMemory struct {
	threads              int
	heapKB               int // [heap]: the main arena
	arenas, arenaKB      int // the other arenas' heaps
	otherAnonKB, filesKB int
}

func (m nativeMemory) String() string {
	return fmt.Sprintf("%d threads, main arena %.1f MiB, %d other arena heaps %.1f MiB, other anon %.1f MiB, files %.1f MiB",
		m.threads, float64(m.heapKB)/1024, m.arenas, float64(m.arenaKB)/1024, float64(m.otherAnonKB)/1024, float64(m.filesKB)/1024)
}

func nativeMem(pid int) nativeMemory {
	var m nativeMemory
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "Threads:"); ok {
				m.threads, _ = strconv.Atoi(strings.TrimSpace(rest))
			}
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return m
	}
	const heapMax = 64 << 20
	kind := 0 // of the current mapping: 1 main arena, 2 other arena, 3 other anon, 4 file
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			start, err := strconv.ParseUint(f[0][:strings.IndexByte(f[0], '-')], 16, 64)
			if err != nil {
				continue
			}
			path := ""
			if len(f) >= 6 {
				path = f[5]
			}
			goHeap := start >= 0xc000000000 && start < 0xd000000000
			switch {
			case path == "[heap]":
				kind = 1
			case path == "" && f[1] == "rw-p" && start%heapMax == 0 && !goHeap:
				kind = 2
				m.arenas++
			case path == "" || strings.HasPrefix(path, "["):
				kind = 3
			default:
				kind = 4
			}
			continue
		}
		if len(f) >= 2 && f[0] == "Rss:" {
			kb, _ := strconv.Atoi(f[1])
			switch kind {
			case 1:
				m.heapKB += kb
			case 2:
				m.arenaKB += kb
			case 3:
				m.otherAnonKB += kb
			case 4:
				m.filesKB += kb
			}
		}
	}
	return m
}
