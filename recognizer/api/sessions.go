package api

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/facemon/facemon/shared/httpauth"
)

// Person sessions (issue 17): a person logs in with the dashboard password
// (POST /api/sessions, usually through their edge's login page) and gets a
// short-lived, revocable token that every /api/ route accepts as its bearer
// token. The edge holds it in memory only, so nothing on an edge's disk is
// a REST credential.

// DefaultSessionTTL is a session's lifetime (serve --session-ttl).
const DefaultSessionTTL = 12 * time.Hour

// DefaultMaxSessions bounds the in-memory session store.
const DefaultMaxSessions = 1000

// DashboardUser is the only dashboard person today.
const DashboardUser = "admin"

// Session is one person's login.
type Session struct {
	User    string
	Expires time.Time
	// Stamp identifies the password hash the session was issued under:
	// once the hash file changes (a new password) the session is over.
	Stamp string
}

// SessionStore holds sessions by token: MemorySessions for one recognizer;
// with serve --db, the sessions table every recognizer shares (a token
// issued by one is valid at all of them, for the REST API and for the
// cam/<id>/enrol and train commands whichever recognizer takes them).
type SessionStore interface {
	// Issue stores s and returns its new opaque token.
	Issue(s Session) (token string, err error)
	// Check returns the session of token if it exists and has not expired
	// at now.
	Check(token string, now time.Time) (Session, bool)
	// Revoke ends the session of token at once (no-op when unknown).
	Revoke(token string)
}

// MemorySessions is a bounded in-memory SessionStore: at most max sessions,
// the oldest dropped when a new one does not fit. Tokens are 32 random
// bytes (base64url); the store keeps only their SHA-256, so a memory dump
// of the map is not a list of tokens, and lookups compare digests.
type MemorySessions struct {
	mu    sync.Mutex
	max   int
	byKey map[[32]byte]Session
	order [][32]byte // issue order, oldest first (may hold revoked keys)
}

// NewMemorySessions returns a store for at most max sessions (<= 0:
// DefaultMaxSessions).
func NewMemorySessions(max int) *MemorySessions {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &MemorySessions{max: max, byKey: map[[32]byte]Session{}}
}

func sessionKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// SessionKey is what a SessionStore keeps of a token: its SHA-256.
func SessionKey(token string) [32]byte { return sessionKey(token) }

// NewSessionToken returns a new opaque session token (32 random bytes,
// base64url) and its key (SessionKey), for SessionStore implementations.
func NewSessionToken() (token string, key [32]byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", key, fmt.Errorf("session token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, sessionKey(token), nil
}

// Issue implements SessionStore.
func (m *MemorySessions) Issue(s Session) (string, error) {
	tok, k, err := NewSessionToken()
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.byKey) >= m.max && len(m.order) > 0 {
		delete(m.byKey, m.order[0])
		m.order = m.order[1:]
	}
	if len(m.order) > 4*m.max { // compact revoked keys
		kept := m.order[:0]
		for _, o := range m.order {
			if _, ok := m.byKey[o]; ok {
				kept = append(kept, o)
			}
		}
		m.order = kept
	}
	m.byKey[k] = s
	m.order = append(m.order, k)
	return tok, nil
}

// Check implements SessionStore.
func (m *MemorySessions) Check(token string, now time.Time) (Session, bool) {
	if token == "" {
		return Session{}, false
	}
	k := sessionKey(token)
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byKey[k]
	if !ok {
		return Session{}, false
	}
	if !now.Before(s.Expires) {
		delete(m.byKey, k)
		return Session{}, false
	}
	return s, true
}

// Revoke implements SessionStore.
func (m *MemorySessions) Revoke(token string) {
	k := sessionKey(token)
	m.mu.Lock()
	delete(m.byKey, k)
	m.mu.Unlock()
}

// Len returns the number of live (not revoked, possibly expired) sessions.
func (m *MemorySessions) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byKey)
}

// ErrNoPasswordFile: the recognizer has no dashboard hash to check logins.
var ErrNoPasswordFile = errors.New("no dashboard password hash on this recognizer")

// errWrongPassword is any failed login (wrong user or password).
var errWrongPassword = errors.New("wrong user or password")

