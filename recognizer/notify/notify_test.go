package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

type fakePub struct {
	mu   sync.Mutex
	msgs map[string][][]byte
	err  error
}

func (f *fakePub) Publish(t string, qos byte, retained bool, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.msgs == nil {
		f.msgs = map[string][][]byte{}
	}
	f.msgs[t] = append(f.msgs[t], payload)
	return f.err
}

func (f *fakePub) n(t string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs[t])
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMQTTAndWebhookWithCooldown(t *testing.T) {
	var mu sync.Mutex
	var got []Alert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a Alert
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Token") != "s3cret" || json.Unmarshal(b, &a) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer srv.Close()
	now := t0
	pub := &fakePub{}
	n, err := New(Config{Space: topic.New("site"), Instance: "rec1", Webhook: srv.URL, Headers: http.Header{"X-Token": {"s3cret"}},
		Cooldown: time.Minute, Now: func() time.Time { return now }}, pub)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()

	crop := []byte{0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9}
	if !n.Unknown(Alert{Camera: "door", Time: t0, Crop: crop, Candidate: "alice", Distance: 0.7}) {
		t.Fatal("first alert suppressed")
	}
	now = now.Add(30 * time.Second)
	if n.Unknown(Alert{Camera: "door"}) {
		t.Fatal("alert within cool-down sent")
	}
	if !n.Unknown(Alert{Camera: "yard"}) {
		t.Fatal("other camera suppressed")
	}
	now = now.Add(31 * time.Second)
	if !n.Unknown(Alert{Camera: "door"}) {
		t.Fatal("alert after cool-down suppressed")
	}
	waitFor(t, "webhook deliveries", func() bool { return n.Stats().Delivered == 3 })
	if c := pub.n("site/facemon/alerts/unknown"); c != 3 {
		t.Fatalf("mqtt alerts %d", c)
	}
	var first Alert
	json.Unmarshal(pub.msgs["site/facemon/alerts/unknown"][0], &first)
	if first.Camera != "door" || string(first.Crop) != string(crop) || first.Recognizer != "rec1" || first.Type != "unknown_face" || !first.Time.Equal(t0) {
		t.Fatalf("mqtt alert %+v", first)
	}
	mu.Lock()
	if len(got) != 3 || string(got[0].Crop) != string(crop) {
		t.Fatalf("webhook got %+v", got)
	}
	mu.Unlock()
	if st := n.Stats(); st.Sent != 3 || st.Suppressed != 1 || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	cancel()
	<-done
}

func TestWebhookQueueFullDropsAndNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	n, err := New(Config{Topic: "-", Webhook: srv.URL, QueueSize: 2, Cooldown: -1, Timeout: 3 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go n.Run(ctx)
	// The first is taken by the worker (stuck in the slow server), two
	// fill the queue, the rest are dropped.
	n.Unknown(Alert{Camera: "door"})
	waitFor(t, "worker to take the first alert", func() bool { return len(n.queue) == 0 })
	start := time.Now()
	for i := 0; i < 10; i++ {
		n.Unknown(Alert{Camera: "door"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Unknown blocked for %v", d)
	}
	if st := n.Stats(); st.Dropped != 8 || st.Sent != 11 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWebhookErrorsAndTimeout(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return
		}
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer srv.Close()
	defer close(stop)
	for _, path := range []string{"/err", "/slow"} {
		pub := &fakePub{err: errors.New("not connected")}
		n, err := New(Config{Webhook: srv.URL + path, Timeout: 200 * time.Millisecond, Cooldown: -1}, pub)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		go n.Run(ctx)
		n.Unknown(Alert{Camera: "door"})
		waitFor(t, path+" failure", func() bool { return n.Stats().Failed == 1 })
		if n.Stats().MQTTFailed != 1 {
			t.Fatal("mqtt failure not counted")
		}
		cancel()
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{{Webhook: "ftp://x"}, {Webhook: "http://"}, {Topic: "a/#"}} {
		if _, err := New(c, &fakePub{}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("MQTT alerts without publisher accepted")
	}
	n, _ := New(Config{}, &fakePub{})
	if n.Unknown(Alert{Camera: "../x"}) {
		t.Error("bad camera accepted")
	}
}

// TestWebhookSecretsNotLogged: a webhook URL with a password, a secret
// path and a token in its query fails (HTTP 500, then connection refused)
// and no part of the secret reaches the log or the errors.
func TestWebhookSecretsNotLogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more
	var logs testx.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, base := range []string{srv.URL, closed.URL} {
		hook := strings.Replace(base, "http://", "http://hookuser:hookpw123@", 1) + "/api/webhook/HOOKSECRET?token=tok456"
		n, err := New(Config{Webhook: hook, Timeout: 500 * time.Millisecond, Cooldown: -1, Topic: "-", Logger: log}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		go n.Run(ctx)
		n.Unknown(Alert{Camera: "door"})
		waitFor(t, "webhook failure", func() bool { return n.Stats().Failed == 1 })
		cancel()
	}
	srv.Close()
	out := logs.String()
	t.Log(out)
	if strings.Count(out, "webhook failed") != 2 || !strings.Contains(out, "500") || !strings.Contains(out, "refused") {
		t.Errorf("expected two failure lines (500, refused):\n%s", out)
	}
	for _, secret := range []string{"hookpw123", "HOOKSECRET", "tok456"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q logged:\n%s", secret, out)
		}
	}
	_, err := New(Config{Webhook: "ftp://u:ftppw@x/HOOKSECRET", Topic: "-"}, nil)
	if err == nil || strings.Contains(err.Error(), "ftppw") || strings.Contains(err.Error(), "HOOKSECRET") {
		t.Errorf("bad webhook error: %v", err)
	}
}

// Cool-down entries of cameras that come and go expire: 10,000 distinct
// cameras alerting a second apart leave a bounded map, and a camera
// within its cool-down stays suppressed.
func TestCooldownStateBounded(t *testing.T) {
	now := t0
	pub := &fakePub{}
	n, err := New(Config{Space: topic.New(""), Instance: "rec1", Cooldown: 5 * time.Second, QueueSize: 1, Now: func() time.Time { return now }}, pub)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		now = now.Add(time.Second)
		n.Unknown(Alert{Camera: fmt.Sprintf("cam%05d", i)})
	}
	n.mu.Lock()
	size := len(n.last)
	n.mu.Unlock()
	if size > 128 {
		t.Fatalf("%d cool-down entries after 10,000 cameras", size)
	}
	if n.Unknown(Alert{Camera: "cam09999"}) {
		t.Fatal("a camera inside its cool-down alerted again")
	}
}
