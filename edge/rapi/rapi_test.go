package rapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// seen is what the fake recognizer received.
type seen struct {
	Method, Path, RawPath, Query, Auth, Cookie, Host, Body, ContentType string
}

type fakeRecognizer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newRecognizer(t *testing.T, h http.HandlerFunc) *fakeRecognizer {
	f := &fakeRecognizer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Get("Authorization"),
			r.Header.Get("Cookie"), r.Host, string(b), r.Header.Get("Content-Type")})
		f.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "sid=1")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRecognizer) last(t *testing.T) seen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the recognizer got no request")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeRecognizer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func newProxy(t *testing.T, o Options) *httptest.Server {
	t.Helper()
	o.Logger = quiet
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/rapi/", p)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func do(t *testing.T, method, url, ct, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func jsonError(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("want a JSON error, got %q (%v)", body, err)
	}
	return e.Error
}

func TestForwardsUnderAPI(t *testing.T) {
	rec := newRecognizer(t, nil)
	ts := newProxy(t, Options{Target: rec.URL + "/"})
	resp, body := do(t, "GET", ts.URL+"/rapi/events?limit=50&person=alice", "", "", "Cookie", "edge=secret")
	if resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Error("Set-Cookie from the recognizer passed through")
	}
	s := rec.last(t)
	if s.Method != "GET" || s.Path != "/api/events" || s.Query != "limit=50&person=alice" {
		t.Errorf("forwarded %+v", s)
	}
	if s.Cookie != "" || s.Auth != "" {
		t.Errorf("cookie %q / auth %q forwarded", s.Cookie, s.Auth)
	}
	if s.Host != strings.TrimPrefix(rec.URL, "http://") {
		t.Errorf("Host %q", s.Host)
	}

	// Escaped names keep their escaping.
	do(t, "GET", ts.URL+"/rapi/people/Alice%20B/samples", "", "")
	if s := rec.last(t); s.Path != "/api/people/Alice B/samples" {
		t.Errorf("escaped path forwarded as %+v", s)
	}

	// POST with a JSON body; the response status passes through.
	rec2 := newRecognizer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":7,"person":"alice"}`)
	})
	ts2 := newProxy(t, Options{Target: rec2.URL})
	resp, body = do(t, "POST", ts2.URL+"/rapi/unknowns/3/name", "application/json", `{"name":"carol","train":true}`)
	if resp.StatusCode != 201 || !strings.Contains(body, `"person":"alice"`) {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	if s := rec2.last(t); s.Method != "POST" || s.Path != "/api/unknowns/3/name" || s.Body != `{"name":"carol","train":true}` || s.ContentType != "application/json" {
		t.Errorf("forwarded %+v", s)
	}
}

func TestTargetPathKept(t *testing.T) {
	rec := newRecognizer(t, nil)
	ts := newProxy(t, Options{Target: rec.URL + "/facemon/"})
	do(t, "GET", ts.URL+"/rapi/people", "", "")
	if s := rec.last(t); s.Path != "/facemon/api/people" {
		t.Errorf("path %q", s.Path)
	}
}

func fixedToken(tok string) func(*http.Request) (string, error) {
	return func(*http.Request) (string, error) { return tok, nil }
}