// PasswordFile checks the dashboard password against a bcrypt hash file
// (creds.DashboardFile), re-read whenever the file changes (stat on every
// use: size, modification time and identity).
type PasswordFile struct {
	path   string
	mu     sync.Mutex
	info   os.FileInfo
	hash   []byte
	readAt time.Time // when hash was read
}

// NewPasswordFile returns a checker for path (which may not exist yet).
func NewPasswordFile(path string) *PasswordFile { return &PasswordFile{path: path} }

// Path returns the hash file's path.
func (p *PasswordFile) Path() string { return p.path }

// current returns the hash now in the file.
func (p *PasswordFile) current() ([]byte, error) {
	st, err := os.Stat(p.path)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.info, p.hash = nil, nil
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s)", ErrNoPasswordFile, p.path)
		}
		return nil, err
	}
	// Unchanged stat: the cached hash, unless the file was read within 2 s
	// of its modification (file times are coarse: a rewrite in that window
	// can keep size and time; git's "racily clean" rule).
	if p.info != nil && os.SameFile(p.info, st) && p.info.ModTime().Equal(st.ModTime()) && p.info.Size() == st.Size() &&
		p.readAt.Sub(st.ModTime()) > 2*time.Second {
		return p.hash, nil
	}
	b, err := os.ReadFile(p.path)
	if err != nil {
		return nil, err
	}
	h := bytes.TrimSpace(b)
	if _, err := bcrypt.Cost(h); err != nil {
		p.info, p.hash = nil, nil
		return nil, fmt.Errorf("%s: not a bcrypt hash", p.path)
	}
	p.info, p.hash, p.readAt = st, h, time.Now()
	return h, nil
}

// Stamp identifies the current hash (its SHA-256, hex).
func (p *PasswordFile) Stamp() (string, error) {
	h, err := p.current()
	if err != nil {
		return "", err
	}
	d := sha256.Sum256(h)
	return hex.EncodeToString(d[:]), nil
}

// Verify checks user's password and returns the stamp of the hash it
// matched.
func (p *PasswordFile) Verify(user, password string) (string, error) {
	h, err := p.current()
	if err != nil {
		return "", err
	}
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(DashboardUser)) == 1
	// bcrypt runs also for a wrong user name, so timing does not tell.
	okPw := bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
	if !okUser || !okPw {
		return "", errWrongPassword
	}
	d := sha256.Sum256(h)
	return hex.EncodeToString(d[:]), nil
}

// Sessions is the recognizer's session authority: the store, the password
// file and the login rate limit. The REST API and the MQTT command handlers
// (cam/<id>/enrol, cam/<id>/train) both ask it.
type Sessions struct {
	Store     SessionStore
	Passwords *PasswordFile
	TTL       time.Duration
	limit     *rateLimit
	now       func() time.Time
}

// SessionConfig configures NewSessions.
type SessionConfig struct {
	HashFile    string        // dashboard bcrypt hash (creds.DashboardFile)
	TTL         time.Duration // 0: DefaultSessionTTL
	MaxSessions int           // 0: DefaultMaxSessions
	// LoginBurst logins per client address at once, then one per
	// LoginEvery (0: 5 and 12s, five a minute).
	LoginBurst int
	LoginEvery time.Duration
	Store      SessionStore // nil: NewMemorySessions(MaxSessions)
	Now        func() time.Time
}

