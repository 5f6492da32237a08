// Package notify alerts on unknown faces: a JSON message on an MQTT topic
// (default <prefix>facemon/alerts/unknown, QoS 1, not retained) and,
// optionally, a POST of the same JSON to a webhook. Alerts are rate-limited
// by a per-camera cool-down. The webhook runs on its own goroutine behind a
// bounded queue, so Unknown never blocks: when the queue is full the alert
// is dropped (for the webhook only) and counted.
//
// Payload (both MQTT and webhook):
//
//	{"v":1,"type":"unknown_face","camera":"door","time":"2025-06-01T12:00:00Z",
//	 "distance":0.71,"candidate":"alice","group":12,"new_group":true,
//	 "box":[x0,y0,x1,y1],"crop":"<base64 JPEG>","recognizer":"rec1"}
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/facemon/facemon/shared/ttl"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/redact"
	"github.com/facemon/facemon/shared/topic"
)

// Publisher sends MQTT messages without blocking (mqttx.Client fits).
type Publisher interface {
	Publish(topic string, qos byte, retained bool, payload []byte) error
}

// Defaults.
const (
	DefaultCooldown  = time.Minute
	DefaultTimeout   = 5 * time.Second
	DefaultQueueSize = 16
	// MaxCropBytes bounds the crop carried in an alert; larger crops are left out.
	MaxCropBytes = 256 << 10
)

// AlertTopic returns <prefix>facemon/alerts/unknown.
func AlertTopic(s topic.Space) string { return s.Prefix + "facemon/alerts/unknown" }

// Config configures a Notifier.
type Config struct {
	Space      topic.Space
	Instance   string        // recognizer id, carried in alerts
	Topic      string        // MQTT topic (default AlertTopic(Space)); "-" disables MQTT alerts
	Webhook    string        // http(s) URL; empty disables
	Headers    http.Header   // extra webhook headers (e.g. Authorization)
	Timeout    time.Duration // per webhook request (default 5 s)
	QueueSize  int           // webhook queue (default 16)
	Cooldown   time.Duration // least time between two alerts of one camera (default 1 min; negative: none)
	HTTPClient *http.Client  // default: a client with Timeout
	Now        func() time.Time
	Logger     *slog.Logger
}

// Alert is one unknown-face alert.
type Alert struct {
	V          int       `json:"v"`
	Type       string    `json:"type"`
	Camera     string    `json:"camera"`
	Time       time.Time `json:"time"`
	Distance   float64   `json:"distance,omitempty"`
	Candidate  string    `json:"candidate,omitempty"`
	Group      int64     `json:"group,omitempty"`
	NewGroup   bool      `json:"new_group,omitempty"`
	Box        [4]int    `json:"box"`
	Crop       []byte    `json:"crop,omitempty"` // JPEG, base64 in JSON
	Recognizer string    `json:"recognizer,omitempty"`
}

// Stats are the notifier's counters.
type Stats struct {
	Sent       uint64 // alerts that passed the cool-down
	Suppressed uint64 // alerts within a camera's cool-down
	Dropped    uint64 // webhook deliveries dropped because the queue was full
	Delivered  uint64 // webhook deliveries answered 2xx
	Failed     uint64 // webhook deliveries that failed
	MQTTFailed uint64 // MQTT publishes that failed
}

// Notifier sends alerts. Create it with New, start Run for the webhook.
type Notifier struct {
	cfg   Config
	pub   Publisher
	log   *slog.Logger
	queue chan []byte

	mu        sync.Mutex
	last      map[string]time.Time // camera -> last alert, within Cooldown
	lastSweep int

	sent, suppressed, dropped, delivered, failed, mqttFailed atomic.Uint64
}

