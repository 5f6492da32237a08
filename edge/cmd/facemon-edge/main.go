// Command facemon-edge captures a camera, publishes its frames over MQTT to
// cam/<id>/frames and serves a live web view of the newest stream: the
// recognizer's annotated frames while they are fresh, the raw capture
// otherwise. The live view works without any broker.
//
//	facemon-edge --broker tcp://127.0.0.1:1883 --camera-id door --source 0
//
// With --recognizer-url the dashboard also shows the recognizer's history
// (people, events, unknown faces): the edge proxies /rapi/... to
// <recognizer-url>/api/..., with the recognizer session token of the
// browser's dashboard login as bearer (the login hands the password to the
// recognizer's POST /api/sessions; the edge holds no API token). The
// dashboard needs a password login (--login-file, created on first start;
// --no-login disables it, and with it history, confirmed enrolment and
// training).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/facemon/facemon/dashboard"
	"github.com/facemon/facemon/edge/capture"
	"github.com/facemon/facemon/edge/enrol"
	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/edge/publish"
	"github.com/facemon/facemon/edge/rapi"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/edge/train"
	"github.com/facemon/facemon/edge/viewers"
	"github.com/facemon/facemon/edge/web"
	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/redact"
	"github.com/facemon/facemon/shared/tlsx"
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
	// EnrolBurst, EnrolInterval, EnrolMaxBytes: a Capture's burst.
	EnrolBurst    int
	EnrolInterval time.Duration
	EnrolMaxBytes int
	Reconnect     time.Duration
	LogLevel      slog.Level
	// RecognizerURL is the recognizer's HTTP base URL ("" hides history).
	RecognizerURL string
	APITimeout    time.Duration
	// MQTT credentials (--username, --password-file or the environment).
	MQTT mqttx.Credentials
	// CAFile is the CA trusted for an ssl:// or wss:// broker and an https
	// recognizer URL.
	CAFile string
	// Web: dashboard login, HTTPS, token files (websec.go).
	Web webConfig
	// ViewAll: the dashboard may show every camera (remote frames,
	// annotated frames and identities), which the MQTT user must be allowed
	// to read (`users add camera ID --view-all`).
	ViewAll bool
	// QualitySet: --quality was given (an MJPEG source is then re-encoded).
	QualitySet bool
	Version    bool
}

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "facemon-edge %s (%s, %s/%s, OpenCV %s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, capture.OpenCVVersion())
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
	var mqttUser, mqttPasswordFile string
	fs.StringVar(&mqttUser, "username", "", "MQTT user name (default $"+mqttx.EnvUser+"; `facemon-recognizer users add camera ID` creates one)")
	fs.StringVar(&mqttPasswordFile, "password-file", "", "file holding the MQTT password (default: $"+mqttx.EnvPassword+")")
	fs.StringVar(&c.CameraID, "camera-id", defaultCameraID(), "camera id used in topics ([A-Za-z0-9_.-], default: host name)")
	fs.StringVar(&source, "source", "0", "camera: V4L2 index (0), device path (/dev/video0), stream URL (rtsp://..., http://... multipart MJPEG is read directly), "+
		"'exec:CMD ARGS' (a program writing MJPEG to stdout), 'rpicam:' (Raspberry Pi camera via rpicam-vid; optional extra rpicam-vid args after the colon) or video file")
	fs.Float64Var(&c.FPS, "fps", 10, "frames per second to capture and publish")
	fs.IntVar(&c.Width, "width", 0, "resize frames to this width (0: keep; alone keeps the aspect ratio)")
	fs.IntVar(&c.Height, "height", 0, "resize frames to this height (0: keep)")
	fs.IntVar(&c.Quality, "quality", 80, "JPEG quality 1-100 (MJPEG sources: giving it forces a decode and re-encode; without it and without --width/--height changes the camera's JPEG is published as it is)")
	fs.StringVar(&c.Listen, "listen", ":8001", "HTTP listen address for the live view")
	fs.BoolVar(&c.Loop, "loop", false, "restart a video file source at its end")
	fs.StringVar(&c.Dataset, "dataset", "dataset", "directory for enrolled face images (<dataset>/<name>/*.jpg)")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", "", "prefix for every MQTT topic (e.g. site1/)")
	fs.DurationVar(&c.Freshness, "freshness", stream.DefaultFreshness, "show annotated frames while their capture is newer than this")
	fs.DurationVar(&c.EnrolWait, "enrol-timeout", 3*time.Second, "how long to wait for the recognizer to answer an enrolment (a burst: plus 1s per frame after the first)")
	fs.IntVar(&c.EnrolBurst, "enrol-burst", enrol.DefaultBurst, fmt.Sprintf("frames a dashboard Capture takes by default (1-%d); the recognizer keeps the sharp, well-lit, diverse ones", enrol.MaxBurst))
	fs.DurationVar(&c.EnrolInterval, "enrol-burst-interval", enrol.DefaultBurstInterval, "time between the frames of a Capture's burst")
	fs.IntVar(&c.EnrolMaxBytes, "enrol-max-bytes", enrol.DefaultMaxBytes, "largest enrolment command sent (JSON, frames in base64); must fit the broker's packet limit (2 MiB by default); a larger burst is sent with fewer frames")
	fs.DurationVar(&c.Reconnect, "reconnect-max", 2*time.Second, "longest wait between MQTT reconnection attempts (a short one lets recognition resume soon after a broker restart)")
	fs.StringVar(&c.RecognizerURL, "recognizer-url", "", "recognizer HTTP base URL (e.g. http://127.0.0.1:9101): the dashboard's People, Events and Unknowns views use its REST API through /rapi/ (empty: hidden)")
	fs.StringVar(&c.CAFile, "ca", "", "PEM file of the CA to trust for an ssl:// or wss:// --broker and an https --recognizer-url (from facemon-recognizer certs; default: system roots)")
	fs.DurationVar(&c.APITimeout, "recognizer-timeout", rapi.DefaultTimeout, "how long one proxied recognizer API request may take")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.Web.register(fs)
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	fs.BoolVar(&c.ViewAll, "view-all", false, "let the dashboard show every camera, not only this one (its MQTT user needs read access: `users add camera ID --view-all`)")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if c.Version {
		return c, nil
	}
	fs.Visit(func(f *flag.Flag) { c.QualitySet = c.QualitySet || f.Name == "quality" })
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var errs []error
	if err := mqttx.ValidateBroker(c.Broker); err != nil {
		errs = append(errs, err)
	}
	if cred, err := mqttx.LoadCredentials(mqttUser, mqttPasswordFile); err != nil {
		errs = append(errs, err)
	} else {
		c.MQTT = cred
	}
	if !topic.ValidID(c.CameraID) {
		errs = append(errs, fmt.Errorf("--camera-id %q: %w", c.CameraID, topic.ErrBadID))
	}
	src, err := capture.ParseSource(source)
	if err != nil {
		errs = append(errs, fmt.Errorf("--source: %w", err))
	}
	c.Source = src
	if err == nil && (src.Kind == capture.KindExec || src.Kind == capture.KindRPiCam) {
		if _, err := src.Command(c.Width, c.Height, c.FPS); err != nil {
			errs = append(errs, fmt.Errorf("--source: %w", err))
		}
	}
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
	if c.EnrolBurst < 1 || c.EnrolBurst > enrol.MaxBurst {
		errs = append(errs, fmt.Errorf("--enrol-burst %d: must be 1-%d", c.EnrolBurst, enrol.MaxBurst))
	}
	if c.EnrolInterval < 10*time.Millisecond || c.EnrolInterval > 10*time.Second {
		errs = append(errs, fmt.Errorf("--enrol-burst-interval %v: must be in [10ms, 10s]", c.EnrolInterval))
	}
	if c.EnrolMaxBytes < 64<<10 || c.EnrolMaxBytes > msg.MaxEnrolBytes {
		errs = append(errs, fmt.Errorf("--enrol-max-bytes %d: must be in [%d, %d] (the recognizer refuses larger commands)", c.EnrolMaxBytes, 64<<10, msg.MaxEnrolBytes))
	}
	if c.Reconnect <= 0 || c.Reconnect > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--reconnect-max %v: must be in (0, 10m]", c.Reconnect))
	}
	if c.RecognizerURL != "" {
		if _, err := rapi.ParseTarget(c.RecognizerURL); err != nil {
			errs = append(errs, fmt.Errorf("--recognizer-url: %w", err))
		}
	}
	if c.APITimeout <= 0 || c.APITimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--recognizer-timeout %v: must be in (0, 10m]", c.APITimeout))
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if err := c.Web.validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func run(ctx context.Context, args []string) int {
	cfg, err := parseConfig(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "facemon-edge: %v\n", redact.Error(err))
		return 2
	}
	if cfg.Version {
		printVersion(os.Stdout)
		return 0
	}
	log := slog.New(redact.Handler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))).
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
	// The recognizer draws annotated frames only while this camera has
	// live views (CONTRACTS C2): the announcer, created once the MQTT
	// client exists, hears every change of the hub's subscribers.
	var ann atomic.Pointer[viewers.Announcer]
	hub := stream.New(stream.Options{Freshness: cfg.Freshness, OnViewers: func(id string) {
		if a := ann.Load(); a != nil && (id == cfg.CameraID || cfg.ViewAll) {
			a.Changed()
		}
	}})
	st := state.New(state.Options{Space: space, Local: cfg.CameraID, Logger: log.With("component", "state")})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Dashboard login, token files (websec.go).
	sec, err := setupWeb(cfg, ln, log)
	if err != nil {
		ln.Close()
		return err
	}

	mq, err := mqttx.New(mqttx.Options{
		Broker:      cfg.Broker,
		ClientID:    mqttx.DefaultClientID(mqttx.ClientUser(cfg.MQTT.Username, cfg.Broker), "edge-"+cfg.CameraID),
		Username:    cfg.MQTT.Username,
		Password:    cfg.MQTT.Password,
		CAFile:      cfg.CAFile,
		StatusTopic: space.Status(topic.KindEdge, cfg.CameraID),
		// The viewers count goes out before "online" on every connection:
		// a killed edge's retained count would otherwise count again for
		// a poll after the restarted edge is online (CONTRACTS C2).
		BeforeOnline: func() []mqttx.Message {
			p := viewers.Payload(hub.Viewers(cfg.CameraID)) // the first connection: no announcer yet
			if a := ann.Load(); a != nil {
				p = a.Payload()
			}
			return []mqttx.Message{{Topic: space.Viewers(cfg.CameraID), QoS: 1, Retained: true, Payload: p}}
		},
		Logger: log.With("component", "mqtt"),
		// Frames and the live view do not wait for the broker; a short
		// cap only costs a few connection attempts while it is down.
		MaxReconnectInterval: cfg.Reconnect,
		OnDrop:               func(dir, t string) { m.MQTTDropped.WithLabelValues(dir, space.KindOf(t)).Inc() },
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer mq.Close()
	vo := viewers.Options{Client: mq, Topic: space.Viewers(cfg.CameraID),
		Count: func() int { return hub.Viewers(cfg.CameraID) }, Logger: log.With("component", "viewers")}
	if cfg.ViewAll {
		// Other cameras shown here are announced too (their own edges may
		// have no viewers), so the recognizer draws for them.
		vo.Remote = func() []string {
			return slices.DeleteFunc(hub.Viewed(), func(id string) bool { return id == cfg.CameraID })
		}
	}
	announcer := viewers.New(vo)
	ann.Store(announcer)
	mq.OnReconnect(announcer.Reconnected)

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
	if cfg.ViewAll {
		mq.Subscribe(space.AllCameras(topic.Identities), 1, st.HandleIdentities)
	} else {
		// Only this camera: an edge's user may read no other camera.
		mq.Subscribe(space.Identities(cfg.CameraID), 1, st.HandleIdentities)
	}
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
		if !cfg.ViewAll {
			return errors.New("this edge shows only its own camera (start it with --view-all, and give its MQTT user read access with `users add camera ID --view-all`)")
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

	trn := train.New(train.Options{
		Client: mq, Space: space, Camera: cfg.CameraID, RecognizerOnline: st.RecognizerOnline, Events: st.Publish,
		Logger: log.With("component", "train"),
	})

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
		TrainAnswer:      trn.HandleAnswer,
		Metrics:          m,
		Logger:           log.With("component", "enrol"),
		Timeout:          cfg.EnrolWait,
		BurstInterval:    cfg.EnrolInterval,
		MaxBytes:         cfg.EnrolMaxBytes,
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

	var (
		history http.Handler
		issuer  login.Issuer
	)
	if cfg.RecognizerURL != "" {
		var tc *tls.Config
		if strings.HasPrefix(cfg.RecognizerURL, "https:") {
			if tc, err = tlsx.ClientConfig(cfg.CAFile, "", "", ""); err != nil {
				ln.Close()
				return err
			}
		}
		// The bearer of each request is its dashboard login's recognizer
		// session token (no API token on the edge).
		ro := rapi.Options{Target: cfg.RecognizerURL, Timeout: cfg.APITimeout, TLS: tc,
			Token: login.RequestToken,
			Refused: func(r *http.Request, tok string) {
				login.RequestTokenRefused(r, tok, rapi.RefusedMessage)
			},
			Logger: log.With("component", "rapi")}
		if sec.Auth != nil {
			ro.Authorized = sec.Auth.LoggedIn
		}
		px, err := rapi.New(ro)
		if err != nil {
			ln.Close()
			return err
		}
		history = px
		issuer = px.Sessions()
	}
	if sec.Auth == nil && !cfg.Web.NoLogin {
		ln.Close()
		return errors.New("dashboard login not set up")
	}
	if sec.Auth != nil {
		sec.Auth.SetIssuer(issuer)
	}

	pub := publish.NewFrames(mq, space.Frames(cfg.CameraID), m, log.With("component", "publish"))

	srv := &http.Server{
		Handler: web.New(web.Options{
			Hub: hub, State: st, Enrol: enr, EnrolBurst: cfg.EnrolBurst, Train: trn, History: history, Metrics: m, Local: cfg.CameraID,
			Assets: dashboard.Static(), Watch: watch, Connected: mq.Connected,
			Logger: log.With("component", "web"), Login: sec.Auth, MetricsToken: sec.MetricsToken,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// TLS handshake and other connection errors (scanners, plain HTTP
		// to an HTTPS port) are debug-level noise.
		ErrorLog:    slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}

	var wg sync.WaitGroup
	wg.Add(5)
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
	go func() { defer wg.Done(); announcer.Run(ctx) }() // clears the retained count before mq.Close
	go func() { defer wg.Done(); enr.Run(ctx) }()
	go func() {
		defer wg.Done()
		capLog := log.With("component", "capture")
		quality := 0 // the camera's own JPEG where it has one
		if cfg.QualitySet || !cfg.Source.PassThrough() {
			quality = cfg.Quality
		}
		err := capture.Run(ctx, capture.Options{
			Source: cfg.Source, Camera: cfg.CameraID, FPS: cfg.FPS,
			Width: cfg.Width, Height: cfg.Height, Quality: quality, Loop: cfg.Loop,
			Logger:  capLog,
			OnError: func(error) { m.CaptureErrors.Inc() },
		}, func(f capture.Frame) {
			m.FramesCaptured.Inc()
			if f.PassThrough {
				m.FramesPassed.Inc()
			}
			hub.PutRaw(cfg.CameraID, f.JPEG)
			pub.Offer(f.JPEG)
		})
		if err != nil {
			capLog.Warn("capture finished; the web view keeps serving the last frame", "err", err)
		}
	}()

	srvErr := make(chan error, 1)
	go func() {
		if cfg.Web.TLSCert != "" {
			srvErr <- srv.ServeTLS(ln, cfg.Web.TLSCert, cfg.Web.TLSKey)
			return
		}
		srvErr <- srv.Serve(ln)
	}()
	log.Info("facemon-edge running", "listen", ln.Addr().String(), "broker", redact.URL(cfg.Broker),
		"source", cfg.Source.String(), "fps", cfg.FPS, "dataset", cfg.Dataset,
		"recognizer_url", redact.URL(cfg.RecognizerURL),
		"login", sec.Auth != nil, "https", cfg.Web.TLSCert != "")

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
