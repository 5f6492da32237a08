package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsListener is an MQTT-over-WebSocket listener. Unlike mochi's
// listeners.Websocket it binds its socket in Init, so a taken port makes
// Broker.Start fail instead of only logging later, and ":0" works.
type wsListener struct {
	id, address string
	upgrader    websocket.Upgrader

	mu        sync.Mutex
	ln        net.Listener
	srv       *http.Server
	log       *slog.Logger
	establish listeners.EstablishFn
	closed    bool
	conns     connTracker
}

var _ trackedListener = (*wsListener)(nil)

func newWSListener(id, address string) *wsListener {
	return &wsListener{
		id:      id,
		address: address,
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// MQTT clients (browsers, Home Assistant panels) connect from
			// arbitrary origins; authentication is done at the MQTT layer.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
}

func (l *wsListener) ID() string       { return l.id }
func (l *wsListener) Protocol() string { return "ws" }

func (l *wsListener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

func (l *wsListener) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = log
	l.ln = ln
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.handle),
		ReadHeaderTimeout: 10 * time.Second,
	}
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed || l.srv == nil {
		l.mu.Unlock()
		return
	}
	l.establish = establish
	srv, ln := l.srv, l.ln
	l.mu.Unlock()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "listener", l.id, "error", err)
	}
}

func (l *wsListener) handle(w http.ResponseWriter, r *http.Request) {
	c, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade already replied with an HTTP error
	}
	defer c.Close()
	nc := c.NetConn()
	if !l.conns.add(nc) {
		return
	}
	defer l.conns.done(nc)
	_ = nc.SetDeadline(time.Now().Add(connectTimeout))
	l.mu.Lock()
	establish := l.establish
	l.mu.Unlock()
	if err := establish(l.id, &wsConn{Conn: nc, c: c}); err != nil {
		l.log.Debug("websocket client ended", "listener", l.id, "error", err)
	}
}

func (l *wsListener) tracker() *connTracker { return &l.conns }

// Close stops accepting and closes the listener's clients via closeClients.
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.stopAccepting()
	closeClients(l.id)
}

// stopAccepting shuts the HTTP server down (hijacked websocket connections
// are left to the connTracker).
func (l *wsListener) stopAccepting() {
	l.conns.stop()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	srv, ln := l.srv, l.ln
	l.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(ctx) // hijacked websocket conns are not waited for
		cancel()
	}
	if ln != nil {
		_ = ln.Close() // in case Serve never ran
	}
}

// wsConn adapts a websocket connection to the byte stream mochi expects:
// MQTT packets may span or share binary websocket messages.
type wsConn struct {
	net.Conn
	c *websocket.Conn
	r io.Reader // current message reader, nil between messages

	wmu sync.Mutex
}

var errNonBinary = errors.New("websocket: non-binary message")

func (ws *wsConn) Read(p []byte) (int, error) {
	for {
		if ws.r == nil {
			op, r, err := ws.c.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errNonBinary
			}
			ws.r = r
		}
		n, err := ws.r.Read(p)
		if errors.Is(err, io.EOF) {
			ws.r = nil
			err = nil
			if n == 0 {
				continue // empty or exhausted message: read the next one
			}
		}
		return n, err
	}
}

func (ws *wsConn) Write(p []byte) (int, error) {
	ws.wmu.Lock()
	defer ws.wmu.Unlock()
	if err := ws.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (ws *wsConn) Close() error { return ws.c.Close() }
