// Package testbroker runs Debian's mosquitto on a free loopback port for
// tests, and can stop and restart it on the same port.
package testbroker

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/freeport"
)

// Broker is a mosquitto process on 127.0.0.1.
type Broker struct {
	t    testing.TB
	Port int
	URL  string
	conf string
	cmd  *exec.Cmd
}

// Start runs mosquitto (failing the test when it is missing and CI=true,
// skipping otherwise). It is stopped at the end of the test.
func Start(t testing.TB) *Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto not installed")
		}
		t.Skip("mosquitto not installed")
	}
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &Broker{t: t, Port: port, URL: fmt.Sprintf("tcp://127.0.0.1:%d", port), conf: conf}
	b.cmd = exec.Command(bin, "-c", conf)
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// Restart starts the broker again after Stop (same port).
func (b *Broker) Restart() {
	b.t.Helper()
	bin := b.cmd.Path
	b.cmd = exec.Command(bin, "-c", b.conf)
	if os.Getenv("FACEMON_TEST_VERBOSE") != "" {
		b.cmd.Stdout, b.cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := b.cmd.Start(); err != nil {
		b.t.Fatalf("mosquitto: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("mosquitto did not listen on port %d", b.Port)
}

// Stop kills the broker (as a crash would: no clean disconnects).
func (b *Broker) Stop() {
	if b.cmd == nil || b.cmd.Process == nil || b.cmd.ProcessState != nil {
		return
	}
	b.cmd.Process.Kill()
	b.cmd.Wait()
}
