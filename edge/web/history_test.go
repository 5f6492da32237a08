package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/facemon/facemon/edge/rapi"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/topic"
)

func historyServer(t *testing.T, history http.Handler) *httptest.Server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(Options{Hub: stream.New(stream.Options{}), Local: "c1", Logger: quiet, History: history,
		State: state.New(state.Options{Space: topic.New(""), Local: "c1", Logger: quiet})})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func getConfig(t *testing.T, base string) configData {
	t.Helper()
	r, err := http.Get(base + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var c configData
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil || r.StatusCode != 200 {
		t.Fatalf("config: %d %v", r.StatusCode, err)
	}
	return c
}

func helloHistory(t *testing.T, base string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var ev struct {
			Type string `json:"type"`
			Data struct {
				History *bool `json:"history"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "hello" {
			if ev.Data.History == nil {
				t.Fatal("hello without history")
			}
			return *ev.Data.History
		}
	}
}

func TestHistoryDisabled(t *testing.T) {
	ts := historyServer(t, nil)
	if c := getConfig(t, ts.URL); c.History || c.Camera != "c1" {
		t.Errorf("config %+v", c)
	}
	if helloHistory(t, ts.URL) {
		t.Error("hello says history")
	}
	r, err := http.Get(ts.URL + "/rapi/people")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 404 || !strings.Contains(string(b), "history disabled") {
		t.Errorf("/rapi/people without a recognizer: %d %s", r.StatusCode, b)
	}
}

func TestHistoryProxied(t *testing.T) {
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path})
	}))
	defer rec.Close()
	px, err := rapi.New(rapi.Options{Target: rec.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := historyServer(t, px)
	if c := getConfig(t, ts.URL); !c.History {
		t.Errorf("config %+v", c)
	}
	if !helloHistory(t, ts.URL) {
		t.Error("hello says no history")
	}
	r, err := http.Get(ts.URL + "/rapi/unknowns?limit=5")
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	json.NewDecoder(r.Body).Decode(&out)
	r.Body.Close()
	if r.StatusCode != 200 || out["path"] != "/api/unknowns" {
		t.Errorf("proxied: %d %v", r.StatusCode, out)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff on proxied answers")
	}
	// The edge's own API stays the edge's.
	r, err = http.Get(ts.URL + "/api/cameras")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Errorf("/api/cameras: %d", r.StatusCode)
	}
}
