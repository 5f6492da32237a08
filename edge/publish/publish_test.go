package publish

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/facemon/facemon/edge/internal/fakemqtt"
	"github.com/facemon/facemon/edge/metrics"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestOfferNeverBlocksAndCountsDrops(t *testing.T) {
	m := metrics.New()
	c := &fakemqtt.Client{}
	p := NewFrames(c, "cam/x/frames", m, quiet)
	// No publisher running (a stuck broker): Offer still returns at once.
	start := time.Now()
	for i := 0; i < 1000; i++ {
		p.Offer([]byte{byte(i)})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 offers took %v", d)
	}
	if n := testutil.ToFloat64(m.FramesDropped.WithLabelValues(metrics.DropBusy)); n != 999 {
		t.Fatalf("busy drops = %v, want 999", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	deadline := time.Now().Add(2 * time.Second)
	for len(c.Messages()) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if msgs := c.Messages(); len(msgs) != 1 || msgs[0].Payload[0] != byte(999%256) || msgs[0].QoS != 0 {
		t.Fatalf("published %+v, want the newest frame once at QoS 0", msgs)
	}
	c.SetDown(true)
	p.Offer([]byte{1})
	deadline = time.Now().Add(2 * time.Second)
	for testutil.ToFloat64(m.FramesDropped.WithLabelValues(metrics.DropDisconnected)) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := testutil.ToFloat64(m.FramesDropped.WithLabelValues(metrics.DropDisconnected)); n != 1 {
		t.Fatalf("disconnected drops = %v", n)
	}
	if n := testutil.ToFloat64(m.FramesPublished); n != 1 {
		t.Fatalf("published = %v", n)
	}
	cancel()
	<-done
}
