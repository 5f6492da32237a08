// Package login is the dashboard's password login: a bcrypt hash file
// (created with a random password on first start), in-memory sessions in
// an HttpOnly SameSite=Strict cookie with a fixed lifetime, a CSRF token
// per session, and a per-address limit on login attempts.
//
// Endpoints (wired by edge/web):
//
//	GET  /login         the login page
//	POST /api/login     {"password":"..."} -> 200 {"csrf":"..","expires":".."} + cookie;
//	                    401 wrong password; 415 not JSON; 403 cross-origin;
//	                    429 too many attempts (Retry-After: seconds)
//	POST /api/logout    (CSRF header) -> 204, cookie cleared
//	GET  /api/session   {"login":true,"logged_in":bool,"csrf":"..","expires":".."}
//
// Sessions live in memory: restarting the edge logs everybody out. A
// session lasts TTL from the login (fixed, not sliding). Changing the hash
// file (e.g. a rotated password) ends every session at the next request.
package login

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/facemon/facemon/shared/fsx"
	"github.com/facemon/facemon/shared/httpauth"
)

// Defaults.
const (
	CookieName        = "facemon_session"
	CSRFHeader        = "X-CSRF-Token"
	DefaultTTL        = 12 * time.Hour
	DefaultAttempts   = 5 // per minute and client address
	DefaultMaxSession = 1000
	maxLimiters       = 10000
)

// Options configure an Auth.
type Options struct {
	// HashFile holds the bcrypt hash of the dashboard password (one line).
	HashFile string
	// TTL is a session's lifetime from its login (default 12 h).
	TTL time.Duration
	// Secure marks the cookie Secure (set when the dashboard is served
	// over TLS; a request that arrived over TLS always gets it).
	Secure bool
	// Attempts is how many login attempts one client address may make per
	// minute (burst of the same size; default 5).
	Attempts int
	// MaxSessions bounds the session table (oldest dropped; default 1000).
	MaxSessions int
	Now         func() time.Time
	Logger      *slog.Logger
}

type session struct {
	csrf    string
	expires time.Time
	created time.Time
}

// Auth checks passwords and sessions.
type Auth struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session // key: session cookie value
	hash     []byte              // hash the sessions were made with
	limiters map[string]*rate.Limiter
}

// New returns an Auth for o.HashFile, which must exist and hold a bcrypt
// hash (see Ensure).
func New(o Options) (*Auth, error) {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSession
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h, err := ReadHash(o.HashFile)
	if err != nil {
		return nil, err
	}
	return &Auth{o: o, log: o.Logger, sessions: map[string]*session{}, hash: h, limiters: map[string]*rate.Limiter{}}, nil
}

// ReadHash reads and checks a bcrypt hash file.
func ReadHash(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("login file: %w", err)
	}
	h := []byte(strings.TrimSpace(string(b)))
	if _, err := bcrypt.Cost(h); err != nil {
		return nil, fmt.Errorf("login file %s: not a bcrypt hash", path)
	}
	return h, nil
}

// Ensure creates path with the bcrypt hash of a new random password when it
// does not exist, and returns that password ("" when the file existed).
// The directory is created 0700, the file 0600, written atomically.
func Ensure(path string) (password string, err error) {
	if _, err := os.Stat(path); err == nil {
		return "", nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("login file: %w", err)
	}
	pw, err := RandomPassword()
	if err != nil {
		return "", err
	}
	if err := WriteHash(path, pw); err != nil {
		return "", err
	}
	return pw, nil
}

