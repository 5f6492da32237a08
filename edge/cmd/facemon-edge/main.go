// Command facemon-edge captures a camera, publishes its frames over MQTT to
// cam/<id>/frames and serves a live web view of the newest stream: the
// recognizer's annotated frames while they are fresh, the raw capture
// otherwise. The live view works without any broker.
//
//	facemon-edge --broker tcp://127.0.0.1:1883 --camera-id door --source 0
//
// With --recognizer-url the dashboard also shows the recognizer's history
// (people, events, unknown faces): the edge proxies /rapi/... to
// <recognizer-url>/api/..., adding --api-token as a bearer token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/facemon/facemon/dashboard"
	"github.com/facemon/facemon/edge/capture"
	"github.com/facemon/facemon/edge/enrol"
	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/edge/publish"
	"github.com/facemon/facemon/edge/rapi"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/edge/train"
	"github.com/facemon/facemon/edge/web"
	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args)
	stop()
	os.Exit(code)
}

// config is the validated command line.
type config struct {
	Broker      string
	CameraID    string
	Source      capture.Source
	FPS         float64
	Width       int
	Height      int
	Quality     int
	Listen      string
	Loop        bool
	Dataset     string
	TopicPrefix string
	Freshness   time.Duration
	EnrolWait   time.Duration
	Reconnect   time.Duration
	LogLevel    slog.Level
	// RecognizerURL is the recognizer's HTTP base URL ("" hides history).
	RecognizerURL string
	APIToken      string
	APITimeout    time.Duration
}

// defaultCameraID derives a camera id from the host name.
func defaultCameraID() string {
	h, _ := os.Hostname()
	return ids.Sanitize(h, "edge")
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c        config
		source   string
		logLevel string
	)
	fs.StringVar(&c.Broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	fs.StringVar(&c.CameraID, "camera-id", defaultCameraID(), "camera id used in topics ([A-Za-z0-9_.-], default: host name)")
	fs.StringVar(&source, "source", "0", "camera: V4L2 index (0), device path (/dev/video0), stream URL (rtsp://...) or video file")
	fs.Float64Var(&c.FPS, "fps", 10, "frames per second to capture and publish")
	fs.IntVar(&c.Width, "width", 0, "resize frames to this width (0: keep; alone keeps the aspect ratio)")
	fs.IntVar(&c.Height, "height", 0, "resize frames to this height (0: keep)")
	fs.IntVar(&c.Quality, "quality", 80, "JPEG quality 1-100")
	fs.StringVar(&c.Listen, "listen", ":8001", "HTTP listen address for the live view")
	fs.BoolVar(&c.Loop, "loop", false, "restart a video file source at its end")
	fs.StringVar(&c.Dataset, "dataset", "dataset", "directory for enrolled face images (<dataset>/<name>/*.jpg)")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", "", "prefix for every MQTT topic (e.g. site1/)")
	fs.DurationVar(&c.Freshness, "freshness", stream.DefaultFreshness, "show annotated frames while their capture is newer than this")
	fs.DurationVar(&c.EnrolWait, "enrol-timeout", 3*time.Second, "how long to wait for the recognizer to answer an enrolment")
	fs.DurationVar(&c.Reconnect, "reconnect-max", 2*time.Second, "longest wait between MQTT reconnection attempts (a short one lets recognition resume soon after a broker restart)")
	fs.StringVar(&c.RecognizerURL, "recognizer-url", "", "recognizer HTTP base URL (e.g. http://127.0.0.1:9101): the dashboard's People, Events and Unknowns views use its REST API through /rapi/ (empty: hidden)")
	fs.StringVar(&c.APIToken, "api-token", os.Getenv("FACEMON_API_TOKEN"), "bearer token sent to the recognizer's REST API (env FACEMON_API_TOKEN)")
	fs.DurationVar(&c.APITimeout, "recognizer-timeout", rapi.DefaultTimeout, "how long one proxied recognizer API request may take")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var errs []error
	if err := mqttx.ValidateBroker(c.Broker); err != nil {
		errs = append(errs, err)
	}
	if !topic.ValidID(c.CameraID) {
		errs = append(errs, fmt.Errorf("--camera-id %q: %w", c.CameraID, topic.ErrBadID))
	}
	src, err := capture.ParseSource(source)
	if err != nil {
		errs = append(errs, fmt.Errorf("--source: %w", err))
	}
	c.Source = src
	if c.FPS <= 0 || c.FPS > 120 {
		errs = append(errs, fmt.Errorf("--fps %v: must be in (0, 120]", c.FPS))
	}
	if c.Width < 0 || c.Width > 7680 || c.Height < 0 || c.Height > 4320 {
		errs = append(errs, fmt.Errorf("--width/--height %dx%d: out of range", c.Width, c.Height))
	}
	if c.Quality < 1 || c.Quality > 100 {
		errs = append(errs, fmt.Errorf("--quality %d: must be 1-100", c.Quality))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", c.Listen, err))
	}
	if c.Dataset == "" {
		errs = append(errs, errors.New("--dataset: empty"))
	}
	if strings.ContainsAny(c.TopicPrefix, "+#\x00") {
		errs = append(errs, fmt.Errorf("--topic-prefix %q: must not contain MQTT wildcards", c.TopicPrefix))
	}
	if c.Freshness <= 0 || c.EnrolWait <= 0 {
		errs = append(errs, errors.New("--freshness and --enrol-timeout must be positive"))
	}
	if c.Reconnect <= 0 || c.Reconnect > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--reconnect-max %v: must be in (0, 10m]", c.Reconnect))
	}
	if c.RecognizerURL != "" {
		if _, err := rapi.ParseTarget(c.RecognizerURL); err != nil {
			errs = append(errs, fmt.Errorf("--recognizer-url: %w", err))
		}
	}
	if strings.ContainsAny(c.APIToken, "\r\n") {
		errs = append(errs, errors.New("--api-token: contains a line break"))
	}
	if c.APITimeout <= 0 || c.APITimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--recognizer-timeout %v: must be in (0, 10m]", c.APITimeout))
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	return c, errors.Join(errs...)
}