// NewSessions returns the session authority for c.
func NewSessions(c SessionConfig) *Sessions {
	if c.TTL <= 0 {
		c.TTL = DefaultSessionTTL
	}
	if c.LoginBurst <= 0 {
		c.LoginBurst = 5
	}
	if c.LoginEvery <= 0 {
		c.LoginEvery = 12 * time.Second
	}
	if c.Store == nil {
		c.Store = NewMemorySessions(c.MaxSessions)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Sessions{Store: c.Store, Passwords: NewPasswordFile(c.HashFile), TTL: c.TTL,
		limit: newRateLimit(c.LoginBurst, c.LoginEvery, 4096), now: c.Now}
}

// Login checks the password and issues a session.
func (a *Sessions) Login(user, password string) (token string, s Session, err error) {
	stamp, err := a.Passwords.Verify(user, password)
	if err != nil {
		return "", Session{}, err
	}
	s = Session{User: user, Expires: a.now().Add(a.TTL).UTC().Truncate(time.Second), Stamp: stamp}
	tok, err := a.Store.Issue(s)
	return tok, s, err
}

// Valid returns the session of token when it is live: issued, not expired,
// not revoked, and issued under the password hash in the file now. A
// session of an older password is revoked on the way.
func (a *Sessions) Valid(token string) (Session, bool) {
	if a == nil || token == "" {
		return Session{}, false
	}
	s, ok := a.Store.Check(token, a.now())
	if !ok {
		return Session{}, false
	}
	cur, err := a.Passwords.Stamp()
	if err != nil || !httpauth.Equal(cur, s.Stamp) {
		a.Store.Revoke(token)
		return Session{}, false
	}
	return s, true
}

// rateLimit is a token bucket per client address, for at most max
// addresses (the least recently seen is forgotten when full).
type rateLimit struct {
	mu    sync.Mutex
	burst int
	every time.Duration
	max   int
	b     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimit(burst int, every time.Duration, max int) *rateLimit {
	return &rateLimit{burst: burst, every: every, max: max, b: map[string]*bucket{}}
}

// allow takes a token for addr; when none is left it returns false and how
// long until the next one.
func (l *rateLimit) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b[addr]
	if b == nil {
		if len(l.b) >= l.max {
			var oldest string
			var ot time.Time
			for k, v := range l.b {
				if oldest == "" || v.last.Before(ot) {
					oldest, ot = k, v.last
				}
			}
			delete(l.b, oldest)
		}
		b = &bucket{tokens: float64(l.burst), last: now}
		l.b[addr] = b
	}
	b.tokens = min(float64(l.burst), b.tokens+float64(now.Sub(b.last))/float64(l.every))
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.every))
}

// clientAddr is the TCP peer's address (forwarding headers are not trusted:
// behind the edge's proxy every person of one edge shares its bucket).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ---- routes

func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	a := s.o.Sessions
	if a == nil {
		return errStatus(http.StatusServiceUnavailable, "person sessions are not configured on this recognizer (no dashboard password hash)")
	}
	if ok, wait := a.limit.allow(clientAddr(r), a.now()); !ok {
		secs := int(wait/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.log.Warn("login rate limited", "client", clientAddr(r))
		return errStatus(http.StatusTooManyRequests, "too many logins from this address: retry in %d s", secs)
	}
	var body struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := decode(r, &body, false); err != nil {
		return err
	}
	if body.User == "" {
		body.User = DashboardUser
	}
	if body.Password == "" || len(body.Password) > 1024 {
		return errStatus(http.StatusBadRequest, "password: want 1-1024 bytes")
	}
	tok, sess, err := a.Login(body.User, body.Password)
	switch {
	case errors.Is(err, errWrongPassword):
		s.log.Warn("login refused: wrong user or password", "client", clientAddr(r))
		w.Header().Set("WWW-Authenticate", `Bearer realm="facemon"`)
		return errStatus(http.StatusUnauthorized, "wrong user or password")
	case errors.Is(err, ErrNoPasswordFile):
		return errStatus(http.StatusServiceUnavailable, "%v", err)
	case err != nil:
		return err
	}
	s.log.Info("session issued", "user", sess.User, "client", clientAddr(r), "expires", sess.Expires)
	httpauth.WriteJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires": sess.Expires.Format(time.RFC3339)})
	return nil
}

// currentSession returns the request's session (its bearer token must be
// a live session token, not the API token).
func (s *server) currentSession(w http.ResponseWriter, r *http.Request) (string, Session, error) {
	tok, _ := httpauth.Bearer(r)
	sess, ok := s.o.Sessions.Valid(tok)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="facemon", error="invalid_token"`)
		return "", Session{}, errStatus(http.StatusUnauthorized, "not a live session token (expired, logged out, or the password changed)")
	}
	return tok, sess, nil
}

func (s *server) getSession(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.currentSession(w, r)
	if err != nil {
		return err
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"user": sess.User, "expires": sess.Expires.Format(time.RFC3339)})
	return nil
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	tok, sess, err := s.currentSession(w, r)
	if err != nil {
		return err
	}
	s.o.Sessions.Store.Revoke(tok)
	s.log.Info("session revoked (logout)", "user", sess.User, "client", clientAddr(r))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
