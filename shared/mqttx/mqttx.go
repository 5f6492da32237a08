// Package mqttx connects facemon components to an MQTT broker with the
// habits they all share: automatic reconnect with backoff, a retained
// availability topic set by a last will, and subscriptions restored on every
// reconnect.
package mqttx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facemon/facemon/shared/topic"
)

// Options configure a connection.
type Options struct {
	Broker   string // tcp://host:1883, ssl://host:8883, ws://host/mqtt
	ClientID string
	Username string
	Password string
	// StatusTopic, when set, is published "online" (retained) on every
	// connect and "offline" by the broker as the last will.
	StatusTopic string
	// ConnectTimeout bounds each connection attempt (default 5s).
	ConnectTimeout time.Duration
	// MaxReconnectInterval caps the reconnect backoff (default 10s).
	MaxReconnectInterval time.Duration
	Logger               *slog.Logger
}

// Handler receives one message. It must not block: hand work to a mailbox.
type Handler func(topic string, payload []byte)

type sub struct {
	filter string
	qos    byte
	h      Handler
}

// Client is a connected (or reconnecting) MQTT client.
type Client struct {
	c    mqtt.Client
	opts Options
	log  *slog.Logger
	mu   sync.Mutex
	subs []sub
	up   chan struct{} // closed on first successful connect
	once sync.Once
	// reconnect hooks run (on their own goroutine) after every connect but
	// the first, e.g. to publish again what a restarted broker lost.
	reconnect []func()
	connects  int
}

// ValidateBroker checks a broker URL.
func ValidateBroker(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("broker URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("broker URL %q: scheme must be tcp, ssl, ws or wss", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("broker URL %q: no host", raw)
	}
	return nil
}

// New creates a client and starts connecting in the background; it keeps
// retrying (with backoff) until Close. Use WaitConnected to wait for the
// first connection.
func New(o Options) (*Client, error) {
	if err := ValidateBroker(o.Broker); err != nil {
		return nil, err
	}
	if o.ClientID == "" {
		return nil, errors.New("mqttx: empty client id")
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.MaxReconnectInterval == 0 {
		o.MaxReconnectInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cl := &Client{opts: o, log: o.Logger.With("broker", o.Broker), up: make(chan struct{})}
	po := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(o.MaxReconnectInterval).
		SetConnectTimeout(o.ConnectTimeout).
		SetKeepAlive(15 * time.Second).
		SetPingTimeout(5 * time.Second).
		SetWriteTimeout(5 * time.Second).
		SetOrderMatters(false).
		SetOnConnectHandler(cl.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			cl.log.Warn("mqtt connection lost; reconnecting", "err", err)
		}).
		SetReconnectingHandler(func(_ mqtt.Client, _ *mqtt.ClientOptions) {
			cl.log.Debug("mqtt reconnecting")
		})
	if o.StatusTopic != "" {
		po.SetBinaryWill(o.StatusTopic, []byte(topic.Offline), 1, true)
	}
	cl.c = mqtt.NewClient(po)
	cl.c.Connect() // with ConnectRetry this keeps trying in the background
	return cl, nil
}

func (cl *Client) onConnect(c mqtt.Client) {
	cl.log.Info("mqtt connected")
	if cl.opts.StatusTopic != "" {
		c.Publish(cl.opts.StatusTopic, 1, true, topic.Online)
	}
	cl.mu.Lock()
	subs := append([]sub(nil), cl.subs...)
	cl.mu.Unlock()
	for _, s := range subs {
		cl.subscribe(s)
	}
	cl.mu.Lock()
	cl.connects++
	var hooks []func()
	if cl.connects > 1 {
		hooks = append(hooks, cl.reconnect...)
	}
	cl.mu.Unlock()
	for _, f := range hooks {
		go f()
	}
	cl.once.Do(func() { close(cl.up) })
}

// OnReconnect registers f to run after every reconnection (not the first
// connection), on its own goroutine. Retained messages that a restarted
// broker without persistence lost (Home Assistant discovery) are published
// again from such a hook.
func (cl *Client) OnReconnect(f func()) {
	cl.mu.Lock()
	cl.reconnect = append(cl.reconnect, f)
	cl.mu.Unlock()
}

func (cl *Client) subscribe(s sub) {
	tok := cl.c.Subscribe(s.filter, s.qos, func(_ mqtt.Client, m mqtt.Message) { s.h(m.Topic(), m.Payload()) })
	go func() {
		if !tok.WaitTimeout(10 * time.Second) {
			cl.log.Warn("mqtt subscribe timed out", "filter", s.filter)
		} else if err := tok.Error(); err != nil {
			cl.log.Error("mqtt subscribe failed", "filter", s.filter, "err", err)
		}
	}()
}

// Subscribe registers h for filter now (when connected) and after every
// reconnect. h runs on paho's goroutine and must not block.
func (cl *Client) Subscribe(filter string, qos byte, h Handler) {
	s := sub{filter, qos, h}
	cl.mu.Lock()
	cl.subs = append(cl.subs, s)
	cl.mu.Unlock()
	if cl.c.IsConnectionOpen() {
		cl.subscribe(s)
	}
}

// WaitConnected waits for the first connection.
func (cl *Client) WaitConnected(ctx context.Context) error {
	select {
	case <-cl.up:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt %s: not connected: %w", cl.opts.Broker, ctx.Err())
	}
}

// Connected reports whether the connection is up now.
func (cl *Client) Connected() bool { return cl.c.IsConnectionOpen() }

// ErrNotConnected is returned by Publish while the connection is down.
var ErrNotConnected = errors.New("mqtt: not connected")

// Publish sends payload without waiting for it to be written. QoS 0
// messages are dropped (ErrNotConnected) while the connection is down, so
// callers never block on the network.
func (cl *Client) Publish(t string, qos byte, retained bool, payload []byte) error {
	if !cl.c.IsConnectionOpen() {
		return ErrNotConnected
	}
	cl.c.Publish(t, qos, retained, payload)
	return nil
}

// PublishWait publishes and waits up to timeout for the broker to accept it.
func (cl *Client) PublishWait(t string, qos byte, retained bool, payload []byte, timeout time.Duration) error {
	tok := cl.c.Publish(t, qos, retained, payload)
	if !tok.WaitTimeout(timeout) {
		return fmt.Errorf("mqtt publish %s: timed out after %v", t, timeout)
	}
	return tok.Error()
}

// Close publishes "offline" on the status topic (a clean disconnect does not
// fire the last will) and disconnects.
func (cl *Client) Close() {
	if cl.opts.StatusTopic != "" && cl.c.IsConnectionOpen() {
		cl.c.Publish(cl.opts.StatusTopic, 1, true, topic.Offline).WaitTimeout(2 * time.Second)
	}
	cl.c.Disconnect(250)
}
