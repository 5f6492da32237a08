package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/facemon/facemon/edge/enrol"
	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

type fakeEnrol struct{ names []string }

func (f *fakeEnrol) Enrol(_ context.Context, name string, burst int) ([]enrol.Result, error) {
	f.names = append(f.names, name)
	return []enrol.Result{{Name: name, Status: msg.EnrolSaved}}, nil
}

func newServer(t *testing.T) (*httptest.Server, *stream.Hub, *fakeEnrol) {
	hub := stream.New(stream.Options{})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	fe := &fakeEnrol{}
	s := New(Options{Hub: hub, State: state.New(state.Options{Space: topic.New(""), Local: "c1", Logger: quiet}),
		Enrol: fe, Metrics: metrics.New(), Local: "c1", Logger: quiet,
		Assets: fstest.MapFS{"index.html": {Data: []byte("<html>dash</html>")}, "app.js": {Data: []byte("//js")}}})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, hub, fe
}

func frame(t *testing.T, seq uint64) []byte {
	b, err := msg.EmbedMeta([]byte{0xFF, 0xD8, 0xFF, 0xD9}, msg.FrameMeta{Camera: "c1", Seq: seq, Captured: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMJPEG(t *testing.T) {
	ts, hub, _ := newServer(t)
	hub.PutRaw("c1", frame(t, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/video_feed", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "multipart/x-mixed-replace" || params["boundary"] != "frame" {
		t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, "frame")
	go func() {
		for i := uint64(2); i <= 5 && ctx.Err() == nil; i++ {
			time.Sleep(20 * time.Millisecond)
			hub.PutRaw("c1", frame(t, i))
		}
	}()
	var last uint64
	for last < 5 {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		m, err := msg.ExtractMeta(b)
		if err != nil || m.Seq <= last || p.Header.Get("X-Stream-Mode") != "raw" {
			t.Fatalf("part seq %d after %d, err %v, mode %q", m.Seq, last, err, p.Header.Get("X-Stream-Mode"))
		}
		last = m.Seq
	}
	cancel()
	resp.Body.Close()
}

func TestRoutes(t *testing.T) {
	ts, _, fe := newServer(t)
	get := func(path string) (int, string) {
		r, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	for path, want := range map[string]string{"/": "dash", "/video_feed_page": "dash", "/static/app.js": "//js",
		"/healthz": `"status":"ok"`, "/metrics": "facemon_edge_frames_captured_total", "/api/cameras": `"id":"c1"`} {
		if code, body := get(path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d %q", path, code, body)
		}
	}
	if code, _ := get("/video_feed?cam=../x"); code != 400 {
		t.Errorf("bad cam id: %d", code)
	}
	if code, _ := get("/video_feed?cam=other"); code != 404 {
		t.Errorf("unknown cam: %d", code)
	}
	post := func(ct, body string) int {
		r, err := http.Post(ts.URL+"/api/enrol", ct, bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if c := post("application/json", `{"name":"Ada","burst":2}`); c != 200 {
		t.Errorf("good enrol: %d", c)
	}
	for _, bad := range []string{`{"name":"../../etc"}`, `{"name":""}`, `{"name":"a/b"}`, `{"name":"x","evil":1}`, `not json`} {
		if c := post("application/json", bad); c != 400 {
			t.Errorf("enrol %s: %d, want 400", bad, c)
		}
	}
	if c := post("text/plain", `{"name":"Ada"}`); c != 415 {
		t.Errorf("text/plain enrol: %d, want 415", c)
	}
	if len(fe.names) != 1 || fe.names[0] != "Ada" {
		t.Errorf("enrolments %v", fe.names)
	}
}
