// Package mqttx connects facemon components to an MQTT broker with the
// habits they all share: automatic reconnect with backoff, a retained
// availability topic set by a last will, and subscriptions restored on every
// reconnect.
package mqttx

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/mqttfilter"
	"github.com/facemon/facemon/shared/redact"
	"github.com/facemon/facemon/shared/tlsx"
	"github.com/facemon/facemon/shared/topic"
)

// Options configure a connection.
type Options struct {
	Broker   string // tcp://host:1883, ssl://host:8883, ws://host/mqtt
	ClientID string
	Username string
	Password string
	// TLS for ssl://, tls://, mqtts:// and wss:// brokers: TLS, when set,
	// is used as is; otherwise CAFile ("" = system roots) is the CA to
	// trust and CertFile/KeyFile an optional client certificate. Ignored
	// for plain tcp:// and ws:// brokers.
	TLS                       *tls.Config
	CAFile, CertFile, KeyFile string
	// StatusTopic, when set, is published "online" (retained) on every
	// connect and "offline" by the broker as the last will.
	StatusTopic string
	// BeforeOnline, when set, is called on every connect before
	// StatusTopic is published "online"; the messages it returns are
	// published first, on the new connection and in that order, so a
	// subscriber hears them before it hears "online" (an edge's retained
	// viewers count: no recognizer sees a restarted edge online with the
	// count its last run left retained). It must not block.
	BeforeOnline func() []Message
	// ConnectTimeout bounds each connection attempt (default 5s).
	ConnectTimeout time.Duration
	// MaxReconnectInterval caps the reconnect backoff (default 10s).
	MaxReconnectInterval time.Duration
	Logger               *slog.Logger
	// PublishQueue and PublishQueueBytes bound the messages Publish has
	// queued for the broker (defaults DefaultPublishQueue messages,
	// DefaultPublishQueueBytes of payload); beyond them Publish drops.
	PublishQueue, PublishQueueBytes int
	// OnDrop, when set, is called for every message mqttx drops because a
	// queue is full: direction DirIn (a subscription's handler fell
	// behind) or DirOut (the broker does not keep up with Publish), and
	// the message's topic. It runs on paho's or the publisher's goroutine
	// and must not block (count it).
	OnDrop func(direction, topic string)
}

// Message is one message to publish (Options.BeforeOnline).
type Message struct {
	Topic    string
	QoS      byte
	Retained bool
	Payload  []byte
}

// Handler receives one message. Each subscription has its own delivery
// goroutine and queue: a handler sees its filter's messages in the order
// they arrived, never runs concurrently with itself, and a slow one delays
// (and, when its queue is full, drops) only its own subscription's
// messages. It should still hand slow work to a mailbox.
type Handler func(topic string, payload []byte)

// Client is a connected (or reconnecting) MQTT client.
type Client struct {
	c    mqtt.Client
	opts Options
	log  *slog.Logger
	mu   sync.Mutex
	subs []*sub
	out  *outQueue
	up   chan struct{} // closed on first successful connect
	once sync.Once
	// reconnect hooks run (on their own goroutine) after every connect but
	// the first, e.g. to publish again what a restarted broker lost.
	reconnect []func()
	connects  int
	live      bool // onConnect has taken its snapshot of subs (until the connection is lost)

	errMu   sync.Mutex
	lastErr error // last failed connection attempt (redacted), nil once connected

	droppedIn, droppedOut atomic.Uint64
}

// ValidateBroker checks a broker URL. Its errors never show a password.
func ValidateBroker(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the whole URL in its error.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return redact.Errorf("broker URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return redact.Errorf("broker URL %q: scheme must be tcp, ssl, ws or wss", raw)
	}
	if u.Host == "" {
		return redact.Errorf("broker URL %q: no host", raw)
	}
	return nil
}

// IsTLS reports whether a broker URL uses TLS.
func IsTLS(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "wss":
		return true
	}
	return false
}

