//go:build containers

package containers

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const edgeARM64Image = "localhost/facemon-edge:arm64"

// TestEdgeARM64Image checks the image `make image-edge-arm64` builds
// (scripts/image-edge-arm64.sh): linux/arm64, user 10001, and
// facemon-edge --version running in it under qemu (binfmt_misc), linked
// against the OpenCV copied into it. Run with FACEMON_ARM64_IMAGE=1
// (`make image-edge-arm64` does); it fails, not skips, when the image,
// podman or the qemu registration is missing.
func TestEdgeARM64Image(t *testing.T) {
	if os.Getenv("FACEMON_ARM64_IMAGE") == "" {
		t.Skip("FACEMON_ARM64_IMAGE not set (make image-edge-arm64 runs this test)")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman not installed (scripts/deps-containers.sh)")
	}
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err != nil {
		t.Fatalf("qemu-aarch64 is not registered with binfmt_misc (scripts/image-edge-arm64.sh registers it): %v", err)
	}
	s := &stack{t: t, root: repoRoot()}
	if _, err := s.try(time.Minute, "podman", "image", "exists", edgeARM64Image); err != nil {
		t.Fatalf("no image %s: run make image-edge-arm64", edgeARM64Image)
	}
	platform := strings.TrimSpace(s.podman(time.Minute, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{.User}}", edgeARM64Image))
	if platform != "linux/arm64 10001:10001" {
		t.Fatalf("image platform and user %q, want linux/arm64 10001:10001", platform)
	}
	start := time.Now()
	out := s.podman(2*time.Minute, "run", "--rm", "--no-healthcheck", "--network", "host", "--arch", "arm64", edgeARM64Image, "facemon-edge", "--version")
	if !strings.Contains(out, "linux/arm64") || !strings.Contains(out, "OpenCV 4.") {
		t.Fatalf("facemon-edge --version in %s: %q, want linux/arm64 and OpenCV 4.x", edgeARM64Image, out)
	}
	t.Logf("--version under qemu in %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	if id := strings.TrimSpace(s.podman(2*time.Minute, "run", "--rm", "--no-healthcheck", "--network", "host", "--arch", "arm64", edgeARM64Image, "id", "-u")); id != "10001" {
		t.Fatalf("runs as uid %q, want 10001", id)
	}
}
