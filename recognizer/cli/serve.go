package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/recognizer/service"
)

// Serve implements `facemon-recognizer serve`.
func Serve(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "serve", "serve --gallery FILE [--broker URL | --listen ADDR] [flags]")
	var c common
	c.register(fs)
	var cfg service.Config
	fs.StringVar(&cfg.Gallery, "gallery", "gallery.json", "gallery file (reloaded when it changes on disk)")
	fs.StringVar(&cfg.Dataset, "dataset", "dataset", "dataset folder where enrolled images are saved")
	fs.StringVar(&cfg.Broker, "broker", os.Getenv("FACEMON_BROKER"), "external MQTT broker URL (tcp://host:1883); empty starts the embedded broker")
	fs.StringVar(&cfg.Listen, "listen", ":1883", "embedded broker listen address (without --broker)")
	fs.StringVar(&cfg.Users, "users", "", "embedded broker users file (default: anonymous access)")
	fs.StringVar(&cfg.Instance, "instance", "", "instance id (default: host name)")
	fs.StringVar(&cfg.Group, "group", "facemon-recognizers", "shared-subscription group: recognizers in one group split the frames ('-' = every recognizer gets every frame)")
	fs.StringVar(&cfg.Prefix, "topic-prefix", "", "prefix for every MQTT topic")
	fs.StringVar(&cfg.HTTP, "http", ":9101", "metrics and health listen address ('' to disable)")
	fs.StringVar(&cfg.Username, "username", os.Getenv("FACEMON_MQTT_USER"), "MQTT username (env FACEMON_MQTT_USER)")
	fs.StringVar(&cfg.Password, "password", os.Getenv("FACEMON_MQTT_PASSWORD"), "MQTT password (env FACEMON_MQTT_PASSWORD)")
	var rf ruleFlags
	rf.register(fs)
	in := &cfg.Integrations
	fs.StringVar(&in.HistoryDB, "history", "", "event history SQLite file (default: history.db beside the gallery; '-' disables history)")
	fs.DurationVar(&in.HistoryMaxAge, "history-max-age", 30*24*time.Hour, "delete events and unknown faces older than this")
	fs.Int64Var(&in.HistoryMaxBytes, "history-max-bytes", 1<<30, "keep stored images under this many bytes (oldest deleted first)")
	fs.DurationVar(&in.HistoryDebounce, "history-debounce", 30*time.Second, "least time between two events of one person on one camera")
	fs.StringVar(&in.HAPrefix, "ha-prefix", "homeassistant", "Home Assistant MQTT discovery prefix ('-' disables discovery)")
	fs.DurationVar(&in.HAOffDelay, "ha-off-delay", time.Minute, "Home Assistant presence sensors turn off this long after the last sighting")
	fs.StringVar(&in.PublicURL, "public-url", "", "this recognizer's HTTP base URL as seen by Home Assistant (e.g. http://server:9101), for snapshot links")
	fs.StringVar(&in.AlertWebhook, "alert-webhook", "", "URL to POST unknown-face alerts to (JSON with a base64 crop)")
	fs.DurationVar(&in.AlertCooldown, "alert-cooldown", time.Minute, "least time between two unknown-face alerts of one camera")
	fs.StringVar(&in.APIToken, "api-token", os.Getenv("FACEMON_API_TOKEN"), "bearer token required for REST API writes (env FACEMON_API_TOKEN)")
	agree := fs.Int("track-agree", pipeline.DefaultTrack.Agree, "frames of a face's track that must name the same person before it is named (1 = decide per frame)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	a, err := c.analyzer()
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.Analyzer = a
	if *agree < 1 || *agree > 12 {
		return fmt.Errorf("%w: --track-agree %d: want 1..12", errUsage, *agree)
	}
	cfg.Track = pipeline.DefaultTrack
	cfg.Track.Agree = *agree
	if cfg.Rule, err = rf.rule(fs); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lvl}))
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