// DefaultClientID returns a client id unique to this process, so two
// programs started with default flags on one host never take each other's
// id (the broker drops whoever held it): "<user>@<host>-<6 hex>", or
// "@<component>-<host>-<6 hex>" without a user name (an anonymous client's
// id, which no user owns). The '@' (ids.ClientIDSep) cannot occur in user
// names or camera ids, so the id of user edge-door on host pi never falls
// in user edge-door-pi's id space. The result is at most 64 characters of
// [A-Za-z0-9_.-] and one '@'.
func DefaultClientID(user, component string) string {
	var r [3]byte
	if _, err := rand.Read(r[:]); err != nil {
		// crypto/rand does not fail on supported systems; fall back to
		// the process id and the clock rather than a fixed id.
		n := uint32(os.Getpid())<<8 ^ uint32(time.Now().UnixNano())
		r = [3]byte{byte(n >> 16), byte(n >> 8), byte(n)}
	}
	suffix := hex.EncodeToString(r[:])
	const sep = ids.ClientIDSep
	var prefix string
	switch u := ids.Part(user, 64); {
	case u != "" && u == user && len(u)+len(sep)+len(suffix) <= 64:
		prefix = u + sep
	case u != "" && u == user:
		// Too long for a suffix: the bare user name is also its id
		// (one connection at a time).
		return u
	default:
		// An anonymous client, or a user name that cannot be an id
		// as it is (the broker compares the id's owner with the user
		// name, so a rewritten name would be refused anyway).
		prefix = sep
		if c := ids.Part(component, 24); c != "" {
			prefix += c + "-"
		}
	}
	host, _ := os.Hostname()
	host = ids.Part(host, 64-len(prefix)-len(suffix)-1)
	if host == "" {
		return prefix + suffix
	}
	return prefix + host + "-" + suffix
}

// tlsConfig returns the TLS configuration for o (nil for plain brokers).
func (o *Options) tlsConfig() (*tls.Config, error) {
	if !IsTLS(o.Broker) {
		return nil, nil
	}
	if o.TLS != nil {
		return o.TLS, nil
	}
	return tlsx.ClientConfig(o.CAFile, o.CertFile, o.KeyFile, "")
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
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	cl := &Client{opts: o, log: o.Logger.With("broker", redact.URL(o.Broker), "client_id", o.ClientID), up: make(chan struct{}),
		out: newOutQueue(o.PublishQueue, o.PublishQueueBytes)}
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
		// In order, on paho's one router goroutine (not a goroutine per
		// message): the callback only queues the message for each
		// matching subscription (dispatch), whose own goroutine runs the
		// handler, so paho is never held up by a handler.
		SetOrderMatters(true).
		// Every message goes to dispatch, which queues it for each
		// subscription whose filter matches (subscriptions carry no paho
		// route, see subscribeAll), also for retained messages that
		// arrive before their SUBACK.
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { cl.dispatch(m.Topic(), m.Payload()) }).
		SetOnConnectHandler(cl.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			cl.mu.Lock()
			cl.live = false
			cl.mu.Unlock()
			cl.log.Warn("mqtt connection lost; reconnecting", "err", redact.Error(err))
		}).
		SetConnectionNotificationHandler(cl.onNotification).
		SetReconnectingHandler(func(_ mqtt.Client, _ *mqtt.ClientOptions) {
			cl.log.Debug("mqtt reconnecting")
		})
	if tc != nil {
		po.SetTLSConfig(tc)
	}
	if o.StatusTopic != "" {
		po.SetBinaryWill(o.StatusTopic, []byte(topic.Offline), 1, true)
	}
	cl.c = mqtt.NewClient(po)
	go cl.out.run(func(m outMsg) mqtt.Token { return cl.c.Publish(m.topic, m.qos, m.retained, m.payload) })
	cl.c.Connect() // with ConnectRetry this keeps trying in the background
	return cl, nil
}

