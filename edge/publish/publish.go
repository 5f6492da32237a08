// Package publish connects the edge to MQTT: it publishes captured frames
// without ever blocking capture, and feeds the recognizer's annotated frames
// and identities back to the live view.
package publish

import (
	"context"
	"errors"
	"log/slog"

	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/shared/mqttx"
)

// Client is the part of *mqttx.Client the edge uses; tests fake it.
type Client interface {
	Publish(topic string, qos byte, retained bool, payload []byte) error
	Subscribe(filter string, qos byte, h mqttx.Handler)
	Connected() bool
}

// Frames publishes frames to one topic at QoS 0 from its own goroutine.
// Offer never blocks: it leaves the frame in a one-slot mailbox, replacing
// (and counting as dropped) one the publisher has not taken yet.
type Frames struct {
	c     Client
	topic string
	m     *metrics.Metrics
	log   *slog.Logger
	box   chan []byte
	wasUp bool
}

// NewFrames returns a frame publisher for topic.
func NewFrames(c Client, topic string, m *metrics.Metrics, log *slog.Logger) *Frames {
	return &Frames{c: c, topic: topic, m: m, log: log, box: make(chan []byte, 1), wasUp: true}
}

// Offer queues jpeg for publishing without blocking.
func (p *Frames) Offer(jpeg []byte) {
	for {
		select {
		case p.box <- jpeg:
			return
		default:
		}
		select {
		case <-p.box:
			p.m.FramesDropped.WithLabelValues(metrics.DropBusy).Inc()
		default:
		}
	}
}

// Run publishes offered frames until ctx ends.
func (p *Frames) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-p.box:
			p.publish(b)
		}
	}
}

func (p *Frames) publish(b []byte) {
	err := p.c.Publish(p.topic, 0, false, b)
	switch {
	case err == nil:
		p.m.FramesPublished.Inc()
		if !p.wasUp {
			p.log.Info("publishing frames again", "topic", p.topic)
			p.wasUp = true
		}
	case errors.Is(err, mqttx.ErrNotConnected):
		p.m.FramesDropped.WithLabelValues(metrics.DropDisconnected).Inc()
		if p.wasUp {
			p.log.Warn("broker unreachable; dropping frames until it is back (live view continues)", "topic", p.topic)
			p.wasUp = false
		}
	case errors.Is(err, mqttx.ErrQueueFull):
		// The broker does not keep up; mqttx counted it (facemon_mqtt_dropped_total).
		p.m.FramesDropped.WithLabelValues(metrics.DropBusy).Inc()
	default:
		p.m.FramesDropped.WithLabelValues(metrics.DropDisconnected).Inc()
		p.log.Warn("publish failed", "topic", p.topic, "err", err)
	}
}
