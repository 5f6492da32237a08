package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/edge/rapi"
	"github.com/facemon/facemon/shared/testx"
)

// fakeRec is a stand-in recognizer REST API with person sessions: POST
// /api/sessions issues a token for testPassword, DELETE revokes it, every
// other /api/ route needs a live token. Down makes it drop connections
// (unreachable).
type fakeRec struct {
	*httptest.Server
	mu      sync.Mutex
	down    bool
	n       int
	live    map[string]bool
	revoked []string
	auth    []string // Authorization of every non-session request
}

func newFakeRec(t *testing.T) *fakeRec {
	t.Helper()
	f := &fakeRec{live: map[string]bool{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRec) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/sessions":
		var b struct{ Password string }
		json.NewDecoder(r.Body).Decode(&b)
		if b.Password != testPassword {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"wrong password"}`)
			return
		}
		f.n++
		tok := "tok-" + strconv.Itoa(f.n)
		f.live[tok] = true
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires": time.Now().Add(time.Hour)})
	case r.Method == "DELETE" && r.URL.Path == "/api/sessions/current":
		f.revoked = append(f.revoked, tok)
		delete(f.live, tok)
		w.WriteHeader(204)
	default:
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		if !f.live[tok] {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"unauthorized"}`)
			return
		}
		io.WriteString(w, `{"history":true}`)
	}
}

func (f *fakeRec) setDown(d bool) { f.mu.Lock(); f.down = d; f.mu.Unlock() }

// expire ends token at the recognizer (as its TTL or a restart would).
func (f *fakeRec) expire(tok string) { f.mu.Lock(); delete(f.live, tok); f.mu.Unlock() }

func (f *fakeRec) revokedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.revoked...)
}

func (f *fakeRec) lastAuth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auth) == 0 {
		return ""
	}
	return f.auth[len(f.auth)-1]
}

