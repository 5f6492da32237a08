//go:build cgo

package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/facemon/facemon/recognizer/annotate"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// TestCameraCommandsNeedAPerson: on the embedded broker, an enrolment on
// cam/door/enrol without a session token becomes pending (not enrolled), a
// person confirms it over REST; with a live session token it is saved at
// once; a train without a token is refused; an old token after logout
// gives pending again.
func TestCameraCommandsNeedAPerson(t *testing.T) {
	pool, err := face.NewPool(1, dlib.Opener(testenv.Models(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	dir := t.TempDir()
	hash := filepath.Join(dir, "dashboard.bcrypt")
	hb, _ := bcrypt.GenerateFromPassword([]byte("pw-person"), bcrypt.MinCost)
	os.WriteFile(hash, hb, 0o600)
	dataset := t.TempDir()
	port := testx.FreePort(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	svc, err := service.New(service.Config{AllowAnonymous: true, Gallery: filepath.Join(dir, "gallery.json"), Dataset: dataset,
		Listen: fmt.Sprintf("127.0.0.1:%d", port), HTTP: "127.0.0.1:0", Instance: "t1", Analyzer: face.DefaultAnalyzer,
		Rule: gallery.DefaultRule, GalleryPoll: 200 * time.Millisecond,
		Integrations: service.Integrations{HistoryDB: "-", HAPrefix: "-", DashboardHash: hash}}, pool, annotate.JPEG, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select { // Ready, not polling HTTPAddr: that would race with Run setting it
	case <-svc.Ready():
	case <-done:
		t.Fatal("service stopped during start-up")
	case <-time.After(30 * time.Second):
		t.Fatal("service not ready within 30 s")
	}
	base := "http://" + svc.HTTPAddr()
	cl, err := mqttx.New(mqttx.Options{Broker: fmt.Sprintf("tcp://127.0.0.1:%d", port), ClientID: "test-edge"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	sp := topic.New("")
	var mu sync.Mutex
	var answers []msg.EnrolResult
	cl.Subscribe(sp.CamResult("door"), 1, func(_ string, b []byte) {
		var r msg.EnrolResult
		if json.Unmarshal(b, &r) == nil {
			mu.Lock()
			answers = append(answers, r)
			mu.Unlock()
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := cl.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	answer := func(id string) msg.EnrolResult {
		t.Helper()
		var got msg.EnrolResult
		testx.WaitFor(t, 30*time.Second, "answer "+id, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range answers {
				if a.ID == id {
					got = a
					return true
				}
			}
			return false
		})
		return got
	}
	pub := func(tp string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		if err := cl.Publish(tp, 1, false, b); err != nil {
			t.Fatal(err)
		}
	}
	rest := func(method, path, tok, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewBufferString(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if method != "GET" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	kit, _ := os.ReadFile(testenv.Testdata(t, "faces", "kit_harington", "1.jpg"))
	kit2, _ := os.ReadFile(testenv.Testdata(t, "faces", "kit_harington", "2.jpg"))

	// No token: pending, nothing in the dataset or gallery.
	pub(sp.CamEnrol("door"), msg.Enrol{V: 1, ID: "p1", Name: "alice", Image: kit})
	a := answer("p1")
	if a.Status != msg.EnrolPending || a.Pending == "" || a.Faces != 1 {
		t.Fatalf("enrol without a session: %+v", a)
	}
	if svc.Pipeline.Gallery().Person("alice") != nil {
		t.Fatal("alice enrolled on the edge's word alone")
	}
	if m, _ := filepath.Glob(filepath.Join(dataset, "alice", "*")); len(m) != 0 {
		t.Fatalf("dataset has %v", m)
	}
	st, err := os.Stat(filepath.Join(dir, "pending", a.Pending+".jpg"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("pending file: %v %v", st, err)
	}
	if d, _ := os.Stat(filepath.Join(dir, "pending")); d.Mode().Perm() != 0o700 {
		t.Fatalf("pending dir mode %v", d.Mode())
	}
	// The same image again: the same pending entry (dedup).
	pub(sp.CamEnrol("door"), msg.Enrol{V: 1, ID: "p1b", Name: "alice", Image: kit})
	if b := answer("p1b"); b.Pending != a.Pending {
		t.Fatalf("resent image: %+v", b)
	}
	// Train without a token: refused.
	pub(sp.CamTrain("door"), msg.Train{V: 1, ID: "t1"})
	if tr := answer("t1"); tr.Status != msg.EnrolRefused || tr.Command != msg.CommandTrain {
		t.Fatalf("train without a session: %+v", tr)
	}
	pub(sp.CamTrain("door"), msg.Train{V: 1, ID: "t2", Session: "made-up-token"})
	if tr := answer("t2"); tr.Status != msg.EnrolRefused {
		t.Fatalf("train with a made-up session: %+v", tr)
	}
	// A camera field that is not the topic's.
	pub(sp.CamEnrol("door"), msg.Enrol{V: 1, ID: "p2", Name: "alice", Camera: "garage", Image: kit})
	if b := answer("p2"); b.Status != msg.EnrolError {
		t.Fatalf("camera mismatch: %+v", b)
	}

	// A person logs in.
	code, b := rest("POST", "/api/sessions", "", `{"password":"pw-person"}`)
	if code != 201 {
		t.Fatalf("login: %d %s", code, b)
	}
	var sess struct{ Token string }
	json.Unmarshal(b, &sess)
	code, b = rest("GET", "/api/pending", sess.Token, "")
	if code != 200 || !bytes.Contains(b, []byte(`"id":"`+a.Pending+`","name":"alice","camera":"door"`)) {
		t.Fatalf("pending list: %d %s", code, b)
	}
	// A burst without a token: one pending entry holding every frame the
	// selection kept (not only the first); confirming it enrols them all.
	o1 := shrink(t, "faces/obama/1.jpg", 640)
	burst := []msg.Enrol{{V: 1, ID: "pb", Name: "obama", Image: o1, Burst: [][]byte{
		shrink(t, "faces/obama/2.jpg", 640), o1, shrink(t, "noface/dogs.jpg", 640),
		shrink(t, "faces/obama/3.jpg", 640), shrink(t, "faces/obama/4.jpg", 640)}}}
	pub(sp.CamEnrol("door"), burst[0])
	pb := answer("pb")
	kept := 0
	for _, f := range pb.Frames {
		t.Logf("pending burst frame %d kept=%v %s", f.Index, f.Kept, f.Reason)
		if f.Kept {
			kept++
		}
	}
	if pb.Status != msg.EnrolPending || pb.Pending == "" || len(pb.Frames) != 6 || kept < 3 || pb.Faces != kept ||
		pb.Frames[2].Kept || pb.Frames[3].Kept {
		t.Fatalf("burst without a session: %+v", pb)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "pending", pb.Pending+"*.jpg")); len(m) != kept {
		t.Fatalf("pending burst files %v, want %d (every kept frame)", m, kept)
	}
	if svc.Pipeline.Gallery().Person("obama") != nil {
		t.Fatal("a burst enrolled on the edge's word alone")
	}
	code, b = rest("GET", "/api/pending", sess.Token, "")
	if code != 200 || !bytes.Contains(b, []byte(fmt.Sprintf(`"id":"%s","name":"obama","camera":"door"`, pb.Pending))) ||
		!bytes.Contains(b, []byte(fmt.Sprintf(`"frames":%d`, kept))) {
		t.Fatalf("pending list with a burst: %d %s", code, b)
	}
	code, b = rest("POST", "/api/pending/"+pb.Pending+"/confirm", sess.Token, "")
	if code != 200 || !bytes.Contains(b, []byte(`"status":"saved"`)) {
		t.Fatalf("confirm burst: %d %s", code, b)
	}
	if p := svc.Pipeline.Gallery().Person("obama"); p == nil || len(p.Samples) != kept {
		t.Fatalf("confirmed burst: %+v, want %d samples", p, kept)
	}
	if m, _ := filepath.Glob(filepath.Join(dataset, "obama", "*.jpg")); len(m) != kept {
		t.Fatalf("dataset after confirming the burst: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "pending", pb.Pending+"*")); len(m) != 0 {
		t.Fatalf("confirmed burst left %v", m)
	}

	// With the session token: saved at once.
	pub(sp.CamEnrol("door"), msg.Enrol{V: 1, ID: "s1", Name: "kit", Image: kit2, Session: sess.Token})
	if s := answer("s1"); s.Status != msg.EnrolSaved {
		t.Fatalf("enrol with a session: %+v", s)
	}
	if svc.Pipeline.Gallery().Person("kit") == nil {
		t.Fatal("kit not in the gallery")
	}
	// The person confirms the pending one under another name.
	code, b = rest("POST", "/api/pending/"+a.Pending+"/confirm", sess.Token, `{"name":"Alice B"}`)
	if code != 200 || !bytes.Contains(b, []byte(`"status":"saved"`)) {
		t.Fatalf("confirm: %d %s", code, b)
	}
	if svc.Pipeline.Gallery().Person("Alice B") == nil {
		t.Fatal("confirmed enrolment not in the gallery")
	}
	if code, b = rest("GET", "/api/pending", sess.Token, ""); !bytes.Contains(b, []byte(`"pending":[]`)) {
		t.Fatalf("pending after confirm: %s", b)
	}
	// Train with the session: accepted.
	pub(sp.CamTrain("door"), msg.Train{V: 1, ID: "t3", Session: sess.Token})
	if tr := answer("t3"); tr.Status != msg.TrainAccepted {
		t.Fatalf("train with a session: %+v", tr)
	}
	// Logout: the token is worth nothing, on REST and on MQTT.
	if code, _ = rest("DELETE", "/api/sessions/current", sess.Token, ""); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code, _ = rest("GET", "/api/people", sess.Token, ""); code != 401 {
		t.Fatalf("people after logout: %d", code)
	}
	pub(sp.CamEnrol("door"), msg.Enrol{V: 1, ID: "p3", Name: "mallory", Image: kit, Session: sess.Token})
	if b := answer("p3"); b.Status != msg.EnrolPending {
		t.Fatalf("enrol with a logged-out token: %+v", b)
	}
	// Discard it.
	p3 := answer("p3").Pending
	if code, _ = rest("DELETE", "/api/pending/"+p3, sess.Token, ""); code != 401 {
		t.Fatalf("discard with a logged-out token: %d", code)
	}
}
