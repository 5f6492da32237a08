// Package web serves the edge's HTTP interface: the dashboard, the live view
// as MJPEG (/video_feed) and over a WebSocket (/ws), the enrolment and
// training APIs, /api/config, /healthz and /metrics, and (with a recognizer
// URL configured) the recognizer's REST API proxied under /rapi/.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/facemon/facemon/edge/enrol"
	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/edge/train"
	"github.com/facemon/facemon/shared/httpauth"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/pprofx"
	"github.com/facemon/facemon/shared/topic"
)

// Boundary separates the parts of the MJPEG stream.
const Boundary = "frame"

// StatusSessionEnded closes a /ws whose login ended (logout, expiry, a new
// password); the page then goes to the login.
const StatusSessionEnded websocket.StatusCode = 4001

// Enroller is the enrolment service (*enrol.Enroller).
// Captures carry the requesting login (login.Session) as the credential.
type Enroller interface {
	Enrol(ctx context.Context, c enrol.Capture) (enrol.Result, error)
}

// Trainer asks the recognizer to re-train its gallery (*train.Trainer),
// with the requesting login's recognizer session token.
type Trainer interface {
	Start(token string) (string, error)
	Last() *msg.TrainStatus
}

// Options configure a Server.
type Options struct {
	Hub   *stream.Hub
	State *state.State
	Enrol Enroller // nil disables /api/enrol
	// EnrolBurst is the dashboard's default number of frames per Capture
	// (--enrol-burst; 0: 1). A POST /api/enrol without "burst" takes one.
	EnrolBurst int
	Train      Trainer // nil disables /api/train
	// History serves /rapi/ (the recognizer's REST API, *rapi.Proxy); nil
	// hides the dashboard's history views (People, Events, Unknowns).
	History http.Handler
	Metrics *metrics.Metrics
	Local   string // the local camera id
	Assets  fs.FS  // dashboard files (index.html, app.js, style.css)
	// Watch starts feeding the hub with camera id's MQTT streams; called
	// before a remote camera is viewed.
	Watch func(id string) error
	// Connected reports the MQTT connection state (for /healthz).
	Connected func() bool
	Logger    *slog.Logger
	// WriteTimeout bounds each frame write to a client (default 10s).
	WriteTimeout time.Duration
	// Login, when set, requires a dashboard session for everything but
	// /healthz, /metrics, /static/, /login, /api/login and /api/session,
	// and the session's CSRF token (X-CSRF-Token) on every request that is
	// not GET or HEAD. Nil serves everything without a login (--no-login).
	Login *login.Auth
	// MetricsToken lets non-loopback clients read /metrics and /healthz with
	// "Authorization: Bearer <token>"; loopback clients need none.
	MetricsToken string
	// SessionCheck is how often an open /video_feed or /ws re-checks its
	// login (expiry, a new password); logout ends it at once. Default 1 s.
	SessionCheck time.Duration
}

// Server is the HTTP interface.
type Server struct {
	o   Options
	log *slog.Logger
	mux *http.ServeMux
}

// New returns a Server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Connected == nil {
		o.Connected = func() bool { return false }
	}
	if o.SessionCheck <= 0 {
		o.SessionCheck = time.Second
	}
	s := &Server{o: o, log: o.Logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /{$}", s.page)
	s.mux.HandleFunc("GET /video_feed_page", s.page)
	s.mux.HandleFunc("GET /login", s.loginPage)
	if o.Login != nil {
		s.mux.HandleFunc("POST /api/login", o.Login.HandleLogin)
		s.mux.HandleFunc("POST /api/logout", o.Login.HandleLogout)
		s.mux.HandleFunc("GET /api/session", o.Login.HandleSession)
	} else {
		s.mux.HandleFunc("GET /api/session", login.OpenSession)
	}
	if o.Assets != nil {
		s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(o.Assets)))
	}
	s.mux.HandleFunc("GET /video_feed", s.videoFeed)
	s.mux.HandleFunc("GET /ws", s.ws)
	s.mux.HandleFunc("POST /api/enrol", s.enrol)
	s.mux.HandleFunc("POST /api/train", s.train)
	s.mux.HandleFunc("GET /api/cameras", s.cameras)
	s.mux.HandleFunc("GET /api/config", s.config)
	if o.History != nil {
		s.mux.Handle("/rapi/", o.History)
	} else {
		s.mux.HandleFunc("/rapi/", func(w http.ResponseWriter, r *http.Request) {
			httpauth.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "history disabled: the edge has no --recognizer-url"})
		})
	}
	s.mux.Handle("GET /healthz", httpauth.Health(http.HandlerFunc(s.healthz), o.MetricsToken))
	if o.Metrics != nil {
		s.mux.Handle("GET /metrics", httpauth.Metrics(o.Metrics.Handler(), o.MetricsToken))
	}
	pprofx.Mount(s.mux, o.MetricsToken)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	if s.o.Login != nil && !public(r) {
		sess, ok := s.o.Login.Lookup(r)
		if !ok {
			if r.Method == http.MethodGet && (r.URL.Path == "/" || r.URL.Path == "/video_feed_page") {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			httpauth.WriteError(w, http.StatusUnauthorized, "login required")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !login.CheckCSRF(r, sess) {
			httpauth.WriteError(w, http.StatusForbidden, "missing or wrong CSRF token (header "+login.CSRFHeader+")")
			return
		}
		r = r.WithContext(login.NewContext(r.Context(), sess))
	}
	s.mux.ServeHTTP(w, r)
}

// sessionEnded returns a channel closed when the login of r ends (logout at
// once; expiry or a new password within SessionCheck), or when ctx ends.
// Nil (never) without a login.
func (s *Server) sessionEnded(ctx context.Context, r *http.Request) <-chan struct{} {
	if s.o.Login == nil {
		return nil
	}
	sess := login.FromContext(r.Context())
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		t := time.NewTicker(s.o.SessionCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sess.Done():
				return
			case <-t.C:
				if !sess.Alive() {
					return
				}
			}
		}
	}()
	return ch
}