func TestToken(t *testing.T) {
	rec := newRecognizer(t, nil)
	ts := newProxy(t, Options{Target: rec.URL, Token: fixedToken("s3cret")})
	do(t, "DELETE", ts.URL+"/rapi/people/bob", "application/json", "", "Authorization", "Bearer client")
	if s := rec.last(t); s.Auth != "Bearer s3cret" || s.Method != "DELETE" {
		t.Errorf("forwarded %+v", s)
	}
	do(t, "GET", ts.URL+"/rapi/people", "", "")
	if s := rec.last(t); s.Auth != "Bearer s3cret" {
		t.Errorf("GET auth %q", s.Auth)
	}
	// Without a token of its own the edge never passes the browser's on.
	ts2 := newProxy(t, Options{Target: rec.URL})
	do(t, "PUT", ts2.URL+"/rapi/people/bob/threshold", "application/json", `{"threshold":0.5}`,
		"Authorization", "Bearer client", "Cookie", "facemon_session=abc", "X-CSRF-Token", "csrf1")
	if s := rec.last(t); s.Auth != "" || s.Cookie != "" {
		t.Errorf("client auth %q / cookie %q forwarded", s.Auth, s.Cookie)
	}
	// A token that would break the header is never sent.
	n := rec.count()
	ts3 := newProxy(t, Options{Target: rec.URL, Token: fixedToken("a\r\nX-Evil: 1")})
	resp, body := do(t, "GET", ts3.URL+"/rapi/people", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable || rec.count() != n || !strings.Contains(body, NoSession) {
		t.Errorf("token with a line break: %d %s (%d requests)", resp.StatusCode, body, rec.count()-n)
	}
}

// A login without a recognizer session gets a 503 saying why, and never
// reaches the recognizer.
func TestNoSessionToken(t *testing.T) {
	rec := newRecognizer(t, nil)
	why := "the recognizer was unreachable when you logged in: log out and in again to see history"
	ts := newProxy(t, Options{Target: rec.URL, Token: func(*http.Request) (string, error) { return "", errors.New(why) }})
	for _, m := range []string{"GET", "POST"} {
		resp, body := do(t, m, ts.URL+"/rapi/people", "application/json", "{}")
		if resp.StatusCode != http.StatusServiceUnavailable || jsonError(t, body) != why || !strings.Contains(body, `"code":"`+NoSession+`"`) {
			t.Errorf("%s without token: %d %s", m, resp.StatusCode, body)
		}
	}
	if n := rec.count(); n != 0 {
		t.Errorf("%d requests reached the recognizer", n)
	}
}

// A recognizer that refuses the token (expired, revoked) is answered 503
// with a sentence for the person, and the session is told to forget it.
func TestTokenRefusedByRecognizer(t *testing.T) {
	rec := newRecognizer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"unauthorized"}`)
	})
	var mu sync.Mutex
	var dropped []string
	ts := newProxy(t, Options{Target: rec.URL, Token: fixedToken("old-token"), Refused: func(_ *http.Request, tok string) {
		mu.Lock()
		dropped = append(dropped, tok)
		mu.Unlock()
	}})
	resp, body := do(t, "GET", ts.URL+"/rapi/people", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable || jsonError(t, body) != RefusedMessage {
		t.Errorf("refused token: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("recognizer headers kept: %v", resp.Header)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dropped) != 1 || dropped[0] != "old-token" {
		t.Errorf("Refused calls %v", dropped)
	}
}

// The token is only added for an authorized (logged-in) request; others
// never reach the recognizer.
func TestAuthorized(t *testing.T) {
	rec := newRecognizer(t, nil)
	ts := newProxy(t, Options{Target: rec.URL, Token: fixedToken("s3cret"), Authorized: func(r *http.Request) bool {
		return r.Header.Get("Cookie") == "facemon_session=good"
	}})
	resp, body := do(t, "GET", ts.URL+"/rapi/events/1/frame.jpg", "", "")
	if resp.StatusCode != http.StatusUnauthorized || jsonError(t, body) != "login required" {
		t.Errorf("no session: %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, "GET", ts.URL+"/rapi/events/1/frame.jpg", "", "", "Cookie", "facemon_session=bad")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad session: %d", resp.StatusCode)
	}
	if n := rec.count(); n != 0 {
		t.Fatalf("%d unauthorized requests reached the recognizer", n)
	}
	resp, _ = do(t, "GET", ts.URL+"/rapi/people", "", "", "Cookie", "facemon_session=good")
	if s := rec.last(t); resp.StatusCode != 200 || s.Auth != "Bearer s3cret" || s.Cookie != "" {
		t.Errorf("session: %d forwarded %+v", resp.StatusCode, s)
	}
}

func TestRefused(t *testing.T) {
	rec := newRecognizer(t, nil)
	ts := newProxy(t, Options{Target: rec.URL, MaxBody: 1024})
	for _, c := range []struct {
		method, path, ct, body string
		hdr                    []string
		code                   int
	}{
		{"PATCH", "/rapi/people/bob", "application/json", "{}", nil, 405},
		{"OPTIONS", "/rapi/people", "", "", []string{"Origin", "http://evil.example", "Access-Control-Request-Method", "POST"}, 405},
		{"HEAD", "/rapi/people", "", "", nil, 405},
		{"TRACE", "/rapi/people", "", "", nil, 405},
		{"POST", "/rapi/unknowns/1/dismiss", "", "", nil, 415},
		{"POST", "/rapi/unknowns/1/dismiss", "text/plain", "", nil, 415},
		{"POST", "/rapi/unknowns/1/dismiss", "application/x-www-form-urlencoded", "a=b", nil, 415},
		{"POST", "/rapi/unknowns/1/dismiss", "application/json", "", []string{"Origin", "http://evil.example"}, 403},
		{"POST", "/rapi/unknowns/1/dismiss", "application/json", "", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"POST", "/rapi/train", "application/json", `{"id":"` + strings.Repeat("x", 2000) + `"}`, nil, 413},
		{"GET", "/rapi/%2e%2e/metrics", "", "", nil, 400},
		{"GET", "/rapi/people/a%2Fb/samples", "", "", nil, 400},
		{"GET", "/rapi/people/a%5C..%5Cb/samples", "", "", nil, 400},
	} {
		resp, body := do(t, c.method, ts.URL+c.path, c.ct, c.body, c.hdr...)
		if resp.StatusCode != c.code {
			t.Errorf("%s %s (%s %v): %d %q, want %d", c.method, c.path, c.ct, c.hdr, resp.StatusCode, body, c.code)
			continue
		}
		if c.method != "HEAD" {
			jsonError(t, body)
		}
		if c.code == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s: no Allow header", c.method)
		}
	}
	if n := rec.count(); n != 0 {
		t.Errorf("%d refused requests reached the recognizer: %+v", n, rec.reqs)
	}
	// Same-origin writes pass.
	resp, body := do(t, "POST", ts.URL+"/rapi/unknowns/1/dismiss", "application/json", "", "Origin", ts.URL, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != 200 {
		t.Errorf("same-origin POST: %d %s", resp.StatusCode, body)
	}
}

// A chunked body over the limit is cut off while it streams.
func TestBodyLimitStreaming(t *testing.T) {
	rec := newRecognizer(t, nil)
	ts := newProxy(t, Options{Target: rec.URL, MaxBody: 100})
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"name":"` + strings.Repeat("a", 500) + `"}`))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", ts.URL+"/rapi/unknowns/1/name", pr)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 {
		t.Fatalf("status %d %s", resp.StatusCode, b)
	}
	jsonError(t, string(b))
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ts := newProxy(t, Options{Target: "http://" + addr})
	resp, body := do(t, "GET", ts.URL+"/rapi/people", "", "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	if e := jsonError(t, body); !strings.Contains(e, "recognizer unreachable") {
		t.Errorf("error %q", e)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	rec := newRecognizer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ts := newProxy(t, Options{Target: rec.URL, Timeout: 200 * time.Millisecond})
	start := time.Now()
	resp, body := do(t, "GET", ts.URL+"/rapi/events", "", "")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	jsonError(t, body)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// Whatever the request says, it goes to the configured recognizer.
func TestNeverAnotherHost(t *testing.T) {
	rec := newRecognizer(t, nil)
	other := newRecognizer(t, nil)
	ts := newProxy(t, Options{Target: rec.URL})
	otherHost := strings.TrimPrefix(other.URL, "http://")
	for _, path := range []string{
		"/rapi/people",
		"/rapi//" + otherHost + "/api/people",
		"/rapi/@" + otherHost + "/people",
	} {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Host = otherHost
		req.Header.Set("X-Forwarded-Host", otherHost)
		req.Header.Set("Forwarded", "host="+otherHost)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// Absolute-form request line.
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET "+other.URL+"/rapi/people HTTP/1.1\r\nHost: "+otherHost+"\r\nConnection: close\r\n\r\n")
	io.ReadAll(c)
	c.Close()
	if n := other.count(); n != 0 {
		t.Fatalf("%d requests reached another host", n)
	}
	if rec.count() == 0 {
		t.Fatal("nothing reached the recognizer")
	}
	if s := rec.last(t); s.Host != strings.TrimPrefix(rec.URL, "http://") {
		t.Errorf("Host header %q", s.Host)
	}
}

func TestParseTarget(t *testing.T) {
	for _, good := range []string{"http://127.0.0.1:9101", "https://rec.local/", "http://[::1]:9101/base"} {
		if _, err := ParseTarget(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:9101", "ftp://h/", "http://", "http://u:p@h/", "http://h/?x=1", "http://h/#f", "unix:///x", "http://:9101"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
