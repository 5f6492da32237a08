package main

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/testbroker"
	"github.com/facemon/facemon/edge/internal/testjpeg"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// TestARM64Emulated runs the cross-built arm64 binaries (make cross-arm64)
// under qemu-aarch64-static with the arm64 sysroot as library prefix:
// facemon-edge --version, then the edge on the shared video publishing to a
// broker on 127.0.0.1 (the arm64 facemon-broker, also emulated, when it was
// built; else mosquitto), and an exec: MJPEG source passed through. Run by
// make test-arm64 (FACEMON_ARM64_BIN=bin/linux-arm64, FACEMON_ARM64_SYSROOT);
// skipped without FACEMON_ARM64_BIN.
func TestARM64Emulated(t *testing.T) {
	dir := os.Getenv("FACEMON_ARM64_BIN")
	if dir == "" {
		t.Skip("FACEMON_ARM64_BIN not set (make test-arm64)")
	}
	sysroot := os.Getenv("FACEMON_ARM64_SYSROOT")
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Fatal("qemu-aarch64-static not installed (scripts/cross-deps.sh installs qemu-user-static)")
	}
	edgeBin := filepath.Join(dir, "facemon-edge")
	if _, err := os.Stat(edgeBin); err != nil {
		t.Fatalf("arm64 edge missing: %v (make cross-arm64)", err)
	}
	if _, err := os.Stat(filepath.Join(sysroot, "lib", "ld-linux-aarch64.so.1")); err != nil {
		t.Fatalf("FACEMON_ARM64_SYSROOT %q has no arm64 loader: %v", sysroot, err)
	}
	emu := func(ctx context.Context, bin string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, qemu, append([]string{"-L", sysroot, bin}, args...)...)
		cmd.Env = append(os.Environ(), "QEMU_LD_PREFIX="+sysroot)
		cmd.WaitDelay = 5 * time.Second
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	out, err := emu(ctx, edgeBin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "linux/arm64") || !strings.Contains(string(out), "OpenCV 4.") {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	t.Logf("emulated --version in %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))

	broker := ""
	if bb := filepath.Join(dir, "facemon-broker"); fileExists(bb) {
		addr := freePort(t)
		cmd := emu(ctx, bb, "--listen", addr, "--allow-anonymous", "--log-level", "warn") // loopback-only, explicitly
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		deadline := time.Now().Add(30 * time.Second)
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("emulated arm64 broker not listening\n%s", logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		broker = "tcp://" + addr
		t.Logf("emulated arm64 facemon-broker on %s", addr)
	} else {
		broker = testbroker.Start(t).URL
	}

	for _, c := range []struct {
		name, camera string
		args         []string
		width        int
		pass         bool
	}{
		{"video file via OpenCV", "arm64", []string{"--source", sharedVideo(t), "--loop", "--width", "320"}, 320, false},
		{"exec MJPEG pass-through", "arm64mjpeg", []string{"--source", `exec:sh -c 'while :; do cat "$0"; sleep 0.1; done' ` + writeOneJPEG(t, 160, 120)}, 160, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := make(chan []byte, 20)
			sub := mqttClient(t, broker, "arm64-sub-"+c.camera, "")
			defer sub.Close()
			sub.Subscribe(topic.New("").Frames(c.camera), 0, func(_ string, p []byte) {
				select {
				case got <- p:
				default:
				}
			})
			cmd := emu(ctx, edgeBin, append([]string{"--broker", broker, "--camera-id", c.camera, "--fps", "5",
				"--listen", freePort(t), "--dataset", t.TempDir(), "--log-level", "warn", "--no-login", "--state", t.TempDir()}, c.args...)...)
			var logs bytes.Buffer
			cmd.Stderr = &logs
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
			for i := 0; i < 3; i++ {
				var p []byte
				select {
				case p = <-got:
				case <-time.After(60 * time.Second):
					t.Fatalf("%d frames from the emulated edge in 60s\n%s", i, logs.String())
				}
				m, err := msg.ExtractMeta(p)
				if err != nil || m.Camera != c.camera {
					t.Fatalf("frame meta %+v: %v", m, err)
				}
				img, err := jpeg.Decode(bytes.NewReader(p))
				if err != nil || img.Bounds().Dx() != c.width {
					t.Fatalf("frame does not decode at width %d: %v", c.width, err)
				}
				if i == 0 {
					t.Logf("first frame %v after start", time.Since(start).Round(time.Millisecond))
				}
			}
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// writeOneJPEG writes a w×h JPEG (the first frame of the shared clip would
// need OpenCV; a Go-encoded gradient will do) and returns its path.
func writeOneJPEG(t *testing.T, w, h int) string {
	p := filepath.Join(t.TempDir(), fmt.Sprintf("f%dx%d.jpg", w, h))
	if err := os.WriteFile(p, testjpeg.Gradient(t, w, h, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
