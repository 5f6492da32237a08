package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"

	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

const testPassword = "correct horse battery"

type loginEnv struct {
	ts       *httptest.Server
	fe       *fakeEnrol
	ft       *fakeTrainer
	hashFile string
	now      *clock
	auth     *login.Auth
	rec      *fakeRec
}

type fakeTrainer struct {
	starts int
	tokens []string
}

func (f *fakeTrainer) Start(tok string) (string, error) {
	f.starts++
	f.tokens = append(f.tokens, tok)
	return "t" + strconv.Itoa(f.starts), nil
}
func (f *fakeTrainer) Last() *msg.TrainStatus { return nil }

func newLoginServer(t *testing.T) *loginEnv {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hashFile := filepath.Join(t.TempDir(), "state", "dashboard.bcrypt")
	if err := login.WriteHash(hashFile, testPassword); err != nil {
		t.Fatal(err)
	}
	now := &clock{t: time.Now()}
	rec := newFakeRec(t)
	history := historyProxy(t, rec)
	a, err := login.New(login.Options{HashFile: hashFile, Logger: quiet, Now: now.Now,
		Issuer: history.Sessions(), IssueTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	fe, ft := &fakeEnrol{}, &fakeTrainer{}
	hub := stream.New(stream.Options{})
	hub.PutRaw("c1", frame(t, 1))
	s := New(Options{Hub: hub, State: state.New(state.Options{Space: topic.New(""), Local: "c1", Logger: quiet}),
		Enrol: fe, Train: ft, History: history, Metrics: metrics.New(), Local: "c1", Logger: quiet, Login: a,
		MetricsToken: "mtok",
		Assets: fstest.MapFS{"index.html": {Data: []byte("<html>dash</html>")}, "login.html": {Data: []byte("<html>login</html>")},
			"app.js": {Data: []byte("//js")}}})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &loginEnv{ts: ts, fe: fe, ft: ft, hashFile: hashFile, now: now, auth: a, rec: rec}
}

// clock is the sessions' time, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func req(t *testing.T, c *http.Client, method, url, ct, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// doLogin logs c in and returns the CSRF token.
func doLogin(t *testing.T, c *http.Client, base, pw string) (int, string) {
	t.Helper()
	resp, body := req(t, c, "POST", base+"/api/login", "application/json", `{"password":`+strconv.Quote(pw)+`}`)
	var s struct {
		CSRF string `json:"csrf"`
	}
	json.Unmarshal([]byte(body), &s)
	return resp.StatusCode, s.CSRF
}

func TestLoginRequired(t *testing.T) {
	e := newLoginServer(t)
	c := client(t)
	base := e.ts.URL
	for _, p := range []string{"/video_feed", "/ws", "/api/config", "/api/cameras", "/rapi/events/1/frame.jpg"} {
		resp, body := req(t, c, "GET", base+p, "", "")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error":"login required"`) {
			t.Errorf("GET %s without session: %d %s", p, resp.StatusCode, body)
		}
	}
	for _, p := range []string{"/", "/video_feed_page"} {
		resp, _ := req(t, c, "GET", base+p, "", "")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without session: %d Location %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, _ := req(t, c, "POST", base+"/api/enrol", "application/json", `{"name":"bob"}`)
	if resp.StatusCode != http.StatusUnauthorized || len(e.fe.names) != 0 {
		t.Errorf("enrol without session: %d, enrolled %v", resp.StatusCode, e.fe.names)
	}
	// Open: health, the login page, the session state, static files.
	for _, p := range []string{"/healthz", "/login", "/api/session", "/static/app.js"} {
		if resp, body := req(t, c, "GET", base+p, "", ""); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}
	_, body := req(t, c, "GET", base+"/api/session", "", "")
	if !strings.Contains(body, `"logged_in":false`) || !strings.Contains(body, `"login":true`) {
		t.Errorf("session before login: %s", body)
	}
	// /metrics: the test client is on loopback.
	if resp, _ := req(t, c, "GET", base+"/metrics", "", ""); resp.StatusCode != 200 {
		t.Errorf("metrics from loopback: %d", resp.StatusCode)
	}
	if resp, _ := req(t, c, "GET", base+"/metrics", "", "", "Authorization", "Bearer wrong"); resp.StatusCode != 401 {
		t.Errorf("metrics with a wrong token: %d", resp.StatusCode)
	}
}

func TestLoginFlow(t *testing.T) {
	e := newLoginServer(t)
	c := client(t)
	base := e.ts.URL
	if code, _ := doLogin(t, c, base, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	code, csrf := doLogin(t, c, base, testPassword)
	if code != 200 || csrf == "" {
		t.Fatalf("login: %d csrf %q", code, csrf)
	}
	u, _ := http.NewRequest("GET", base, nil)
	cookies := c.Jar.Cookies(u.URL)
	if len(cookies) != 1 || cookies[0].Name != login.CookieName {
		t.Fatalf("cookies %v", cookies)
	}
	// Cookie attributes as sent.
	resp, _ := req(t, client(t), "POST", base+"/api/login", "application/json", `{"password":"`+testPassword+`"}`)
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Max-Age=43200", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Secure cookie over plain HTTP: %q", sc)
	}
	if resp, body := req(t, c, "GET", base+"/", "", ""); resp.StatusCode != 200 || body != "<html>dash</html>" {
		t.Errorf("page after login: %d %q", resp.StatusCode, body)
	}
	if resp, _ := req(t, c, "GET", base+"/login", "", ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login page when logged in: %d", resp.StatusCode)
	}
	_, body := req(t, c, "GET", base+"/api/session", "", "")
	if !strings.Contains(body, `"logged_in":true`) || !strings.Contains(body, csrf) {
		t.Errorf("session: %s", body)
	}
	if resp, body := req(t, c, "GET", base+"/rapi/people", "", ""); resp.StatusCode != 200 || !strings.Contains(body, "history") {
		t.Errorf("rapi with session: %d %s", resp.StatusCode, body)
	}
	// State changes need the CSRF token.
	for _, tok := range []string{"", "wrong"} {
		resp, body := req(t, c, "POST", base+"/api/enrol", "application/json", `{"name":"bob"}`, login.CSRFHeader, tok)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("enrol with CSRF %q: %d %s", tok, resp.StatusCode, body)
		}
		resp, _ = req(t, c, "POST", base+"/api/train", "application/json", `{}`, login.CSRFHeader, tok)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("train with CSRF %q: %d", tok, resp.StatusCode)
		}
		resp, _ = req(t, c, "DELETE", base+"/rapi/people/bob", "application/json", ``, login.CSRFHeader, tok)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("rapi delete with CSRF %q: %d", tok, resp.StatusCode)
		}
	}
	if len(e.fe.names) != 0 || e.ft.starts != 0 {
		t.Fatalf("a request without CSRF token went through: %v %d", e.fe.names, e.ft.starts)
	}
	if resp, body := req(t, c, "POST", base+"/api/enrol", "application/json", `{"name":"bob"}`, login.CSRFHeader, csrf); resp.StatusCode != 200 {
		t.Errorf("enrol with CSRF: %d %s", resp.StatusCode, body)
	}
	if resp, body := req(t, c, "POST", base+"/api/train", "application/json", `{}`, login.CSRFHeader, csrf); resp.StatusCode != 202 {
		t.Errorf("train with CSRF: %d %s", resp.StatusCode, body)
	}
	// The WebSocket: a session and the page's own origin.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws := strings.Replace(base, "http", "ws", 1) + "/ws"
	conn, _, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatalf("ws with session: %v", err)
	}
	conn.CloseNow()
	_, resp, err = websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("ws from a foreign origin: err %v resp %v", err, resp)
	}
	_, resp, err = websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ws without session: err %v resp %v", err, resp)
	}
	// Logout ends the session (and needs the CSRF token too).
	if resp, _ := req(t, c, "POST", base+"/api/logout", "application/json", ``); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without CSRF: %d", resp.StatusCode)
	}
	if resp, _ := req(t, c, "POST", base+"/api/logout", "application/json", ``, login.CSRFHeader, csrf); resp.StatusCode != http.StatusNoContent {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := req(t, c, "GET", base+"/video_feed", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("video_feed after logout: %d", resp.StatusCode)
	}
}

