package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestProcCPU checks procCPU's /proc reading against getrusage's count of
// the same process's CPU time around a busy loop of at least 100 ms of CPU
// (not of wall time: on a loaded machine the loop gets less than a core).
func TestProcCPU(t *testing.T) {
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	d0, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	r0 := rusage()
	n := 0
	for deadline := time.Now().Add(20 * time.Second); rusage()-r0 < 100*time.Millisecond; n++ {
		if time.Now().After(deadline) {
			t.Fatal("no 100 ms of CPU in 20 s")
		}
	}
	r1 := rusage()
	d1, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d loops: /proc %v, getrusage %v", n, d1-d0, r1-r0)
	// /proc counts in clock ticks (10 ms), getrusage finer: allow a few ticks.
	if diff := (d1 - d0) - (r1 - r0); diff < -50*time.Millisecond || diff > 50*time.Millisecond {
		t.Fatalf("/proc measured %v of CPU where getrusage measured %v", d1-d0, r1-r0)
	}
}

func TestScrapeMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP x\nfacemon_recognizer_frames_dropped_total 12\n"+
			"facemon_recognizer_stage_seconds_sum{stage=\"detect\"} 1.5\n"+
			"facemon_recognizer_stage_seconds_sum{stage=\"describe\"} 0.25\n"+
			"facemon_recognizer_stage_seconds_count{stage=\"detect\"} 9\n")
	}))
	defer srv.Close()
	if v := scrapeCounter(srv.URL, "facemon_recognizer_frames_dropped_total"); v != 12 {
		t.Fatalf("counter %v", v)
	}
	if v := scrapeCounter(srv.URL, "facemon_recognizer_missing_total"); v != -1 {
		t.Fatalf("missing counter %v", v)
	}
	st := scrapeStages(srv.URL)
	if len(st) != 2 || st["detect"] != 1.5 || st["describe"] != 0.25 {
		t.Fatalf("stages %v", st)
	}
}