// New checks cfg and returns a notifier. pub may be nil when MQTT alerts
// are disabled (Topic "-").
func New(cfg Config, pub Publisher) (*Notifier, error) {
	if cfg.Topic == "" {
		cfg.Topic = AlertTopic(cfg.Space)
	}
	if cfg.Topic != "-" {
		if pub == nil {
			return nil, errors.New("notify: MQTT alerts need a publisher")
		}
		if err := checkTopic(cfg.Topic); err != nil {
			return nil, err
		}
	}
	if cfg.Webhook != "" {
		u, err := url.Parse(cfg.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL may carry a secret (userinfo, token, a webhook id
			// in its path): name only its scheme.
			scheme, _, _ := strings.Cut(cfg.Webhook, ":")
			if len(scheme) > 16 || strings.ContainsAny(scheme, "/?#@ ") {
				scheme = "?"
			}
			return nil, fmt.Errorf("notify: webhook URL (scheme %q): want an http(s) URL with a host", scheme)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Notifier{cfg: cfg, pub: pub, log: cfg.Logger.With("component", "notify"),
		queue: make(chan []byte, cfg.QueueSize), last: map[string]time.Time{}}, nil
}

func checkTopic(t string) error {
	for _, r := range t {
		if r == '+' || r == '#' || r == 0 {
			return fmt.Errorf("notify: topic %q: no wildcards allowed", t)
		}
	}
	return nil
}

// Stats returns the counters.
func (n *Notifier) Stats() Stats {
	return Stats{Sent: n.sent.Load(), Suppressed: n.suppressed.Load(), Dropped: n.dropped.Load(),
		Delivered: n.delivered.Load(), Failed: n.failed.Load(), MQTTFailed: n.mqttFailed.Load()}
}

// Unknown sends an alert for an unknown face unless its camera is in its
// cool-down; it reports whether the alert was sent. It never blocks.
func (n *Notifier) Unknown(a Alert) bool {
	if !topic.ValidID(a.Camera) {
		n.log.Warn("alert with bad camera id dropped", "camera", a.Camera)
		return false
	}
	now := n.cfg.Now()
	n.mu.Lock()
	if last, ok := n.last[a.Camera]; ok && n.cfg.Cooldown > 0 && now.Sub(last) < n.cfg.Cooldown && now.Sub(last) > -n.cfg.Cooldown {
		n.mu.Unlock()
		n.suppressed.Add(1)
		return false
	}
	n.last[a.Camera] = now
	ttl.Sweep(n.last, now, n.cfg.Cooldown, &n.lastSweep)
	n.mu.Unlock()
	n.sent.Add(1)

	a.V, a.Type = msg.Version, "unknown_face"
	if a.Time.IsZero() {
		a.Time = now
	}
	a.Time = a.Time.UTC()
	if a.Recognizer == "" {
		a.Recognizer = n.cfg.Instance
	}
	if len(a.Crop) > MaxCropBytes {
		a.Crop = nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		n.log.Error("alert encoding failed", "err", err)
		return false
	}
	if n.cfg.Topic != "-" {
		if err := n.pub.Publish(n.cfg.Topic, 1, false, b); err != nil {
			n.mqttFailed.Add(1)
			n.log.Warn("alert publish failed", "err", err)
		}
	}
	if n.cfg.Webhook != "" {
		select {
		case n.queue <- b:
		default:
			n.dropped.Add(1)
			n.log.Warn("webhook queue full; alert dropped", "camera", a.Camera)
		}
	}
	return true
}

// Run delivers queued webhook alerts until ctx ends. Without a webhook it
// just waits for ctx.
func (n *Notifier) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-n.queue:
			if err := n.post(ctx, b); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				n.failed.Add(1)
				n.log.Warn("webhook failed", "err", err)
			} else {
				n.delivered.Add(1)
			}
		}
	}
}

func (n *Notifier) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.Webhook, bytes.NewReader(body))
	if err != nil {
		return redact.URLError(err)
	}
	for k, vs := range n.cfg.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facemon-recognizer")
	resp, err := n.cfg.HTTPClient.Do(req)
	if err != nil {
		// A *url.Error quotes the whole URL; keep only its origin.
		return redact.URLError(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s/… answered %s", redact.Origin(n.cfg.Webhook), resp.Status)
	}
	return nil
}
