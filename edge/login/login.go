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
// file (e.g. a rotated password) ends every session at the next request:
// Lookup stats the file and re-reads it when it changed. A session's Done
// channel closes when it ends (logout, expiry or rotation noticed by
// Lookup or Alive), so open streams can stop.
//
// With an Issuer (the recognizer's POST /api/sessions), a successful login
// also hands the password to the recognizer and keeps the session token it
// returns in memory, bound to the browser session (RecognizerToken); logout
// revokes it. The password itself is never stored.
package login

import (
	"context"
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
	// Issuer, when set, gets a person's session token from the recognizer
	// for every successful login (nil: sessions have no recognizer token).
	Issuer Issuer
	// IssueTimeout bounds the Issuer's calls (default 4 s): the login
	// itself never waits longer for a recognizer that is down.
	IssueTimeout time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
}

// Issuer gets and revokes a person's session token at the recognizer
// (*rapi.Sessions). Issue's error text is shown to the person as the reason
// the history views are unavailable.
type Issuer interface {
	Issue(ctx context.Context, password string) (token string, expires time.Time, err error)
	Revoke(ctx context.Context, token string) error
}

// ErrNoLogin: the dashboard runs without a login, so there is no person
// whose session could authorise history, enrolments or training.
var ErrNoLogin = errors.New("this edge runs without a dashboard login (--no-login), so it holds no person's session for the recognizer: history, enrolment and training need a login")

type session struct {
	csrf    string
	expires time.Time
	created time.Time
	// token is the recognizer's session token for this login ("" none),
	// valid until tokenExp; tokenErr says why there is none.
	token    string
	tokenExp time.Time
	tokenErr string
	done     chan struct{} // closed when the session ends
}

// Auth checks passwords and sessions.
type Auth struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session // key: session cookie value
	hash     []byte              // hash the sessions were made with
	hashInfo os.FileInfo         // the hash file when it was last read
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
	if o.IssueTimeout <= 0 {
		o.IssueTimeout = 4 * time.Second
	}
	st, err := os.Stat(o.HashFile)
	if err != nil {
		return nil, fmt.Errorf("login file: %w", err)
	}
	h, err := ReadHash(o.HashFile)
	if err != nil {
		return nil, err
	}
	return &Auth{o: o, log: o.Logger, sessions: map[string]*session{}, hash: h, hashInfo: st, limiters: map[string]*rate.Limiter{}}, nil
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

// Session is what a request's cookie grants. The zero Session (no login)
// never ends and has no recognizer token.
type Session struct {
	CSRF    string
	Expires time.Time
	s       *session
	a       *Auth
}

// Done is closed when the session ends (logout, expiry, a new password,
// dropped as the oldest). It is nil (never closes) for the zero Session.
// Expiry and rotation are noticed by Lookup and Alive: a stream polls
// Alive (e.g. every second) besides waiting on Done.
func (s Session) Done() <-chan struct{} {
	if s.s == nil {
		return nil
	}
	return s.s.done
}

// Alive reports whether the session still holds: not logged out, not
// expired, and the password file unchanged (one stat; re-read on change).
// A session found dead is ended (Done closes). The zero Session is alive.
func (s Session) Alive() bool {
	if s.a == nil || s.s == nil {
		return true
	}
	s.a.checkHash()
	now := s.a.o.Now()
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	for k, v := range s.a.sessions {
		if v == s.s {
			if !now.Before(v.expires) {
				s.a.endLocked(k, v, "expired")
				return false
			}
			return true
		}
	}
	return false
}

// RecognizerToken returns the recognizer session token of this login, or
// an error saying why there is none (shown to the person): the recognizer
// was unreachable at login, refused it, or the token expired or was revoked.
func (s Session) RecognizerToken() (string, error) {
	if s.a == nil || s.s == nil {
		return "", ErrNoLogin
	}
	if !s.Alive() {
		return "", errors.New("the dashboard session ended: log in again")
	}
	now := s.a.o.Now()
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	switch {
	case s.s.token == "" && s.s.tokenErr != "":
		return "", errors.New(s.s.tokenErr)
	case s.s.token == "":
		return "", errors.New("this login has no recognizer session: log out and in again")
	case !now.Before(s.s.tokenExp):
		return "", errors.New("the recognizer session of this login expired: log out and in again to see history")
	}
	return s.s.token, nil
}

