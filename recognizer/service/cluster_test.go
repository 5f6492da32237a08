//go:build unix

package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/history"
	"github.com/facemon/facemon/recognizer/internal/fakeface"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

type clusterNode struct {
	s       *Service
	dataset string
	stop    context.CancelFunc
	done    chan struct{}
	calls   *atomic.Int64
}

func startNode(t *testing.T, inst, dsn, broker, listen string, delay time.Duration, opts ...func(*Config)) *clusterNode {
	t.Helper()
	dir := t.TempDir()
	n := &clusterNode{dataset: filepath.Join(dir, "dataset"), calls: &atomic.Int64{}}
	pool := fakeface.Pool(1, fakeface.Engine{Delay: delay, Calls: n.calls})
	t.Cleanup(func() { pool.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	pol, _ := pipeline.ParseCameraPolicy("auto")
	cfg := Config{Gallery: filepath.Join(dir, "gallery.json"), Dataset: n.dataset, Broker: broker, Listen: listen, DB: dsn,
		AllowAnonymous: true, Instance: inst, Cameras: pol, Analyzer: face.DefaultAnalyzer, Rule: gallery.DefaultRule,
		Integrations: Integrations{HAPrefix: "-"}}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg, pool, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	n.s = s
	ctx, cancel := context.WithCancel(context.Background())
	n.stop, n.done = cancel, make(chan struct{})
	go func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("%s: %v", inst, err)
		}
		close(n.done)
	}()
	t.Cleanup(func() { cancel(); <-n.done })
	return n
}

func (n *clusterNode) has(name string) bool { return n.s.Pipeline.Gallery().Person(name) != nil }

func (n *clusterNode) images(name string) int {
	m, _ := filepath.Glob(filepath.Join(n.dataset, name, "*.jpg"))
	return len(m)
}

