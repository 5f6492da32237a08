package e2e

// Dashboard login and REST API token (issue 9): the secrets the tests'
// processes use, and the attack suite's web part against the real binaries.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"
)

// The dashboard password and API token of the edges and recognizers the
// tests start (files written by setupSecrets).
const (
	e2ePassword = "e2e dashboard password"
	e2eAPIToken = "e2e-api-token-0123456789abcdef"
)

var loginFile, apiTokenFile string

// setupSecrets writes the login hash file and the API token file into dir.
func setupSecrets(dir string) error {
	h, err := bcrypt.GenerateFromPassword([]byte(e2ePassword), bcrypt.MinCost)
	if err != nil {
		return err
	}
	loginFile = filepath.Join(dir, "dashboard.bcrypt")
	apiTokenFile = filepath.Join(dir, "api-token")
	if err := os.WriteFile(loginFile, append(h, '\n'), 0o600); err != nil {
		return err
	}
	return os.WriteFile(apiTokenFile, []byte(e2eAPIToken+"\n"), 0o600)
}

// edgeAuth are the flags an edge needs for the login (no API token: the
// recognizer issues the login a session, issue 17).
func edgeAuth() []string {
	return []string{"--login-file", loginFile}
}

// loginBrowser opens url, is sent to the login page, logs in and waits to
// be back on the dashboard.
func loginBrowser(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	untilPage(t, ctx, "", `location.pathname === '/login' && !!document.getElementById('password')`, 15*time.Second, `location.href`)
	if err := chromedp.Run(ctx,
		chromedp.SendKeys("#password", e2ePassword, chromedp.ByID),
		chromedp.Click("#login", chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	untilPage(t, ctx, "", `location.pathname !== '/login' && !!document.getElementById('view')`, 15*time.Second,
		`location.href + ' ' + (document.getElementById('login-status') || {}).textContent`)
}

func awaitJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	var v T
	if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &v, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func httpDo(t *testing.T, method, url, ct, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestWebAttacks runs a recognizer (embedded broker, history, API token)
// and an edge with a login, attacks their HTTP sides, and checks the
// legitimate flow (login -> live view -> Capture -> Train) keeps working.
func TestWebAttacks(t *testing.T) {
	ctx := browser(t)
	work := t.TempDir()
	recData := filepath.Join(work, "faces")
	copyTree(t, filepath.Join(shared, "testdata", "faces"), recData)
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, httpAddr := startRecognizer(t, "sec1", "--listen", brokerAddr, "--dataset", recData,
		"--history", filepath.Join(work, "history.db"), "--history-debounce", "1s")
	waitTCP(t, brokerAddr, 30*time.Second)
	waitTCP(t, httpAddr, 30*time.Second)
	edgeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dataset := t.TempDir()
	start(t, "edge-stage", "facemon-edge", append([]string{"--broker", "tcp://" + brokerAddr, "--camera-id", "stage",
		"--source", video(t), "--loop", "--fps", "10", "--listen", edgeAddr, "--dataset", dataset,
		"--recognizer-url", "http://" + httpAddr, "--enrol-timeout", "10s"}, edgeAuth()...)...)
	waitServing(t, edgeAddr)
	api, edge := "http://"+httpAddr, "http://"+edgeAddr
	type row struct{ attempt, result string }
	var table []row
	note := func(a, r string) { table = append(table, row{a, r}); t.Logf("%-62s -> %s", a, r) }

	// Wait for an event with a frame (the performer is in the gallery).
	var evID string
	waitFor(t, 60*time.Second, "a recorded event", func() bool {
		st, body, _ := httpDo(t, "GET", api+"/api/events?limit=1", "", "", "Authorization", "Bearer "+e2eAPIToken)
		if st != 200 || !strings.Contains(body, `"id":`) {
			return false
		}
		evID = strings.SplitN(strings.SplitN(body, `"id":`, 2)[1], ",", 2)[0]
		return true
	})

	// The recognizer's API.
	st, body, h := httpDo(t, "GET", api+"/api/events/"+evID+"/frame.jpg", "", "")
	if st != 401 || !strings.Contains(body, `"error"`) || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("frame.jpg without token: %d %s", st, body)
	}
	note("GET /api/events/"+evID+"/frame.jpg without token", fmt.Sprintf("%d %s", st, strings.TrimSpace(body)))
	st, _, _ = httpDo(t, "GET", api+"/api/events/"+evID+"/frame.jpg", "", "", "Authorization", "Bearer wrong")
	if st != 401 {
		t.Errorf("frame.jpg with a wrong token: %d", st)
	}
	note("GET frame.jpg with a wrong token", fmt.Sprint(st))
	st, _, _ = httpDo(t, "GET", api+"/api/people", "", "")
	if st != 401 {
		t.Errorf("people without token: %d", st)
	}
	note("GET /api/people without token", fmt.Sprint(st))
	st, body, _ = httpDo(t, "POST", api+"/api/train", "text/plain", `{}`, "Authorization", "Bearer "+e2eAPIToken)
	if st != 415 {
		t.Errorf("text/plain POST with the token: %d %s", st, body)
	}
	note("POST /api/train text/plain (even with the token)", fmt.Sprintf("%d %s", st, strings.TrimSpace(body)))
	st, _, _ = httpDo(t, "GET", api+"/api/events/"+evID+"/frame.jpg", "", "", "Authorization", "Bearer "+e2eAPIToken)
	if st != 200 {
		t.Errorf("frame.jpg with the token: %d", st)
	}

	// A foreign page in the browser: no-cors text/plain POSTs to the
	// recognizer and the edge, a WebSocket to the edge.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>evil</body></html>")
	}))
	defer evil.Close()
	if err := chromedp.Run(ctx, chromedp.Navigate(strings.Replace(evil.URL, "127.0.0.1", "localhost", 1))); err != nil {
		t.Fatal(err)
	}
	awaitJS[bool](t, ctx, fmt.Sprintf(`Promise.all([
		fetch('%[1]s/api/people/%[3]s/rename', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: '{"name":"mallory"}'}).catch(function () {}),
		fetch('%[1]s/api/train', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: '{}'}).catch(function () {}),
		fetch('%[2]s/api/enrol', {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: '{"name":"mallory"}'}).catch(function () {})
	]).then(function () { return true; })`, api, edge, performer))
	ws := awaitJS[string](t, ctx, `new Promise(function (res) {
		var w = new WebSocket('ws://`+edgeAddr+`/ws');
		setTimeout(function () { res('timeout'); }, 5000);
		w.onopen = function () { res('open'); }; w.onerror = function () { res('refused'); };
	})`)
	if ws != "refused" {
		t.Errorf("WebSocket from a foreign origin: %s", ws)
	}
	note("WebSocket to the edge from a foreign origin", ws)
	st, body, _ = httpDo(t, "GET", api+"/api/people", "", "", "Authorization", "Bearer "+e2eAPIToken)
	if st != 200 || !strings.Contains(body, performer) {
		t.Errorf("a cross-site rename went through? %d %s", st, body)
	}
	st, _, _ = httpDo(t, "GET", api+"/api/train/status", "", "", "Authorization", "Bearer "+e2eAPIToken)
	if st != 404 {
		t.Errorf("a cross-site POST started training (status %d)", st)
	}
	if fs, _ := filepath.Glob(filepath.Join(dataset, "mallory", "*")); len(fs) != 0 {
		t.Errorf("a cross-site enrolment saved %v", fs)
	}
	note("cross-site no-cors text/plain POST rename, train (recognizer), enrol (edge)", "no effect")

	// The edge without a session.
	for _, p := range []string{"/video_feed", "/rapi/events/" + evID + "/frame.jpg"} {
		st, _, _ := httpDo(t, "GET", edge+p, "", "")
		if st != 401 {
			t.Errorf("GET %s without session: %d", p, st)
		}
		note("GET edge "+p+" without session", fmt.Sprint(st))
	}
	// Same-origin page without a session: the WebSocket is refused too.
	if err := chromedp.Run(ctx, chromedp.Navigate(edge+"/")); err != nil {
		t.Fatal(err)
	}
	untilPage(t, ctx, "", `location.pathname === '/login'`, 10*time.Second, `location.href`)
	ws = awaitJS[string](t, ctx, `new Promise(function (res) {
		var w = new WebSocket('ws://`+edgeAddr+`/ws');
		setTimeout(function () { res('timeout'); }, 5000);
		w.onopen = function () { res('open'); }; w.onerror = function () { res('refused'); };
	})`)
	if ws != "refused" {
		t.Errorf("WebSocket without session: %s", ws)
	}
	note("WebSocket to the edge without session", ws)

	// The legitimate flow.
	loginBrowser(t, ctx, edge+"/")
	untilJS(t, ctx, `document.getElementById('view').naturalWidth > 0 && `+framesJS+` > 2`, 20*time.Second)
	untilJS(t, ctx, badgeJS+` === 'annotated'`, 30*time.Second)
	noCSRF := awaitJS[int](t, ctx, `fetch('/api/train', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}).then(function (r) { return r.status; })`)
	if noCSRF != 403 {
		t.Errorf("POST /api/train without CSRF token: %d", noCSRF)
	}
	note("logged in, POST /api/train without CSRF token", fmt.Sprint(noCSRF))
	plain := awaitJS[int](t, ctx, `fetch('/api/session').then(function (r) { return r.json(); }).then(function (s) {
		return fetch('/rapi/train', {method: 'POST', headers: {'Content-Type': 'text/plain', 'X-CSRF-Token': s.csrf}, body: '{}'}); }).then(function (r) { return r.status; })`)
	if plain != 415 {
		t.Errorf("text/plain through the proxy: %d", plain)
	}
	note("logged in, POST /rapi/train text/plain with CSRF token", fmt.Sprint(plain))
	// History through the proxy (the edge adds the token).
	img := awaitJS[int](t, ctx, `fetch('/rapi/events/`+evID+`/frame.jpg').then(function (r) { return r.status; })`)
	if img != 200 {
		t.Errorf("frame through the proxy with a session: %d", img)
	}
	note("logged in, GET /rapi/events/"+evID+"/frame.jpg", fmt.Sprint(img))

	const visitor = "e2e_secure_visitor"
	if err := chromedp.Run(ctx, chromedp.SendKeys("#name", visitor, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	var got string
	for i := 0; i < 12 && got != "saved"; i++ {
		if i > 0 {
			time.Sleep(700 * time.Millisecond)
		}
		if err := chromedp.Run(ctx, chromedp.Click("#capture", chromedp.ByID)); err != nil {
			t.Fatal(err)
		}
		untilJS(t, ctx, `document.getElementById('enrol-status').dataset.status !== 'pending' && !document.getElementById('capture').disabled`, 15*time.Second)
		got = evalJS[string](t, ctx, `document.getElementById('enrol-status').dataset.status`)
		if got != "saved" && got != "no_face" && got != "several_faces" {
			t.Fatalf("capture: %s (%s)", got, evalJS[string](t, ctx, `document.getElementById('enrol-status').textContent`))
		}
	}
	if got != "saved" {
		t.Fatalf("no capture saved")
	}
	note("logged in, Capture", got)
	if err := chromedp.Run(ctx, chromedp.Click("#train", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	untilPage(t, ctx, "training done", `document.getElementById('train-status').dataset.state === 'done'`, 3*time.Minute, pageState)
	note("logged in, Train", evalJS[string](t, ctx, `document.getElementById('train-status').textContent`))

	// A login brute force from this address: limited (the browser's login
	// took one of the 5 a minute); the logged-in page keeps streaming.
	var codes []int
	for i := 0; i < 7; i++ {
		st, _, h := httpDo(t, "POST", edge+"/api/login", "application/json", fmt.Sprintf(`{"password":"guess%d"}`, i))
		codes = append(codes, st)
		if st == 429 && h.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if codes[0] != 401 || codes[len(codes)-1] != 429 || codes[5] != 429 {
		t.Errorf("brute force statuses %v", codes)
	}
	note("7 wrong dashboard logins from one address", fmt.Sprint(codes))
	n0 := evalJS[int](t, ctx, framesJS)
	untilJS(t, ctx, framesJS+` > `+fmt.Sprint(n0+5), 10*time.Second)
	note("logged-in live view during and after the attacks", "streaming")

	var sb strings.Builder
	for _, r := range table {
		fmt.Fprintf(&sb, "| %s | %s |\n", r.attempt, r.result)
	}
	t.Logf("attack table:\n%s", sb.String())
}