// public reports whether r is served without a session.
func public(r *http.Request) bool {
	p := r.URL.Path
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return p == "/healthz" || p == "/metrics" || strings.HasPrefix(p, "/debug/pprof/") || p == "/login" || p == "/api/session" || strings.HasPrefix(p, "/static/")
	case http.MethodPost:
		return p == "/api/login"
	}
	return false
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.o.Login == nil || s.o.Login.LoggedIn(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.asset(w, "login.html")
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) { s.asset(w, "index.html") }

func (s *Server) asset(w http.ResponseWriter, name string) {
	if s.o.Assets == nil {
		http.Error(w, "dashboard not built in", http.StatusNotFound)
		return
	}
	b, err := fs.ReadFile(s.o.Assets, name)
	if err != nil {
		http.Error(w, "dashboard missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// camera resolves the ?cam= parameter (default: the local camera).
func (s *Server) camera(r *http.Request) (string, int, error) {
	id := r.URL.Query().Get("cam")
	if id == "" || id == s.o.Local {
		return s.o.Local, 0, nil
	}
	if !topic.ValidID(id) {
		return "", http.StatusBadRequest, topic.ErrBadID
	}
	if s.o.State == nil || !s.o.State.Known(id) {
		return "", http.StatusNotFound, fmt.Errorf("unknown camera %q", id)
	}
	if s.o.Watch != nil {
		if err := s.o.Watch(id); err != nil {
			return "", http.StatusServiceUnavailable, err
		}
	}
	return id, 0, nil
}

func (s *Server) videoFeed(w http.ResponseWriter, r *http.Request) {
	cam, code, err := s.camera(r)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	sub := s.o.Hub.Subscribe(cam)
	defer sub.Close()
	s.clients("mjpeg", 1)
	defer s.clients("mjpeg", -1)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "multipart/x-mixed-replace; boundary="+Boundary)
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	ended := s.sessionEnded(r.Context(), r)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ended:
			s.log.Info("live view stream closed: its login ended", "kind", "mjpeg")
			return
		case f := <-sub.C():
			_ = rc.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout))
			_, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nX-Stream-Mode: %s\r\n\r\n", Boundary, len(f.JPEG), f.Mode)
			if err == nil {
				_, err = w.Write(f.JPEG)
			}
			if err == nil {
				_, err = w.Write([]byte("\r\n"))
			}
			if err == nil {
				err = rc.Flush()
			}
			if err != nil {
				s.log.Debug("mjpeg client gone", "err", err)
				return
			}
			s.sent("mjpeg", len(f.JPEG))
		}
	}
}

// sent counts one live view frame of n bytes sent to a viewer.
func (s *Server) sent(kind string, n int) {
	if s.o.Metrics != nil {
		s.o.Metrics.ViewFrames.WithLabelValues(kind).Inc()
		s.o.Metrics.ViewBytes.WithLabelValues(kind).Add(float64(n))
	}
}

func (s *Server) clients(kind string, d float64) {
	if s.o.Metrics != nil {
		s.o.Metrics.ViewClients.WithLabelValues(kind).Add(d)
	}
}

// ModeLabel is the badge text for a stream mode.
func ModeLabel(m stream.Mode) string {
	switch m {
	case stream.ModeAnnotated:
		return "recognition live"
	case stream.ModeRaw:
		return "recognition offline — raw feed"
	default:
		return "waiting for camera"
	}
}

type modeData struct {
	Mode  stream.Mode `json:"mode"`
	Label string      `json:"label"`
}

