//go:build cgo

package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/annotate"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

type harness struct {
	svc     *service.Service
	cl      *mqttx.Client
	dataset string
	gallery string
	mu      sync.Mutex
	train   []msg.TrainStatus
	results []msg.CommandResult
	enrol   []msg.EnrolResult
	ids     []*msg.Identities
}

func link(t *testing.T, dataset, src, dst string) {
	t.Helper()
	p := filepath.Join(dataset, dst)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.Symlink(testenv.Testdata(t, src), p); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T) *harness { t.Helper(); return startWith(t, nil) }

// startWith starts a service whose config edit (may be nil) changes first.
func startWith(t *testing.T, edit func(*service.Config)) *harness {
	t.Helper()
	pool, err := face.NewPool(1, dlib.Opener(testenv.Models(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	h := &harness{dataset: t.TempDir()}
	h.gallery = filepath.Join(t.TempDir(), "gallery.json")
	port := testx.FreePort(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg := service.Config{AllowAnonymous: true, Gallery: h.gallery, Dataset: h.dataset, Listen: fmt.Sprintf("127.0.0.1:%d", port),
		Instance: "t1", Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule, GalleryPoll: 200 * time.Millisecond,
		Track: pipeline.TrackConfig{Agree: 1, Window: 1, MaxGap: time.Second, MaxDistance: 0.5}}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := service.New(cfg, pool, annotate.JPEG, log)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("embedded broker not listening")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cl, err := mqttx.New(mqttx.Options{Broker: url, ClientID: "test-client"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	sp := topic.New("")
	cl.Subscribe(sp.TrainStatus(), 1, func(_ string, b []byte) {
		var st msg.TrainStatus
		if json.Unmarshal(b, &st) == nil {
			h.mu.Lock()
			h.train = append(h.train, st)
			h.mu.Unlock()
		}
	})
	cl.Subscribe(sp.Result(), 1, func(_ string, b []byte) {
		var r msg.CommandResult
		if json.Unmarshal(b, &r) == nil {
			h.mu.Lock()
			h.results = append(h.results, r)
			h.mu.Unlock()
		}
	})
	cl.Subscribe(sp.EnrolResult(), 1, func(_ string, b []byte) {
		var r msg.EnrolResult
		if json.Unmarshal(b, &r) == nil {
			h.mu.Lock()
			h.enrol = append(h.enrol, r)
			h.mu.Unlock()
		}
	})
	cl.Subscribe(sp.AllCameras(topic.Identities), 1, func(_ string, b []byte) {
		if m, err := msg.DecodeIdentities(b); err == nil {
			h.mu.Lock()
			h.ids = append(h.ids, m)
			h.mu.Unlock()
		}
	})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := cl.WaitConnected(ctx2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // subscriptions settle
	h.cl = cl
	return h
}

func (h *harness) publish(t *testing.T, verb string, v any) {
	t.Helper()
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	default:
		b, _ = json.Marshal(v)
	}
	if err := h.cl.PublishWait(topic.New("").Command(verb), 1, false, b, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) lastTrain() (msg.TrainStatus, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.train) == 0 {
		return msg.TrainStatus{}, 0
	}
	return h.train[len(h.train)-1], len(h.train)
}

// Train over MQTT with progress; a malformed command gets an error status;
// enrol, rename, threshold and delete edit the gallery; frames are named
// with the new gallery.
func TestCommandsOverMQTT(t *testing.T) {
	h := start(t)
	link(t, h.dataset, "faces/obama/1.jpg", "obama/1.jpg")
	link(t, h.dataset, "faces/obama/2.jpg", "obama/2.jpg")
	link(t, h.dataset, "faces/biden/1.jpg", "biden/1.jpg")
	link(t, h.dataset, "noface/dogs.jpg", "biden/dogs.jpg")

	h.publish(t, "train", []byte(`{"v":1,"id":`)) // malformed
	testx.WaitFor(t, 5*time.Second, "error status", func() bool { st, _ := h.lastTrain(); return st.State == msg.TrainError })

	h.publish(t, "train", msg.Train{V: 1, ID: "r1"})
	h.publish(t, "train", msg.Train{V: 1, ID: "r2"}) // coalesces
	testx.WaitFor(t, 180*time.Second, "training done", func() bool { st, _ := h.lastTrain(); return st.State == msg.TrainDone })
	st, n := h.lastTrain()
	t.Logf("train status: %+v after %d messages", st, n)
	if st.People != 2 || st.Encodings != 3 || st.Skipped != 1 || st.Reasons["no face"] != 1 {
		t.Fatalf("train result %+v", st)
	}
	h.mu.Lock()
	sawRunning := false
	for _, s := range h.train {
		if s.State == msg.TrainRunning && s.Total == 4 {
			sawRunning = true
		}
	}
	h.mu.Unlock()
	if !sawRunning {
		t.Fatal("no progress status with the image total")
	}
	g, err := gallery.Load(h.gallery)
	if err != nil || g.Person("obama") == nil {
		t.Fatalf("gallery on disk: %v", err)
	}

	// A frame is now named.
	frame, _ := os.ReadFile(testenv.Testdata(t, "edge", "obama-480p.jpg"))
	h.cl.PublishWait(topic.New("").Frames("door"), 0, false, frame, 5*time.Second)
	testx.WaitFor(t, 10*time.Second, "identities naming obama", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, m := range h.ids {
			if len(m.Faces) == 1 && m.Faces[0].Name == "obama" && m.Camera == "door" {
				return true
			}
		}
		return false
	})

	// Enrol a new person from an image; a no-face image is refused.
	kit, _ := os.ReadFile(testenv.Testdata(t, "faces", "kit_harington", "1.jpg"))
	dogs, _ := os.ReadFile(testenv.Testdata(t, "noface", "dogs.jpg"))
	h.publish(t, "enrol", msg.Enrol{V: 1, ID: "e1", Name: "kit", Image: kit})
	h.publish(t, "enrol", msg.Enrol{V: 1, ID: "e2", Name: "kit", Image: dogs})
	h.publish(t, "enrol", []byte(`{"v":1,"id":"e3","name":"../../etc","image":""}`))
	testx.WaitFor(t, 20*time.Second, "3 enrol results", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.enrol) == 3 })
	got := map[string]string{}
	for _, r := range h.enrol {
		got[r.ID] = r.Status
	}
	if got["e1"] != msg.EnrolSaved || got["e2"] != msg.EnrolNoFace || got["e3"] != msg.EnrolError {
		t.Fatalf("enrol results %v", got)
	}
	if files, _ := filepath.Glob(filepath.Join(h.dataset, "kit", "*.jpg")); len(files) != 1 {
		t.Fatalf("enrolled image files: %v", files)
	}

	// Rename, threshold, delete; bad commands get errors.
	thr := 0.5
	h.publish(t, "rename", msg.PersonCmd{V: 1, ID: "c1", Name: "kit", NewName: "kit_harington"})
	h.publish(t, "threshold", msg.PersonCmd{V: 1, ID: "c2", Name: "obama", Threshold: &thr})
	h.publish(t, "delete", msg.PersonCmd{V: 1, ID: "c3", Name: "biden"})
	h.publish(t, "delete", msg.PersonCmd{V: 1, ID: "c4", Name: "nobody"})
	h.publish(t, "rename", []byte(`{"v":1,"id":"c5","name":"obama","new_name":"../x"}`))
	h.publish(t, "threshold", []byte(`{"v":1,"id":"c6","name":"obama","threshold":0.9}`))
	testx.WaitFor(t, 10*time.Second, "6 command results", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.results) == 6 })
	ok := map[string]bool{}
	for _, r := range h.results {
		ok[r.ID] = r.OK
	}
	if !ok["c1"] || !ok["c2"] || !ok["c3"] || ok["c4"] || ok["c5"] || ok["c6"] {
		t.Fatalf("command results %+v", h.results)
	}
	g, _ = gallery.Load(h.gallery)
	if g.Person("kit_harington") == nil || g.Person("kit") != nil || g.Person("biden") != nil || g.Person("obama").Threshold != 0.5 {
		t.Fatalf("gallery after edits: %+v", g.People)
	}
	if _, err := os.Stat(filepath.Join(h.dataset, "kit_harington")); err != nil {
		t.Fatal("dataset folder not renamed")
	}
	if _, err := os.Stat(filepath.Join(h.dataset, "biden")); !os.IsNotExist(err) {
		t.Fatal("deleted person's images still in the dataset")
	}
	if m, _ := filepath.Glob(filepath.Join(h.dataset, ".deleted", "*")); len(m) != 0 {
		t.Fatalf("deleted person's images linger: %v", m)
	}

	// The gallery file replaced on disk (e.g. by `train`) is reloaded.
	g2 := gallery.New()
	g2.Add("someone_else", g.Person("obama").Samples[0])
	if err := g2.Save(h.gallery); err != nil {
		t.Fatal(err)
	}
	testx.WaitFor(t, 5*time.Second, "reload", func() bool { return h.svc.Pipeline.Gallery().Person("someone_else") != nil })
}
