package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"

	"github.com/facemon/facemon/broker/creds"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/mqttx"
)

// stateFlags are serve's secure-by-default settings: the state directory
// with generated credentials, and the explicit opt-outs.
type stateFlags struct {
	dir          string // --state ("" = the gallery's folder, "-" = none)
	passwordFile string
}

// prepareState makes sure the state directory holds the broker users, the
// recognizer's own MQTT password, the dashboard password hash and the API
// token (creating what is missing and printing it once), and points the
// service at them. Flags given explicitly always win.
func prepareState(env Env, sf stateFlags, cfg *service.Config, apiTokenGiven bool) error {
	if sf.passwordFile != "" {
		pw, err := creds.ReadSecretFile(sf.passwordFile)
		if err != nil {
			return fmt.Errorf("%w: --password-file: %v", errUsage, err)
		}
		cfg.Password = pw
	}
	if cfg.Integrations.DashboardHash == "-" {
		cfg.Integrations.DashboardHash = ""
	} else if cfg.Integrations.DashboardHash == "" && sf.dir != "-" {
		cfg.Integrations.DashboardHash = creds.DashboardFile(stateDir(sf, cfg))
	}
	if cfg.Pending == "" && sf.dir != "-" {
		cfg.Pending = filepath.Join(stateDir(sf, cfg), "pending")
	}
	if cfg.Suggestions == "" && sf.dir != "-" {
		cfg.Suggestions = filepath.Join(stateDir(sf, cfg), "suggestions")
	}
	if sf.dir == "-" {
		if cfg.Broker == "" && cfg.Users == "" && !cfg.AllowAnonymous {
			return fmt.Errorf("%w: --state - leaves the embedded broker without users: give --users FILE, or --allow-anonymous for loopback-only anonymous access", errUsage)
		}
		return nil
	}
	dir := sf.dir
	if dir == "" {
		dir = filepath.Dir(cfg.Gallery)
	}
	if cfg.Users == "" || cfg.Broker != "" {
		port := 1883
		if _, p, err := net.SplitHostPort(cfg.Listen); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				port = n
			}
		}
		created, err := creds.Ensure(creds.Options{Dir: dir, Prefix: cfg.Prefix, HAPrefix: haPrefix(cfg.Integrations.HAPrefix)})
		if err != nil {
			return err
		}
		// Secrets go to a terminal or to <state>/first-run-credentials,
		// never to the journal or a container log.
		hint, err := created.Show(env.Stdout, creds.BannerOptions{BrokerPort: port, StateFlag: dir, TopicPrefix: cfg.Prefix})
		if err != nil {
			return err
		}
		if hint != "" {
			slog.New(slog.NewTextHandler(env.Stderr, nil)).Warn(hint, "component", "state")
		}
		if cfg.Broker == "" && cfg.Users == "" {
			cfg.Users = creds.UsersFile(dir)
		}
	}
	if cfg.Username == "" && cfg.Password == "" && mqttx.URLUser(cfg.Broker) == "" {
		pw, err := creds.ReadSecretFile(creds.SecretFile(dir, creds.UserRecognizer))
		switch {
		case err == nil:
			cfg.Username, cfg.Password = creds.UserRecognizer, pw
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	if !apiTokenGiven && cfg.Integrations.APIToken == "" {
		tok, err := creds.ReadSecretFile(creds.APITokenFile(dir))
		switch {
		case err == nil:
			cfg.Integrations.APIToken = tok
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	return nil
}

// stateDir is the state directory of sf ("" = the gallery's folder).
func stateDir(sf stateFlags, cfg *service.Config) string {
	if sf.dir == "" {
		return filepath.Dir(cfg.Gallery)
	}
	return sf.dir
}

func haPrefix(p string) string {
	if p == "-" {
		return ""
	}
	return p
}
