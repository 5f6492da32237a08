package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/facemon/facemon/broker/internal/testclient"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/tlsx"
)

const (
	waitTimeout = 10 * time.Second       // generous: CI machines may be loaded
	quietPeriod = 300 * time.Millisecond // how long to wait for a message that must not arrive
)

// testLogger logs to a buffer that is printed if the test fails (t.Log
// cannot be used from broker goroutines that may outlive the test).
func testLogger(t *testing.T) (*slog.Logger, *testx.Buffer) {
	t.Helper()
	buf := &testx.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// startBroker starts a broker on a random 127.0.0.1 port and closes it at
// the end of the test.
func startBroker(t *testing.T, opts Options) *Broker {
	t.Helper()
	if opts.TCPAddr == "" {
		opts.TCPAddr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger, _ = testLogger(t)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

var clientSeq atomic.Int64

type clientOpts struct {
	user, password string
	will           string
	url            string // default tcp://<broker addr>
	clientID       string // default <user>@<test>-<n> (or <test>-<n> when anonymous)
	tls            *tls.Config
}

type testClient struct {
	paho.Client
	lost chan error // receives once when the connection is lost
}

func clientID(t *testing.T, co clientOpts) string {
	if co.clientID != "" {
		return co.clientID
	}
	id := fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), clientSeq.Add(1))
	if co.user != "" {
		id = co.user + "@" + id
	}
	return id
}

func newClient(t *testing.T, b *Broker, co clientOpts) (*testClient, error) {
	t.Helper()
	url := co.url
	if url == "" {
		url = "tcp://" + b.Addr()
	}
	tc := &testClient{lost: make(chan error, 1)}
	o := testclient.Options(url, clientID(t, co), waitTimeout, tc.lost).SetKeepAlive(30 * time.Second)
	if co.user != "" {
		o.SetUsername(co.user).SetPassword(co.password)
	}
	if co.will != "" {
		o.SetWill(co.will, "offline", 1, true)
	}
	if co.tls != nil {
		o.SetTLSConfig(co.tls)
	}
	var err error
	if tc.Client, err = testclient.Connect(t, o, waitTimeout); err != nil {
		return nil, err
	}
	return tc, nil
}

func mustClient(t *testing.T, b *Broker, co clientOpts) *testClient {
	t.Helper()
	c, err := newClient(t, b, co)
	if err != nil {
		t.Fatalf("connect %+v: %v", co.user, err)
	}
	return c
}

// collector records received messages.
type collector struct {
	mu   sync.Mutex
	msgs []paho.Message
}

func (c *collector) handler(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
}

func (c *collector) snapshot() []paho.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]paho.Message(nil), c.msgs...)
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) has(topic, payload string) bool {
	for _, m := range c.snapshot() {
		if m.Topic() == topic && string(m.Payload()) == payload {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the timeout expires.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subscribe subscribes and returns the granted QoS (0x80 = refused).
func subscribe(t *testing.T, c paho.Client, filter string, col *collector) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, col.handler)
	if !tok.WaitTimeout(waitTimeout) {
		t.Fatalf("subscribe %q timed out", filter)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("subscribe %q: %v", filter, err)
	}
	// One filter per call; paho keys the result by the filter without a
	// "$share/<group>/" prefix.
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code
	}
	t.Fatalf("subscribe %q: no result", filter)
	return 0
}

func mustSubscribe(t *testing.T, c paho.Client, filter string, col *collector) {
	t.Helper()
	if code := subscribe(t, c, filter, col); code > 2 {
		t.Fatalf("subscribe %q refused: code %#x", filter, code)
	}
}

func publish(t *testing.T, c paho.Client, topic string, qos byte, payload any) error {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(waitTimeout) {
		return fmt.Errorf("publish %q timed out", topic)
	}
	return tok.Error()
}