// drop counts a message a full queue gave up.
func (cl *Client) drop(direction, t string) {
	if direction == DirIn {
		cl.droppedIn.Add(1)
	} else {
		cl.droppedOut.Add(1)
	}
	if cl.opts.OnDrop != nil {
		cl.opts.OnDrop(direction, t)
	}
}

// Dropped returns how many messages full queues dropped so far: received
// ones (a subscription's handler fell behind) and published ones (the
// publish queue was full).
func (cl *Client) Dropped() (in, out uint64) {
	return cl.droppedIn.Load(), cl.droppedOut.Load()
}

// onNotification records why connection attempts fail, and logs it when
// the reason changes (not on every retry).
func (cl *Client) onNotification(_ mqtt.Client, n mqtt.ConnectionNotification) {
	// One Failed per attempt (BrokerFailed repeats the same reason).
	f, ok := n.(mqtt.ConnectionNotificationFailed)
	if !ok || f.Reason == nil {
		return
	}
	err := f.Reason
	err = explain(redact.Error(err))
	cl.errMu.Lock()
	same := cl.lastErr != nil && cl.lastErr.Error() == err.Error()
	cl.lastErr = err
	cl.errMu.Unlock()
	if same {
		cl.log.Debug("mqtt connection attempt failed; retrying", "err", err)
		return
	}
	cl.log.Warn("mqtt connection attempt failed; retrying", "err", err)
}

// explain adds what to check to the connection errors a person can fix.
func explain(err error) error {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ce x509.CertificateInvalidError
	s := err.Error()
	switch {
	case errors.As(err, &ua) || strings.Contains(s, "certificate signed by unknown authority"):
		return fmt.Errorf("%w (the broker's certificate is not signed by a trusted CA: give its CA with --ca)", err)
	case errors.As(err, &hn) || strings.Contains(s, "certificate is valid for"):
		return fmt.Errorf("%w (the broker URL's host is not in its certificate: connect by a listed name, or re-run certs with --host)", err)
	case errors.As(err, &ce):
		return fmt.Errorf("%w (the broker's certificate is not valid now)", err)
	case strings.Contains(s, "not Authorized") || strings.Contains(s, "bad user name or password"):
		return fmt.Errorf("%w (check the MQTT user name and password)", err)
	case strings.Contains(s, "identifier rejected"):
		return fmt.Errorf("%w (the broker refused the client id)", err)
	}
	return err
}

// LastError returns why the last connection attempt failed (nil while
// connected or before any attempt failed). Its text holds no secret.
func (cl *Client) LastError() error {
	cl.errMu.Lock()
	defer cl.errMu.Unlock()
	return cl.lastErr
}

func (cl *Client) onConnect(c mqtt.Client) {
	cl.errMu.Lock()
	cl.lastErr = nil
	cl.errMu.Unlock()
	cl.log.Info("mqtt connected")
	if cl.opts.BeforeOnline != nil {
		// paho sends on one connection in the order of these calls.
		for _, m := range cl.opts.BeforeOnline() {
			c.Publish(m.Topic, m.QoS, m.Retained, m.Payload)
		}
	}
	if cl.opts.StatusTopic != "" {
		c.Publish(cl.opts.StatusTopic, 1, true, topic.Online)
	}
	cl.mu.Lock()
	subs := append([]*sub(nil), cl.subs...)
	cl.live = true // later Subscribe calls send their own SUBSCRIBE
	cl.mu.Unlock()
	cl.subscribeAll(subs)
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

func (cl *Client) subscribe(s *sub) { cl.subscribeAll([]*sub{s}) }

// subscribeAll sends one SUBSCRIBE packet for all filters. Messages reach
// the handlers through the default publish handler (dispatch), never
// through paho's per-filter routes. One packet, not one per filter, and
// refused filters are tried again: mochi (v2.7.9) checks a SUBSCRIBE's
// packet id against the ids of its own QoS 1 messages in flight to the
// client (the retained messages of the previous subscription) and refuses
// the whole packet on a collision (SUBACK 0x80), so a client subscribing
// facemon/# and then homeassistant/# could get nothing on the second.
// Mosquitto does not.
func (cl *Client) subscribeAll(subs []*sub) {
	if len(subs) == 0 {
		return
	}
	filters := make(map[string]byte, len(subs))
	for _, s := range subs {
		if q, ok := filters[s.filter]; !ok || s.qos > q {
			filters[s.filter] = s.qos
		}
	}
	cl.sendSubscribe(filters, 0)
}

// subscribeRetries bounds the attempts at filters the broker refused: a
// packet id collision clears once the client acknowledged the messages in
// flight (milliseconds); a filter the ACL denies stays refused.
var subscribeRetries = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second, 3 * time.Second}

