package service

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/internal/fakeface"
	"github.com/facemon/facemon/shared/msg"
)

type recorder struct {
	mu   sync.Mutex
	msgs map[string][][]byte
}

func (r *recorder) Publish(t string, _ byte, _ bool, b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.msgs == nil {
		r.msgs = map[string][][]byte{}
	}
	r.msgs[t] = append(r.msgs[t], append([]byte(nil), b...))
	return nil
}

func (r *recorder) count(t string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs[t])
}

// A burst of 200 enrolments and 200 person commands: every one is answered
// (saved, or refused as busy), and the goroutine count stays bounded.
func TestCommandBurstIsBoundedAndAnswered(t *testing.T) {
	s := newTestService(t, 20*time.Millisecond)
	rec := &recorder{}
	s.out = rec
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	s.enrolWork.run(ctx, &wg)
	s.personWork.run(ctx, &wg)
	defer func() { cancel(); wg.Wait() }()
	base := runtime.NumGoroutine()
	const n = 200
	peak := 0
	for i := 0; i < n; i++ {
		s.handleEnrol("", enrolPayload(t, fmt.Sprintf("p%d", i%5), fakeface.JPEG(uint64(i))))
		s.handlePerson("threshold")("", []byte(fmt.Sprintf(`{"v":1,"id":"t%d","name":"p0","threshold":0.5}`, i)))
		peak = max(peak, runtime.NumGoroutine())
	}
	deadline := time.Now().Add(30 * time.Second)
	for rec.count(s.space.EnrolResult()) < n || rec.count(s.space.Result()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("answers: %d enrol, %d person of %d", rec.count(s.space.EnrolResult()), rec.count(s.space.Result()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if peak-base > 8 {
		t.Errorf("goroutines grew by %d during the burst", peak-base)
	}
	saved, busy := 0, 0
	for _, b := range rec.msgs[s.space.EnrolResult()] {
		var r msg.EnrolResult
		json.Unmarshal(b, &r)
		switch {
		case r.Status == msg.EnrolSaved:
			saved++
		case r.Status == msg.EnrolError && strings.HasPrefix(r.Error, "busy:") && r.ID != "":
			busy++
		default:
			t.Errorf("unexpected answer %+v", r)
		}
	}
	if saved < 1 || busy < 1 || saved+busy != n {
		t.Errorf("enrol: %d saved, %d busy of %d", saved, busy, n)
	}
	_, samples := s.Pipeline.Gallery().Counts()
	if samples != saved {
		t.Errorf("%d saved answers but %d samples", saved, samples)
	}
	t.Logf("enrol burst of %d: %d saved, %d refused busy; goroutines +%d at peak", n, saved, busy, peak-base)
}

// Commands a full subscription queue gives up (mqttx OnFull) are answered
// "busy" on the topic their kind answers on, with the request's id.
func TestOverflowedCommandsAnswered(t *testing.T) {
	s := newTestService(t, 0)
	rec := &recorder{}
	s.out = rec
	s.overflowEnrol(s.space.Command("enrol"), []byte(`{"v":1,"id":"e1","name":"ann","image":"AAAA"}`))
	s.overflowCamera(msg.CommandEnrol)(s.space.CamEnrol("door"), []byte(`{"v":1,"id":"c1","name":"ann"}`))
	s.overflowCamera(msg.CommandTrain)(s.space.CamTrain("door"), []byte(`{"v":1,"id":"c2"}`))
	s.overflowCamera(msg.CommandEnrol)("cam/../enrol", []byte(`{"v":1,"id":"c3"}`)) // not a camera topic: no answer
	s.overflowPerson("rename")(s.space.Command("rename"), []byte(`{"v":1,"id":"p1","name":"ann","new":"bob"}`))
	s.overflowTrain(s.space.Command("train"), []byte(`{"v":1,"id":"t1"}`)) // covered by a queued run: logged only
	decode := func(tp string) []map[string]any {
		var out []map[string]any
		for _, b := range rec.msgs[tp] {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	busy := func(m map[string]any) bool { e, _ := m["error"].(string); return strings.HasPrefix(e, "busy:") }
	if a := decode(s.space.EnrolResult()); len(a) != 1 || a[0]["id"] != "e1" || a[0]["name"] != "ann" || !busy(a[0]) {
		t.Errorf("enrol answers %v", a)
	}
	if a := decode(s.space.CamResult("door")); len(a) != 2 || a[0]["id"] != "c1" || !busy(a[0]) || a[1]["id"] != "c2" || a[1]["command"] != msg.CommandTrain || !busy(a[1]) {
		t.Errorf("camera answers %v", a)
	}
	if a := decode(s.space.Result()); len(a) != 1 || a[0]["id"] != "p1" || a[0]["command"] != "rename" || !busy(a[0]) {
		t.Errorf("person answers %v", a)
	}
	if n := len(rec.msgs); n != 3 {
		t.Errorf("answers on %d topics, want 3: %v", n, rec.msgs)
	}
}
