package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
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

// newWSListener returns a listener that accepts WebSocket upgrades whose
// Origin is absent (non-browser clients), names the request's own Host, or
// matches one of origins (see parseOriginRule; invalid entries are skipped,
// Options.Validate reports them). Refusals are logged as warnings.
func newWSListener(id, address string, origins []string, log *slog.Logger) *wsListener {
	var rules []originRule
	for _, o := range origins {
		if r, err := parseOriginRule(o); err == nil {
			rules = append(rules, r)
		}
	}
	l := &wsListener{id: id, address: address}
	l.upgrader = websocket.Upgrader{
		Subprotocols: []string{"mqtt"},
		CheckOrigin: func(r *http.Request) bool {
			if originAllowed(r, rules) {
				return true
			}
			log.Warn("websocket connection refused: origin not allowed (see --ws-origin)", "listener", id,
				"origin", r.Header.Get("Origin"), "host", r.Host, "remote", r.RemoteAddr)
			return false
		},
	}
	return l
}

// originRule is one allowed WebSocket origin.
type originRule struct {
	any          bool
	scheme, host string // scheme "" matches any scheme; host is lower case
}

// parseOriginRule parses "*", "scheme://host[:port]" or "host[:port]".
func parseOriginRule(s string) (originRule, error) {
	if s == "*" {
		return originRule{any: true}, nil
	}
	bad := func() (originRule, error) {
		return originRule{}, fmt.Errorf("websocket origin %q: want scheme://host[:port], host[:port] or *", s)
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return bad()
		}
		return originRule{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host)}, nil
	}
	if s == "" || strings.ContainsAny(s, "/?#@ ") {
		return bad()
	}
	return originRule{host: strings.ToLower(s)}, nil
}

// originAllowed reports whether a WebSocket upgrade request may proceed.
func originAllowed(r *http.Request, rules []originRule) bool {
	origin := r.Header.Values("Origin")
	if len(origin) == 0 {
		return true // not a browser: browsers always send Origin on WebSocket
	}
	if len(origin) > 1 {
		return false
	}
	u, err := url.Parse(origin[0])
	if err != nil || u.Host == "" {
		return false // includes "null" (sandboxed frames, file://)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if host == strings.ToLower(r.Host) {
		return true
	}
	for _, rule := range rules {
		if rule.any || (rule.host == host && (rule.scheme == "" || rule.scheme == scheme)) {
			return true
		}
	}
	return false
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