// sendSubscribe queues the SUBSCRIBE now (so it goes out before whatever
// the caller sends next, as a subscription made before a publish must)
// and checks its SUBACK on another goroutine.
func (cl *Client) sendSubscribe(filters map[string]byte, attempt int) {
	tok := cl.c.SubscribeMultiple(filters, nil)
	go cl.checkSuback(filters, tok, attempt)
}

// checkSuback logs a failed SUBSCRIBE and sends the filters the broker
// refused again, up to len(subscribeRetries) times.
func (cl *Client) checkSuback(filters map[string]byte, tok mqtt.Token, attempt int) {
	if !tok.WaitTimeout(10 * time.Second) {
		cl.log.Warn("mqtt subscribe timed out", "filters", len(filters))
		return
	}
	if err := tok.Error(); err != nil {
		cl.log.Error("mqtt subscribe failed", "filters", len(filters), "err", err)
		return
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return
	}
	refused := map[string]byte{}
	for f, code := range st.Result() {
		if code >= 0x80 {
			refused[f] = filters[f]
		}
	}
	if len(refused) == 0 || !cl.c.IsConnectionOpen() {
		return // all granted, or the next onConnect subscribes everything again
	}
	if attempt >= len(subscribeRetries) {
		names := make([]string, 0, len(refused))
		for f := range refused {
			names = append(names, f)
		}
		sort.Strings(names)
		cl.log.Error("mqtt subscription refused by the broker (not authorized for this user?)", "filters", strings.Join(names, " "), "attempts", attempt+1)
		return
	}
	cl.log.Debug("mqtt subscription refused; retrying", "filters", len(refused), "attempt", attempt+1)
	time.Sleep(subscribeRetries[attempt])
	if cl.c.IsConnectionOpen() {
		cl.sendSubscribe(refused, attempt+1)
	}
}

// Subscribe registers h for filter now (when connected) and after every
// reconnect, with the default queue (see SubOptions). h runs on the
// subscription's own goroutine, one message at a time, in order.
func (cl *Client) Subscribe(filter string, qos byte, h Handler) {
	cl.SubscribeOpts(filter, qos, SubOptions{}, h)
}

// SubscribeOpts is Subscribe with a chosen queue length and drop policy.
func (cl *Client) SubscribeOpts(filter string, qos byte, o SubOptions, h Handler) {
	s := newSub(filter, qos, h, o, cl.drop)
	go s.run()
	cl.mu.Lock()
	cl.subs = append(cl.subs, s)
	live := cl.live // else the next onConnect subscribes it (once)
	cl.mu.Unlock()
	if live {
		cl.subscribe(s)
	}
}

