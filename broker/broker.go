// Package broker runs facemon's embedded MQTT broker (mochi-mqtt) with
// bounded packet sizes and per-client write queues, optional WebSocket and
// TLS listeners, and users-file authentication with default-deny topic rules
// (see package auth).
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/facemon/facemon/broker/auth"
	"github.com/facemon/facemon/shared/mqttfilter"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Defaults applied by Options.Defaults.
const (
	DefaultTCPAddr       = ":1883"
	DefaultMaxPacketSize = 2 << 20 // 2 MiB: a large JPEG frame plus headers
	// DefaultMaxClientWritesPending bounds one client's outbound queue in
	// packets. It must hold the burst of retained messages a new subscriber
	// gets at once (Home Assistant subscribing to its discovery prefix: 3
	// configs per camera and 2 per person, ~300 for 30 cameras and 100
	// people; 64 cut that burst to 137 of 400 in TestRetainedBurstOnSubscribe).
	// A slow subscriber of frames holds at most this many: ~50 MiB at a
	// typical 50 KB frame, 2 GiB in the worst case of 2 MiB frames.
	DefaultMaxClientWritesPending = 1024
	DefaultUsersPoll              = 2 * time.Second

	// MaxPacketSizeLimit is the largest packet MQTT can encode (256 MiB).
	MaxPacketSizeLimit = 268435455 + 5
	// MaxClientWritesPendingLimit caps the per-client outbound queue.
	MaxClientWritesPendingLimit = 1 << 16
)

// Options configures a Broker. Zero values are replaced by Defaults.
type Options struct {
	// TCPAddr is the plain MQTT listen address (default ":1883"). Use
	// "127.0.0.1:0" for an ephemeral port; Broker.Addr reports the bound one.
	TCPAddr string
	// WSAddr, if set, adds an MQTT-over-WebSocket listener (path "/").
	WSAddr string
	// TLSAddr, if set, adds an MQTT-over-TLS listener using TLSCert/TLSKey
	// (PEM files). Both are required with TLSAddr and invalid without it.
	TLSAddr, TLSCert, TLSKey string
	// MaxPacketSize is the largest MQTT packet accepted from a client, in
	// bytes (default 2 MiB). A client sending a bigger packet is
	// disconnected.
	MaxPacketSize uint32
	// MaxClientWritesPending bounds each client's outbound queue (default
	// 1024). Messages for a client whose queue is full are dropped for that
	// client, so one slow subscriber cannot make the broker buffer frames
	// without limit.
	MaxClientWritesPending int32
	// UsersFile is a YAML users file (see package auth and package creds,
	// which generates one). New refuses an empty UsersFile unless
	// AllowAnonymous is set.
	UsersFile string
	// UsersPoll is how often the users file is checked for changes and
	// reloaded (default 2 s; negative: never). A file that no longer parses
	// is logged and the previous users are kept.
	UsersPoll time.Duration
	// AllowAnonymous accepts clients without a username, from loopback
	// addresses only, with access to every topic (logged loudly at start).
	// Clients with a username are still checked against UsersFile.
	AllowAnonymous bool
	// WSOrigins lists the extra browser origins allowed on the WebSocket
	// listener ("https://ha.example:8123", or a bare "host[:port]" matching
	// any scheme; "*" allows every origin). Without it, a request with an
	// Origin header is accepted only if the origin's host equals the
	// request's Host; requests without Origin (non-browser clients) are
	// always accepted.
	WSOrigins []string
	// Logger receives broker logs (default slog.Default()).
	Logger *slog.Logger
}

