package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTLSEndToEnd: the README's TLS steps with the real binaries. `certs`
// makes the CA and server certificate, `serve --tls-cert --tls-key` adds
// MQTT over TLS, an edge connects with `--broker ssl://localhost:PORT --ca
// ca.pem` and its frames are recognized; an edge trusting no such CA never
// connects and says why.
func TestTLSEndToEnd(t *testing.T) {
	state := t.TempDir()
	out, err := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "certs", "--state", state, "--host", "localhost,127.0.0.1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "new local CA") {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	tlsDir := filepath.Join(state, "tls")
	plain, secure := freePort(t), freePort(t)
	startRecognizer(t, "rec-tls", "--listen", fmt.Sprintf("127.0.0.1:%d", plain),
		"--tls-cert", filepath.Join(tlsDir, "server.pem"), "--tls-key", filepath.Join(tlsDir, "server.key"),
		"--tls-listen", fmt.Sprintf("127.0.0.1:%d", secure))
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", secure), 30*time.Second)
	obs := observe(t, fmt.Sprintf("tcp://127.0.0.1:%d", plain))
	edge := start(t, "edge-tls", "facemon-edge", "--broker", fmt.Sprintf("ssl://localhost:%d", secure), "--ca", filepath.Join(tlsDir, "ca.pem"),
		"--camera-id", "stage", "--source", video(t), "--loop", "--fps", "10",
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--dataset", t.TempDir())
	noCA := start(t, "edge-noca", "facemon-edge", "--broker", fmt.Sprintf("ssl://localhost:%d", secure),
		"--camera-id", "garage", "--source", video(t), "--loop",
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--dataset", t.TempDir())
	waitFor(t, 40*time.Second, "identities with a face from the TLS edge", func() bool {
		ids, _, _ := obs.snapshot()
		for _, m := range ids {
			if m.Camera == "stage" && len(m.Faces) > 0 {
				return true
			}
		}
		return false
	})
	waitFor(t, 20*time.Second, "the CA-less edge's refusal", func() bool { return noCA.grep("unknown authority") > 0 })
	if noCA.grep("--ca") == 0 {
		t.Error("the refusal does not say to give --ca")
	}
	ids, _, _ := obs.snapshot()
	for _, m := range ids {
		if m.Camera == "garage" {
			t.Fatal("frames from the edge without --ca were recognized")
		}
	}
	if edge.grep("mqtt connected") == 0 {
		t.Error("TLS edge never logged its connection")
	}
}