// Unsubscribe removes every handler registered for filter (so reconnects
// no longer subscribe it) and, when connected, sends UNSUBSCRIBE without
// waiting for its answer. Messages already in flight may still reach the
// removed handlers' callers' topics through other filters only.
func (cl *Client) Unsubscribe(filter string) {
	cl.mu.Lock()
	kept := cl.subs[:0:0]
	for _, s := range cl.subs {
		if s.filter != filter {
			kept = append(kept, s)
		} else {
			s.close() // its queued messages are not delivered
		}
	}
	cl.subs = kept
	live := cl.live
	cl.mu.Unlock()
	if !live {
		return
	}
	tok := cl.c.Unsubscribe(filter)
	go func() {
		if !tok.WaitTimeout(10 * time.Second) {
			cl.log.Warn("mqtt unsubscribe timed out", "filter", filter)
		} else if err := tok.Error(); err != nil {
			cl.log.Warn("mqtt unsubscribe failed", "filter", filter, "err", err)
		}
	}()
}

// WaitConnected waits for the first connection.
func (cl *Client) WaitConnected(ctx context.Context) error {
	select {
	case <-cl.up:
		return nil
	case <-ctx.Done():
		if err := cl.LastError(); err != nil {
			return fmt.Errorf("mqtt %s: not connected: %w (last attempt: %w)", redact.URL(cl.opts.Broker), ctx.Err(), err)
		}
		return fmt.Errorf("mqtt %s: not connected: %w", redact.URL(cl.opts.Broker), ctx.Err())
	}
}

// Connected reports whether the connection is up now.
func (cl *Client) Connected() bool { return cl.c.IsConnectionOpen() }

// ErrNotConnected is returned by Publish while the connection is down.
var ErrNotConnected = errors.New("mqtt: not connected")

// Publish queues payload for the broker and returns at once: it never
// blocks on the network. Messages are dropped (ErrNotConnected) while the
// connection is down, and dropped and counted (ErrQueueFull, OnDrop) when
// the publish queue is full. One goroutine hands the queue to paho in the
// order of the Publish calls, except that a non-retained QoS 0 message
// (a stream: frames, annotated frames) replaces the one still queued for
// its topic, which counts as dropped: a stream never queues stale frames.
// payload must not be changed afterwards.
func (cl *Client) Publish(t string, qos byte, retained bool, payload []byte) error {
	if cl.out.closed.Load() || !cl.c.IsConnectionOpen() {
		return ErrNotConnected
	}
	queued, dropped := cl.out.put(outMsg{topic: t, qos: qos, retained: retained, payload: payload})
	if !queued {
		cl.drop(DirOut, t)
		return ErrQueueFull
	}
	if dropped {
		cl.drop(DirOut, t) // an older QoS 0 message on t, not yet sent
	}
	return nil
}

// PublishWait publishes and waits up to timeout for the broker to accept it.
// It does not go through Publish's queue.
func (cl *Client) PublishWait(t string, qos byte, retained bool, payload []byte, timeout time.Duration) error {
	tok := cl.c.Publish(t, qos, retained, payload)
	if !tok.WaitTimeout(timeout) {
		return fmt.Errorf("mqtt publish %s: timed out after %v", t, timeout)
	}
	return tok.Error()
}

// Close sends what Publish has queued (waiting up to 2 s), publishes
// "offline" on the status topic (a clean disconnect does not fire the last
// will), stops the subscriptions' goroutines and disconnects.
func (cl *Client) Close() {
	cl.out.close(2 * time.Second)
	cl.mu.Lock()
	for _, s := range cl.subs {
		s.close()
	}
	cl.mu.Unlock()
	if cl.opts.StatusTopic != "" && cl.c.IsConnectionOpen() {
		cl.c.Publish(cl.opts.StatusTopic, 1, true, topic.Offline).WaitTimeout(2 * time.Second)
	}
	cl.c.Disconnect(250)
}

// dispatch queues a message (on paho's router goroutine, in the order
// received) for every subscription whose filter matches its topic. It
// never blocks.
func (cl *Client) dispatch(t string, payload []byte) {
	cl.mu.Lock()
	subs := cl.subs // elements are never changed in place: Subscribe appends, Unsubscribe copies
	cl.mu.Unlock()
	for _, s := range subs {
		if mqttfilter.MatchSubscription(s.filter, t) {
			s.push(message{topic: t, payload: payload})
		}
	}
}