func mustPublish(t *testing.T, c paho.Client, topic string, qos byte, payload any) {
	t.Helper()
	if err := publish(t, c, topic, qos, payload); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripAnonymous(t *testing.T) {
	b := startBroker(t, Options{AllowAnonymous: true})
	if !strings.HasPrefix(b.Addr(), "127.0.0.1:") || strings.HasSuffix(b.Addr(), ":0") {
		t.Fatalf("Addr() = %q, want bound 127.0.0.1 port", b.Addr())
	}
	sub := mustClient(t, b, clientOpts{})
	pub := mustClient(t, b, clientOpts{})
	var col collector
	mustSubscribe(t, sub, "cam/+/frames", &col)

	frame := bytes.Repeat([]byte{0xff, 0xd8, 0x42}, 100_000) // ~300 KB "JPEG"
	mustPublish(t, pub, "cam/pi1/frames", 1, frame)
	mustPublish(t, pub, "cam/pi1/annotated", 1, "not subscribed")
	waitFor(t, "frame", func() bool { return col.len() >= 1 })
	m := col.snapshot()[0]
	if m.Topic() != "cam/pi1/frames" || !bytes.Equal(m.Payload(), frame) {
		t.Fatalf("got topic %q, %d bytes", m.Topic(), len(m.Payload()))
	}

	// Inline client: in-process publish/subscribe.
	got := make(chan string, 1)
	if err := b.Subscribe("facemon/cmd/#", 1, func(topic string, payload []byte) {
		select {
		case got <- topic + "=" + string(payload):
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, pub, "facemon/cmd/reload", 1, "now")
	select {
	case s := <-got:
		if s != "facemon/cmd/reload=now" {
			t.Fatalf("inline got %q", s)
		}
	case <-time.After(waitTimeout):
		t.Fatal("inline subscriber got nothing")
	}
	if err := b.Unsubscribe("facemon/cmd/#", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("cam/inline/frames", []byte("x"), false, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "inline publish", func() bool { return col.has("cam/inline/frames", "x") })
	if err := b.Publish("cam/+/frames", nil, false, 0); err == nil {
		t.Fatal("inline publish to wildcard topic accepted")
	}
}

func TestMaxPacketSize(t *testing.T) {
	const limit = 64 << 10
	b := startBroker(t, Options{MaxPacketSize: limit, AllowAnonymous: true})
	sub := mustClient(t, b, clientOpts{})
	var col collector
	mustSubscribe(t, sub, "cam/#", &col)

	big := mustClient(t, b, clientOpts{})
	_ = publish(t, big, "cam/big/frames", 0, make([]byte, limit+1)) // may or may not report an error
	select {
	case <-big.lost:
	case <-time.After(waitTimeout):
		t.Fatal("client sending an oversized packet was not disconnected")
	}

	// Broker still serves: existing and new clients work, and a packet just
	// under the limit passes.
	other := mustClient(t, b, clientOpts{})
	mustPublish(t, other, "cam/small/frames", 1, "ok")
	mustPublish(t, other, "cam/fits/frames", 1, make([]byte, limit-100))
	waitFor(t, "small and fitting messages", func() bool { return col.len() >= 2 })
	time.Sleep(quietPeriod)
	for _, m := range col.snapshot() {
		if m.Topic() == "cam/big/frames" {
			t.Fatal("oversized message was delivered")
		}
	}
	if n := col.len(); n != 2 {
		t.Fatalf("got %d messages, want 2", n)
	}
	if !sub.IsConnectionOpen() {
		t.Fatal("subscriber lost its connection")
	}
}

func TestSharedSubscription(t *testing.T) {
	b := startBroker(t, Options{AllowAnonymous: true})
	const filter = "$share/g/cam/+/frames"
	var cols [2]collector
	for i := range cols {
		c := mustClient(t, b, clientOpts{})
		mustSubscribe(t, c, filter, &cols[i])
	}
	var plain collector // a normal subscriber still gets everything
	mustSubscribe(t, mustClient(t, b, clientOpts{}), "cam/+/frames", &plain)

	pub := mustClient(t, b, clientOpts{})
	const n = 60
	for i := 0; i < n; i++ {
		mustPublish(t, pub, fmt.Sprintf("cam/pi%d/frames", i%3), 1, fmt.Sprintf("m%d", i))
	}
	waitFor(t, "all messages", func() bool { return cols[0].len()+cols[1].len() >= n && plain.len() >= n })
	time.Sleep(quietPeriod) // let any duplicate arrive

	seen := map[string]int{}
	for i := range cols {
		for _, m := range cols[i].snapshot() {
			seen[string(m.Payload())]++
		}
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("m%d", i)]; c != 1 {
			t.Errorf("message m%d delivered %d times to the share group, want exactly 1", i, c)
		}
	}
	if len(seen) != n {
		t.Errorf("share group got %d distinct messages, want %d", len(seen), n)
	}
	a, c := cols[0].len(), cols[1].len()
	t.Logf("split: %d / %d", a, c)
	if a == 0 || c == 0 {
		t.Errorf("messages not split between subscribers: %d / %d", a, c)
	}
	if plain.len() != n {
		t.Errorf("plain subscriber got %d, want %d", plain.len(), n)
	}
}

func writeUsers(t *testing.T) string {
	t.Helper()
	h := func(pw string) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	data := `users:
  - name: edge
    password_hash: "` + h("edge-pw") + `"
    write: [cam/+/frames, facemon/status/edge/+]
    read: [cam/+/annotated, facemon/status/#]
  - name: recognizer
    password_hash: "` + h("rec-pw") + `"
    read: [cam/+/frames]
    write: [cam/+/annotated]
  - name: spy
    password_hash: "` + h("spy-pw") + `"
    readwrite: ["#"]
`
	p := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuth(t *testing.T) {
	b := startBroker(t, Options{UsersFile: writeUsers(t)})

	t.Run("refused", func(t *testing.T) {
		for _, co := range []clientOpts{
			{user: "edge", password: "wrong"},
			{user: "nobody", password: "edge-pw"},
			{}, // anonymous
			{user: "edge", password: "edge-pw", will: "facemon/status/recognizer/r1"}, // will not writable
		} {
			if _, err := newClient(t, b, co); err == nil {
				t.Errorf("connect %+v succeeded, want refusal", co)
			}
		}
		// Still accepting good clients.
		mustClient(t, b, clientOpts{user: "edge", password: "edge-pw", will: "facemon/status/edge/pi1"})
	})

	t.Run("publish", func(t *testing.T) {
		spy := mustClient(t, b, clientOpts{user: "spy", password: "spy-pw"})
		var all collector
		mustSubscribe(t, spy, "#", &all)
		rec := mustClient(t, b, clientOpts{user: "recognizer", password: "rec-pw"})
		var frames collector
		mustSubscribe(t, rec, "$share/recognizers/cam/+/frames", &frames)

		edge := mustClient(t, b, clientOpts{user: "edge", password: "edge-pw"})
		// Forbidden QoS 0 publishes are dropped silently; the allowed one
		// published after them arrives, and per-connection ordering means
		// the forbidden ones would have arrived first.
		mustPublish(t, edge, "cam/pi1/annotated", 0, "forged")
		mustPublish(t, edge, "facemon/cmd/shutdown", 0, "forged")
		mustPublish(t, edge, "facemon/status/recognizer/r1", 0, "forged")
		mustPublish(t, edge, "cam/pi1/frames", 0, "frame")
		waitFor(t, "allowed frame at spy", func() bool { return all.has("cam/pi1/frames", "frame") })
		waitFor(t, "allowed frame at recognizer", func() bool { return frames.has("cam/pi1/frames", "frame") })
		time.Sleep(quietPeriod)
		for _, m := range all.snapshot() {
			if string(m.Payload()) == "forged" {
				t.Errorf("forbidden publish to %q was delivered", m.Topic())
			}
		}
		// A forbidden QoS 1 publish from an MQTT 3.1.1 client gets it
		// disconnected (there is no negative PUBACK in 3.1.1).
		edge2 := mustClient(t, b, clientOpts{user: "edge", password: "edge-pw"})
		_ = publish(t, edge2, "cam/pi1/identities", 1, "forged")
		select {
		case <-edge2.lost:
		case <-time.After(waitTimeout):
			t.Error("forbidden QoS 1 publish did not disconnect the client")
		}
		if all.has("cam/pi1/identities", "forged") {
			t.Error("forbidden QoS 1 publish was delivered")
		}
	})

	t.Run("subscribe", func(t *testing.T) {
		edge := mustClient(t, b, clientOpts{user: "edge", password: "edge-pw"})
		var col collector
		for _, f := range []string{"cam/+/frames", "cam/#", "#", "facemon/cmd/#", "$share/g/cam/+/frames"} {
			if code := subscribe(t, edge, f, &col); code != 0x80 {
				t.Errorf("subscribe %q: code %#x, want 0x80 (refused)", f, code)
			}
		}
		mustSubscribe(t, edge, "cam/+/annotated", &col)
		mustSubscribe(t, edge, "facemon/status/#", &col)

		spy := mustClient(t, b, clientOpts{user: "spy", password: "spy-pw"})
		mustPublish(t, spy, "cam/pi1/frames", 1, "secret")
		mustPublish(t, spy, "facemon/cmd/x", 1, "secret")
		mustPublish(t, spy, "cam/pi1/annotated", 1, "visible")
		mustPublish(t, spy, "facemon/status/edge/pi1", 1, "online")
		waitFor(t, "allowed messages", func() bool {
			return col.has("cam/pi1/annotated", "visible") && col.has("facemon/status/edge/pi1", "online")
		})
		time.Sleep(quietPeriod)
		for _, m := range col.snapshot() {
			if string(m.Payload()) == "secret" {
				t.Errorf("message on %q delivered to user without read access", m.Topic())
			}
		}
	})
}

func TestStartErrors(t *testing.T) {
	b1 := startBroker(t, Options{AllowAnonymous: true})
	b2, err := New(Options{TCPAddr: b1.Addr(), AllowAnonymous: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(context.Background()); err == nil {
		t.Fatal("Start on a taken port succeeded")
	} else if !strings.Contains(err.Error(), b1.Addr()) {
		t.Errorf("error %q does not name the address", err)
	}
	_ = b2.Close()

	// A taken WebSocket port fails Start too, and releases the TCP port.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	b3, err := New(Options{TCPAddr: freeAddr, WSAddr: taken.Addr().String(), AllowAnonymous: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b3.Start(context.Background()); err == nil {
		t.Fatal("Start with a taken ws port succeeded")
	}
	if l, err := net.Listen("tcp", freeAddr); err != nil {
		t.Errorf("tcp port not released after failed Start: %v", err)
	} else {
		l.Close()
	}
	if err := b3.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	if err := b3.Close(); err != nil {
		t.Error(err)
	}
}

func TestContextCancelCloses(t *testing.T) {
	logger, _ := testLogger(t)
	b, err := New(Options{TCPAddr: "127.0.0.1:0", AllowAnonymous: true, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := mustClient(t, b, clientOpts{})
	// A socket that never sends CONNECT must not hold up shutdown.
	idle, err := net.DialTimeout("tcp", b.Addr(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond) // let the broker accept it
	start := time.Now()
	cancel()
	select {
	case <-c.lost:
	case <-time.After(waitTimeout):
		t.Fatal("client not disconnected after ctx cancel")
	}
	waitFor(t, "listener closed", func() bool {
		conn, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	})
	if err := b.Close(); err != nil { // idempotent; returns after shutdown completed
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	_ = idle.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("idle socket still open after close")
	}
}

func TestWebSocket(t *testing.T) {
	b := startBroker(t, Options{WSAddr: "127.0.0.1:0", AllowAnonymous: true})
	b.mu.Lock()
	wsAddr := b.ws.Address()
	b.mu.Unlock()
	if strings.HasSuffix(wsAddr, ":0") {
		t.Fatalf("ws address not bound: %s", wsAddr)
	}
	sub := mustClient(t, b, clientOpts{})
	var col collector
	mustSubscribe(t, sub, "cam/+/identities", &col)
	ws := mustClient(t, b, clientOpts{url: "ws://" + wsAddr + "/"})
	var wsCol collector
	mustSubscribe(t, ws, "facemon/status/#", &wsCol)
	payload := bytes.Repeat([]byte("id"), 50_000) // spans several ws frames
	mustPublish(t, ws, "cam/pi1/identities", 1, payload)
	waitFor(t, "ws -> tcp", func() bool { return col.len() == 1 })
	if got := col.snapshot()[0].Payload(); !bytes.Equal(got, payload) {
		t.Fatalf("payload mismatch: %d bytes", len(got))
	}
	mustPublish(t, sub, "facemon/status/edge/pi1", 1, "online")
	waitFor(t, "tcp -> ws", func() bool { return wsCol.has("facemon/status/edge/pi1", "online") })
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	b := startBroker(t, Options{TLSAddr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, AllowAnonymous: true})
	b.mu.Lock()
	tlsAddr := b.tls.Address()
	b.mu.Unlock()
	sub := mustClient(t, b, clientOpts{})
	var col collector
	mustSubscribe(t, sub, "cam/+/frames", &col)
	c := mustClient(t, b, clientOpts{url: "ssl://" + tlsAddr, tls: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	mustPublish(t, c, "cam/tls/frames", 1, "secure")
	waitFor(t, "tls publish", func() bool { return col.has("cam/tls/frames", "secure") })

	// Untrusted certificate: refused by the client.
	if _, err := newClient(t, b, clientOpts{url: "ssl://" + tlsAddr, tls: &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"}}); err == nil {
		t.Fatal("connect with untrusted cert succeeded")
	}
}

// selfSigned writes a CA and a certificate for localhost into dir
// (tlsx.Generate) and returns the certificate files and a pool trusting
// the CA.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	f, _, err := tlsx.Generate(dir, []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool, err = tlsx.LoadPool(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	return f.Cert, f.Key, pool
}

func TestOptions(t *testing.T) {
	var o Options
	o.Defaults()
	if o.TCPAddr != ":1883" || o.MaxPacketSize != 2<<20 || o.MaxClientWritesPending != 1024 || o.Logger == nil {
		t.Fatalf("Defaults = %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Options{
		{TLSAddr: ":8883"},
		{TLSCert: "c.pem", TLSKey: "k.pem"},
		{MaxPacketSize: 10},
		{MaxClientWritesPending: -1},
		{WSAddr: ":1883"},
	}
	for _, o := range bad {
		o.Defaults()
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", o)
		}
	}
	if _, err := New(Options{TLSAddr: ":0", TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent.key", AllowAnonymous: true}); err == nil || !strings.Contains(err.Error(), "/nonexistent.pem") {
		t.Errorf("New with missing cert: %v", err)
	}
	p := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(p, []byte("users:\n  - name: a\n    password: x\n    read: [a/#/b]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{UsersFile: p}); err == nil || !strings.Contains(err.Error(), p+": line 4") {
		t.Errorf("New with bad users file: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	logger, buf := testLogger(t)
	startBroker(t, Options{Logger: logger, AllowAnonymous: true})
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "ANONYMOUS MQTT CLIENTS ALLOWED") {
		t.Errorf("no anonymous-access warning in log:\n%s", buf.String())
	}
	p := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(p, []byte("users:\n  - name: a\n    password: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger2, buf2 := testLogger(t)
	startBroker(t, Options{Logger: logger2, UsersFile: p})
	if !strings.Contains(buf2.String(), "PLAINTEXT PASSWORDS") || strings.Contains(buf2.String(), "ANONYMOUS") {
		t.Errorf("wrong warnings:\n%s", buf2.String())
	}
}

func TestLogSummarizesPackets(t *testing.T) {
	logger, buf := testLogger(t)
	b := startBroker(t, Options{Logger: logger, UsersFile: writeUsers(t)})
	edge := mustClient(t, b, clientOpts{user: "edge", password: "edge-pw"})
	// Forbidden QoS 1 publish: mochi logs "error processing packet" with the
	// packet; the payload must not be dumped.
	_ = publish(t, edge, "cam/pi1/annotated", 1, bytes.Repeat([]byte{'Z'}, 10_000))
	select {
	case <-edge.lost:
	case <-time.After(waitTimeout):
		t.Fatal("not disconnected")
	}
	waitFor(t, "error log line", func() bool { return strings.Contains(buf.String(), "error processing packet") })
	out := buf.String()
	if !strings.Contains(out, "payload_bytes=10000") || strings.Contains(out, "90 90 90") {
		t.Errorf("packet not summarized:\n%.2000s", out)
	}
	if strings.Contains(out, `msg=""`) {
		t.Errorf("empty log message:\n%.2000s", out)
	}
}

// TestSlowSubscriberBounded checks that a subscriber that stops reading only
// loses its own messages (bounded queue) while others get everything.
func TestSlowSubscriberBounded(t *testing.T) {
	b := startBroker(t, Options{MaxClientWritesPending: 4, AllowAnonymous: true})

	// Raw MQTT 3.1.1 client that subscribes and then never reads.
	conn, err := net.DialTimeout("tcp", b.Addr(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	connect := []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 4, 's', 'l', 'o', 'w'}
	subscribe := []byte{0x82, 17, 0, 1, 0, 12, 'c', 'a', 'm', '/', '+', '/', 'f', 'r', 'a', 'm', 'e', 's', 0}
	if _, err := conn.Write(append(connect, subscribe...)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4+5) // CONNACK + SUBACK
	if _, err := io.ReadFull(conn, ack); err != nil {
		t.Fatal(err)
	}
	if ack[0] != 0x20 || ack[3] != 0 || ack[4] != 0x90 || ack[8] != 0 {
		t.Fatalf("unexpected acks % x", ack)
	}

	var fast collector
	mustSubscribe(t, mustClient(t, b, clientOpts{}), "cam/+/frames", &fast)
	pub := mustClient(t, b, clientOpts{})
	const n = 100
	frame := make([]byte, 256<<10) // 25 MiB in total: more than socket buffers hold
	for i := 0; i < n; i++ {
		mustPublish(t, pub, "cam/pi1/frames", 1, frame)
	}
	if d := atomic.LoadInt64(&b.srv.Info.MessagesDropped); d == 0 {
		t.Error("no messages dropped for the stalled subscriber")
	}
	// The broker keeps serving the healthy subscriber. (Its own queue is
	// small too, so it may lose some of the burst; keep sending a marker
	// until one arrives.)
	deadline := time.Now().Add(waitTimeout)
	for !fast.has("cam/pi1/frames", "marker") {
		if time.Now().After(deadline) {
			t.Fatal("healthy subscriber no longer receives messages")
		}
		mustPublish(t, pub, "cam/pi1/frames", 1, "marker")
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("burst of %d: healthy subscriber got %d, dropped in total %d", n, fast.len(), atomic.LoadInt64(&b.srv.Info.MessagesDropped))
}