type helloData struct {
	Camera      string         `json:"camera"`
	Local       string         `json:"local"`
	Cameras     []state.Camera `json:"cameras"`
	Mode        modeData       `json:"mode"`
	People      []state.Person `json:"people"`
	Recognizer  bool           `json:"recognizer_online"`
	FreshnessMS int64          `json:"freshness_ms"`
	Enrol       bool           `json:"enrol"`
	EnrolBurst  int            `json:"enrol_burst,omitempty"`
	Train       bool           `json:"train"`
	// History: the recognizer's API is proxied under /rapi/.
	History bool `json:"history"`
	// TrainStatus is the newest training status (the retained result).
	TrainStatus *msg.TrainStatus `json:"train_status,omitempty"`
}

func (s *Server) ws(w http.ResponseWriter, r *http.Request) {
	cam, code, err := s.camera(r)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept wrote the error response
	}
	defer c.CloseNow()
	c.SetReadLimit(4096)
	ctx := c.CloseRead(r.Context())
	s.clients("ws", 1)
	defer s.clients("ws", -1)

	sub := s.o.Hub.Subscribe(cam)
	defer sub.Close()
	events := s.o.State.Subscribe()
	defer s.o.State.Unsubscribe(events)

	write := func(typ websocket.MessageType, b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, s.o.WriteTimeout)
		defer cancel()
		return c.Write(wctx, typ, b)
	}
	sendEvent := func(ev state.Event) error {
		b, err := state.MarshalEvent(ev)
		if err != nil {
			return err
		}
		return write(websocket.MessageText, b)
	}
	mode := s.o.Hub.Mode(cam)
	hello := helloData{
		Camera: cam, Local: s.o.Local, Cameras: s.o.State.Cameras(),
		Mode: modeData{mode, ModeLabel(mode)}, People: s.o.State.People(cam),
		Recognizer: s.o.State.RecognizerOnline(), FreshnessMS: s.o.Hub.Freshness().Milliseconds(),
		Enrol: s.o.Enrol != nil && cam == s.o.Local, EnrolBurst: s.enrolBurst(),
		Train:   s.o.Train != nil && cam == s.o.Local,
		History: s.o.History != nil,
	}
	if s.o.Train != nil {
		hello.TrainStatus = s.o.Train.Last()
	}
	if sendEvent(state.Event{Type: "hello", Camera: cam, Data: hello}) != nil {
		return
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	ended := s.sessionEnded(ctx, r)
	lastPeople := time.Now()
	setMode := func(m stream.Mode) error {
		if m == mode || m == stream.ModeNone {
			return nil
		}
		mode = m
		return sendEvent(state.Event{Type: "mode", Camera: cam, Data: modeData{m, ModeLabel(m)}})
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusNormalClosure, "")
			return
		case <-ended:
			s.log.Info("live view stream closed: its login ended", "kind", "ws")
			c.Close(StatusSessionEnded, "session ended: log in again")
			return
		case f := <-sub.C():
			if err = setMode(f.Mode); err == nil {
				if err = write(websocket.MessageBinary, f.JPEG); err == nil {
					s.sent("ws", len(f.JPEG))
				}
			}
		case ev := <-events:
			if ev.Camera == "" || ev.Camera == cam {
				err = sendEvent(ev)
			}
		case <-tick.C:
			// The mode can change without a frame (camera stalled).
			err = setMode(s.o.Hub.Mode(cam))
			if err == nil && time.Since(lastPeople) > 2*time.Second {
				lastPeople = time.Now()
				err = sendEvent(state.Event{Type: "identities", Camera: cam, Data: s.o.State.People(cam)})
			}
		}
		if err != nil {
			s.log.Debug("ws client gone", "err", err)
			return
		}
	}
}

type enrolRequest struct {
	Name  string `json:"name"`
	Burst int    `json:"burst"`
	// Capture is the page's own tag for this Capture, echoed in its
	// "enrol_progress" WebSocket events (at most 64 characters).
	Capture string `json:"capture,omitempty"`
}

