package enrol

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/fakemqtt"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

var jpg = []byte{0xFF, 0xD8, 0x01, 0x02, 0xFF, 0xD9}

// setup returns an Enroller whose fake recognizer answers with status
// (empty: no answer).
func setup(t *testing.T, status *atomic.Value) (*Enroller, *fakemqtt.Client, string) {
	t.Helper()
	sp := topic.New("")
	c := &fakemqtt.Client{}
	dir := t.TempDir()
	c.OnPublish = func(m fakemqtt.Message) {
		if m.Topic != sp.CamEnrol("c") {
			return
		}
		st, _ := status.Load().(string)
		if st == "" {
			return
		}
		var e msg.Enrol
		json.Unmarshal(m.Payload, &e)
		b, _ := json.Marshal(msg.EnrolResult{V: msg.Version, ID: e.ID, Name: e.Name, Status: st, Faces: 2, Path: e.Name + "/x.jpg"})
		go c.Deliver(sp.CamResult("c"), b)
	}
	e, err := New(Options{Client: c, Space: sp, Camera: "c", Dataset: dir, Timeout: 200 * time.Millisecond,
		BurstInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Frame: func() (*stream.Frame, bool) { return &stream.Frame{JPEG: jpg}, true }})
	if err != nil {
		t.Fatal(err)
	}
	return e, c, dir
}

func files(t *testing.T, pattern string) []string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	return m
}

func TestEnrolOutcomes(t *testing.T) {
	var status atomic.Value
	e, c, dir := setup(t, &status)
	ctx := context.Background()

	status.Store(msg.EnrolSaved)
	res, err := enrolList(e, ctx, "Ada", 1, nil)
	if err != nil || len(res) != 1 {
		t.Fatalf("Enrol = %v, %v", res, err)
	}
	for _, r := range res {
		if r.Status != msg.EnrolSaved || r.File != "Ada/x.jpg" {
			t.Fatalf("result %+v", r)
		}
	}
	// The recognizer owns the dataset: the edge keeps no copy.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("edge wrote into the dataset: %v", entries)
	}

	for _, st := range []string{msg.EnrolNoFace, msg.EnrolSeveralFaces} {
		status.Store(st)
		res, err = enrolList(e, ctx, "Bob", 1, nil)
		if err != nil || res[0].Status != st {
			t.Fatalf("%s: %+v %v", st, res, err)
		}
	}
	if f := files(t, filepath.Join(dir, "Bob", "*")); len(f) != 0 {
		t.Fatalf("no_face/several_faces saved %v", f)
	}

	// No answer: queued; broker down: queued.
	status.Store("")
	res, _ = enrolList(e, ctx, "Cy", 1, nil)
	c.SetDown(true)
	res2, _ := enrolList(e, ctx, "Cy", 1, nil)
	c.SetDown(false)
	// The same capture twice is queued once (keyed by content).
	if res[0].Status != StatusQueued || res2[0].Status != StatusQueued || e.Queued() != 1 {
		t.Fatalf("want queued: %+v %+v (queue %d)", res, res2, e.Queued())
	}
	// Still no answer: the queue stays.
	if n := e.Drain(ctx); n != 0 || e.Queued() != 1 {
		t.Fatalf("drain without recognizer: %d sent, %d queued", n, e.Queued())
	}
	// Recognizer back: the queue drains; the recognizer keeps the image.
	status.Store(msg.EnrolSaved)
	if n := e.Drain(ctx); n != 1 || e.Queued() != 0 {
		t.Fatalf("drain: %d sent, %d queued", n, e.Queued())
	}
	if f := files(t, filepath.Join(dir, "Cy", "*")); len(f) != 0 {
		t.Fatalf("edge copies %v", f)
	}
}

func TestEnrolRejects(t *testing.T) {
	var status atomic.Value
	e, c, dir := setup(t, &status)
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "unknown", "x\x00y", "..", " lead"} {
		if _, err := enrolList(e, context.Background(), bad, 1, nil); !errors.Is(err, msg.ErrBadName) {
			t.Errorf("name %q: err %v", bad, err)
		}
	}
	if _, err := enrolList(e, context.Background(), "Ok", MaxBurst+1, nil); !errors.Is(err, ErrBurst) {
		t.Errorf("burst: %v", err)
	}
	if len(c.Messages()) != 0 {
		t.Fatal("rejected requests were sent")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("dataset touched: %v", entries)
	}
	e.o.Frame = func() (*stream.Frame, bool) { return nil, false }
	if _, err := enrolList(e, context.Background(), "Ok", 1, nil); !errors.Is(err, ErrNoFrame) {
		t.Errorf("no frame: %v", err)
	}
}

