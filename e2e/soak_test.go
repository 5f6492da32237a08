package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/topic"
)

// rssKiB reads a process's resident set size from /proc.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("rss of %d: %v", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no VmRSS for %d", pid)
	return 0
}

// TestSoak runs the edge (the shared clip, looped, 30 fps) into the
// recognizer until the recognizer has processed FACEMON_SOAK_FRAMES frames
// (default 2,000; `make soak` runs 10,000), sampling both processes' RSS
// every 1,000 processed frames. After the first 1,000 (warm-up: models,
// arenas, caches), RSS may grow by less than 5 %.
func TestSoak(t *testing.T) {
	total := 2000
	if v := os.Getenv("FACEMON_SOAK_FRAMES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2000 {
			t.Fatalf("FACEMON_SOAK_FRAMES=%q: want a number >= 2000", v)
		}
		total = n
	}
	const every = 1000
	port := freePort(t)
	brokerURL := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	rec, _ := startRecognizer(t, "soak", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	var processed atomic.Int64
	cl, err := mqttx.New(mqttx.Options{Broker: brokerURL, ClientID: fmt.Sprintf("e2e-soak-%d", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	cl.Subscribe(topic.New("").AllCameras(topic.Identities), 0, func(string, []byte) { processed.Add(1) })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	edge := startEdge(t, brokerURL, "soak", 30)
	// At least 3 processed frames per second on a loaded 2-core machine.
	deadline := time.Now().Add(time.Duration(total/3)*time.Second + time.Minute)
	type sample struct{ frames, rec, edge int }
	var samples []sample
	start := time.Now()
	for next := every; next <= total; {
		if !rec.running() || !edge.running() {
			t.Fatalf("a process exited during the soak (recognizer running %v, edge running %v)", rec.running(), edge.running())
		}
		if n := int(processed.Load()); n >= next {
			s := sample{n, rssKiB(t, rec.cmd.Process.Pid), rssKiB(t, edge.cmd.Process.Pid)}
			samples = append(samples, s)
			t.Logf("%6d frames processed (%v): recognizer RSS %d KiB, edge RSS %d KiB", s.frames, time.Since(start).Round(time.Second), s.rec, s.edge)
			next += every
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d frames processed by the deadline", processed.Load(), total)
		}
		time.Sleep(200 * time.Millisecond)
	}
	first, last := samples[0], samples[len(samples)-1]
	growth := func(a, b int) float64 { return 100 * float64(b-a) / float64(a) }
	fmt.Fprintf(os.Stderr, "e2e: soak %d frames in %v: recognizer RSS %d -> %d KiB (%+.1f %%), edge %d -> %d KiB (%+.1f %%) after warm-up\n",
		last.frames, time.Since(start).Round(time.Second), first.rec, last.rec, growth(first.rec, last.rec), first.edge, last.edge, growth(first.edge, last.edge))
	if g := growth(first.rec, last.rec); g >= 5 {
		t.Errorf("recognizer RSS grew %.1f %% after warm-up (limit 5 %%)", g)
	}
	if g := growth(first.edge, last.edge); g >= 5 {
		t.Errorf("edge RSS grew %.1f %% after warm-up (limit 5 %%)", g)
	}
}
