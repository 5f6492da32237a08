package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/tlsx"
)

// noFaces is an engine that finds no face (this test is about transport).
type noFaces struct{}

func (noFaces) Recognize([]byte, face.Detector) ([]face.Face, error) { return nil, nil }
func (noFaces) Close() error                                         { return nil }

// TestTLS: certificates from the certs command; the embedded broker's TLS
// listener and the HTTPS API accept a client trusting ca.pem (--ca) and
// refuse one trusting another CA, with an error that says so.
func TestTLS(t *testing.T) {
	state := t.TempDir()
	var out strings.Builder
	if code := tlsx.Command([]string{"--state", state, "--host", "localhost,127.0.0.1"}, &out, io.Discard); code != 0 {
		t.Fatalf("certs: exit %d", code)
	}
	f := tlsx.FilesIn(filepath.Join(state, "tls"))
	pool, err := face.NewPool(1, func() (face.Engine, error) { return noFaces{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	tcpPort, tlsPort, httpPort := testx.FreePort(t), testx.FreePort(t), testx.FreePort(t)
	svc, err := service.New(service.Config{AllowAnonymous: true, Gallery: filepath.Join(t.TempDir(), "gallery.json"), Dataset: t.TempDir(),
		Listen: fmt.Sprintf("127.0.0.1:%d", tcpPort), TLSListen: fmt.Sprintf("127.0.0.1:%d", tlsPort), TLSCert: f.Cert, TLSKey: f.Key,
		HTTP: fmt.Sprintf("127.0.0.1:%d", httpPort), Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule},
		pool, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	connect := func(ca string, wait time.Duration) error {
		cl, err := mqttx.New(mqttx.Options{Broker: fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort), ClientID: mqttx.DefaultClientID("", "tls-test"),
			CAFile: ca, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		return cl.WaitConnected(ctx)
	}
	if err := connect(f.CA, 15*time.Second); err != nil {
		t.Fatalf("MQTT over TLS with ca.pem: %v", err)
	}
	other := t.TempDir()
	if code := tlsx.Command([]string{"--state", other, "--host", "127.0.0.1"}, io.Discard, io.Discard); code != 0 {
		t.Fatal("second certs run failed")
	}
	otherCA := tlsx.FilesIn(filepath.Join(other, "tls")).CA
	if err := connect(otherCA, 2*time.Second); err == nil || !strings.Contains(err.Error(), "unknown authority") || !strings.Contains(err.Error(), "--ca") {
		t.Errorf("MQTT over TLS with another CA: %v", err)
	}

	get := func(ca string) (string, error) {
		tc, err := tlsx.ClientConfig(ca, "", "", "")
		if err != nil {
			return "", err
		}
		c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := c.Get(fmt.Sprintf("https://localhost:%d/healthz", httpPort))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err = get(f.CA)
		if err == nil && strings.TrimSpace(body) == "ok" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || strings.TrimSpace(body) != "ok" {
		t.Errorf("HTTPS /healthz with ca.pem: %q %v", body, err)
	}
	if _, err := get(otherCA); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("HTTPS with another CA: %v", err)
	}
	// Plain HTTP to the HTTPS port gets no API answer.
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort)); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(b)) == "ok" {
			t.Error("plain HTTP answered on the HTTPS port")
		}
	}
}
