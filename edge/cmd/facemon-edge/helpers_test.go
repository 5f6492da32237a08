package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// sharedVideo returns the shared test clip (FACEMON_SHARED, default
// ../../shared relative to the edge module).
func sharedVideo(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FACEMON_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared") // from edge/cmd/facemon-edge
	}
	p, _ := filepath.Abs(filepath.Join(dir, "testdata", "video", "short_hamilton_clip.mp4"))
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared test video missing: %v", err)
		}
		t.Skipf("shared test video missing: %v", err)
	}
	return p
}

// freePort returns a free address on 127.0.0.1 ("127.0.0.1:port").
func freePort(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", testx.FreePort(t)) }

// edge is a facemon-edge running in-process.
type edge struct {
	Addr    string // host:port of the web server
	Camera  string
	Dataset string
	stop    context.CancelFunc
	done    chan int
}

// startEdge runs facemon-edge on the shared video with extra flags.
func startEdge(t *testing.T, broker, camera string, extra ...string) *edge {
	t.Helper()
	addr := freePort(t)
	dir := t.TempDir()
	dataset := filepath.Join(dir, "dataset")
	// The dashboard login: a hash file of a known password, unless the
	// test brings its own login flags.
	loginFile := filepath.Join(dir, "state", "dashboard.bcrypt")
	if !slices.Contains(extra, "--no-login") && !slices.Contains(extra, "--login-file") {
		if err := login.WriteHash(loginFile, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"facemon-edge", "--broker", broker, "--camera-id", camera,
		"--source", sharedVideo(t), "--loop", "--fps", "10", "--width", "320",
		"--listen", addr, "--dataset", dataset, "--log-level", "warn",
		"--state", filepath.Join(dir, "state")}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	e := &edge{Addr: addr, Camera: camera, Dataset: dataset, stop: cancel, done: make(chan int, 1)}
	go func() { e.done <- run(ctx, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-e.done:
			if code != 0 {
				t.Errorf("facemon-edge exit code %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Error("facemon-edge did not shut down within 10s")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge not serving: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testPassword is the dashboard password of the edges tests start.
const testPassword = "test dashboard password"

// Login logs a new HTTP client in to the edge's dashboard and returns it
// with the session's CSRF token.
func (e *edge) Login(t *testing.T) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Post("http://"+e.Addr+"/api/login", "application/json", strings.NewReader(`{"password":"`+testPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		CSRF string `json:"csrf"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 || s.CSRF == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	return c, s.CSRF
}

// part is one MJPEG part.
type part struct {
	Mode string
	JPEG []byte
	Meta msg.FrameMeta
	At   time.Time
}

// mjpeg reads /video_feed parts.
type mjpeg struct {
	resp *http.Response
	mr   *multipart.Reader
}

func openMJPEG(t *testing.T, c *http.Client, url string) *mjpeg {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" || params["boundary"] != "frame" {
		t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return &mjpeg{resp: resp, mr: multipart.NewReader(resp.Body, params["boundary"])}
}

// next reads one part, failing the test after timeout.
func (m *mjpeg) next(t *testing.T, timeout time.Duration) part {
	t.Helper()
	type res struct {
		p   part
		err error
	}
	ch := make(chan res, 1)
	go func() {
		p, err := m.mr.NextPart()
		if err != nil {
			ch <- res{err: err}
			return
		}
		b, err := io.ReadAll(p)
		ch <- res{part{Mode: p.Header.Get("X-Stream-Mode"), JPEG: b, At: time.Now()}, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("mjpeg: %v", r.err)
		}
		if err := msg.CheckJPEG(r.p.JPEG, msg.MaxFrameBytes); err != nil {
			t.Fatalf("mjpeg part: %v", err)
		}
		r.p.Meta, _ = msg.ExtractMeta(r.p.JPEG)
		return r.p
	case <-time.After(timeout):
		m.resp.Body.Close()
		t.Fatalf("no MJPEG part within %v", timeout)
		return part{}
	}
}

// waitMode reads parts until one has mode, returning the time it took.
func (m *mjpeg) waitMode(t *testing.T, mode string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if p := m.next(t, timeout); p.Mode == mode {
			return time.Since(start)
		}
	}
	t.Fatalf("no %s frame within %v", mode, timeout)
	return 0
}

func mqttClient(t *testing.T, broker, id, status string) *mqttx.Client {
	t.Helper()
	c, err := mqttx.New(mqttx.Options{Broker: broker, ClientID: id, StatusTopic: status,
		MaxReconnectInterval: time.Second,
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeRecognizer answers like the real one: annotated frames (the raw
// frame with a box drawn on it, metadata kept), identities, and "saved" for
// enrol commands.
type fakeRecognizer struct {
	t         *testing.T
	c         *mqttx.Client
	space     topic.Space
	annotated atomic.Int64
	mu        sync.Mutex
	enrols    []msg.Enrol
	trains    int
	stopped   bool
}

func startRecognizer(t *testing.T, broker, name string) *fakeRecognizer {
	t.Helper()
	sp := topic.New("")
	r := &fakeRecognizer{t: t, space: sp}
	r.c = mqttClient(t, broker, "fake-recognizer-"+name, sp.Status(topic.KindRecognizer, name))
	r.c.Subscribe(sp.AllCameras(topic.Frames), 0, r.frame)
	// Edges send commands on their own camera's topics (issue 17).
	r.c.Subscribe(sp.AllCameras(topic.Enrol), 1, r.enrol)
	r.c.Subscribe(sp.AllCameras(topic.Train), 1, r.train)
	t.Cleanup(r.Stop)
	return r
}

func (r *fakeRecognizer) frame(t string, b []byte) {
	id, _, err := r.space.ParseCamera(t)
	if err != nil {
		return
	}
	meta, err := msg.ExtractMeta(b)
	if err != nil {
		return
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return
	}
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, image.Point{}, draw.Src)
	box := image.Rect(rgba.Bounds().Dx()/3, rgba.Bounds().Dy()/5, rgba.Bounds().Dx()*2/3, rgba.Bounds().Dy()*4/5)
	green := image.NewUniform(color.RGBA{0, 255, 0, 255})
	for _, edge := range []image.Rectangle{
		{box.Min, image.Pt(box.Max.X, box.Min.Y+3)}, {image.Pt(box.Min.X, box.Max.Y-3), box.Max},
		{box.Min, image.Pt(box.Min.X+3, box.Max.Y)}, {image.Pt(box.Max.X-3, box.Min.Y), box.Max},
	} {
		draw.Draw(rgba, edge, green, image.Point{}, draw.Src)
	}
	var buf bytes.Buffer
	if jpeg.Encode(&buf, rgba, &jpeg.Options{Quality: 70}) != nil {
		return
	}
	out, err := msg.EmbedMeta(buf.Bytes(), meta)
	if err != nil {
		return
	}
	r.c.Publish(r.space.Annotated(id), 0, false, out)
	ids, _ := json.Marshal(msg.Identities{V: msg.Version, Camera: id, Seq: meta.Seq, Captured: meta.Captured,
		Processed: time.Now(), Recognizer: "fake",
		Faces: []msg.Face{{Name: "Lin-Manuel Miranda", Distance: 0.42, Box: [4]int{box.Min.X, box.Min.Y, box.Max.X, box.Max.Y}}}})
	r.c.Publish(r.space.Identities(id), 1, false, ids)
	r.annotated.Add(1)
}

func (r *fakeRecognizer) enrol(t string, b []byte) {
	cam, _, err := r.space.ParseCamera(t)
	if err != nil {
		return
	}
	m, err := msg.DecodeEnrol(b)
	if err != nil {
		return
	}
	res := msg.EnrolResult{V: msg.Version, ID: m.ID, Name: m.Name, Status: msg.EnrolSaved, Faces: 1,
		Path: fmt.Sprintf("%s/%d.jpg", m.Name, time.Now().UnixNano())}
	if m.Session == "" {
		// Like the real recognizer: no person's session, kept pending.
		res.Status, res.Path, res.Pending = msg.EnrolPending, "", "p-"+m.ID
	} else {
		r.mu.Lock()
		r.enrols = append(r.enrols, *m)
		r.mu.Unlock()
	}
	out, _ := json.Marshal(res)
	r.c.Publish(r.space.CamResult(cam), 1, false, out)
}

// train answers like the real recognizer: a few retained "running"
// statuses, then "done".
func (r *fakeRecognizer) train(t string, b []byte) {
	cam, _, err := r.space.ParseCamera(t)
	if err != nil {
		return
	}
	m, err := msg.DecodeTrain(b)
	if err != nil {
		return
	}
	if m.Session == "" {
		out, _ := json.Marshal(msg.EnrolResult{V: msg.Version, ID: m.ID, Command: msg.CommandTrain, Status: msg.EnrolRefused, Error: "no valid session"})
		r.c.Publish(r.space.CamResult(cam), 1, false, out)
		return
	}
	r.mu.Lock()
	r.trains++
	r.mu.Unlock()
	go func() {
		start := time.Now()
		pub := func(st msg.TrainStatus) {
			st.V, st.ID, st.Total, st.Time = msg.Version, m.ID, 4, time.Now()
			b, _ := json.Marshal(st)
			r.c.Publish(r.space.TrainStatus(), 1, true, b)
		}
		for i := 1; i <= 4; i++ {
			time.Sleep(150 * time.Millisecond)
			st := msg.TrainStatus{State: msg.TrainRunning, Seen: i, Encoded: min(i, 3), Skipped: max(0, i-3)}
			pub(st)
		}
		pub(msg.TrainStatus{State: msg.TrainDone, Seen: 4, Encoded: 3, Skipped: 1, Reasons: map[string]int{"no_face": 1},
			People: 2, Encodings: 3, DurationMS: time.Since(start).Milliseconds()})
	}()
}

// Trains counts the train commands received.
func (r *fakeRecognizer) Trains() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trains
}

func (r *fakeRecognizer) Enrols() []msg.Enrol {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]msg.Enrol(nil), r.enrols...)
}

// Stop disconnects (publishing "offline").
func (r *fakeRecognizer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.stopped = true
		r.c.Close()
	}
}

// metric reads one sample from /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range bytes.Split(b, []byte("\n")) {
		var v float64
		if bytes.HasPrefix(line, []byte(name+" ")) {
			fmt.Sscanf(string(line[len(name)+1:]), "%g", &v)
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}
