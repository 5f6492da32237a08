package main

// The dashboard's login, HTTPS and the secrets of its web side (issue 9):
// flags, validation and set-up, kept apart from main.go's MQTT wiring.

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/shared/firstrun"
	"github.com/facemon/facemon/shared/httpauth"
)

// stdout receives the one-time password banner (not slog: the password
// must never reach a log pipeline that keeps it).
var stdout io.Writer = os.Stdout

// webConfig is the web side's part of the command line.
type webConfig struct {
	State            string // edge state directory
	LoginFile        string // bcrypt hash of the dashboard password
	NoLogin          bool
	MetricsTokenFile string
	TLSCert, TLSKey  string
}

func (w *webConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&w.State, "state", "var/edge", "edge state directory (0700): holds dashboard.bcrypt unless --login-file says otherwise")
	fs.StringVar(&w.LoginFile, "login-file", "", "bcrypt hash of the dashboard password (default <state>/dashboard.bcrypt); when missing, a random password is generated, its hash stored there and the password printed once on stdout")
	fs.BoolVar(&w.NoLogin, "no-login", false, "serve the dashboard and live view WITHOUT a login (anyone who reaches the port sees the cameras; history, training and confirmed enrolments need a login, whose session the recognizer issues)")
	fs.StringVar(&w.MetricsTokenFile, "metrics-token-file", "", "file holding a bearer token that lets non-loopback clients read /metrics and /healthz (default: both answer loopback clients only)")
	fs.StringVar(&w.TLSCert, "tls-cert", "", "serve the dashboard over HTTPS with this certificate (PEM; needs --tls-key)")
	fs.StringVar(&w.TLSKey, "tls-key", "", "private key (PEM) for --tls-cert")
}

func (w *webConfig) validate() error {
	var errs []error
	if (w.TLSCert == "") != (w.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if w.NoLogin && w.LoginFile != "" {
		errs = append(errs, errors.New("--no-login and --login-file exclude each other"))
	}
	if w.LoginFile == "" && !w.NoLogin {
		if w.State == "" {
			errs = append(errs, errors.New("--state: empty (needed for the dashboard login file)"))
		}
		w.LoginFile = filepath.Join(w.State, "dashboard.bcrypt")
	}
	return errors.Join(errs...)
}

// webSecrets is what the web side needs at run time.
type webSecrets struct {
	Auth         *login.Auth // nil with --no-login
	MetricsToken string
}

// setupWeb reads the token files and prepares the login (creating the
// password file on first start).
func setupWeb(c config, ln net.Listener, log *slog.Logger) (webSecrets, error) {
	w := c.Web
	s := webSecrets{}
	if w.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(w.TLSCert, w.TLSKey); err != nil {
			return s, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	if w.MetricsTokenFile != "" {
		tok, err := httpauth.ReadSecret(w.MetricsTokenFile)
		if err != nil {
			return s, fmt.Errorf("--metrics-token-file: %w", err)
		}
		s.MetricsToken = tok
	}
	if w.NoLogin {
		log.Warn("DASHBOARD LOGIN DISABLED (--no-login): anyone who reaches " + c.Listen +
			" sees the cameras and can queue captures (kept pending by the recognizer); history and training need a login")
		return s, nil
	}
	pw, err := login.Ensure(w.LoginFile)
	if err != nil {
		return s, err
	}
	if pw != "" {
		// On a terminal only: under systemd or compose stdout is the journal
		// or the container log; then the password goes to a 0600 file.
		saved, err := firstrun.Show(stdout, w.State, login.Banner(w.LoginFile, pw, dashboardURL(ln, w.TLSCert != "")))
		if err != nil {
			return s, err
		}
		if saved != "" {
			// An absolute path: the journal does not show the unit's
			// working directory the default --state is relative to.
			dir := w.State
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs
			}
			log.Warn(firstrun.Hint("", dir), "login_file", w.LoginFile)
		} else {
			log.Info("dashboard password created; shown once on the terminal", "login_file", w.LoginFile)
		}
	}
	a, err := login.New(login.Options{HashFile: w.LoginFile, Secure: w.TLSCert != "", Logger: log.With("component", "login")})
	if err != nil {
		return s, err
	}
	s.Auth = a
	return s, nil
}

// dashboardURL is the address printed with a new password.
func dashboardURL(ln net.Listener, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	return scheme + "://" + strings.Trim(net.JoinHostPort(host, port), " ") + "/"
}