// Two recognizers on one PostgreSQL: an enrolment and a delete made through
// either are in the other's gallery, dataset and history within a second;
// a command is carried out once; two train requests at once run one
// training; a recognizer started later has everything.
func TestSharedStateOnPostgres(t *testing.T) {
	pg := testx.StartPostgres(t)
	port := testx.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	url := "tcp://" + listen
	r1 := startNode(t, "r1", pg.DSN, "", listen, 0)
	r1.ready(t)
	r2 := startNode(t, "r2", pg.DSN, url, "", 0)
	r2.ready(t)

	sp := topic.New("")
	cl, err := mqttx.New(mqttx.Options{Broker: url, ClientID: "test-admin"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	var mu sync.Mutex
	answers := map[string][]msg.EnrolResult{}
	var trainStates []msg.TrainStatus
	cl.Subscribe(sp.EnrolResult(), 1, func(_ string, b []byte) {
		var r msg.EnrolResult
		if json.Unmarshal(b, &r) == nil {
			mu.Lock()
			answers[r.ID] = append(answers[r.ID], r)
			mu.Unlock()
		}
	})
	cl.Subscribe(sp.TrainStatus(), 1, func(_ string, b []byte) {
		var st msg.TrainStatus
		if json.Unmarshal(b, &st) == nil {
			mu.Lock()
			trainStates = append(trainStates, st)
			mu.Unlock()
		}
	})
	if err := cl.WaitConnected(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // SUBACKs

	for i, name := range []string{"alice", "bob", "carol"} {
		b, _ := json.Marshal(msg.Enrol{V: msg.Version, ID: "e-" + name, Name: name, Image: fakeface.JPEG(uint64(i + 1))})
		sent := time.Now()
		if err := cl.PublishWait(sp.Command("enrol"), 1, false, b, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		testx.WaitFor(t, 5*time.Second, name+" in both galleries and datasets", func() bool {
			return r1.has(name) && r2.has(name) && r1.images(name) == 1 && r2.images(name) == 1
		})
		if d := time.Since(sent); d > 2*time.Second {
			t.Errorf("%s: enrolment reached both recognizers after %v, want < 2 s", name, d)
		} else {
			t.Logf("%s: enrolment in both recognizers %v after the command", name, d.Round(time.Millisecond))
		}
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	for _, name := range []string{"alice", "bob", "carol"} {
		if n := len(answers["e-"+name]); n != 1 {
			t.Errorf("enrol %s answered %d times, want once (one recognizer carries out a command)", name, n)
		}
	}
	mu.Unlock()

	// A delete through r2's API path reaches r1.
	if err := r2.s.DeletePerson("bob"); err != nil {
		t.Fatal(err)
	}
	testx.WaitFor(t, 2*time.Second, "bob gone from r1", func() bool { return !r1.has("bob") && r1.images("bob") == 0 })

	// Two train requests at once (one through each recognizer): one run.
	r1.s.trainer.request("t-1")
	r2.s.trainer.request("t-2")
	testx.WaitFor(t, 30*time.Second, "a training run done", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, st := range trainStates {
			if st.State == msg.TrainDone {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	done, refused := 0, 0
	for _, st := range trainStates {
		switch st.State {
		case msg.TrainDone:
			done++
		case msg.TrainError:
			refused++
		}
	}
	mu.Unlock()
	if done != 1 {
		t.Errorf("%d training runs finished for two concurrent requests, want 1 (refused: %d)", done, refused)
	}
	testx.WaitFor(t, 2*time.Second, "the trained gallery in both", func() bool {
		return r1.has("alice") && r2.has("carol") && !r1.has("bob") && !r2.has("bob")
	})

	// A recognizer started later is current at once.
	r3 := startNode(t, "r3", pg.DSN, url, "", 0)
	r3.ready(t)
	testx.WaitFor(t, 10*time.Second, "r3 has the shared state", func() bool {
		return r3.has("alice") && r3.has("carol") && !r3.has("bob") && r3.images("alice") == 1
	})
	// Its history is the cluster's: an event recorded through r1 is listed
	// by r3.
	ctx := context.Background()
	var d face.Descriptor
	d[0] = 0.1
	rec, err := r1.s.in.store.Record(ctx, history.Observation{Camera: "door", Time: time.Now(), Frame: fakeface.JPEG(9),
		Faces: []history.Seen{{Name: "alice", Distance: 0.3, Candidate: "alice", Box: [4]int{40, 40, 120, 120}, Descriptor: d}}})
	if err != nil || len(rec.Events) != 1 {
		t.Fatalf("record through r1: %v %+v", err, rec)
	}
	evs, err := r3.s.in.store.Events(ctx, history.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ID != rec.Events[0].ID || evs[0].Name != "alice" {
		t.Fatalf("r3 lists %+v, want r1's event %d", evs, rec.Events[0].ID)
	}
}

func (n *clusterNode) ready(t *testing.T) {
	t.Helper()
	select {
	case <-n.s.Ready():
	case <-n.done:
		t.Fatal("recognizer stopped during start-up")
	case <-time.After(20 * time.Second):
		t.Fatal("recognizer not ready within 20 s")
	}
}

// With --db a person's session token issued by one recognizer is valid at
// every one (the edges' cam/<id>/enrol and train reach whichever
// recognizer takes them from the shared subscription), and a logout at one
// ends it at all; a new password ends it everywhere.
func TestSessionsSharedOnPostgres(t *testing.T) {
	pg := testx.StartPostgres(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testx.FreePort(t))
	hashes := t.TempDir()
	writeHash := func(pw string) {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"r1", "r2"} {
			if err := os.WriteFile(filepath.Join(hashes, n+".bcrypt"), h, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeHash("first-password")
	withHash := func(n string) func(*Config) {
		return func(c *Config) { c.Integrations.DashboardHash = filepath.Join(hashes, n+".bcrypt") }
	}
	r1 := startNode(t, "r1", pg.DSN, "", listen, 0, withHash("r1"))
	r1.ready(t)
	r2 := startNode(t, "r2", pg.DSN, "tcp://"+listen, "", 0, withHash("r2"))
	r2.ready(t)

	tok, _, err := r1.s.sessions.Login(api.DashboardUser, "first-password")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r2.s.sessions.Valid(tok); !ok {
		t.Fatal("a session issued by r1 is not valid at r2")
	}
	if _, ok := r2.s.sessions.Valid(tok + "x"); ok {
		t.Fatal("a forged token is valid")
	}
	r2.s.sessions.Store.Revoke(tok) // logout through r2
	if _, ok := r1.s.sessions.Valid(tok); ok {
		t.Fatal("a session revoked at r2 is still valid at r1")
	}

	tok, _, err = r2.s.sessions.Login(api.DashboardUser, "first-password")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r1.s.sessions.Valid(tok); !ok {
		t.Fatal("a session issued by r2 is not valid at r1")
	}
	time.Sleep(2100 * time.Millisecond) // past PasswordFile's racily-clean window
	writeHash("second-password")
	for _, n := range []*clusterNode{r1, r2} {
		if _, ok := n.s.sessions.Valid(tok); ok {
			t.Fatalf("%s: a session of the old password survived the new one", n.s.cfg.Instance)
		}
	}
}
