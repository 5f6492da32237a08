package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBenchLiveShort runs `facemon-recognizer bench --live embedded --edge
// facemon-edge` briefly (2 real edges on the shared video, 5 fps, 4 s), so
// the live benchmark keeps working: every camera's frames come back as
// identities, with latencies and the CPU of recognizer and edges
// measured. (`make bench-pipeline` runs the full 8 cameras x 10 fps.)
func TestBenchLiveShort(t *testing.T) {
	out := filepath.Join(t.TempDir(), "live.json")
	cmd := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "bench", "--live", "embedded",
		"--edge", filepath.Join(binDir, "facemon-edge"), "--cameras", "2", "--fps", "5", "--duration", "4s",
		"--models", models, "--video", video(t), "--gallery", gallery, "--json", out)
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
	b, err := cmd.CombinedOutput()
	t.Logf("bench --live:\n%s", b)
	if err != nil {
		t.Fatalf("bench --live: %v", err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Published  int                `json:"published"`
		Identities int                `json:"identities"`
		DroppedPct float64            `json:"dropped_pct"`
		P95ms      float64            `json:"p95_ms"`
		CPUSeconds float64            `json:"recognizer_cpu_s"`
		EdgeCPU    float64            `json:"edge_cpu_s"`
		Edges      string             `json:"edges"`
		Viewer     bool               `json:"viewer"`
		Annotated  int                `json:"annotated"`
		StageMS    map[string]float64 `json:"stage_ms"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("report: %v\n%s", err, raw)
	}
	// 2 cameras x 5 fps x 4 s = 40 frames; "most answered" is >= 90 %
	// of the frames the edges published in the window (the identities
	// counted are those of frames captured in it), each camera watched
	// (an MJPEG client per edge), so the annotated frames come back too.
	if r.Published < 30 {
		t.Errorf("published %d frames in 4 s from 2 edges at 5 fps; want about 40", r.Published)
	}
	if float64(r.Identities) < 0.9*float64(r.Published) || r.DroppedPct > 10 {
		t.Errorf("published %d, identities %d (%.1f %% dropped): want >= 90 %% answered", r.Published, r.Identities, r.DroppedPct)
	}
	if !r.Viewer || r.Annotated < r.Identities/2 {
		t.Errorf("viewer %v, annotated %d for %d identities: want the watched cameras' annotated frames", r.Viewer, r.Annotated, r.Identities)
	}
	if r.P95ms <= 0 || r.CPUSeconds <= 0 || r.EdgeCPU <= 0 || r.Edges == "" || r.StageMS["decode"] <= 0 {
		t.Errorf("report incomplete: %s", raw)
	}
}
