// Package service wires the recognizer to MQTT: an embedded broker unless
// an external one is given, shared subscriptions to camera frames, the
// pipeline, gallery reloads when the file changes, enrolment commands, and
// availability.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/facemon/facemon/broker"
	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/recognizer/clusterdb"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/shared/httpauth"
	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/pprofx"
	"github.com/facemon/facemon/shared/redact"
	"github.com/facemon/facemon/shared/tlsx"
	"github.com/facemon/facemon/shared/topic"
)

// Config is the recognizer service configuration.
type Config struct {
	Gallery  string // gallery file (reloaded when it changes)
	Dataset  string // dataset folder, where enrolled images are saved
	Broker   string // external broker URL; empty starts the embedded broker
	Listen   string // embedded broker listen address (default :1883)
	Users    string // embedded broker users file (optional)
	Instance string // instance id (default: hostname)
	Group    string // shared-subscription group (default "facemon-recognizers"); "-" disables sharing
	// Assign is how cameras are split between recognizers: AssignOwner
	// (default: one owner per camera) or AssignShare (the broker deals
	// frames round-robin to the Group).
	Assign   string
	Prefix   string // topic prefix
	HTTP     string // metrics/health listen address (default :9101; "" disables)
	Username string
	Password string
	// ReconnectMax caps the wait between MQTT reconnect attempts (default
	// 2s: recognition resumes soon after a broker restart).
	ReconnectMax time.Duration
	// ClientID is the MQTT client id (default: unique per process, see
	// mqttx.DefaultClientID).
	ClientID string
	// CAFile is the CA trusted for an ssl:// or wss:// --broker.
	CAFile string
	// MaxCameras and CameraIdle bound the cameras with state (see
	// pipeline.Config).
	MaxCameras int
	CameraIdle time.Duration
	// MailboxDepth is how many frames a camera may have waiting (0:
	// pipeline.DefaultMailboxDepth).
	MailboxDepth int
	// Cameras says which camera ids get state at all (zero value: any;
	// serve's --cameras defaults to auto: edges announced online).
	Cameras pipeline.CameraPolicy
	// AllowAnonymous lets the embedded broker accept clients without a
	// user name from loopback addresses (never from the network).
	AllowAnonymous bool
	// TLSCert and TLSKey (PEM files) add an MQTT-over-TLS listener on
	// TLSListen (default :8883) to the embedded broker and serve the HTTP
	// API over HTTPS.
	TLSCert, TLSKey, TLSListen string
	// MetricsToken lets non-loopback clients read /metrics and /healthz
	// as a bearer token; loopback clients need none.
	MetricsToken string

	Analyzer face.Analyzer
	Rule     gallery.Rule
	Track    pipeline.TrackConfig
	// Codec decodes frames once and gates, tracks and describes within a
	// budget (nil: the per-frame method with the Annotator).
	Codec  pipeline.Codec
	Motion pipeline.MotionConfig
	// GalleryPoll is how often the gallery file is checked for changes.
	GalleryPoll time.Duration
	// Integrations: history, alerts, Home Assistant, REST API.
	Integrations Integrations
	// DB is a PostgreSQL URL: the gallery, the dataset and the history are
	// shared by every recognizer using it (serve --db; "" = the files).
	DB string
	// KeepHistory keeps a deleted person's history events (and their crops
	// and frames); by default deleting a person erases them.
	KeepHistory bool
	// AnnotateAlways publishes an annotated frame for every frame, watched
	// or not; by default only cameras with viewers (their edge's retained
	// cam/<id>/viewers) get them, and the others one every HAImageInterval
	// for Home Assistant's image entity (0: none; none when Home Assistant
	// discovery is off).
	AnnotateAlways  bool
	HAImageInterval time.Duration
	// Pending is the folder of pending enrolments (sent by an edge without
	// a person's session; default <gallery dir>/pending, "-" = none: such
	// enrolments are refused).
	Pending string
	// Suggestions is the folder of crops of confirmed tracks offered as
	// new samples (default <gallery dir>/suggestions, "-" = none).
	Suggestions string
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Listen == "" {
		c.Listen = broker.DefaultTCPAddr
	}
	if c.Instance == "" {
		h, _ := os.Hostname()
		c.Instance = ids.Sanitize(h, "recognizer")
	}
	if c.Group == "" {
		c.Group = "facemon-recognizers"
	}
	if c.Assign == "" {
		c.Assign = AssignOwner
	}
	if c.TLSCert != "" && c.TLSListen == "" {
		c.TLSListen = ":8883"
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = 2 * time.Second
	}
	if c.ClientID == "" {
		c.ClientID = mqttx.DefaultClientID(mqttx.ClientUser(c.Username, c.Broker), "recognizer")
	}
	if c.GalleryPoll == 0 {
		c.GalleryPoll = 2 * time.Second
	}
	if c.Dataset == "" {
		c.Dataset = "dataset"
	}
	if c.Pending == "" {
		c.Pending = filepath.Join(filepath.Dir(c.Gallery), "pending")
	}
	if c.Suggestions == "" {
		c.Suggestions = filepath.Join(filepath.Dir(c.Gallery), "suggestions")
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Gallery == "" {
		return errors.New("--gallery is required")
	}
	if !topic.ValidID(c.Instance) {
		return fmt.Errorf("--instance %q: %w", c.Instance, topic.ErrBadID)
	}
	if c.Broker != "" {
		if err := mqttx.ValidateBroker(c.Broker); err != nil {
			return err
		}
	}
	if c.MaxCameras < 0 || c.MaxCameras > 10000 {
		return fmt.Errorf("--max-cameras %d: want 1..10000", c.MaxCameras)
	}
	if c.CameraIdle < 0 {
		return fmt.Errorf("--camera-idle %v: must be positive", c.CameraIdle)
	}
	if c.MailboxDepth < 0 || c.MailboxDepth > 10 {
		return fmt.Errorf("--mailbox-depth %d: want 1..10", c.MailboxDepth)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.ReconnectMax < 0 || c.ReconnectMax > 10*time.Minute {
		return fmt.Errorf("--reconnect-max %v: must be in (0, 10m]", c.ReconnectMax)
	}
	if c.HAImageInterval < 0 {
		return fmt.Errorf("--ha-image-interval %v: must be 0 (off) or positive", c.HAImageInterval)
	}
	if c.Assign != AssignOwner && c.Assign != AssignShare {
		return fmt.Errorf("--assign %q: want %s or %s", c.Assign, AssignOwner, AssignShare)
	}
	if c.Group != "-" && !topic.ValidID(c.Group) {
		return fmt.Errorf("--group %q: %w", c.Group, topic.ErrBadID)
	}
	return nil
}

// Service is a running recognizer.
type Service struct {
	cfg      Config
	log      *slog.Logger
	pool     *face.Pool
	Pipeline *pipeline.Pipeline
	client   *mqttx.Client
	broker   *broker.Broker
	space    topic.Space
	reg      *prometheus.Registry
	galMu    sync.Mutex // the gallery writer's lock (see writer.go)
	galStamp fileStamp
	journal  []galleryEdit // edits made during a training run; nil when none runs
	httpAddr string
	trainer  *trainer
	// db is the shared state with --db (nil: the files are the state);
	// galVersion is the shared gallery version we hold (galMu).
	db         *clusterdb.DB
	galVersion int64
	dsMu       sync.Mutex // the dataset folder while it is synced or written
	ready      chan struct{}
	assign     *assigner // --assign owner

	trainMu   sync.Mutex
	lastTrain msg.TrainStatus

	// galleryHooks run after the gallery changes (training, enrolment,
	// reload, edits), e.g. to re-send Home Assistant discovery.
	galleryHooks []func()
	in           *integrations

	// Bounded command handling (see work.go); answers go out through out.
	enrolWork, personWork *workers
	refused               *prometheus.CounterVec
	out                   pipeline.Publisher

	// Person sessions (REST /api/sessions; nil without a dashboard hash)
	// and enrolments from edges waiting for a person (nil: --pending -).
	sessions *api.Sessions
	pending  *pendingStore

	// Crops of confirmed tracks offered as samples (nil: --suggestions -),
	// analysed by one worker with a short queue (suggestions.go).
	suggest     *suggestionStore
	suggestWork *workers

	// mqttDropped counts what the MQTT client's queues dropped.
	mqttDropped *prometheus.CounterVec
}

// New builds a service around an engine pool (owned by the caller).
func New(cfg Config, pool *face.Pool, ann pipeline.Annotator, log *slog.Logger) (*Service, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{cfg: cfg, log: log.With("component", "service", "instance", cfg.Instance), pool: pool, space: topic.New(cfg.Prefix), reg: prometheus.NewRegistry(), ready: make(chan struct{})}
	s.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	s.trainer = newTrainer(s)
	s.out = publisher{s}
	s.enrolWork = newWorkers(pool.Size(), EnrolQueue)
	s.personWork = newWorkers(1, PersonQueue) // the gallery has one writer anyway
	s.suggestWork = newWorkers(1, suggestQueue)
	s.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facemon_recognizer_commands_refused_total",
		Help: "Commands refused because their queue was full."}, []string{"command"})
	s.reg.MustRegister(s.refused)
	s.mqttDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facemon_mqtt_dropped_total",
		Help: "MQTT messages dropped by a full client queue: direction in (a handler fell behind) or out (the broker did not keep up, or a newer frame replaced a queued one), by topic kind."}, []string{"direction", "topic_kind"})
	s.reg.MustRegister(s.mqttDropped)
	s.Pipeline = pipeline.New(pipeline.Config{Instance: cfg.Instance, Space: s.space, Analyzer: cfg.Analyzer, Rule: cfg.Rule, Track: cfg.Track, Codec: cfg.Codec, Motion: cfg.Motion,
		MaxCameras: cfg.MaxCameras, CameraIdle: cfg.CameraIdle, MailboxDepth: cfg.MailboxDepth, Cameras: cfg.Cameras, OnDemand: !cfg.AnnotateAlways, ImageEvery: cfg.haImageEvery()}, pool, publisher{s}, ann, s.reg, log)
	if cfg.Assign == AssignOwner {
		s.assign = newAssigner(s)
	}
	return s, nil
}