// RandomPassword returns a 20-character password (120 random bits).
func RandomPassword() (string, error) {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// WriteHash stores the bcrypt hash of password in path (atomically, 0600,
// directory 0700).
func WriteHash(path, password string) error {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	if err := fsx.WriteFileAtomic(path, append(h, '\n'), 0o600); err != nil {
		return fmt.Errorf("login file: %w", err)
	}
	return nil
}

// Banner is what the edge prints once on stdout when it created a password.
func Banner(path, password, url string) string {
	return fmt.Sprintf(`
================ facemon dashboard login (shown once) ================
  URL:      %s
  password: %s
  Only its bcrypt hash is kept, in %s.
  To change it, delete that file and restart the edge.
======================================================================
`, url, password, path)
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Session is what a request's cookie grants.
type Session struct {
	CSRF    string
	Expires time.Time
}

// checkHash drops every session when the hash file changed (password
// rotated); it returns the current hash.
func (a *Auth) checkHash() ([]byte, error) {
	h, err := ReadHash(a.o.HashFile)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if string(h) != string(a.hash) {
		if len(a.sessions) > 0 {
			a.log.Warn("dashboard password changed: every session ends", "sessions", len(a.sessions))
		}
		a.sessions = map[string]*session{}
		a.hash = h
	}
	return h, nil
}

// Lookup returns the session of r's cookie.
func (a *Auth) Lookup(r *http.Request) (Session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return Session{}, false
	}
	now := a.o.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[c.Value]
	if !ok {
		return Session{}, false
	}
	if !now.Before(s.expires) {
		delete(a.sessions, c.Value)
		return Session{}, false
	}
	return Session{CSRF: s.csrf, Expires: s.expires}, true
}

// CheckCSRF reports whether r carries sess's CSRF token in X-CSRF-Token.
func CheckCSRF(r *http.Request, sess Session) bool {
	got := r.Header.Get(CSRFHeader)
	return got != "" && httpauth.Equal(got, sess.CSRF)
}

// clientKey is the rate-limit key: the peer IP (an IPv6 /64).
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// allow takes one login attempt from r's address; it returns the wait
// until the next one is allowed when none is left.
func (a *Auth) allow(r *http.Request) (bool, time.Duration) {
	key := clientKey(r)
	now := a.o.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.limiters[key]
	if !ok {
		if len(a.limiters) >= maxLimiters {
			// Forget addresses whose budget is full again.
			for k, v := range a.limiters {
				if v.TokensAt(now) >= float64(a.o.Attempts) {
					delete(a.limiters, k)
				}
			}
			if len(a.limiters) >= maxLimiters {
				return false, time.Minute
			}
		}
		l = rate.NewLimiter(rate.Every(time.Minute/time.Duration(a.o.Attempts)), a.o.Attempts)
		a.limiters[key] = l
	}
	res := l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (a *Auth) secure(r *http.Request) bool { return a.o.Secure || r.TLS != nil }

type sessionInfo struct {
	Login    bool      `json:"login"`
	LoggedIn bool      `json:"logged_in"`
	CSRF     string    `json:"csrf,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

// HandleLogin is POST /api/login.
func (a *Auth) HandleLogin(w http.ResponseWriter, r *http.Request) {
	if !httpauth.SameOrigin(r) {
		httpauth.WriteError(w, http.StatusForbidden, "cross-origin login refused")
		return
	}
	if !httpauth.IsJSON(r.Header.Get("Content-Type")) {
		httpauth.WriteError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	if ok, wait := a.allow(r); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		a.log.Warn("dashboard login rate limit hit", "client", clientKey(r), "retry_after_s", secs)
		httpauth.WriteError(w, http.StatusTooManyRequests, fmt.Sprintf("too many login attempts; try again in %d s", secs))
		return
	}
	var req struct {
		Password string `json:"password"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	if err := dec.Decode(&req); err != nil || req.Password == "" {
		httpauth.WriteError(w, http.StatusBadRequest, `want {"password":"..."}`)
		return
	}
	h, err := a.checkHash()
	if err != nil {
		a.log.Error("dashboard login file unreadable", "err", err)
		httpauth.WriteError(w, http.StatusInternalServerError, "login file unreadable on the edge")
		return
	}
	// bcrypt compares in constant time.
	if bcrypt.CompareHashAndPassword(h, []byte(req.Password)) != nil {
		a.log.Warn("dashboard login failed", "client", clientKey(r))
		httpauth.WriteError(w, http.StatusUnauthorized, "wrong password")
		return
	}
	now := a.o.Now()
	id, s := randomToken(), &session{csrf: randomToken(), expires: now.Add(a.o.TTL), created: now}
	a.mu.Lock()
	for k, v := range a.sessions {
		if !now.Before(v.expires) {
			delete(a.sessions, k)
		}
	}
	for len(a.sessions) >= a.o.MaxSessions {
		var oldest string
		for k, v := range a.sessions {
			if oldest == "" || v.created.Before(a.sessions[oldest].created) {
				oldest = k
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", MaxAge: int(a.o.TTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.secure(r)})
	a.log.Info("dashboard login", "client", clientKey(r))
	httpauth.WriteJSON(w, http.StatusOK, sessionInfo{Login: true, LoggedIn: true, CSRF: s.csrf, Expires: s.expires})
}

// HandleLogout is POST /api/logout (the caller checked the CSRF token).
func (a *Auth) HandleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.secure(r)})
	w.WriteHeader(http.StatusNoContent)
}

// HandleSession is GET /api/session.
func (a *Auth) HandleSession(w http.ResponseWriter, r *http.Request) {
	if _, err := a.checkHash(); err != nil {
		a.log.Error("dashboard login file unreadable", "err", err)
	}
	s, ok := a.Lookup(r)
	httpauth.WriteJSON(w, http.StatusOK, sessionInfo{Login: true, LoggedIn: ok, CSRF: s.CSRF, Expires: s.Expires})
}

// OpenSession is /api/session's answer when login is disabled.
func OpenSession(w http.ResponseWriter, r *http.Request) {
	httpauth.WriteJSON(w, http.StatusOK, sessionInfo{Login: false, LoggedIn: true})
}

// LoggedIn reports whether r carries a valid session cookie.
func (a *Auth) LoggedIn(r *http.Request) bool {
	_, ok := a.Lookup(r)
	return ok
}
