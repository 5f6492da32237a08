package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/facemon/facemon/shared/msg"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func writeHash(t *testing.T, path, password string) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(h, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // as creds/edge write it: atomically
		t.Fatal(err)
	}
}

type sessEnv struct {
	*env
	clk  *clock
	hash string
	sess *Sessions
	pend *fakePending
}

func newSessEnv(t *testing.T) *sessEnv {
	t.Helper()
	e := &sessEnv{env: &env{t: t, ppl: newPeople(), tr: &fakeTrainer{}, ds: &fakeDataset{}}, clk: &clock{t: time.Unix(1_800_000_000, 0)},
		hash: filepath.Join(t.TempDir(), "dashboard.bcrypt"), pend: newFakePending()}
	writeHash(t, e.hash, "correct horse")
	e.sess = NewSessions(SessionConfig{HashFile: e.hash, TTL: time.Hour, LoginBurst: 3, LoginEvery: 10 * time.Second, Now: e.clk.now})
	e.srv = httptest.NewServer(New(Options{People: e.ppl, Trainer: e.tr, Dataset: e.ds, Token: testToken, Sessions: e.sess, Pending: e.pend}))
	t.Cleanup(e.srv.Close)
	return e
}

// login posts the password and returns the status and token.
func (e *sessEnv) login(password string) (int, string, http.Header) {
	e.t.Helper()
	code, b, h := e.do("POST", "/api/sessions", `{"password":`+string(mustJSON(password))+`}`, "Authorization", "")
	var out struct {
		Token   string `json:"token"`
		Expires string `json:"expires"`
	}
	json.Unmarshal(b, &out)
	if code == http.StatusCreated {
		exp, err := time.Parse(time.RFC3339, out.Expires)
		if err != nil || !exp.Equal(e.clk.now().Add(time.Hour)) || len(out.Token) < 43 {
			e.t.Fatalf("login answer %s", b)
		}
	}
	return code, out.Token, h
}

func (e *sessEnv) as(tok, method, path, body string) int {
	e.t.Helper()
	code, _, _ := e.do(method, path, body, "Authorization", "Bearer "+tok)
	return code
}

