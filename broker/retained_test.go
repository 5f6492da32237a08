package broker

import (
	"fmt"
	"testing"
	"time"
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
	sub := mustClient(t, b, clientOpts{})
	var col collector
	mustSubscribe(t, sub, "homeassistant/#", &col)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && col.len() < n {
		time.Sleep(20 * time.Millisecond)
	}
	if got := col.len(); got != n {
		t.Fatalf("a new subscriber got %d of %d retained messages", got, n)
	}
}