// DropToken forgets the session's recognizer token after the recognizer
// refused it (revoked, expired there, or the recognizer restarted); why is
// what RecognizerToken says from then on.
func (s Session) DropToken(token, why string) {
	if s.a == nil || s.s == nil {
		return
	}
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if s.s.token == token && token != "" {
		s.s.token, s.s.tokenErr = "", why
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying sess (edge/web stores the request's
// session so handlers can use its token and watch its end).
func NewContext(ctx context.Context, sess Session) context.Context {
	return context.WithValue(ctx, ctxKey{}, sess)
}

// FromContext returns the session NewContext stored (the zero Session when
// there is none, e.g. --no-login).
func FromContext(ctx context.Context) Session {
	s, _ := ctx.Value(ctxKey{}).(Session)
	return s
}

// racyWindow: a hash file modified this recently is re-read even when its
// stat looks unchanged (a file system with coarse timestamps could hide a
// same-size rewrite within one tick).
const racyWindow = 2 * time.Second

// checkHash ends every session when the hash file changed (password
// rotated) or became unreadable; it returns the current hash. It costs one
// stat while the file is unchanged.
func (a *Auth) checkHash() ([]byte, error) {
	st, err := os.Stat(a.o.HashFile)
	if err == nil {
		a.mu.Lock()
		same := a.hashInfo != nil && os.SameFile(a.hashInfo, st) && st.Size() == a.hashInfo.Size() &&
			st.ModTime().Equal(a.hashInfo.ModTime()) && time.Since(st.ModTime()) > racyWindow
		h := a.hash
		a.mu.Unlock()
		if same {
			return h, nil
		}
	}
	var h []byte
	if err == nil {
		h, err = ReadHash(a.o.HashFile)
	} else {
		err = fmt.Errorf("login file: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		// No password, no sessions (it is being replaced, or was removed).
		a.endAllLocked("dashboard password file unreadable: every session ends")
		a.hash, a.hashInfo = nil, nil
		return nil, err
	}
	if string(h) != string(a.hash) {
		a.endAllLocked("dashboard password changed: every session ends")
		a.hash = h
	}
	a.hashInfo = st
	return h, nil
}

// endAllLocked ends every session (a.mu held).
func (a *Auth) endAllLocked(why string) {
	if len(a.sessions) > 0 {
		a.log.Warn(why, "sessions", len(a.sessions))
	}
	for k, v := range a.sessions {
		a.endLocked(k, v, "")
	}
}

// endLocked removes session k, closes its Done channel and revokes its
// recognizer token in the background (a.mu held).
func (a *Auth) endLocked(k string, s *session, why string) {
	delete(a.sessions, k)
	close(s.done)
	if why != "" {
		a.log.Info("dashboard session ended", "why", why)
	}
	if tok := s.token; tok != "" && a.o.Issuer != nil {
		s.token = ""
		go a.revoke(tok)
	}
}

func (a *Auth) revoke(tok string) {
	ctx, cancel := context.WithTimeout(context.Background(), a.o.IssueTimeout)
	defer cancel()
	if err := a.o.Issuer.Revoke(ctx, tok); err != nil {
		a.log.Warn("recognizer session not revoked (it ends at its expiry)", "err", err)
	}
}

// Lookup returns the session of r's cookie. It first checks the password
// file (one stat): a new password has ended every session.
func (a *Auth) Lookup(r *http.Request) (Session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return Session{}, false
	}
	if _, err := a.checkHash(); err != nil {
		a.log.Error("dashboard login file unreadable", "err", err)
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
		a.endLocked(c.Value, s, "expired")
		return Session{}, false
	}
	return Session{CSRF: s.csrf, Expires: s.expires, s: s, a: a}, true
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
	// HistoryError says why this login has no recognizer session (the
	// history views, Capture and Train need one).
	HistoryError string `json:"history_error,omitempty"`
	// Next is where the login page goes after a login (SafeNext of the
	// request's "next").
	Next string `json:"next,omitempty"`
}

// SafeNext returns next when it is a path on this origin ("/..." without a
// second "/" or a "\" after the first, no control characters or spaces
// anywhere, no scheme), else "/". Browsers drop tabs and newlines from
// URLs, so "/\t/evil.example" would become "//evil.example".
func SafeNext(next string) string {
	if len(next) == 0 || len(next) > 2048 || next[0] != '/' {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	for _, c := range next {
		if c < 0x21 || c == 0x7f || c == '\\' || (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0xfeff {
			return "/"
		}
	}
	return next
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
		Next     string `json:"next"`
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
	id, s := randomToken(), &session{csrf: randomToken(), expires: now.Add(a.o.TTL), created: now, done: make(chan struct{})}
	if a.o.Issuer != nil {
		// The recognizer checks the same password against its own copy of
		// the hash and answers a person's session token; the password is
		// not kept. Without an answer the live view still works.
		ctx, cancel := context.WithTimeout(r.Context(), a.o.IssueTimeout)
		tok, exp, err := a.o.Issuer.Issue(ctx, req.Password)
		cancel()
		if err != nil {
			s.tokenErr = err.Error()
			a.log.Warn("dashboard login without a recognizer session (history, Capture and Train unavailable)", "client", clientKey(r), "err", err)
		} else {
			s.token, s.tokenExp = tok, exp
			if s.tokenExp.After(s.expires) || s.tokenExp.IsZero() {
				s.tokenExp = s.expires
			}
		}
	} else {
		s.tokenErr = "this edge has no --recognizer-url: no history"
	}
	a.mu.Lock()
	for k, v := range a.sessions {
		if !now.Before(v.expires) {
			a.endLocked(k, v, "expired")
		}
	}
	for len(a.sessions) >= a.o.MaxSessions {
		var oldest string
		for k, v := range a.sessions {
			if oldest == "" || v.created.Before(a.sessions[oldest].created) {
				oldest = k
			}
		}
		a.endLocked(oldest, a.sessions[oldest], "too many sessions: the oldest is dropped")
	}
	a.sessions[id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", MaxAge: int(a.o.TTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.secure(r)})
	a.log.Info("dashboard login", "client", clientKey(r), "recognizer_session", s.token != "")
	httpauth.WriteJSON(w, http.StatusOK, sessionInfo{Login: true, LoggedIn: true, CSRF: s.csrf, Expires: s.expires,
		HistoryError: historyError(s), Next: SafeNext(req.Next)})
}

// historyError is the person-facing reason a session has no recognizer
// token ("" when it has one, or when there is no recognizer at all).
func historyError(s *session) string {
	if s.token != "" {
		return ""
	}
	return s.tokenErr
}

// HandleLogout is POST /api/logout (the caller checked the CSRF token).
// The recognizer session token is revoked (DELETE /api/sessions/current,
// waited for up to IssueTimeout) and open streams end (Done closes).
func (a *Auth) HandleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		a.mu.Lock()
		tok := ""
		if s, ok := a.sessions[c.Value]; ok {
			tok, s.token = s.token, "" // revoked here, not in the background
			a.endLocked(c.Value, s, "logout")
		}
		a.mu.Unlock()
		if tok != "" && a.o.Issuer != nil {
			a.revoke(tok)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.secure(r)})
	w.WriteHeader(http.StatusNoContent)
}

// HandleSession is GET /api/session.
func (a *Auth) HandleSession(w http.ResponseWriter, r *http.Request) {
	s, ok := a.Lookup(r)
	info := sessionInfo{Login: true, LoggedIn: ok, CSRF: s.CSRF, Expires: s.Expires}
	if ok {
		if _, err := s.RecognizerToken(); err != nil {
			info.HistoryError = err.Error()
		}
	}
	httpauth.WriteJSON(w, http.StatusOK, info)
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

// RequestToken is rapi.Options.Token for the dashboard: the recognizer
// session token of the login edge/web stored in r's context.
func RequestToken(r *http.Request) (string, error) {
	return FromContext(r.Context()).RecognizerToken()
}

// RequestTokenRefused is rapi.Options.Refused for the dashboard: the
// recognizer refused the login's token, so the login forgets it.
func RequestTokenRefused(r *http.Request, token, why string) {
	FromContext(r.Context()).DropToken(token, why)
}

// SetIssuer sets the recognizer session issuer after New (nil: none).
func (a *Auth) SetIssuer(i Issuer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.o.Issuer = i
}
