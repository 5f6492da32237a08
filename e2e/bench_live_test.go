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
		StageMS    map[string]float64 `json:"stage_ms"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("report: %v\n%s", err, raw)
	}
	// 2 cameras x 5 fps x 4 s = 40 frames.
	if r.Published < 30 || r.Identities < r.Published/2 {
		t.Errorf("published %d, identities %d: want about 40 and most of them answered", r.Published, r.Identities)
	}
	if r.P95ms <= 0 || r.CPUSeconds <= 0 || r.EdgeCPU <= 0 || r.Edges == "" || r.StageMS["decode"] <= 0 {
		t.Errorf("report incomplete: %s", raw)
	}
}
