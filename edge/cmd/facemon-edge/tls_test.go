package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/tlsx"
)

// TestDashboardHTTPS: with --tls-cert/--tls-key the dashboard answers over
// HTTPS to a client trusting the CA, and not over plain HTTP.
func TestDashboardHTTPS(t *testing.T) {
	f, _, err := tlsx.Generate(filepath.Join(t.TempDir(), "tls"), []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"facemon-edge", "--broker", "tcp://" + freePort(t), "--camera-id", "door",
			"--source", sharedVideo(t), "--loop", "--listen", addr, "--dataset", t.TempDir(), "--log-level", "warn",
			"--tls-cert", f.Cert, "--tls-key", f.Key, "--state", t.TempDir()})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("edge did not stop")
		}
	})
	tc, err := tlsx.ClientConfig(f.CA, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	port := addr[strings.LastIndex(addr, ":")+1:]
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get("https://localhost:" + port + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				body = string(b)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if body == "" {
		t.Error("empty /healthz body")
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the HTTPS listener")
		}
	}
	// A client that does not trust the CA is refused.
	other := http.Client{Timeout: 5 * time.Second}
	if _, err := other.Get("https://localhost:" + port + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted client: %v", err)
	}
}

func TestTLSFlagsTogether(t *testing.T) {
	if _, err := parseConfig([]string{"facemon-edge", "--tls-cert", "x.pem"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Errorf("--tls-cert alone: %v", err)
	}
}
