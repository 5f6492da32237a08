// Package metrics holds the edge's Prometheus collectors on a registry of
// its own, served at /metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reasons a frame is not published.
const (
	DropBusy         = "busy"         // the publisher was still sending the previous frame
	DropDisconnected = "disconnected" // no broker connection
)

// Metrics are the edge's collectors.
type Metrics struct {
	Reg *prometheus.Registry

	FramesCaptured  prometheus.Counter
	FramesPublished prometheus.Counter
	FramesDropped   *prometheus.CounterVec
	CaptureErrors   prometheus.Counter
	AnnotatedIn     prometheus.Counter
	FramesPassed    prometheus.Counter
	ViewClients     *prometheus.GaugeVec
	ViewFrames      *prometheus.CounterVec
	ViewBytes       *prometheus.CounterVec
	Enrolments      *prometheus.CounterVec
	// MQTTDropped counts messages the MQTT client's queues dropped
	// (mqttx.Options.OnDrop), by direction and topic kind.
	MQTTDropped *prometheus.CounterVec
}

// New creates and registers the collectors.
func New() *Metrics {
	m := &Metrics{
		Reg: prometheus.NewRegistry(),
		FramesCaptured: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facemon_edge_frames_captured_total",
			Help: "Frames captured and encoded.",
		}),
		FramesPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facemon_edge_frames_published_total",
			Help: "Frames handed to the MQTT client.",
		}),
		FramesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facemon_edge_frames_dropped_total",
			Help: "Captured frames not published, by reason (busy, disconnected).",
		}, []string{"reason"}),
		CaptureErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facemon_edge_capture_errors_total",
			Help: "Camera open or read failures.",
		}),
		AnnotatedIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facemon_edge_annotated_frames_received_total",
			Help: "Annotated frames received from the recognizer.",
		}),
		FramesPassed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facemon_edge_frames_passthrough_total",
			Help: "Captured frames published with the camera's own JPEG bytes (MJPEG pass-through, no re-encode).",
		}),
		ViewFrames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facemon_edge_view_frames_sent_total",
			Help: "Live view frames sent to dashboard viewers, by kind (mjpeg, ws); per viewer: rate / facemon_edge_view_clients.",
		}, []string{"kind"}),
		ViewBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facemon_edge_view_bytes_sent_total",
			Help: "Live view JPEG bytes sent to dashboard viewers, by kind (mjpeg, ws).",
		}, []string{"kind"}),
		ViewClients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "facemon_edge_view_clients",
			Help: "Live view clients connected, by kind (mjpeg, ws).",
		}, []string{"kind"}),
		Enrolments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facemon_edge_enrolments_total",
			Help: "Enrolment images by outcome.",
		}, []string{"status"}),
		MQTTDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facemon_mqtt_dropped_total",
			Help: "MQTT messages dropped by a full client queue: direction in (a handler fell behind) or out (the broker did not keep up, or a newer frame replaced a queued one), by topic kind.",
		}, []string{"direction", "topic_kind"}),
	}
	m.FramesDropped.WithLabelValues(DropBusy)
	m.FramesDropped.WithLabelValues(DropDisconnected)
	for _, k := range []string{"mjpeg", "ws"} {
		m.ViewClients.WithLabelValues(k)
		m.ViewFrames.WithLabelValues(k)
		m.ViewBytes.WithLabelValues(k)
	}
	m.Reg.MustRegister(m.FramesCaptured, m.FramesPublished, m.FramesDropped, m.CaptureErrors,
		m.AnnotatedIn, m.FramesPassed, m.ViewClients, m.ViewFrames, m.ViewBytes, m.Enrolments, m.MQTTDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Reg, promhttp.HandlerOpts{Registry: m.Reg})
}