// A recognizer answering after the timeout: the image is queued, the late
// "saved" removes the queued copy, so nothing is sent (or stored) twice.
func TestLateAnswerLeavesOneCopy(t *testing.T) {
	sp := topic.New("")
	c := &fakemqtt.Client{}
	dir := t.TempDir()
	var sent atomic.Int32
	c.OnPublish = func(m fakemqtt.Message) {
		if m.Topic != sp.CamEnrol("c") {
			return
		}
		sent.Add(1)
		var e msg.Enrol
		json.Unmarshal(m.Payload, &e)
		b, _ := json.Marshal(msg.EnrolResult{V: msg.Version, ID: e.ID, Name: e.Name, Status: msg.EnrolSaved, Faces: 1, Path: e.Name + "/x.jpg"})
		time.AfterFunc(300*time.Millisecond, func() { c.Deliver(sp.CamResult("c"), b) }) // slower than the timeout
	}
	e, err := New(Options{Client: c, Space: sp, Camera: "c", Dataset: dir, Timeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Frame:  func() (*stream.Frame, bool) { return &stream.Frame{JPEG: jpg}, true }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := enrolList(e, context.Background(), "Dee", 1, nil)
	if err != nil || res[0].Status != StatusQueued || e.Queued() != 1 {
		t.Fatalf("slow answer: %+v %v (queue %d)", res, err, e.Queued())
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.Queued() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the late answer did not clear the queued copy")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.Drain(context.Background()); n != 0 || sent.Load() != 1 {
		t.Fatalf("image sent %d times (drain %d)", sent.Load(), n)
	}
	if f := files(t, filepath.Join(dir, "Dee", "*")); len(f) != 0 {
		t.Fatalf("edge copies %v", f)
	}
}

// Queued images older than QueueMaxAge are dropped.
func TestQueueExpires(t *testing.T) {
	var status atomic.Value
	e, _, dir := setup(t, &status)
	e.o.QueueMaxAge = time.Hour
	if res, _ := enrolList(e, context.Background(), "Old", 1, nil); res[0].Status != StatusQueued {
		t.Fatalf("%+v", res)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, f := range files(t, filepath.Join(dir, QueueDir, "Old", "*.jpg")) {
		os.Chtimes(f, old, old)
	}
	e.expire()
	if e.Queued() != 0 {
		t.Fatal("expired image still queued")
	}
}

// cred is a login's recognizer token (a login.Session in the edge).
type cred struct{ tok atomic.Value }

func (c *cred) RecognizerToken() (string, error) {
	if t, _ := c.tok.Load().(string); t != "" {
		return t, nil
	}
	return "", errors.New("no session")
}

// A fake recognizer on cam/c/enrol: a known session token enrols, none (or
// an unknown one) keeps the image pending. Sessions ride along with the
// capture, including a resend from the queue.
func TestSessionTokenAndPending(t *testing.T) {
	sp := topic.New("")
	c := &fakemqtt.Client{}
	var online atomic.Bool
	var mu sync.Mutex
	var seen []string // session of every enrol command
	c.OnPublish = func(m fakemqtt.Message) {
		if m.Topic == sp.Command("enrol") || m.Topic == sp.EnrolResult() {
			t.Errorf("published on %s", m.Topic)
		}
		if m.Topic != sp.CamEnrol("c") {
			return
		}
		var e msg.Enrol
		if err := json.Unmarshal(m.Payload, &e); err != nil || e.Camera != "c" {
			t.Errorf("enrol payload %s: %v", m.Payload, err)
		}
		mu.Lock()
		seen = append(seen, e.Session)
		mu.Unlock()
		if !online.Load() {
			return
		}
		res := msg.EnrolResult{V: msg.Version, ID: e.ID, Name: e.Name, Status: msg.EnrolSaved, Faces: 1, Path: e.Name + "/x.jpg"}
		if e.Session != "good-token" {
			res.Status, res.Path, res.Pending = msg.EnrolPending, "", "p1"
		}
		b, _ := json.Marshal(res)
		go c.Deliver(sp.CamResult("c"), b)
	}
	var trainAnswers atomic.Int32
	e, err := New(Options{Client: c, Space: sp, Camera: "c", Dataset: t.TempDir(), Timeout: 200 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		TrainAnswer: func(r msg.EnrolResult) { trainAnswers.Add(1) },
		Frame:       func() (*stream.Frame, bool) { return &stream.Frame{JPEG: jpg}, true }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := &cred{}
	good.tok.Store("good-token")
	online.Store(true)
	if res, _ := enrolList(e, ctx, "Ann", 1, good); res[0].Status != msg.EnrolSaved {
		t.Fatalf("with a session: %+v", res)
	}
	res, _ := enrolList(e, ctx, "Ann", 1, &cred{})
	if res[0].Status != msg.EnrolPending || res[0].Pending != "p1" || !strings.Contains(res[0].Message, "confirm") {
		t.Fatalf("without a session: %+v", res)
	}
	// Recognizer down: queued with the capturing login.
	online.Store(false)
	jpg2 := []byte{0xFF, 0xD8, 0x07, 0xFF, 0xD9}
	e.o.Frame = func() (*stream.Frame, bool) { return &stream.Frame{JPEG: jpg2}, true }
	if res, _ := enrolList(e, ctx, "Bea", 1, good); res[0].Status != StatusQueued {
		t.Fatalf("offline: %+v", res)
	}
	jpg3 := []byte{0xFF, 0xD8, 0x08, 0xFF, 0xD9}
	lost := &cred{}
	lost.tok.Store("good-token")
	e.o.Frame = func() (*stream.Frame, bool) { return &stream.Frame{JPEG: jpg3}, true }
	if res, _ := enrolList(e, ctx, "Cat", 1, lost); res[0].Status != StatusQueued {
		t.Fatalf("offline: %+v", res)
	}
	lost.tok.Store("") // that login logged out meanwhile
	var got []Result
	e.o.Events = func(ev state.Event) { got = append(got, ev.Data.(Result)) }
	online.Store(true)
	if n := e.Drain(ctx); n != 2 || e.Queued() != 0 {
		t.Fatalf("drain: %d, queued %d", n, e.Queued())
	}
	status := map[string]string{}
	for _, r := range got {
		status[r.Name] = r.Status
	}
	if status["Bea"] != msg.EnrolSaved || status["Cat"] != msg.EnrolPending {
		t.Errorf("resent: %v (want Bea saved with its login's token, Cat pending)", status)
	}
	mu.Lock()
	if want := []string{"good-token", "", "good-token", "good-token"}; len(seen) < 4 || !slices.Equal(seen[:4], want) {
		t.Errorf("sessions sent %q, want %q then the resends", seen, want)
	}
	mu.Unlock()
	// Train answers on the same topic go to the trainer; not ours: ignored.
	b, _ := json.Marshal(msg.EnrolResult{V: msg.Version, ID: "t1", Command: msg.CommandTrain, Status: msg.EnrolRefused})
	c.Deliver(sp.CamResult("c"), b)
	if trainAnswers.Load() != 1 {
		t.Errorf("train answers forwarded: %d", trainAnswers.Load())
	}
	if _, err := New(Options{Client: c, Space: sp, Camera: "a/b", Dataset: t.TempDir()}); err == nil {
		t.Error("bad camera id accepted")
	}
}

// An answer that arrives after send gave up but before the image was
// queued (the window between the two) still removes the queued copy: it
// used to be dropped, and the copy stayed on the edge until a drain resent
// it (seen in e2e TestStolenEdge under load).
func TestAnswerBetweenTimeoutAndQueue(t *testing.T) {
	sp := topic.New("")
	c := &fakemqtt.Client{}
	dir := t.TempDir()
	var last msg.Enrol
	c.OnPublish = func(m fakemqtt.Message) {
		if m.Topic == sp.CamEnrol("c") {
			json.Unmarshal(m.Payload, &last) // no answer in time
		}
	}
	e, err := New(Options{Client: c, Space: sp, Camera: "c", Dataset: dir, Timeout: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Frame:  func() (*stream.Frame, bool) { return &stream.Frame{JPEG: jpg}, true }})
	if err != nil {
		t.Fatal(err)
	}
	r := e.send(context.Background(), "Dee", [][]byte{jpg}, false, "")
	if r.Status != StatusQueued || last.ID != r.ID {
		t.Fatalf("send: %+v (published id %q)", r, last.ID)
	}
	b, _ := json.Marshal(msg.EnrolResult{V: msg.Version, ID: r.ID, Name: "Dee", Status: msg.EnrolSaved, Faces: 1, Path: "Dee/x.jpg"})
	c.Deliver(sp.CamResult("c"), b) // the answer, before the image is queued
	r = e.queueUnanswered(r, "Dee", [][]byte{jpg}, nil)
	if r.File == "" {
		t.Fatalf("not queued: %+v", r)
	}
	if n := e.Queued(); n != 0 {
		t.Fatalf("%d queued copies left after the recognizer answered", n)
	}
	if _, err := os.Stat(filepath.Join(dir, r.File)); !os.IsNotExist(err) {
		t.Fatalf("queued copy %s still on disk: %v", r.File, err)
	}
	e.mu.Lock()
	n := len(e.late)
	e.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d late entries remembered", n)
	}
}

// enrolList is Enrol as a list of results (one per Capture).
func enrolList(e *Enroller, ctx context.Context, name string, burst int, c Credential) ([]Result, error) {
	r, err := e.Enrol(ctx, Capture{Name: name, Burst: burst, Cred: c})
	if err != nil {
		return nil, err
	}
	return []Result{r}, nil
}