func TestSessionLifecycle(t *testing.T) {
	e := newSessEnv(t)
	if code, _, _ := e.login("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	code, tok, _ := e.login("correct horse")
	if code != http.StatusCreated {
		t.Fatalf("login: %d", code)
	}
	// A session token works on every route, like the API token.
	if c := e.as(tok, "GET", "/api/people", ""); c != 200 {
		t.Fatalf("people with session: %d", c)
	}
	if c := e.as(tok, "POST", "/api/people/alice/rename", `{"name":"Alicia"}`); c != 200 {
		t.Fatalf("rename with session: %d", c)
	}
	if c := e.as(tok, "GET", "/api/sessions/current", ""); c != 200 {
		t.Fatalf("current: %d", c)
	}
	// The API token is not a session.
	if c := e.as(testToken, "GET", "/api/sessions/current", ""); c != 401 {
		t.Fatalf("current with the API token: %d", c)
	}
	// Logout ends it at once.
	if c := e.as(tok, "DELETE", "/api/sessions/current", ""); c != 204 {
		t.Fatalf("logout: %d", c)
	}
	for _, p := range []string{"/api/people", "/api/sessions/current"} {
		if c := e.as(tok, "GET", p, ""); c != 401 {
			t.Errorf("%s after logout: %d", p, c)
		}
	}
	if c := e.as(tok, "DELETE", "/api/sessions/current", ""); c != 401 {
		t.Errorf("second logout: %d", c)
	}
	// Expiry.
	_, tok2, _ := e.login("correct horse")
	e.clk.add(59 * time.Minute)
	if c := e.as(tok2, "GET", "/api/people", ""); c != 200 {
		t.Fatalf("before expiry: %d", c)
	}
	e.clk.add(time.Minute)
	if c := e.as(tok2, "GET", "/api/people", ""); c != 401 {
		t.Fatalf("at expiry: %d", c)
	}
	// A made-up or malformed token.
	for _, bad := range []string{"x", strings.Repeat("A", 43), testToken + "x"} {
		if c := e.as(bad, "GET", "/api/people", ""); c != 401 {
			t.Errorf("token %q: %d", bad, c)
		}
	}
	// The API token still works.
	if c := e.as(testToken, "GET", "/api/people", ""); c != 200 {
		t.Fatalf("API token: %d", c)
	}
}

func TestSessionRotationEndsTokens(t *testing.T) {
	e := newSessEnv(t)
	_, a, _ := e.login("correct horse")
	_, b, _ := e.login("correct horse")
	if e.as(a, "GET", "/api/people", "") != 200 || e.as(b, "GET", "/api/people", "") != 200 {
		t.Fatal("fresh sessions refused")
	}
	// A new password (the file replaced, as `users rotate admin` does).
	writeHash(t, e.hash, "battery staple")
	for _, tok := range []string{a, b} {
		if c := e.as(tok, "GET", "/api/people", ""); c != 401 {
			t.Errorf("session of the old password after rotation: %d", c)
		}
	}
	if code, _, _ := e.login("correct horse"); code != 401 {
		t.Errorf("old password after rotation: %d", code)
	}
	e.clk.add(time.Minute) // the rate limit: 3 at once, then one per 10 s
	code, c, _ := e.login("battery staple")
	if code != 201 || e.as(c, "GET", "/api/people", "") != 200 {
		t.Fatalf("new password: %d", code)
	}
	// Also a rewrite in place with the same size (same bcrypt length).
	h, _ := bcrypt.GenerateFromPassword([]byte("battery staple"), bcrypt.MinCost)
	os.WriteFile(e.hash, append(h, '\n'), 0o600)
	if e.as(c, "GET", "/api/people", "") != 401 {
		t.Error("session survived an in-place rewrite of the hash file")
	}
	// A missing hash file: no session is valid, logins answer 503.
	os.Remove(e.hash)
	e.clk.add(time.Minute)
	if code, _, _ := e.login("battery staple"); code != 503 {
		t.Errorf("login without a hash file: %d", code)
	}
}

func TestSessionRateLimit(t *testing.T) {
	e := newSessEnv(t)
	for i := 0; i < 3; i++ {
		if code, _, _ := e.login("wrong"); code != 401 {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	code, _, h := e.login("correct horse")
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("4th login: %d, Retry-After %q", code, h.Get("Retry-After"))
	}
	e.clk.add(10 * time.Second)
	if code, _, _ := e.login("correct horse"); code != 201 {
		t.Fatalf("after the refill: %d", code)
	}
	if code, _, _ := e.login("correct horse"); code != 429 {
		t.Fatalf("right after: %d", code)
	}
	// Another address has its own bucket.
	l := newRateLimit(1, time.Minute, 2)
	now := time.Unix(0, 0)
	if ok, _ := l.allow("a", now); !ok {
		t.Fatal("a")
	}
	if ok, _ := l.allow("a", now); ok {
		t.Fatal("a twice")
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("b")
	}
	if ok, _ := l.allow("c", now.Add(time.Second)); !ok || len(l.b) != 2 {
		t.Fatalf("bounded: %d addresses", len(l.b))
	}
}

func TestSessionBadRequests(t *testing.T) {
	e := newSessEnv(t)
	for _, c := range []struct {
		body, ct string
		want     int
	}{
		{`{"password":"x"`, "application/json", 400},
		{`{"password":""}`, "application/json", 400},
		{`{"password":"x","extra":1}`, "application/json", 400},
		{`{"password":"correct horse"}`, "text/plain", 415},
		{`{"user":"root","password":"correct horse"}`, "application/json", 401},
	} {
		code, _, _ := e.do("POST", "/api/sessions", c.body, "Authorization", "", "Content-Type", c.ct)
		if code != c.want {
			t.Errorf("%s (%s): %d, want %d", c.body, c.ct, code, c.want)
		}
		e.clk.add(time.Minute)
	}
	// No sessions configured: 503.
	srv := httptest.NewServer(New(Options{Token: testToken}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/sessions", "application/json", strings.NewReader(`{"password":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("no sessions: %d", resp.StatusCode)
	}
}

// Sessions without an API token: the API serves session holders only.
func TestSessionsWithoutAPIToken(t *testing.T) {
	hash := filepath.Join(t.TempDir(), "d.bcrypt")
	writeHash(t, hash, "pw")
	s := NewSessions(SessionConfig{HashFile: hash})
	srv := httptest.NewServer(New(Options{People: newPeople(), Sessions: s}))
	defer srv.Close()
	get := func(tok string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/api/people", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(""); c != 401 {
		t.Fatalf("no token: %d", c)
	}
	tok, _, err := s.Login("admin", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if c := get(tok); c != 200 {
		t.Fatalf("session: %d", c)
	}
}

func TestMemorySessionsBounded(t *testing.T) {
	m := NewMemorySessions(3)
	exp := time.Now().Add(time.Hour)
	var toks []string
	for i := 0; i < 5; i++ {
		tok, err := m.Issue(Session{User: fmt.Sprint(i), Expires: exp})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if m.Len() != 3 {
		t.Fatalf("len %d", m.Len())
	}
	for i, tok := range toks {
		_, ok := m.Check(tok, time.Now())
		if ok != (i >= 2) {
			t.Errorf("token %d live = %v", i, ok)
		}
	}
	m.Revoke(toks[4])
	if _, ok := m.Check(toks[4], time.Now()); ok {
		t.Error("revoked token live")
	}
	if _, ok := m.Check(toks[3], exp); ok {
		t.Error("token live at its expiry")
	}
	if _, ok := m.Check("", time.Now()); ok {
		t.Error("empty token live")
	}
}

// ---- pending

type fakePending struct {
	mu    sync.Mutex
	items map[string]PendingEnrolment
}

func newFakePending() *fakePending {
	return &fakePending{items: map[string]PendingEnrolment{"0123456789abcdef01234567": {ID: "0123456789abcdef01234567", Name: "alice", Camera: "door", Faces: 1}}}
}

func (f *fakePending) List(context.Context) ([]PendingEnrolment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []PendingEnrolment
	for _, p := range f.items {
		out = append(out, p)
	}
	return out, nil
}

func (f *fakePending) Image(_ context.Context, id string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[id]; !ok {
		return nil, ErrNotFound
	}
	return []byte{0xff, 0xd8, 0xff, 0xd9}, nil
}

func (f *fakePending) Confirm(_ context.Context, id, name string) (msg.EnrolResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.items[id]
	if !ok {
		return msg.EnrolResult{}, ErrNotFound
	}
	if name == "" {
		name = p.Name
	}
	delete(f.items, id)
	return msg.EnrolResult{V: msg.Version, ID: id, Name: name, Status: msg.EnrolSaved, Faces: 1}, nil
}

func (f *fakePending) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[id]; !ok {
		return ErrNotFound
	}
	delete(f.items, id)
	return nil
}

func TestPendingRoutes(t *testing.T) {
	e := newSessEnv(t)
	b := e.want("GET", "/api/pending", "", 200)
	if !strings.Contains(string(b), `"id":"0123456789abcdef01234567","name":"alice","camera":"door"`) {
		t.Fatalf("list %s", b)
	}
	if c, _, h := e.do("GET", "/api/pending/0123456789abcdef01234567/image.jpg", ""); c != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("image: %d", c)
	}
	e.want("GET", "/api/pending/../image.jpg", "", 404)
	e.want("GET", "/api/pending/xyz/image.jpg", "", 400)
	e.want("GET", "/api/pending/ffffffffffffffffffffffff/image.jpg", "", 404)
	e.want("POST", "/api/pending/0123456789abcdef01234567/confirm", `{"name":"../x"}`, 400)
	b = e.want("POST", "/api/pending/0123456789abcdef01234567/confirm", `{"name":"Alice B"}`, 200)
	if !strings.Contains(string(b), `"name":"Alice B","status":"saved"`) {
		t.Fatalf("confirm %s", b)
	}
	e.want("DELETE", "/api/pending/0123456789abcdef01234567", "", 404)
	// No bearer: refused like every route.
	if c, _, _ := e.do("GET", "/api/pending", "", "Authorization", ""); c != 401 {
		t.Fatalf("pending without a token: %d", c)
	}
}
