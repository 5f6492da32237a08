package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/facemon/facemon/edge/internal/fakemqtt"
	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/edge/train"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

type trainEnv struct {
	ts   *httptest.Server
	c    *fakemqtt.Client
	st   *state.State
	cl   *http.Client // logged in
	csrf string
}

func newTrainServer(t *testing.T) *trainEnv {
	t.Helper()
	sp := topic.New("")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := state.New(state.Options{Space: sp, Local: "c1", Logger: quiet})
	c := &fakemqtt.Client{}
	tr := train.New(train.Options{Client: c, Space: sp, Camera: "c1", RecognizerOnline: st.RecognizerOnline, Events: st.Publish, Logger: quiet})
	// The retained result of an earlier run.
	done, _ := json.Marshal(msg.TrainStatus{V: 1, ID: "old", State: msg.TrainDone, People: 3, Encodings: 9, Time: time.Now()})
	c.Deliver(sp.TrainStatus(), done)
	hashFile := filepath.Join(t.TempDir(), "dashboard.bcrypt")
	if err := login.WriteHash(hashFile, testPassword); err != nil {
		t.Fatal(err)
	}
	history := historyProxy(t, newFakeRec(t))
	a, err := login.New(login.Options{HashFile: hashFile, Logger: quiet, Issuer: history.Sessions()})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Hub: stream.New(stream.Options{}), State: st, Train: tr, Local: "c1", Logger: quiet, Login: a, History: history})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	cl := client(t)
	code, csrf := doLogin(t, cl, ts.URL, testPassword)
	if code != 200 {
		t.Fatalf("login: %d", code)
	}
	return &trainEnv{ts, c, st, cl, csrf}
}

func postTrain(t *testing.T, e *trainEnv, ct string) (int, map[string]string) {
	t.Helper()
	rq, _ := http.NewRequest("POST", e.ts.URL+"/api/train", bytes.NewBufferString("{}"))
	rq.Header.Set("Content-Type", ct)
	rq.Header.Set(login.CSRFHeader, e.csrf)
	r, err := e.cl.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var out map[string]string
	json.NewDecoder(r.Body).Decode(&out)
	return r.StatusCode, out
}

func TestTrainAPI(t *testing.T) {
	e := newTrainServer(t)
	c, st := e.c, e.st
	sp := topic.New("")
	// No recognizer online yet: 503, nothing sent.
	if code, out := postTrain(t, e, "application/json"); code != 503 || !strings.Contains(out["error"], "no recognizer") {
		t.Fatalf("no recognizer: %d %v", code, out)
	}
	st.HandleStatus(sp.Status(topic.KindRecognizer, "r1"), []byte(topic.Online))
	code, out := postTrain(t, e, "application/json")
	if code != 202 || out["id"] == "" {
		t.Fatalf("train: %d %v", code, out)
	}
	ms := c.Messages()
	if len(ms) != 1 || ms[0].Topic != sp.CamTrain("c1") {
		t.Fatalf("sent %+v", ms)
	}
	if cmd, err := msg.DecodeTrain(ms[0].Payload); err != nil || cmd.ID != out["id"] || cmd.Session != "tok-1" {
		t.Fatalf("command %s: %v", ms[0].Payload, err)
	}
	// Broker down: 503 with a clear message.
	c.SetDown(true)
	if code, out := postTrain(t, e, "application/json"); code != 503 || !strings.Contains(out["error"], "MQTT broker unreachable") {
		t.Fatalf("broker down: %d %v", code, out)
	}
	c.SetDown(false)
	// Cross-site form posts are refused.
	if code, _ := postTrain(t, e, "text/plain"); code != 415 {
		t.Fatalf("text/plain: %d", code)
	}
	if len(c.Messages()) != 1 {
		t.Fatalf("refused requests were sent: %+v", c.Messages())
	}
	// Disabled without a Trainer.
	plain, _, _ := newServer(t)
	r, err := http.Post(plain.URL+"/api/train", "application/json", bytes.NewBufferString("{}"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if code := r.StatusCode; code != 404 {
		t.Fatalf("no trainer: %d", code)
	}
}

func TestTrainOverWebSocket(t *testing.T) {
	e := newTrainServer(t)
	ts, c := e.ts, e.c
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPClient: e.cl, HTTPHeader: http.Header{"Origin": {ts.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	type event struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	next := func(typ string) json.RawMessage {
		t.Helper()
		for {
			mt, b, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", typ, err)
			}
			var ev event
			if mt == websocket.MessageText && json.Unmarshal(b, &ev) == nil && ev.Type == typ {
				return ev.Data
			}
		}
	}
	var hello struct {
		Train       bool             `json:"train"`
		TrainStatus *msg.TrainStatus `json:"train_status"`
	}
	if err := json.Unmarshal(next("hello"), &hello); err != nil || !hello.Train ||
		hello.TrainStatus == nil || hello.TrainStatus.ID != "old" || hello.TrainStatus.People != 3 {
		t.Fatalf("hello %+v %v", hello, err)
	}
	sp := topic.New("")
	for _, s := range []msg.TrainStatus{
		{V: 1, ID: "new", State: msg.TrainRunning, Seen: 34, Total: 102, Skipped: 2},
		{V: 1, ID: "new", State: msg.TrainError, Error: "dataset empty"},
	} {
		b, _ := json.Marshal(s)
		c.Deliver(sp.TrainStatus(), b)
		var got msg.TrainStatus
		if err := json.Unmarshal(next("train"), &got); err != nil || got.State != s.State || got.ID != "new" ||
			got.Seen != s.Seen || got.Total != s.Total || got.Error != s.Error {
			t.Fatalf("train event %+v (%v), want %+v", got, err, s)
		}
	}
}