// commandGroup is the shared-subscription group of the commands with --db.
const commandGroup = "facemon-commands"

// haImageEvery is how often an unwatched camera gets an annotated frame:
// HAImageInterval while Home Assistant discovery (its image entity) is on.
func (c *Config) haImageEvery() time.Duration {
	if c.Integrations.HAPrefix == "-" {
		return 0
	}
	return c.HAImageInterval
}

// publisher forwards to the MQTT client once it exists.
type publisher struct{ s *Service }

func (p publisher) Publish(t string, qos byte, retained bool, payload []byte) error {
	if p.s.client == nil {
		return mqttx.ErrNotConnected
	}
	return p.s.client.Publish(t, qos, retained, payload)
}

// Ready is closed once Run has started everything (broker, MQTT client,
// integrations, HTTP), so tests can wait for it without racing on fields.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// BrokerAddr returns the embedded broker's address ("" when external).
func (s *Service) BrokerAddr() string {
	if s.broker == nil {
		return ""
	}
	return s.broker.Addr()
}

// HTTPAddr returns the bound metrics address.
func (s *Service) HTTPAddr() string { return s.httpAddr }

// Run starts everything and blocks until ctx ends, then shuts down.
func (s *Service) Run(ctx context.Context) error {
	s.makePrivate()
	s.purgeDeleted()
	if s.cfg.DB != "" {
		db, err := clusterdb.Open(ctx, s.cfg.DB, s.log)
		if err != nil {
			return err
		}
		defer db.Close()
		s.db = db
		if err := os.MkdirAll(s.cfg.Dataset, 0o700); err != nil {
			return err
		}
		s.pullDataset(ctx)
		s.pullGallery(ctx) // before the first load: the database is the truth
	}
	if err := s.loadGallery(true); err != nil {
		return err
	}
	if err := s.setupIntegrations(); err != nil {
		return err
	}
	var httpsTLS *tls.Config // --tls-cert: the HTTP API over HTTPS
	if s.cfg.TLSCert != "" {
		tc, err := tlsx.ServerConfig(s.cfg.TLSCert, s.cfg.TLSKey, "")
		if err != nil {
			return err
		}
		httpsTLS = tc
	}
	brokerURL := s.cfg.Broker
	if brokerURL == "" {
		bo := broker.Options{TCPAddr: s.cfg.Listen, UsersFile: s.cfg.Users, AllowAnonymous: s.cfg.AllowAnonymous,
			Logger: s.log.With("component", "broker")}
		if s.cfg.TLSCert != "" {
			bo.TLSAddr, bo.TLSCert, bo.TLSKey = s.cfg.TLSListen, s.cfg.TLSCert, s.cfg.TLSKey
		}
		b, err := broker.New(bo)
		if err != nil {
			return err
		}
		if err := b.Start(ctx); err != nil {
			return fmt.Errorf("embedded broker on %s: %w", s.cfg.Listen, err)
		}
		s.broker = b
		defer b.Close()
		_, port, _ := net.SplitHostPort(b.Addr())
		brokerURL = "tcp://127.0.0.1:" + port
		s.log.Info("embedded MQTT broker listening", "addr", b.Addr())
	}
	cl, err := mqttx.New(mqttx.Options{Broker: brokerURL, ClientID: s.cfg.ClientID,
		Username: s.cfg.Username, Password: s.cfg.Password, CAFile: s.cfg.CAFile, MaxReconnectInterval: s.cfg.ReconnectMax,
		StatusTopic: s.space.Status(topic.KindRecognizer, s.cfg.Instance), Logger: s.log,
		OnDrop: func(dir, t string) { s.mqttDropped.WithLabelValues(dir, s.space.KindOf(t)).Inc() }})
	if err != nil {
		return err
	}
	s.client = cl
	defer cl.Close()
	frames := "owned cameras' " + s.space.Frames("<id>")
	if s.assign != nil {
		s.assign.start(cl) // the camera registry, the recognizers online, the owned cameras' frames
	} else {
		frames = s.space.AllCameras(topic.Frames)
		if s.cfg.Group != "-" {
			frames = topic.Shared(s.cfg.Group, frames)
		}
		cl.Subscribe(frames, 0, s.Pipeline.HandleFrame)
		cl.Subscribe(s.space.AllStatusOf(topic.KindEdge), 1, s.Pipeline.HandleEdgeStatus) // the camera registry
	}
	cl.Subscribe(s.space.AllCameras(topic.Viewers), 1, s.Pipeline.HandleViewers) // annotated frames on demand
	// With --db the state is shared, so each command is carried out by one
	// recognizer: a shared subscription (stateless work, the right use of
	// $share). Without, every recognizer keeps its own state and hears all.
	cmd := func(filter string) string {
		if s.db != nil {
			return topic.Shared(commandGroup, filter)
		}
		return filter
	}
	// A command its subscription's full queue gives up is answered "busy"
	// (overflow.go), never dropped silently.
	cl.SubscribeOpts(cmd(s.space.Command("enrol")), 1, mqttx.SubOptions{Queue: enrolSubQueue, OnFull: s.overflowEnrol}, s.handleEnrol)
	cl.SubscribeOpts(cmd(s.space.Command("train")), 1, mqttx.SubOptions{OnFull: s.overflowTrain}, s.handleTrain)
	// The edges' own command topics: a person's session decides (camcmd.go).
	cl.SubscribeOpts(cmd(s.space.AllCameras(topic.Enrol)), 1, mqttx.SubOptions{Queue: enrolSubQueue, OnFull: s.overflowCamera(msg.CommandEnrol)}, s.handleCamEnrol)
	cl.SubscribeOpts(cmd(s.space.AllCameras(topic.Train)), 1, mqttx.SubOptions{OnFull: s.overflowCamera(msg.CommandTrain)}, s.handleCamTrain)
	for _, verb := range []string{"delete", "rename", "threshold"} {
		cl.SubscribeOpts(cmd(s.space.Command(verb)), 1, mqttx.SubOptions{OnFull: s.overflowPerson(verb)}, s.handlePerson(verb))
	}
	s.log.Info("recognizer started", "broker", redact.URL(brokerURL), "client_id", s.cfg.ClientID, "frames", frames, "cameras", s.cfg.Cameras.String(), "workers", s.pool.Size())

	var wg sync.WaitGroup
	s.enrolWork.run(ctx, &wg)
	s.personWork.run(ctx, &wg)
	s.suggestWork.run(ctx, &wg)
	if s.db != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.listenShared(ctx) }()
	}
	if s.assign != nil {
		status := s.space.Status(topic.KindRecognizer, s.cfg.Instance)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.assign.run(ctx, func() { cl.Publish(status, 1, true, []byte(topic.Online)) })
		}()
	}
	wg.Add(4)
	go func() { defer wg.Done(); s.in.run(ctx, s) }()
	go func() { defer wg.Done(); s.Pipeline.Run(ctx) }()
	go func() { defer wg.Done(); s.watchGallery(ctx) }()
	go func() { defer wg.Done(); s.trainer.run(ctx) }()
	if s.cfg.HTTP != "" {
		ln, err := net.Listen("tcp", s.cfg.HTTP)
		if err != nil {
			return fmt.Errorf("metrics listener %s: %w", s.cfg.HTTP, err)
		}
		s.httpAddr = ln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", httpauth.Metrics(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}), s.cfg.MetricsToken))
		mux.Handle("/api/", s.in.api)
		pprofx.Mount(mux, s.cfg.MetricsToken)
		mux.Handle("/healthz", httpauth.Health(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if !cl.Connected() {
				http.Error(w, "mqtt disconnected", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		}), s.cfg.MetricsToken))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		if httpsTLS != nil {
			ln = tls.NewListener(ln, httpsTLS)
		}
		go srv.Serve(ln)
		defer srv.Close()
	}
	close(s.ready)
	<-ctx.Done()
	wg.Wait()
	st := s.Pipeline.Stats()
	s.log.Info("recognizer stopped", "processed", st.Processed, "dropped", st.Dropped, "bad", st.Bad)
	return nil
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// loadGallery (re)loads the gallery file when it changed. A missing file at
// start gives an empty gallery (everyone unknown) with a warning.
func (s *Service) loadGallery(first bool) error {
	st, err := os.Stat(s.cfg.Gallery)
	if errors.Is(err, os.ErrNotExist) {
		if first {
			s.log.Warn("gallery file does not exist yet; every face is unknown until it is trained", "gallery", s.cfg.Gallery)
		}
		return nil
	}
	if err != nil {
		return err
	}
	stamp := fileStamp{st.ModTime(), st.Size()}
	if !first && stamp == s.galStamp {
		return nil
	}
	g, err := gallery.Load(s.cfg.Gallery)
	if err != nil {
		if first {
			return err
		}
		s.log.Error("gallery reload failed; keeping the previous gallery", "err", err)
		s.galStamp = stamp
		return nil
	}
	s.galStamp = stamp
	s.Pipeline.SetGallery(g)
	people, samples := g.Counts()
	s.log.Info("gallery loaded", "gallery", s.cfg.Gallery, "people", people, "samples", samples)
	if !first {
		s.onGalleryChange()
	}
	return nil
}

// stampGallery records the gallery file's current stamp after the service
// wrote it, so the watcher does not reload our own write.
func (s *Service) stampGallery() {
	if st, err := os.Stat(s.cfg.Gallery); err == nil {
		s.galStamp = fileStamp{st.ModTime(), st.Size()}
	}
}

// OnGalleryChange registers a hook run after every gallery change.
func (s *Service) OnGalleryChange(f func()) { s.galleryHooks = append(s.galleryHooks, f) }

func (s *Service) onGalleryChange() {
	for _, f := range s.galleryHooks {
		f()
	}
}

func (s *Service) watchGallery(ctx context.Context) {
	t := time.NewTicker(s.cfg.GalleryPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.galMu.Lock()
			s.loadGallery(false)
			s.galMu.Unlock()
		}
	}
}
