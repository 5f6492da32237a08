//go:build cgo

package service_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/annotate"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/testx"
)

// TestTwoDefaultRecognizersOnOneBroker: two recognizers started with
// default flags on one host (same instance name, no --client-id) share one
// broker without evicting each other: each connects once and stays
// connected. Before client ids were unique per process, both used
// facemon-recognizer-<host> and the broker dropped one for the other in a
// loop.
func TestTwoDefaultRecognizersOnOneBroker(t *testing.T) {
	pool, err := face.NewPool(1, dlib.Opener(testenv.Models(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	port := testx.FreePort(t)
	run := func(cfg service.Config, logs *testx.Buffer) *service.Service {
		t.Helper()
		cfg.Gallery = t.TempDir() + "/gallery.json"
		cfg.Dataset = t.TempDir()
		cfg.Analyzer, cfg.Rule = face.DefaultAnalyzer, gallery.DefaultRule
		svc, err := service.New(cfg, pool, annotate.JPEG, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return svc
	}
	var logA, logB testx.Buffer
	run(service.Config{AllowAnonymous: true, Listen: fmt.Sprintf("127.0.0.1:%d", port)}, &logA)
	testx.WaitFor(t, 15*time.Second, "recognizer A connected", func() bool { return strings.Contains(logA.String(), "mqtt connected") })
	run(service.Config{Broker: fmt.Sprintf("tcp://127.0.0.1:%d", port)}, &logB)
	testx.WaitFor(t, 15*time.Second, "recognizer B connected", func() bool { return strings.Contains(logB.String(), "mqtt connected") })
	time.Sleep(4 * time.Second) // a takeover loop shows several reconnects a second
	for name, l := range map[string]*testx.Buffer{"A": &logA, "B": &logB} {
		out := l.String()
		if n := strings.Count(out, `msg="mqtt connected"`); n != 1 {
			t.Errorf("recognizer %s connected %d times:\n%s", name, n, out)
		}
		if strings.Contains(out, "connection lost") {
			t.Errorf("recognizer %s lost its connection:\n%s", name, out)
		}
	}
	idA, idB := clientID(logA.String()), clientID(logB.String())
	if idA == "" || idA == idB || !strings.HasPrefix(idA, "@recognizer-") {
		t.Errorf("client ids %q and %q", idA, idB)
	}
}

// clientID returns the client_id attribute of the "recognizer started" line.
func clientID(logs string) string {
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "recognizer started") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "client_id="); ok {
				return v
			}
		}
	}
	return ""
}