// Defaults fills zero fields with default values.
func (o *Options) Defaults() {
	if o.TCPAddr == "" {
		o.TCPAddr = DefaultTCPAddr
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = DefaultMaxPacketSize
	}
	if o.MaxClientWritesPending == 0 {
		o.MaxClientWritesPending = DefaultMaxClientWritesPending
	}
	if o.UsersPoll == 0 {
		o.UsersPoll = DefaultUsersPoll
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate checks the options (after Defaults).
func (o *Options) Validate() error {
	var errs []error
	if o.TCPAddr == "" {
		errs = append(errs, errors.New("TCPAddr is empty"))
	}
	if o.MaxPacketSize < 64 || o.MaxPacketSize > MaxPacketSizeLimit {
		errs = append(errs, fmt.Errorf("MaxPacketSize %d out of range [64, %d]", o.MaxPacketSize, MaxPacketSizeLimit))
	}
	if o.MaxClientWritesPending < 1 || o.MaxClientWritesPending > MaxClientWritesPendingLimit {
		errs = append(errs, fmt.Errorf("MaxClientWritesPending %d out of range [1, %d]", o.MaxClientWritesPending, MaxClientWritesPendingLimit))
	}
	if o.TLSAddr != "" && (o.TLSCert == "" || o.TLSKey == "") {
		errs = append(errs, errors.New("TLSAddr requires TLSCert and TLSKey"))
	}
	if o.TLSAddr == "" && (o.TLSCert != "" || o.TLSKey != "") {
		errs = append(errs, errors.New("TLSCert/TLSKey given without TLSAddr"))
	}
	addrs := map[string]string{}
	for _, a := range []struct{ name, addr string }{{"TCPAddr", o.TCPAddr}, {"WSAddr", o.WSAddr}, {"TLSAddr", o.TLSAddr}} {
		if a.addr == "" || strings.HasSuffix(a.addr, ":0") {
			continue
		}
		if prev, dup := addrs[a.addr]; dup {
			errs = append(errs, fmt.Errorf("%s and %s are both %q", prev, a.name, a.addr))
		}
		addrs[a.addr] = a.name
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	if len(o.WSOrigins) > 0 && o.WSAddr == "" {
		errs = append(errs, errors.New("WSOrigins given without WSAddr"))
	}
	for _, origin := range o.WSOrigins {
		if _, err := parseOriginRule(origin); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("broker options: %w", errors.Join(errs...))
	}
	return nil
}

// ErrNoUsers is returned by New when neither a users file nor anonymous
// access is configured.
var ErrNoUsers = errors.New("broker: no users file: create the users with `facemon-broker users init --state DIR` " +
	"(or start with `facemon-broker --state DIR`, which creates them) and pass --users DIR/users.yaml; " +
	"--allow-anonymous instead accepts password-less clients from loopback only (development)")

// Broker is an MQTT broker. Create it with New, then Start it.
type Broker struct {
	opts  Options
	log   *slog.Logger
	srv   *mqtt.Server
	users *auth.Users // nil: anonymous
	hook  *auth.Hook
	tlsCf *tls.Config

	mu      sync.Mutex
	started bool
	closed  bool
	tcp     *tcpListener
	ws      *wsListener
	tls     *tcpListener
	bound   []trackedListener
	done    chan struct{}
}

// New validates opts, loads the users file and TLS key pair, and prepares a
// broker. Nothing listens until Start.
func New(opts Options) (*Broker, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{opts: opts, log: opts.Logger, done: make(chan struct{})}
	if opts.UsersFile == "" && !opts.AllowAnonymous {
		return nil, ErrNoUsers
	}
	if opts.UsersFile != "" {
		us, err := auth.LoadFile(opts.UsersFile)
		if err != nil {
			return nil, err
		}
		b.users = us
	}
	if opts.TLSAddr != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls key pair (%s, %s): %w", opts.TLSCert, opts.TLSKey, err)
		}
		b.tlsCf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = opts.MaxPacketSize
	caps.MaximumClientWritesPending = opts.MaxClientWritesPending
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       newMochiLogger(opts.Logger),
		InlineClient: true,
	})
	b.hook = auth.NewHook(b.users, auth.HookOptions{AllowAnonymous: opts.AllowAnonymous, Logger: opts.Logger})
	if err := b.srv.AddHook(b.hook, nil); err != nil {
		return nil, fmt.Errorf("add auth hook: %w", err)
	}
	return b, nil
}

// Start binds all configured listeners and starts serving in the
// background. It returns an error (and binds nothing) if any listener cannot
// be bound, e.g. because the port is taken. When ctx is cancelled the broker
// is closed as by Close. A broker can be started only once.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("broker: closed")
	}
	if b.started {
		return errors.New("broker: already started")
	}
	b.started = true

	if b.opts.AllowAnonymous {
		b.log.Warn("ANONYMOUS MQTT CLIENTS ALLOWED (--allow-anonymous): any process on this machine may connect without a password and publish/subscribe to EVERY topic (anonymous clients from other addresses are still refused); do not use this in production")
	}
	if b.users == nil {
		b.log.Warn("NO USERS FILE CONFIGURED: only anonymous loopback clients can connect; create users with `facemon-broker users init --state DIR`")
	} else {
		b.log.Info("mqtt authentication enabled", "users_file", b.users.File(), "users", b.users.Names())
		if pt := b.users.PlaintextUsers(); len(pt) > 0 {
			b.log.Warn("USERS FILE CONTAINS PLAINTEXT PASSWORDS: replace `password:` with `password_hash:` (see `facemon-broker hash-password`)", "users_file", b.users.File(), "users", pt)
		}
	}

	b.tcp = newTCPListener("tcp", b.opts.TCPAddr, nil)
	ls := []trackedListener{b.tcp}
	if b.opts.WSAddr != "" {
		b.ws = newWSListener("ws", b.opts.WSAddr, b.opts.WSOrigins, b.log)
		ls = append(ls, b.ws)
	}
	if b.opts.TLSAddr != "" {
		b.tls = newTCPListener("tls", b.opts.TLSAddr, b.tlsCf)
		ls = append(ls, b.tls)
	}
	for _, l := range ls {
		if err := b.srv.AddListener(l); err != nil {
			b.closeLocked()
			return fmt.Errorf("broker: listen %s on %s: %w", l.ID(), l.Address(), err)
		}
		b.bound = append(b.bound, l)
	}
	if err := b.srv.Serve(); err != nil {
		b.closeLocked()
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.log.Info("mqtt broker listening", "tcp", b.tcp.Address(), "ws", b.wsAddrLocked(), "tls", b.tlsAddrLocked(),
		"max_packet_size", b.opts.MaxPacketSize, "max_client_writes_pending", b.opts.MaxClientWritesPending)

	go func() {
		select {
		case <-ctx.Done():
			_ = b.Close()
		case <-b.done:
		}
	}()
	if b.users != nil && b.opts.UsersPoll > 0 {
		go b.pollUsers()
	}
	return nil
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) (fileStamp, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, false
	}
	return fileStamp{st.ModTime(), st.Size()}, true
}