// enrolResponse answers POST /api/enrol: one result per Capture (a burst
// is one result with its frames' fates).
type enrolResponse struct {
	Results []enrol.Result `json:"results,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// enrolProgress is the data of an "enrol_progress" event.
type enrolProgress struct {
	Capture string `json:"capture,omitempty"`
	Name    string `json:"name"`
	enrol.Progress
}

func (s *Server) enrolBurst() int {
	if s.o.EnrolBurst < 1 {
		return 1
	}
	return s.o.EnrolBurst
}

func (s *Server) enrol(w http.ResponseWriter, r *http.Request) {
	if s.o.Enrol == nil {
		httpauth.WriteJSON(w, http.StatusNotFound, enrolResponse{Error: "enrolment disabled"})
		return
	}
	// A JSON content type cannot be sent cross-site without a CORS
	// preflight, which this server never grants.
	if !httpauth.IsJSON(r.Header.Get("Content-Type")) {
		httpauth.WriteJSON(w, http.StatusUnsupportedMediaType, enrolResponse{Error: "Content-Type must be application/json"})
		return
	}
	var req enrolRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpauth.WriteJSON(w, http.StatusBadRequest, enrolResponse{Error: "bad request: " + err.Error()})
		return
	}
	if req.Burst == 0 {
		req.Burst = 1
	}
	if !msg.ValidName(req.Name) {
		httpauth.WriteJSON(w, http.StatusBadRequest, enrolResponse{Error: msg.ErrBadName.Error()})
		return
	}
	if len(req.Capture) > 64 || !msg.ValidSession(req.Capture) {
		httpauth.WriteJSON(w, http.StatusBadRequest, enrolResponse{Error: "capture: at most 64 characters of [A-Za-z0-9_-]"})
		return
	}
	// The login's recognizer session goes with the images (none: the
	// recognizer keeps them pending until a person confirms them).
	c := enrol.Capture{Name: req.Name, Burst: req.Burst, Cred: login.FromContext(r.Context())}
	if s.o.State != nil {
		c.Progress = func(p enrol.Progress) {
			s.o.State.Publish(state.Event{Type: "enrol_progress", Camera: s.o.Local,
				Data: enrolProgress{Capture: req.Capture, Name: req.Name, Progress: p}})
		}
	}
	res, err := s.o.Enrol.Enrol(r.Context(), c)
	switch {
	case errors.Is(err, enrol.ErrNoFrame):
		httpauth.WriteJSON(w, http.StatusServiceUnavailable, enrolResponse{Error: err.Error()})
	case err != nil:
		httpauth.WriteJSON(w, http.StatusBadRequest, enrolResponse{Error: err.Error()})
	default:
		httpauth.WriteJSON(w, http.StatusOK, enrolResponse{Results: []enrol.Result{res}})
	}
}

type trainResponse struct {
	ID    string `json:"id,omitempty"`
	Error string `json:"error,omitempty"`
}

// train starts a re-training of the recognizer's gallery; progress reaches
// the page as "train" WebSocket events.
func (s *Server) train(w http.ResponseWriter, r *http.Request) {
	if s.o.Train == nil {
		httpauth.WriteJSON(w, http.StatusNotFound, trainResponse{Error: "training disabled"})
		return
	}
	// As for /api/enrol: a JSON content type needs a CORS preflight.
	if !httpauth.IsJSON(r.Header.Get("Content-Type")) {
		httpauth.WriteJSON(w, http.StatusUnsupportedMediaType, trainResponse{Error: "Content-Type must be application/json"})
		return
	}
	tok, err := login.FromContext(r.Context()).RecognizerToken()
	if err != nil {
		httpauth.WriteJSON(w, http.StatusServiceUnavailable, trainResponse{Error: "cannot ask the recognizer to train: " + err.Error()})
		return
	}
	id, err := s.o.Train.Start(tok)
	switch {
	case errors.Is(err, train.ErrBrokerDown), errors.Is(err, train.ErrNoRecognizer):
		httpauth.WriteJSON(w, http.StatusServiceUnavailable, trainResponse{Error: err.Error()})
	case err != nil:
		httpauth.WriteJSON(w, http.StatusInternalServerError, trainResponse{Error: err.Error()})
	default:
		httpauth.WriteJSON(w, http.StatusAccepted, trainResponse{ID: id})
	}
}

func (s *Server) cameras(w http.ResponseWriter, r *http.Request) {
	httpauth.WriteJSON(w, http.StatusOK, s.o.State.Cameras())
}

// configData tells the page which features this edge offers.
type configData struct {
	Camera     string `json:"camera"`
	Enrol      bool   `json:"enrol"`
	EnrolBurst int    `json:"enrol_burst"`
	Train      bool   `json:"train"`
	History    bool   `json:"history"`
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	httpauth.WriteJSON(w, http.StatusOK, configData{Camera: s.o.Local, Enrol: s.o.Enrol != nil, EnrolBurst: s.enrolBurst(),
		Train: s.o.Train != nil, History: s.o.History != nil})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{
		"status": "ok",
		"camera": s.o.Local,
		"mode":   s.o.Hub.Mode(s.o.Local),
		"mqtt":   s.o.Connected(),
	}
	if f, ok := s.o.Hub.LatestRaw(s.o.Local); ok {
		out["last_frame_age_ms"] = time.Since(f.Arrived).Milliseconds()
		out["last_seq"] = strconv.FormatUint(f.Seq, 10)
	}
	httpauth.WriteJSON(w, http.StatusOK, out)
}
