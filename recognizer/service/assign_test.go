package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/fakeface"
	"github.com/facemon/facemon/recognizer/owner"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// startRecognizer runs a service with fake engines; broker "" starts the
// embedded one on listen.
func startRecognizer(t *testing.T, inst, broker, listen string) (*Service, context.CancelFunc, chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	pool := fakeface.Pool(1, fakeface.Engine{})
	t.Cleanup(func() { pool.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	pol, _ := pipeline.ParseCameraPolicy("auto")
	s, err := New(Config{Gallery: filepath.Join(dir, "gallery.json"), Dataset: filepath.Join(dir, "dataset"), Broker: broker, Listen: listen,
		AllowAnonymous: true, Instance: inst, Cameras: pol, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule,
		Integrations: Integrations{HistoryDB: "-", HAPrefix: "-"}}, pool, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-s.Ready():
	case <-done:
		t.Fatalf("%s stopped during start-up", inst)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s not ready within 20 s", inst)
	}
	return s, cancel, done
}

// Three recognizers on one broker, six cameras: every camera's frames are
// processed by exactly one recognizer, the owned sets are disjoint and
// cover every camera, and when one recognizer stops its cameras move to
// the others (and nothing else moves).
func TestOneOwnerPerCamera(t *testing.T) {
	port := testx.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	url := "tcp://" + listen
	r1, _, _ := startRecognizer(t, "r1", "", listen)
	r2, stop2, done2 := startRecognizer(t, "r2", url, "")
	r3, _, _ := startRecognizer(t, "r3", url, "")
	all := map[string]*Service{"r1": r1, "r2": r2, "r3": r3}

	sp := topic.New("")
	cl, err := mqttx.New(mqttx.Options{Broker: url, ClientID: "test-edges"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	var mu sync.Mutex
	by := map[string]map[string]int{} // camera -> recognizer -> identities
	cl.Subscribe(sp.AllCameras(topic.Identities), 0, func(tp string, b []byte) {
		cam, _, _ := sp.ParseCamera(tp)
		if m, err := msg.DecodeIdentities(b); err == nil {
			mu.Lock()
			if by[cam] == nil {
				by[cam] = map[string]int{}
			}
			by[cam][m.Recognizer]++
			mu.Unlock()
		}
	})
	if err := cl.WaitConnected(context.Background()); err != nil {
		t.Fatal(err)
	}
	cams := []string{"cam0", "cam1", "cam2", "cam3", "cam4", "cam5"}
	for _, c := range cams {
		if err := cl.PublishWait(sp.Status(topic.KindEdge, c), 1, true, []byte(topic.Online), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	owners := func() map[string]string {
		o := map[string]string{}
		for name, s := range all {
			for _, c := range s.OwnedCameras() {
				if prev, dup := o[c]; dup {
					o[c] = prev + "+" + name
				} else {
					o[c] = name
				}
			}
		}
		return o
	}
	settled := func(members []string) bool {
		o := owners()
		if len(o) != len(cams) {
			return false
		}
		for _, c := range cams {
			if want := ownerOf(c, members); o[c] != want {
				return false
			}
		}
		return true
	}
	testx.WaitFor(t, 10*time.Second, "every camera owned once, by its rendezvous owner", func() bool { return settled([]string{"r1", "r2", "r3"}) })
	t.Logf("owners: %v", owners())

	send := func(n int) {
		for i := 0; i < n; i++ {
			for j, c := range cams {
				cl.Publish(sp.Frames(c), 0, false, fakeface.JPEG(uint64(100*i+j)))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	reset := func() {
		mu.Lock()
		by = map[string]map[string]int{}
		mu.Unlock()
	}
	check := func(members []string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cams {
			if len(by[c]) != 1 {
				t.Errorf("%s: identities from %v, want exactly one recognizer", c, by[c])
				continue
			}
			for r := range by[c] {
				if want := ownerOf(c, members); r != want {
					t.Errorf("%s processed by %s, owner is %s", c, r, want)
				}
			}
		}
	}
	send(2) // the subscriptions' SUBACKs are in flight
	time.Sleep(300 * time.Millisecond)
	reset()
	send(10)
	time.Sleep(500 * time.Millisecond)
	check([]string{"r1", "r2", "r3"})

	// r2 stops: its "offline" moves its cameras to r1 and r3.
	start := time.Now()
	stop2()
	<-done2
	delete(all, "r2")
	testx.WaitFor(t, 10*time.Second, "r2's cameras taken over", func() bool { return settled([]string{"r1", "r3"}) })
	t.Logf("hand-over after a clean stop: %v; owners %v", time.Since(start).Round(time.Millisecond), owners())
	send(2)
	time.Sleep(300 * time.Millisecond)
	reset()
	send(10)
	time.Sleep(500 * time.Millisecond)
	check([]string{"r1", "r3"})
}

func ownerOf(cam string, members []string) string {
	ms := slices.Clone(members)
	slices.Sort(ms)
	return ownerFunc(cam, ms)
}

var ownerFunc = owner.Owner
