package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/httpauth"
	"github.com/facemon/facemon/shared/redact"
)

// Serve implements `facemon-recognizer serve`.
func Serve(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "serve", "serve --gallery FILE [--broker URL | --listen ADDR] [flags]")
	var c common
	c.register(fs)
	var cfg service.Config
	fs.StringVar(&cfg.Gallery, "gallery", "gallery.json", "gallery file (reloaded when it changes on disk)")
	fs.StringVar(&cfg.Dataset, "dataset", "dataset", "dataset folder where enrolled images are saved")
	fs.StringVar(&cfg.Broker, "broker", "", "external MQTT broker URL (tcp://host:1883, ssl://host:8883); empty starts the embedded broker (env FACEMON_BROKER)")
	fs.StringVar(&cfg.DB, "db", os.Getenv("FACEMON_DB"), "PostgreSQL URL (postgres://user@host/db): gallery, dataset and history shared by every recognizer using it; empty = the local files (env FACEMON_DB, which keeps a password out of the process list)")
	fs.StringVar(&cfg.Listen, "listen", ":1883", "embedded broker listen address (without --broker)")
	fs.StringVar(&cfg.Users, "users", "", "embedded broker users file (default: the one generated in --state)")
	var sf stateFlags
	fs.StringVar(&sf.dir, "state", "", "state directory: generated MQTT users, dashboard password hash, API token, TLS files (default: the --gallery file's folder; '-' = none)")
	fs.StringVar(&sf.passwordFile, "password-file", "", "file holding this recognizer's MQTT password (default: <state>/secrets/recognizer, or $FACEMON_MQTT_PASSWORD)")
	fs.BoolVar(&cfg.AllowAnonymous, "allow-anonymous", false, "embedded broker: also accept clients without a user name, from loopback addresses only (INSECURE on a shared host; logged loudly)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (see the certs command): adds MQTT over TLS on --tls-listen to the embedded broker and serves --http as HTTPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&cfg.TLSListen, "tls-listen", ":8883", "embedded broker MQTT-over-TLS listen address (with --tls-cert)")
	fs.StringVar(&cfg.Instance, "instance", "", "instance id (default: host name)")
	fs.StringVar(&cfg.Assign, "assign", service.AssignOwner, "how recognizers on one broker split the cameras: owner (each camera to exactly one live recognizer, by rendezvous hashing over the recognizers online) or share (the broker deals frames round-robin to --group)")
	fs.StringVar(&cfg.Group, "group", "facemon-recognizers", "with --assign share: shared-subscription group: recognizers in one group split the frames ('-' = every recognizer gets every frame)")
	fs.StringVar(&cfg.Prefix, "topic-prefix", "", "prefix for every MQTT topic")
	fs.StringVar(&cfg.HTTP, "http", ":9101", "metrics and health listen address ('' to disable)")
	fs.StringVar(&cfg.Username, "username", "", "MQTT username (env FACEMON_MQTT_USER)")
	fs.StringVar(&cfg.Password, "password", "", "MQTT password (env FACEMON_MQTT_PASSWORD)")
	fs.DurationVar(&cfg.ReconnectMax, "reconnect-max", 2*time.Second, "longest wait between MQTT reconnection attempts")
	fs.StringVar(&cfg.CAFile, "ca", "", "PEM file of the CA to trust for an ssl:// or wss:// --broker (see the certs command; default: system roots)")
	var rf ruleFlags
	rf.register(fs)
	in := &cfg.Integrations
	fs.StringVar(&in.HistoryDB, "history", "", "event history SQLite file (default: history.db beside the gallery; '-' disables history)")
	fs.DurationVar(&in.HistoryMaxAge, "history-max-age", 30*24*time.Hour, "delete events and unknown faces older than this")
	fs.Int64Var(&in.HistoryMaxBytes, "history-max-bytes", 1<<30, "keep stored images under this many bytes (oldest deleted first)")
	fs.DurationVar(&in.HistoryDebounce, "history-debounce", 30*time.Second, "least time between two events of one person on one camera")
	fs.BoolVar(&cfg.KeepHistory, "keep-history", false, "deleting a person keeps their history events (crops, frames); by default they are erased with the person")
	fs.StringVar(&in.HAPrefix, "ha-prefix", "homeassistant", "Home Assistant MQTT discovery prefix ('-' disables discovery)")
	fs.DurationVar(&in.HAOffDelay, "ha-off-delay", time.Minute, "Home Assistant presence sensors turn off this long after the last sighting")
	fs.DurationVar(&cfg.HAImageInterval, "ha-image-interval", 10*time.Second, "a camera nobody watches live still gets one annotated frame this often, for Home Assistant's image entity (0: none; annotated frames otherwise go out only while an edge reports viewers on cam/<id>/viewers)")
	fs.BoolVar(&cfg.AnnotateAlways, "annotate-always", false, "draw and publish an annotated frame for every frame, watched or not (for MQTT consumers of cam/<id>/annotated that are not facemon edges)")
	fs.StringVar(&in.PublicURL, "public-url", "", "this recognizer's HTTP base URL as seen by Home Assistant (e.g. http://server:9101), for snapshot links")
	fs.StringVar(&in.AlertWebhook, "alert-webhook", "", "URL to POST unknown-face alerts to (JSON with a base64 crop)")
	fs.DurationVar(&in.AlertCooldown, "alert-cooldown", time.Minute, "least time between two unknown-face alerts of one camera")
	fs.StringVar(&in.APIToken, "api-token", "", "bearer token required on every REST API request (env FACEMON_API_TOKEN; prefer --api-token-file)")
	// REST API and /metrics access (issue 9).
	apiTokenFile := fs.String("api-token-file", "", "file holding the REST API bearer token (overrides --api-token)")
	fs.BoolVar(&in.APIOpen, "api-open", false, "serve the REST API WITHOUT a token when none is configured (anyone reaching --http can read faces and frames and change the gallery); without a token and without this flag the API answers 503")
	fs.StringVar(&in.DashboardHash, "dashboard-hash", "", "bcrypt hash file of the dashboard password, for person sessions (POST /api/sessions; a change of it ends every session; default: <state>/dashboard.bcrypt; '-' = no sessions)")
	fs.DurationVar(&in.SessionTTL, "session-ttl", 12*time.Hour, "lifetime of a person's session token")
	fs.StringVar(&cfg.Pending, "pending", "", "folder of pending enrolments (sent by an edge without a person's session; default: <state>/pending; '-' refuses them)")
	fs.StringVar(&cfg.Suggestions, "suggestions", "", "folder of face crops of confirmed tracks offered as new samples (People view; default: <state>/suggestions; '-' = none)")
	metricsTokenFile := fs.String("metrics-token-file", "", "file holding a bearer token that lets non-loopback clients read /metrics and /healthz (default: both answer loopback clients only)")
	fs.IntVar(&cfg.MaxCameras, "max-cameras", pipeline.DefaultMaxCameras, "most cameras with state (mailbox, tracks, Home Assistant entities); frames of further new cameras are dropped and counted until one has been idle for --camera-idle")
	fs.DurationVar(&cfg.CameraIdle, "camera-idle", pipeline.DefaultCameraIdle, "at the --max-cameras bound, a camera silent this long gives its slot (and its Home Assistant entities) to a new one")
	fs.IntVar(&cfg.MailboxDepth, "mailbox-depth", pipeline.DefaultMailboxDepth, "frames a camera may have waiting for an engine (1..10); a frame arriving at a full mailbox drops the oldest waiting one (counted in facemon_recognizer_frames_dropped_total); 1 keeps only the newest")
	cameras := fs.String("cameras", "auto", "which cameras are processed: auto (those whose facemon edge announces itself online on facemon/status/edge/<id>), any (every id on cam/+/frames, up to --max-cameras), or camera ids separated by commas (for publishers that are not facemon edges; may include auto)")
	var tf trackFlags
	tf.register(fs)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	// Environment defaults are read after parsing, so --help never prints
	// a secret as a flag's default.
	fromEnv(fs, map[string]envVar{
		"broker": {"FACEMON_BROKER", &cfg.Broker}, "username": {"FACEMON_MQTT_USER", &cfg.Username},
		"password": {"FACEMON_MQTT_PASSWORD", &cfg.Password}, "api-token": {"FACEMON_API_TOKEN", &in.APIToken},
	})
	var lvl slog.Level
	var err error
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	if cfg.Cameras, err = pipeline.ParseCameraPolicy(*cameras); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *apiTokenFile != "" {
		if in.APIToken, err = httpauth.ReadSecret(*apiTokenFile); err != nil {
			return fmt.Errorf("%w: --api-token-file: %v", errUsage, err)
		}
	}
	if *metricsTokenFile != "" {
		if cfg.MetricsToken, err = httpauth.ReadSecret(*metricsTokenFile); err != nil {
			return fmt.Errorf("%w: --metrics-token-file: %v", errUsage, err)
		}
	}
	tokenGiven := *apiTokenFile != ""
	fs.Visit(func(f *flag.Flag) { tokenGiven = tokenGiven || f.Name == "api-token" })
	if err := prepareState(env, sf, &cfg, tokenGiven); err != nil {
		return err
	}
	a, err := c.analyzer()
	if err != nil {
		return err
	}
	// Decoded frames default to HOG on the grey image: measured 2.37x the
	// naive pipeline's frames per CPU-second against 2.00x for colour HOG,
	// with the same names and time to first name (README).
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "detector" })
	if !explicit && !tf.perFrame {
		a.Detector = face.HOGGrey
	}
	cfg.Analyzer = a
	if cfg.Track, cfg.Motion, err = tf.config(); err != nil {
		return err
	}
	if !tf.perFrame {
		cfg.Codec = env.Codec
	}
	if cfg.Rule, err = rf.rule(fs); err != nil {
		return err
	}
	log := slog.New(redact.Handler(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lvl})))
	pool, err := env.OpenPool(c.models, c.landmarks, c.workers)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc, err := service.New(cfg, pool, env.Annotator, log)
	if err != nil {
		if strings.HasPrefix(err.Error(), "--") {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return err
	}
	return svc.Run(ctx)
}

// envVar is a flag's environment default.
type envVar struct {
	name string
	dst  *string
}

// fromEnv fills each flag not given on the command line from its
// environment variable, when that is set.
func fromEnv(fs *flag.FlagSet, vars map[string]envVar) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for flagName, v := range vars {
		if set[flagName] {
			continue
		}
		if val, ok := os.LookupEnv(v.name); ok && val != "" {
			*v.dst = val
		}
	}
}
