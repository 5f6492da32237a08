package broker

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// connectTimeout bounds how long a new connection may take to complete the
// TLS handshake and send its CONNECT packet (mochi itself sets no deadline
// before CONNECT, so idle sockets would be held forever). After CONNECT
// mochi replaces the deadline with one derived from the client's keepalive.
const connectTimeout = 15 * time.Second

// connTracker tracks the connections a listener handed to mochi, so that
// Broker.Close can end them and wait for mochi's per-connection goroutines
// before calling mochi's Server.Close. mochi's Close waits on a WaitGroup
// that each new connection Adds to; an accept racing with that Wait is a
// data race (and can panic), so no connection may be in flight by then.
type connTracker struct {
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// add registers c; it returns false (and the caller must close c) once the
// tracker is closed.
func (t *connTracker) add(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.conns == nil {
		t.conns = map[net.Conn]struct{}{}
	}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	return true
}

func (t *connTracker) done(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.wg.Done()
}

// stop refuses further connections.
func (t *connTracker) stop() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// closeAll stops the tracker and closes every tracked connection.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
}

// wait waits up to timeout for all tracked connections to be done.
func (t *connTracker) wait(timeout time.Duration) bool {
	ch := make(chan struct{})
	go func() { t.wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(timeout):
		return false
	}
}

// trackedListener is a mochi listener whose connections can be shut down
// before mochi's Server.Close (see connTracker).
type trackedListener interface {
	listeners.Listener
	stopAccepting()
	tracker() *connTracker
}

// tcpListener is a plain or TLS MQTT listener (replaces mochi's
// listeners.TCP to add connection tracking and a CONNECT deadline).
type tcpListener struct {
	id, address string
	tlsConfig   *tls.Config
	conns       connTracker

	mu  sync.Mutex
	ln  net.Listener
	log *slog.Logger
}

var _ trackedListener = (*tcpListener)(nil)

func newTCPListener(id, address string, tlsConfig *tls.Config) *tcpListener {
	return &tcpListener{id: id, address: address, tlsConfig: tlsConfig}
}

func (l *tcpListener) ID() string { return l.id }

func (l *tcpListener) Protocol() string {
	if l.tlsConfig != nil {
		return "tls"
	}
	return "tcp"
}

func (l *tcpListener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

func (l *tcpListener) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	if l.tlsConfig != nil {
		ln = tls.NewListener(ln, l.tlsConfig)
	}
	l.mu.Lock()
	l.ln, l.log = ln, log
	l.mu.Unlock()
	return nil
}

func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	ln := l.ln
	l.mu.Unlock()
	if ln == nil {
		return
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return // listener closed
		}
		if !l.conns.add(conn) {
			_ = conn.Close()
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(connectTimeout))
		go func() {
			defer l.conns.done(conn)
			if err := establish(l.id, conn); err != nil {
				l.log.Debug("mqtt client connection ended", "listener", l.id, "remote", conn.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

func (l *tcpListener) stopAccepting() {
	l.conns.stop()
	l.mu.Lock()
	ln := l.ln
	l.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

func (l *tcpListener) tracker() *connTracker { return &l.conns }

func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	l.stopAccepting()
	closeClients(l.id)
}
