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
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeEnrol struct {
	names  []string
	tokens []string // the credential's token per call ("" none)
}

func (f *fakeEnrol) Enrol(_ context.Context, c enrol.Capture) (enrol.Result, error) {
	f.names = append(f.names, c.Name)
	tok, _ := c.Cred.RecognizerToken()
	f.tokens = append(f.tokens, tok)
	return enrol.Result{Name: c.Name, Status: msg.EnrolSaved}, nil
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

// videoFeed opens the MJPEG live view at base, for as long as ctx lasts.
func videoFeed(t *testing.T, ctx context.Context, base string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/video_feed", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestMJPEG(t *testing.T) {
	ts, hub, _ := newServer(t)
	hub.PutRaw("c1", frame(t, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp := videoFeed(t, ctx, ts.URL)
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
	// From the LAN, health and metrics need the bearer token (none set here).
	for _, path := range []string{"/healthz", "/metrics"} {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = "192.168.1.20:40000"
		w := httptest.NewRecorder()
		ts.Config.Handler.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "c1") {
			t.Errorf("GET %s from the LAN = %d %q, want 403 without the camera id", path, w.Code, w.Body)
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

func TestViewerMetrics(t *testing.T) {
	hub := stream.New(stream.Options{})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New()
	ts := httptest.NewServer(New(Options{Hub: hub, State: state.New(state.Options{Space: topic.New(""), Local: "c1", Logger: quiet}),
		Metrics: m, Local: "c1", Logger: quiet, Assets: fstest.MapFS{}}))
	defer ts.Close()
	sentBytes := 0
	put := func(seq uint64) {
		f := frame(t, seq)
		sentBytes += len(f)
		hub.PutRaw("c1", f)
	}
	put(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp := videoFeed(t, ctx, ts.URL)
	defer resp.Body.Close()
	mr := multipart.NewReader(resp.Body, "frame")
	// A part ends at the next boundary: frame i+1 completes part i, and the
	// server has taken frame i+1 from its mailbox before the next put.
	for i := 0; i < 3; i++ {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		put(uint64(i + 2))
		io.ReadAll(p)
	}
	if g := testutil.ToFloat64(m.ViewClients.WithLabelValues("mjpeg")); g != 1 {
		t.Errorf("viewers gauge %v, want 1", g)
	}
	deadline := time.Now().Add(2 * time.Second)
	for testutil.ToFloat64(m.ViewFrames.WithLabelValues("mjpeg")) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f, b := testutil.ToFloat64(m.ViewFrames.WithLabelValues("mjpeg")), testutil.ToFloat64(m.ViewBytes.WithLabelValues("mjpeg")); f != 4 || int(b) != sentBytes {
		t.Errorf("frames sent %v (want 4), bytes sent %v (want %d)", f, b, sentBytes)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, name := range []string{"facemon_edge_view_bytes_sent_total{kind=\"ws\"} 0", "facemon_edge_view_frames_sent_total{kind=\"mjpeg\"} 4", "facemon_edge_frames_passthrough_total"} {
		if !strings.Contains(rec.Body.String(), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}
