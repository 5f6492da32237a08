package viewers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/testbroker"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/mqttx"
)

type seen struct {
	mu   sync.Mutex
	msgs []string
}

func (s *seen) add(_ string, b []byte) {
	s.mu.Lock()
	s.msgs = append(s.msgs, string(b))
	s.mu.Unlock()
}

func (s *seen) last() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return "<none>", 0
	}
	return s.msgs[len(s.msgs)-1], len(s.msgs)
}

func waitLast(t *testing.T, s *seen, want string, within time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	for time.Since(t0) < within {
		if got, _ := s.last(); got == want {
			return time.Since(t0)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got, _ := s.last()
	t.Fatalf("viewers topic: last message %q, want %q within %v", got, want, within)
	return 0
}

// On mosquitto: the count of hub subscribers is announced retained when it
// changes between zero and non-zero (zero only after Linger), again after
// the broker restarts, and cleared (empty retained message) on stop.
func TestAnnouncerOnRealBroker(t *testing.T) {
	b := testbroker.Start(t)
	const tp = "cam/door/viewers"
	cl, err := mqttx.New(mqttx.Options{Broker: b.URL, ClientID: "edge-test", MaxReconnectInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	obsSeen := &seen{}
	obs, err := mqttx.New(mqttx.Options{Broker: b.URL, ClientID: "observer", MaxReconnectInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	obs.Subscribe(tp, 1, obsSeen.add)

	var a *Announcer
	hub := stream.New(stream.Options{OnViewers: func(string) { a.Changed() }})
	a = New(Options{Client: cl, Topic: tp, Count: func() int { return hub.Viewers("door") }, Linger: 300 * time.Millisecond})
	cl.OnReconnect(a.Reconnected) // as the edge's main does
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()

	waitLast(t, obsSeen, `{"v":1,"viewers":0}`, 10*time.Second) // on connect
	s1 := hub.Subscribe("door")
	d := waitLast(t, obsSeen, `{"v":1,"viewers":1}`, 2*time.Second)
	t.Logf("viewer arrived -> announced in %v", d)
	if d > 100*time.Millisecond {
		t.Errorf("viewer announced after %v; want at once (Changed)", d)
	}
	s2 := hub.Subscribe("door") // 1 -> 2: no message
	s1.Close()
	time.Sleep(100 * time.Millisecond)
	if _, n := obsSeen.last(); n != 2 {
		t.Fatalf("%d messages after 1 -> 2 -> 1 viewers; want 2 (only zero <-> non-zero changes)", n)
	}
	// A reload: the last viewer leaves and one comes back within Linger.
	s2.Close()
	s3 := hub.Subscribe("door")
	time.Sleep(500 * time.Millisecond)
	if _, n := obsSeen.last(); n != 2 {
		t.Fatalf("%d messages after a reload within the linger; want 2", n)
	}
	s3.Close()
	d = waitLast(t, obsSeen, `{"v":1,"viewers":0}`, 2*time.Second)
	t.Logf("last viewer left -> zero announced in %v (linger 300ms)", d)
	if d < 250*time.Millisecond {
		t.Errorf("zero announced after %v, before the linger", d)
	}
	s4 := hub.Subscribe("door")
	defer s4.Close()
	waitLast(t, obsSeen, `{"v":1,"viewers":1}`, 2*time.Second)
	// mosquitto without persistence loses the retained message: the
	// reconnected announcer sends it again.
	b.Stop()
	b.Restart()
	fresh := &seen{}
	obs2, err := mqttx.New(mqttx.Options{Broker: b.URL, ClientID: "observer2", MaxReconnectInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer obs2.Close()
	obs2.Subscribe(tp, 1, fresh.add)
	waitLast(t, fresh, `{"v":1,"viewers":1}`, 15*time.Second)
	cancel()
	<-done
	// Stopped cleanly: the retained count is gone for a new subscriber.
	late := &seen{}
	obs3, err := mqttx.New(mqttx.Options{Broker: b.URL, ClientID: "observer3"})
	if err != nil {
		t.Fatal(err)
	}
	defer obs3.Close()
	obs3.Subscribe(tp, 1, late.add)
	if err := obs3.WaitConnected(ctx2(t)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got, n := late.last(); n != 0 {
		t.Fatalf("after a clean stop a new subscriber got %q; want no retained count", got)
	}
	if got, _ := fresh.last(); got != "" {
		t.Fatalf("clean stop published %q; want an empty retained message", got)
	}
}

func ctx2(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// An edge with --view-all lists the other cameras it shows live in
// "remote", at once when one is added and after the linger when removed.
func TestAnnouncerRemoteCameras(t *testing.T) {
	b := testbroker.Start(t)
	const tp = "cam/front/viewers"
	cl, err := mqttx.New(mqttx.Options{Broker: b.URL, ClientID: "edge-front"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	obsSeen := &seen{}
	obs, err := mqttx.New(mqttx.Options{Broker: b.URL, ClientID: "observer"})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	obs.Subscribe(tp, 1, obsSeen.add)
	var a *Announcer
	hub := stream.New(stream.Options{OnViewers: func(string) { a.Changed() }})
	a = New(Options{Client: cl, Topic: tp, Count: func() int { return hub.Viewers("front") },
		Remote: func() []string {
			var r []string
			for _, id := range hub.Viewed() {
				if id != "front" {
					r = append(r, id)
				}
			}
			return r
		}, Linger: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	waitLast(t, obsSeen, `{"v":1,"viewers":0}`, 10*time.Second)
	back := hub.Subscribe("back")
	d := waitLast(t, obsSeen, `{"v":1,"viewers":0,"remote":["back"]}`, 2*time.Second)
	if d > 100*time.Millisecond {
		t.Errorf("remote camera announced after %v; want at once", d)
	}
	own := hub.Subscribe("front")
	waitLast(t, obsSeen, `{"v":1,"viewers":1,"remote":["back"]}`, 2*time.Second)
	back.Close()
	d = waitLast(t, obsSeen, `{"v":1,"viewers":1}`, 2*time.Second)
	if d < 250*time.Millisecond {
		t.Errorf("remote camera removed after %v, before the linger", d)
	}
	own.Close()
	waitLast(t, obsSeen, `{"v":1,"viewers":0}`, 2*time.Second)
}