func TestLoginExpiryAndRotation(t *testing.T) {
	e := newLoginServer(t)
	base := e.ts.URL
	c := client(t)
	if code, _ := doLogin(t, c, base, testPassword); code != 200 {
		t.Fatal(code)
	}
	e.now.Add(login.DefaultTTL - time.Minute)
	if resp, _ := req(t, c, "GET", base+"/api/config", "", ""); resp.StatusCode != 200 {
		t.Fatalf("before expiry: %d", resp.StatusCode)
	}
	e.now.Add(2 * time.Minute)
	if resp, _ := req(t, c, "GET", base+"/api/config", "", ""); resp.StatusCode != 401 {
		t.Fatalf("after expiry: %d", resp.StatusCode)
	}
	// A new password file ends the sessions made with the old one.
	if code, _ := doLogin(t, c, base, testPassword); code != 200 {
		t.Fatal(code)
	}
	if err := login.WriteHash(e.hashFile, "new password"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := req(t, c, "GET", base+"/api/config", "", ""); resp.StatusCode != 401 {
		t.Errorf("session survived a password change: %d", resp.StatusCode)
	}
	if code, _ := doLogin(t, c, base, testPassword); code != 401 {
		t.Errorf("old password after rotation: %d", code)
	}
	if code, _ := doLogin(t, c, base, "new password"); code != 200 {
		t.Errorf("new password: %d", code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newLoginServer(t)
	base := e.ts.URL
	c := client(t)
	for i := 0; i < login.DefaultAttempts; i++ {
		if code, _ := doLogin(t, c, base, "guess"+strconv.Itoa(i)); code != 401 {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	resp, body := req(t, c, "POST", base+"/api/login", "application/json", `{"password":"`+testPassword+`"}`)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 60 || !strings.Contains(body, "too many") {
		t.Fatalf("attempt 6: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// One attempt comes back every 12 s.
	e.now.Add(time.Duration(ra) * time.Second)
	if code, _ := doLogin(t, c, base, testPassword); code != 200 {
		t.Errorf("after Retry-After: %d", code)
	}
}

func TestLoginRefusesCrossSite(t *testing.T) {
	e := newLoginServer(t)
	base := e.ts.URL
	resp, _ := req(t, client(t), "POST", base+"/api/login", "text/plain", `{"password":"`+testPassword+`"}`)
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain login: %d", resp.StatusCode)
	}
	resp, _ = req(t, client(t), "POST", base+"/api/login", "application/json", `{"password":"`+testPassword+`"}`, "Origin", "http://evil.example")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin login: %d", resp.StatusCode)
	}
}

func TestEnsure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "edge")
	path := filepath.Join(dir, "dashboard.bcrypt")
	pw, err := login.Ensure(path)
	if err != nil || len(pw) < 16 {
		t.Fatalf("Ensure: %q %v", pw, err)
	}
	st, _ := os.Stat(path)
	dst, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o600 || dst.Mode().Perm() != 0o700 {
		t.Errorf("modes file %v dir %v", st.Mode().Perm(), dst.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), pw) || !strings.HasPrefix(string(b), "$2") {
		t.Errorf("file is not a bare bcrypt hash: %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("leftover files: %v", ents)
	}
	again, err := login.Ensure(path)
	if err != nil || again != "" {
		t.Errorf("second Ensure: %q %v", again, err)
	}
	a, err := login.New(login.Options{HashFile: path})
	if err != nil || a == nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("plaintext\n"), 0o600)
	if _, err := login.New(login.Options{HashFile: path}); err == nil || strings.Contains(err.Error(), "plaintext") {
		t.Errorf("a non-hash file: %v", err)
	}
}
