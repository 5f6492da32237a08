package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestProcCPU(t *testing.T) {
	d0, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); n++ {
	}
	t.Logf("%d loops", n)
	d1, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d1-d0 < 50*time.Millisecond || d1-d0 > 5*time.Second {
		t.Fatalf("100 ms busy loop measured %v", d1-d0)
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