func run(ctx context.Context, args []string) int {
	cfg, err := parseConfig(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "facemon-edge: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("camera", cfg.CameraID)
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("facemon-edge failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the edge until ctx ends.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	space := topic.New(cfg.TopicPrefix)
	m := metrics.New()
	hub := stream.New(stream.Options{Freshness: cfg.Freshness})
	st := state.New(state.Options{Space: space, Local: cfg.CameraID, Logger: log.With("component", "state")})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	mq, err := mqttx.New(mqttx.Options{
		Broker:      cfg.Broker,
		ClientID:    "facemon-edge-" + cfg.CameraID,
		StatusTopic: space.Status(topic.KindEdge, cfg.CameraID),
		Logger:      log.With("component", "mqtt"),
		// Frames and the live view do not wait for the broker; a short
		// cap only costs a few connection attempts while it is down.
		MaxReconnectInterval: cfg.Reconnect,
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer mq.Close()

	mqLog := log.With("component", "mqtt")
	annotated := func(id string) mqttx.Handler {
		return func(t string, b []byte) {
			if err := msg.CheckJPEG(b, msg.MaxFrameBytes); err != nil {
				mqLog.Debug("bad annotated frame", "topic", t, "err", err)
				return
			}
			m.AnnotatedIn.Inc()
			hub.PutAnnotated(id, b)
		}
	}
	mq.Subscribe(space.Annotated(cfg.CameraID), 0, annotated(cfg.CameraID))
	mq.Subscribe(space.AllCameras(topic.Identities), 1, st.HandleIdentities)
	mq.Subscribe(space.AllStatus(), 1, st.HandleStatus)

	// Remote cameras are fed into the hub once someone views them.
	var (
		watchMu sync.Mutex
		watched = map[string]bool{}
	)
	watch := func(id string) error {
		watchMu.Lock()
		defer watchMu.Unlock()
		if watched[id] || id == cfg.CameraID {
			return nil
		}
		watched[id] = true
		mq.Subscribe(space.Frames(id), 0, func(t string, b []byte) {
			if msg.CheckJPEG(b, msg.MaxFrameBytes) == nil {
				hub.PutRaw(id, b)
			}
		})
		mq.Subscribe(space.Annotated(id), 0, annotated(id))
		log.Info("watching remote camera", "remote", id)
		return nil
	}

	enr, err := enrol.New(enrol.Options{
		Client:  mq,
		Space:   space,
		Camera:  cfg.CameraID,
		Dataset: cfg.Dataset,
		Frame: func() (*stream.Frame, bool) {
			return hub.LatestRaw(cfg.CameraID)
		},
		RecognizerOnline: st.RecognizerOnline,
		Events:           st.Publish,
		Metrics:          m,
		Logger:           log.With("component", "enrol"),
		Timeout:          cfg.EnrolWait,
	})
	if err != nil {
		ln.Close()
		return err
	}
	st.OnRecognizerOnline(func() {
		// Give the recognizer a moment to subscribe to its commands.
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		if n := enr.Queued(); n > 0 {
			log.Info("recognizer online; sending queued enrolment images", "queued", n)
			enr.Drain(ctx)
		}
	})

	trn := train.New(train.Options{
		Client: mq, Space: space, RecognizerOnline: st.RecognizerOnline, Events: st.Publish,
		Logger: log.With("component", "train"),
	})

	var history http.Handler
	if cfg.RecognizerURL != "" {
		px, err := rapi.New(rapi.Options{Target: cfg.RecognizerURL, Token: cfg.APIToken, Timeout: cfg.APITimeout,
			Logger: log.With("component", "rapi")})
		if err != nil {
			ln.Close()
			return err
		}
		history = px
	}

	pub := publish.NewFrames(mq, space.Frames(cfg.CameraID), m, log.With("component", "publish"))

	srv := &http.Server{
		Handler: web.New(web.Options{
			Hub: hub, State: st, Enrol: enr, Train: trn, History: history, Metrics: m, Local: cfg.CameraID,
			Assets: dashboard.Static(), Watch: watch, Connected: mq.Connected,
			Logger: log.With("component", "web"),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}

	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		// Without a broker connection no status can arrive, not even a
		// recognizer's last will: forget who was online.
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		was := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			up := mq.Connected()
			if was && !up {
				st.Disconnected()
			}
			was = up
		}
	}()
	go func() { defer wg.Done(); pub.Run(ctx) }()
	go func() { defer wg.Done(); enr.Run(ctx) }()
	go func() {
		defer wg.Done()
		capLog := log.With("component", "capture")
		err := capture.Run(ctx, capture.Options{
			Source: cfg.Source, Camera: cfg.CameraID, FPS: cfg.FPS,
			Width: cfg.Width, Height: cfg.Height, Quality: cfg.Quality, Loop: cfg.Loop,
			Logger:  capLog,
			OnError: func(error) { m.CaptureErrors.Inc() },
		}, func(f capture.Frame) {
			m.FramesCaptured.Inc()
			hub.PutRaw(cfg.CameraID, f.JPEG)
			pub.Offer(f.JPEG)
		})
		if err != nil {
			capLog.Warn("capture finished; the web view keeps serving the last frame", "err", err)
		}
	}()

	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	log.Info("facemon-edge running", "listen", ln.Addr().String(), "broker", cfg.Broker,
		"source", cfg.Source.String(), "fps", cfg.FPS, "dataset", cfg.Dataset,
		"recognizer_url", cfg.RecognizerURL, "api_token", cfg.APIToken != "")

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srvErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	wg.Wait()
	return runErr
}