// historyProxy is the edge's /rapi/ proxy to rec, with the login's tokens
// (as facemon-edge wires it).
func historyProxy(t *testing.T, rec *fakeRec) *rapi.Proxy {
	t.Helper()
	px, err := rapi.New(rapi.Options{Target: rec.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Token: login.RequestToken,
		Refused: func(r *http.Request, tok string) {
			login.RequestTokenRefused(r, tok, rapi.RefusedMessage)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return px
}

func errorOf(body string) string {
	var e struct{ Error string }
	json.Unmarshal([]byte(body), &e)
	return e.Error
}

// The login hands the password to the recognizer; the token it gets is the
// bearer of this browser session's history requests; logout revokes it.
func TestLoginRecognizerSession(t *testing.T) {
	e := newLoginServer(t)
	base := e.ts.URL
	a, b := client(t), client(t)
	_, csrfA := doLogin(t, a, base, testPassword)
	doLogin(t, b, base, testPassword)
	if resp, body := req(t, a, "GET", base+"/rapi/people", "", ""); resp.StatusCode != 200 || e.rec.lastAuth() != "Bearer tok-1" {
		t.Fatalf("history A: %d %s auth %q", resp.StatusCode, body, e.rec.lastAuth())
	}
	if resp, _ := req(t, b, "GET", base+"/rapi/people", "", ""); resp.StatusCode != 200 || e.rec.lastAuth() != "Bearer tok-2" {
		t.Fatalf("history B: %d auth %q", resp.StatusCode, e.rec.lastAuth())
	}
	// Train carries the login's token.
	if resp, body := req(t, a, "POST", base+"/api/train", "application/json", `{}`, login.CSRFHeader, csrfA); resp.StatusCode != 202 {
		t.Fatalf("train: %d %s", resp.StatusCode, body)
	}
	if len(e.ft.tokens) != 1 || e.ft.tokens[0] != "tok-1" {
		t.Errorf("train tokens %v", e.ft.tokens)
	}
	// Capture carries the login as its credential.
	req(t, a, "POST", base+"/api/enrol", "application/json", `{"name":"bob"}`, login.CSRFHeader, csrfA)
	if len(e.fe.tokens) != 1 || e.fe.tokens[0] != "tok-1" {
		t.Errorf("enrol tokens %v", e.fe.tokens)
	}
	// The recognizer forgets B's token (expiry there, restart): a clear
	// 503, not a 401 that would read as "log in to the edge".
	e.rec.expire("tok-2")
	for i := 0; i < 2; i++ {
		resp, body := req(t, b, "GET", base+"/rapi/people", "", "")
		if resp.StatusCode != 503 || errorOf(body) != rapi.RefusedMessage {
			t.Errorf("expired at the recognizer (%d): %d %s", i, resp.StatusCode, body)
		}
	}
	if resp, _ := req(t, b, "GET", base+"/api/config", "", ""); resp.StatusCode != 200 {
		t.Errorf("the live side needs no recognizer session: %d", resp.StatusCode)
	}
	// Logout revokes the token at the recognizer.
	if resp, _ := req(t, a, "POST", base+"/api/logout", "application/json", ``, login.CSRFHeader, csrfA); resp.StatusCode != 204 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if got := e.rec.revokedTokens(); len(got) != 1 || got[0] != "tok-1" {
		t.Errorf("revoked %v, want [tok-1]", got)
	}
}

// With the recognizer down at login the live view works, and history,
// Train say why they cannot.
func TestLoginRecognizerDown(t *testing.T) {
	e := newLoginServer(t)
	base := e.ts.URL
	e.rec.setDown(true)
	c := client(t)
	resp, body := req(t, c, "POST", base+"/api/login", "application/json", `{"password":"`+testPassword+`"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "unreachable when you logged in") {
		t.Fatalf("login with the recognizer down: %d %s", resp.StatusCode, body)
	}
	var s struct{ CSRF string }
	json.Unmarshal([]byte(body), &s)
	e.rec.setDown(false)
	resp, body = req(t, c, "GET", base+"/rapi/people", "", "")
	if resp.StatusCode != 503 || errorOf(body) != rapi.Unreachable {
		t.Errorf("history: %d %s", resp.StatusCode, body)
	}
	resp, body = req(t, c, "POST", base+"/api/train", "application/json", `{}`, login.CSRFHeader, s.CSRF)
	if resp.StatusCode != 503 || !strings.Contains(errorOf(body), "unreachable when you logged in") || len(e.ft.tokens) != 0 {
		t.Errorf("train: %d %s", resp.StatusCode, body)
	}
	// Capture still goes (without a token: the recognizer keeps it pending).
	if resp, _ := req(t, c, "POST", base+"/api/enrol", "application/json", `{"name":"bob"}`, login.CSRFHeader, s.CSRF); resp.StatusCode != 200 || len(e.fe.tokens) != 1 || e.fe.tokens[0] != "" {
		t.Errorf("enrol: %d tokens %q", resp.StatusCode, e.fe.tokens)
	}
	_, body = req(t, c, "GET", base+"/api/session", "", "")
	if !strings.Contains(body, `"logged_in":true`) || !strings.Contains(body, "history_error") {
		t.Errorf("session: %s", body)
	}
	if resp, _ := req(t, c, "GET", base+"/video_feed_page", "", ""); resp.StatusCode != 200 {
		t.Errorf("live view page: %d", resp.StatusCode)
	}
}

// openStreams opens /video_feed and /ws as c and returns channels that are
// closed when the server ends each.
func openStreams(t *testing.T, c *http.Client, base string) (mjpeg, ws <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, _ := http.NewRequestWithContext(ctx, "GET", base+"/video_feed", nil)
	resp, err := c.Do(r)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("video_feed: %v %v", resp, err)
	}
	m := make(chan struct{})
	go func() {
		defer close(m)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			if _, err := br.ReadByte(); err != nil {
				return
			}
		}
	}()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws",
		&websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatalf("ws: %v", err)
	}
	w := make(chan struct{})
	go func() {
		defer close(w)
		defer conn.CloseNow()
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				if websocket.CloseStatus(err) != StatusSessionEnded {
					t.Logf("ws ended: %v", err)
				}
				return
			}
		}
	}()
	return m, w
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}, within time.Duration) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Errorf("%s still open after %v", what, within)
	}
}

func stillOpen(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
		t.Errorf("%s closed", what)
	case <-time.After(300 * time.Millisecond):
	}
}

// Logout, a new password and expiry end open MJPEG streams and WebSockets
// within seconds; other sessions' streams are untouched by a logout.
func TestSessionEndClosesStreams(t *testing.T) {
	e := newLoginServer(t)
	base := e.ts.URL
	a, b := client(t), client(t)
	_, csrfA := doLogin(t, a, base, testPassword)
	doLogin(t, b, base, testPassword)
	ma, wa := openStreams(t, a, base)
	mb, wb := openStreams(t, b, base)
	stillOpen(t, "A's mjpeg before logout", ma)

	req(t, a, "POST", base+"/api/logout", "application/json", ``, login.CSRFHeader, csrfA)
	waitClosed(t, "A's mjpeg after logout", ma, 3*time.Second)
	waitClosed(t, "A's ws after logout", wa, 3*time.Second)
	stillOpen(t, "B's mjpeg after A's logout", mb)
	stillOpen(t, "B's ws after A's logout", wb)

	// A new password: no request needed, the streams see it.
	start := time.Now()
	if err := login.WriteHash(e.hashFile, "new password"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, "B's mjpeg after rotation", mb, 3*time.Second)
	waitClosed(t, "B's ws after rotation", wb, 3*time.Second)
	t.Logf("streams closed %v after the password change", time.Since(start).Round(time.Millisecond))

	// Expiry.
	c := client(t)
	if code, _ := doLogin(t, c, base, "new password"); code != 200 {
		t.Fatal(code)
	}
	mc, wc := openStreams(t, c, base)
	stillOpen(t, "C's mjpeg", mc)
	e.now.Add(login.DefaultTTL + time.Second)
	waitClosed(t, "C's mjpeg after expiry", mc, 3*time.Second)
	waitClosed(t, "C's ws after expiry", wc, 3*time.Second)
}

// The hash check is cheap while the file is unchanged (a stat), and a
// rewrite in place (same inode, same size) is still noticed.
func TestRotationInPlace(t *testing.T) {
	e := newLoginServer(t)
	base := e.ts.URL
	c := client(t)
	doLogin(t, c, base, testPassword)
	// Rewrite the file in place, not by rename.
	tmp := e.hashFile + ".new"
	if err := login.WriteHash(tmp, "other password"); err != nil {
		t.Fatal(err)
	}
	nb, _ := os.ReadFile(tmp)
	if err := os.WriteFile(e.hashFile, nb, 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, _ := req(t, c, "GET", base+"/api/config", "", ""); resp.StatusCode != 401 {
		t.Errorf("session survived an in-place password change: %d", resp.StatusCode)
	}
	testx.WaitFor(t, 3*time.Second, "recognizer token revoked after rotation", func() bool { return len(e.rec.revokedTokens()) == 1 })
}
