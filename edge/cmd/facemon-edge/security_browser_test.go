package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/facemon/facemon/edge/internal/testbroker"
)

// evalAwait evaluates a JavaScript expression that yields a promise.
func evalAwait(t *testing.T, ctx context.Context, expr string, out any) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
}

// wsJS opens a WebSocket and says whether it opened.
func wsJS(url string) string {
	return `new Promise(function (res) {
		var w = new WebSocket(` + "`" + url + "`" + `);
		var t = setTimeout(function () { res('timeout'); }, 5000);
		w.onopen = function () { clearTimeout(t); w.close(); res('open'); };
		w.onerror = function () { clearTimeout(t); res('refused'); };
	})`
}

// recorder is a stand-in recognizer API counting what reaches it.
type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/api/sessions" && req.Method == "POST" {
		// A person's session for the dashboard login.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		io.WriteString(w, `{"token":"sess-token-1","expires":"2099-01-01T00:00:00Z"}`)
		return
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path+" auth="+req.Header.Get("Authorization"))
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"people":[],"events":[],"groups":[]}`)
}

func (r *recorder) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.reqs {
		if !strings.HasPrefix(s, "GET ") {
			out = append(out, s)
		}
	}
	return out
}

// TestDashboardSecurityBrowser attacks the dashboard from Chromium: the
// live view, the WebSocket and the API without a session, a WebSocket and
// writes from other origins (cross-site and same-site), writes without the
// CSRF token, a text/plain write, a login brute force; and checks that the
// legitimate flow (login, live view, Capture) works before and after.
func TestDashboardSecurityBrowser(t *testing.T) {
	b := testbroker.Start(t)
	rapi := &recorder{}
	rs := httptest.NewServer(rapi)
	t.Cleanup(rs.Close)
	e := startEdge(t, b.URL, "door", "--enrol-timeout", "1500ms", "--recognizer-url", rs.URL)
	rec := startRecognizer(t, b.URL, "r1")
	_, port, _ := net.SplitHostPort(e.Addr)
	base := "http://127.0.0.1:" + port
	ctx := newBrowser(t)

	// Without a session.
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"/video_feed_page")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `location.pathname === '/login'`, 5*time.Second)
	var status int
	for _, p := range []string{"/video_feed", "/api/config", "/rapi/events/1/frame.jpg"} {
		evalAwait(t, ctx, `fetch('`+p+`').then(function (r) { return r.status; })`, &status)
		if status != http.StatusUnauthorized {
			t.Errorf("GET %s without session: %d, want 401", p, status)
		}
	}
	var ws string
	evalAwait(t, ctx, wsJS(`ws://127.0.0.1:`+port+`/ws`), &ws)
	if ws != "refused" {
		t.Errorf("WebSocket without session: %s", ws)
	}
	if got := rapi.reqs; len(got) != 0 {
		t.Errorf("requests reached the recognizer without a session: %v", got)
	}
	t.Log("no session: /video_feed, /api/config, /rapi/ -> 401; WebSocket refused")

	// The legitimate flow.
	browserLogin(t, ctx, base+"/", testPassword)
	waitJS(t, ctx, `document.getElementById('view').naturalWidth > 0 && `+framesJS+` > 2`, 10*time.Second)
	var csrfOK bool
	evalAwait(t, ctx, `fetch('/api/session').then(function (r) { return r.json(); }).then(function (s) { return s.logged_in && s.csrf.length > 20; })`, &csrfOK)
	if !csrfOK {
		t.Fatal("no CSRF token in /api/session after login")
	}
	// Same origin, but no CSRF token: 403; JSON refused as text/plain: 415.
	evalAwait(t, ctx, `fetch('/api/enrol', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"name":"mallory"}'}).then(function (r) { return r.status; })`, &status)
	if status != http.StatusForbidden {
		t.Errorf("enrol without CSRF token: %d, want 403", status)
	}
	evalAwait(t, ctx, `fetch('/rapi/unknowns/1/name', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"name":"mallory"}'}).then(function (r) { return r.status; })`, &status)
	if status != http.StatusForbidden {
		t.Errorf("rapi write without CSRF token: %d, want 403", status)
	}
	evalAwait(t, ctx, `fetch('/api/session').then(function (r) { return r.json(); }).then(function (s) {
		return fetch('/rapi/unknowns/1/name', {method: 'POST', headers: {'Content-Type': 'text/plain', 'X-CSRF-Token': s.csrf}, body: '{"name":"mallory"}'}); }).then(function (r) { return r.status; })`, &status)
	if status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain rapi write: %d, want 415", status)
	}
	if w := rapi.writes(); len(w) != 0 {
		t.Errorf("refused writes reached the recognizer: %v", w)
	}

	// Other origins, with the browser holding a session: localhost is
	// another site (no cookie is sent), 127.0.0.2... is not bound, so a
	// second port on 127.0.0.1 plays the same-site, other-origin attacker
	// (the SameSite=Strict cookie IS sent there: only Origin and CSRF stop it).
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>evil</body></html>")
	}))
	t.Cleanup(evil.Close)
	_, evilPort, _ := net.SplitHostPort(strings.TrimPrefix(evil.URL, "http://"))
	for _, origin := range []string{"http://localhost:" + evilPort, "http://127.0.0.1:" + evilPort} {
		if err := chromedp.Run(ctx, chromedp.Navigate(origin+"/")); err != nil {
			t.Fatal(err)
		}
		evalAwait(t, ctx, wsJS(`ws://127.0.0.1:`+port+`/ws`), &ws)
		if ws != "refused" {
			t.Errorf("WebSocket from %s: %s", origin, ws)
		}
		// no-cors text/plain POSTs: the page cannot read the answer; the
		// effect is checked below.
		var done bool
		evalAwait(t, ctx, fmt.Sprintf(`Promise.all([
			fetch('%[1]s/api/enrol', {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: '{"name":"mallory"}'}).catch(function () {}),
			fetch('%[1]s/api/train', {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: '{}'}).catch(function () {}),
			fetch('%[1]s/rapi/unknowns/1/name', {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: '{"name":"mallory"}'}).catch(function () {})
		]).then(function () { return true; })`, base), &done)
		t.Logf("from %s: WebSocket %s; no-cors POSTs sent", origin, ws)
	}
	time.Sleep(500 * time.Millisecond)
	if enr := rec.Enrols(); len(enr) != 0 {
		t.Errorf("a cross-origin enrolment went through: %+v", enr)
	}
	if n := rec.Trains(); n != 0 {
		t.Errorf("a cross-origin train went through: %d", n)
	}
	if w := rapi.writes(); len(w) != 0 {
		t.Errorf("cross-origin writes reached the recognizer: %v", w)
	}

	// The dashboard still works: live view and Capture.
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, framesJS+` > 2`, 10*time.Second)
	if err := chromedp.Run(ctx,
		chromedp.SendKeys("#name", "Lin-Manuel Miranda", chromedp.ByID),
		chromedp.Click("#capture", chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.getElementById('enrol-status').dataset.status === 'saved'`, 5*time.Second)
	if enr := rec.Enrols(); len(enr) != 1 || enr[0].Name != "Lin-Manuel Miranda" {
		t.Fatalf("enrolments %+v", enr)
	}
	// History through the proxy carries the login's recognizer session.
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"/#people")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.getElementById('people-list').textContent.length > 0`, 5*time.Second)
	rapi.mu.Lock()
	reqs := append([]string(nil), rapi.reqs...)
	rapi.mu.Unlock()
	if len(reqs) == 0 || !strings.HasSuffix(reqs[len(reqs)-1], "auth=Bearer sess-token-1") {
		t.Errorf("proxied requests %v: want the login's session token", reqs)
	}

	// Brute force from a second browser (the same address): 5 attempts a
	// minute (the first browser's login took one), then 429.
	ctx2 := newBrowser(t)
	if err := chromedp.Run(ctx2, chromedp.Navigate(base+"/login")); err != nil {
		t.Fatal(err)
	}
	var codes []int
	evalAwait(t, ctx2, `(async function () {
		var out = [];
		for (var i = 0; i < 8; i++) {
			var r = await fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({password: 'guess' + i})});
			out.push(r.status);
			if (r.status === 429) out.push(Number(r.headers.get('Retry-After')));
		}
		return out;
	})()`, &codes)
	t.Logf("brute force: statuses %v", codes)
	n401 := 0
	for n401 < len(codes) && codes[n401] == 401 {
		n401++
	}
	if n401 < 4 || n401 > 5 || len(codes) < n401+2 || codes[n401+1] < 1 || codes[n401+1] > 60 {
		t.Fatalf("brute force statuses %v: want 4-5 x 401, then 429 with Retry-After 1..60", codes)
	}
	for i := n401; i < len(codes); i += 2 {
		if codes[i] != 429 {
			t.Errorf("attempt after the limit: %d (%v)", codes[i], codes)
		}
	}
	// The form says so.
	if err := chromedp.Run(ctx2,
		chromedp.SendKeys("#password", testPassword, chromedp.ByID),
		chromedp.Click("#login", chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx2, `document.getElementById('login-status').dataset.state === 'limited'`, 5*time.Second)

	// The logged-in session is unaffected; logging out ends it.
	waitJS(t, ctx, framesJS+` > 2`, 5*time.Second)
	if err := chromedp.Run(ctx, chromedp.Click("#logout", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `location.pathname === '/login'`, 5*time.Second)
	evalAwait(t, ctx, `fetch('/video_feed').then(function (r) { return r.status; })`, &status)
	if status != http.StatusUnauthorized {
		t.Errorf("/video_feed after logout: %d", status)
	}
}