// pollUsers reloads the users file when it changes, until Close.
func (b *Broker) pollUsers() {
	last, _ := stamp(b.opts.UsersFile)
	t := time.NewTicker(b.opts.UsersPoll)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
		}
		cur, ok := stamp(b.opts.UsersFile)
		if !ok || cur == last {
			continue
		}
		last = cur
		if err := b.ReloadUsers(); err != nil {
			b.log.Warn("users file changed but cannot be loaded; keeping the previous users", "error", err)
		}
	}
}

// ReloadUsers re-reads the users file (the broker also does so by itself
// when the file changes, see Options.UsersPoll). New connections and every
// later publish and subscribe use the new users and rules. A connected
// client whose user was removed or whose password changed (`users rotate`)
// is disconnected: a rotated password ends the sessions opened with the
// old one. Other clients stay connected.
func (b *Broker) ReloadUsers() error {
	if b.opts.UsersFile == "" {
		return errors.New("broker: no users file")
	}
	us, err := auth.LoadFile(b.opts.UsersFile)
	if err != nil {
		return err
	}
	b.mu.Lock()
	old := b.users
	b.users = us
	srv := b.srv
	b.mu.Unlock()
	b.hook.SetUsers(us)
	b.log.Info("mqtt users reloaded", "users_file", us.File(), "users", us.Names())
	if srv == nil {
		return nil
	}
	for _, cl := range srv.Clients.GetAll() {
		name := string(cl.Properties.Username)
		if name == "" || cl.Net.Inline || cl.Closed() || old.SameSecret(name, us) {
			continue
		}
		b.log.Warn("mqtt client disconnected: its user was removed or its password changed", "user", name, "client_id", cl.ID, "remote", cl.Net.Remote)
		_ = srv.DisconnectClient(cl, packets.ErrNotAuthorized)
	}
	return nil
}

// Addr returns the bound address of the plain TCP listener once started
// (e.g. "127.0.0.1:40123" for TCPAddr "127.0.0.1:0"), otherwise the
// configured address.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tcp == nil {
		return b.opts.TCPAddr
	}
	return b.tcp.Address()
}

func (b *Broker) wsAddrLocked() string {
	if b.ws == nil {
		return ""
	}
	return b.ws.Address()
}

func (b *Broker) tlsAddrLocked() string {
	if b.tls == nil {
		return ""
	}
	return b.tls.Address()
}

// Close disconnects all clients, closes the listeners and waits for client
// goroutines to finish. It is safe to call more than once.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeLocked()
	return nil
}

func (b *Broker) closeLocked() {
	if b.closed {
		return
	}
	b.closed = true
	close(b.done)
	// Shut connections down before mochi's Close (see connTracker): stop
	// accepting, tell connected clients (MQTT 5: DISCONNECT 0x8B server
	// shutting down), close whatever is left (e.g. sockets that never sent
	// CONNECT) and wait for mochi's per-connection goroutines.
	for _, l := range b.bound {
		l.stopAccepting()
	}
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Net.Inline {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
	for _, l := range b.bound {
		l.tracker().closeAll()
	}
	for _, l := range b.bound {
		if !l.tracker().wait(10 * time.Second) {
			b.log.Warn("mqtt connections still open after close timeout", "listener", l.ID())
		}
	}
	_ = b.srv.Close() // always returns nil
}

// Publish publishes a message from the broker's inline client. It bypasses
// topic ACLs (the caller is trusted in-process code).
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if err := mqttfilter.ValidateTopic(topic); err != nil {
		return err
	}
	if qos > 2 {
		return fmt.Errorf("invalid qos %d", qos)
	}
	return b.srv.Publish(topic, payload, retain, qos)
}

// Subscribe registers an in-process handler for messages matching filter.
// id distinguishes several inline subscriptions to the same filter and is
// needed by Unsubscribe. The handler runs on the publisher's goroutine and
// must not block; payload must not be retained after it returns.
func (b *Broker) Subscribe(filter string, id int, handler func(topic string, payload []byte)) error {
	if handler == nil {
		return errors.New("nil handler")
	}
	return b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		handler(pk.TopicName, pk.Payload)
	})
}

// Unsubscribe removes an inline subscription added by Subscribe.
func (b *Broker) Unsubscribe(filter string, id int) error {
	return b.srv.Unsubscribe(filter, id)
}
