package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/mqttx"
)

// Home Assistant subscribes to its discovery prefix and must receive every
// retained config at once: with 30 cameras and 100 people that is ~300
// retained messages in one burst, which must not be cut by the per-client
// write queue (meant to bound live frames to a slow client).
func TestRetainedBurstOnSubscribe(t *testing.T) {
	const n = 400
	b := startBroker(t, Options{AllowAnonymous: true})
	pub := mustClient(t, b, clientOpts{})
	for i := 0; i < n; i++ {
		tok := pub.Publish(fmt.Sprintf("homeassistant/sensor/facemon/p%03d/config", i), 1, true, []byte(`{"name":"x"}`))
		if !tok.WaitTimeout(5 * time.Second) {
			t.Fatalf("publish %d timed out", i)
		}
	}
	// mqttx, as the recognizer and edge use: it also gets the retained
	// messages mochi sends before the SUBACK.
	sub, err := mqttx.New(mqttx.Options{Broker: "tcp://" + b.Addr(), ClientID: "burst-sub"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Distinct topics: a subscription sent twice (at connect and by
	// Subscribe) gets the retained messages twice, which is harmless.
	var mu sync.Mutex
	seen := map[string]bool{}
	sub.Subscribe("homeassistant/#", 1, func(tp string, _ []byte) { mu.Lock(); seen[tp] = true; mu.Unlock() })
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && count() < n {
		time.Sleep(20 * time.Millisecond)
	}
	if got := count(); got != n {
		t.Fatalf("a new subscriber got %d of %d retained messages", got, n)
	}
}

// A client that subscribes to several filters at once (as the edge, the
// recognizer and Home Assistant do on every connect) gets the retained
// messages and the live ones of each. mochi loses a subscription that
// arrives while it still sends the previous one's retained messages, so
// mqttx subscribes in one packet.
func TestEverySubscriptionOfABurst(t *testing.T) {
	b := startBroker(t, Options{AllowAnonymous: true})
	pub := mustClient(t, b, clientOpts{})
	retained := []string{"facemon/status/edge/door", "facemon/status/recognizer/r1", "facemon/train/status",
		"homeassistant/image/facemon/door_annotated/config"}
	for _, tp := range retained {
		if tok := pub.Publish(tp, 1, true, []byte("x")); !tok.WaitTimeout(5 * time.Second) {
			t.Fatal("publish timed out")
		}
	}
	for round := 0; round < 5; round++ {
		cl, err := mqttx.New(mqttx.Options{Broker: "tcp://" + b.Addr(), ClientID: fmt.Sprintf("burst-%d", round)})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 20)
		for _, f := range []string{"facemon/#", "homeassistant/#", "cam/+/identities"} {
			cl.Subscribe(f, 1, func(tp string, _ []byte) { got <- tp })
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := cl.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		want := append([]string{"cam/door/identities"}, retained...)
		seen := map[string]bool{}
		deadline := time.After(5 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		for len(seen) < len(want) {
			select {
			case tp := <-got:
				seen[tp] = true
			case <-tick.C:
				pub.Publish("cam/door/identities", 0, false, []byte("live"))
			case <-deadline:
				t.Fatalf("round %d: got %v of %v", round, seen, want)
			}
		}
		tick.Stop()
		cl.Close()
	}
}

// A subscription the ACL denies is logged as refused, naming the filter,
// after a few retries; the allowed filters of the same client work.
func TestRefusedSubscriptionIsLogged(t *testing.T) {
	b := startBroker(t, Options{UsersFile: writeUsers(t)})
	spy := mustClient(t, b, clientOpts{user: "spy", password: "spy-pw"})
	if tok := spy.Publish("facemon/status/edge/pi1", 1, true, []byte("online")); !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("publish timed out")
	}
	logger, buf := testLogger(t)
	cl, err := mqttx.New(mqttx.Options{Broker: "tcp://" + b.Addr(), ClientID: "edge@refused", Username: "edge", Password: "edge-pw", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := make(chan string, 20)
	cl.Subscribe("facemon/status/#", 1, func(tp string, _ []byte) { got <- tp })
	cl.Subscribe("cam/+/frames", 1, func(tp string, _ []byte) { got <- tp }) // edge may not read frames
	select {
	case tp := <-got:
		if tp != "facemon/status/edge/pi1" {
			t.Fatalf("got %s", tp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the allowed subscription got nothing")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "mqtt subscription refused by the broker") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if l := buf.String(); !strings.Contains(l, "subscription refused by the broker") || !strings.Contains(l, "cam/+/frames") || strings.Contains(l, "filters=facemon") {
		t.Fatalf("no refusal naming cam/+/frames alone in the log:\n%s", l)
	}
}
