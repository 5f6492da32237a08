package web

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/facemon/facemon/dashboard"
	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// TestBrowserSessionEndStopsStreams: in Chromium, a logged-in page reads
// /video_feed and a /ws; logout ends both, and so does a new password.
func TestBrowserSessionEndStopsStreams(t *testing.T) {
	chrome := testx.Chromium(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hashFile := t.TempDir() + "/dashboard.bcrypt"
	if err := login.WriteHash(hashFile, testPassword); err != nil {
		t.Fatal(err)
	}
	rec := newFakeRec(t)
	history := historyProxy(t, rec)
	a, err := login.New(login.Options{HashFile: hashFile, Logger: quiet, Issuer: history.Sessions()})
	if err != nil {
		t.Fatal(err)
	}
	hub := stream.New(stream.Options{})
	ctxF, stopF := context.WithCancel(context.Background())
	defer stopF()
	go func() { // a camera: frames keep coming
		for i := uint64(1); ctxF.Err() == nil; i++ {
			hub.PutRaw("c1", frame(t, i))
			time.Sleep(50 * time.Millisecond)
		}
	}()
	s := New(Options{Hub: hub, State: state.New(state.Options{Space: topic.New(""), Local: "c1", Logger: quiet}),
		History: history, Metrics: metrics.New(), Local: "c1", Logger: quiet, Login: a, Assets: dashboard.Static()})
	ts := httptest.NewServer(s)
	defer ts.Close()

	ctx := browserContext(t, chrome)

	eval := func(expr string, out any) {
		t.Helper()
		if err := chromedp.Run(ctx, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		})); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
	}
	// A ?next= that a browser would turn into //evil.example stays home.
	if err := chromedp.Run(ctx, chromedp.Navigate(ts.URL+"/login?next=%2F%09%2Fevil.example"),
		chromedp.WaitVisible("#password", chromedp.ByID),
		chromedp.SendKeys("#password", testPassword, chromedp.ByID),
		chromedp.Click("#login", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	var loc string
	testx.WaitFor(t, 10*time.Second, "back on the dashboard", func() bool {
		chromedp.Run(ctx, chromedp.Evaluate(`location.href`, &loc))
		return loc == ts.URL+"/"
	})
	// Open streams from a same-origin page without the dashboard's script
	// (which would itself go to the login page when its stream ends).
	if err := chromedp.Run(ctx, chromedp.Navigate(ts.URL+"/api/config")); err != nil {
		t.Fatal(err)
	}
	open := `window.ended = {}; (function () {
		fetch('/video_feed').then(function (r) {
			var rd = r.body.getReader(); window.mjpegBytes = 0;
			function pump() { return rd.read().then(function (x) { if (x.done) { window.ended.mjpeg = Date.now(); return; } window.mjpegBytes += x.value.length; return pump(); }); }
			return pump();
		}).catch(function () { window.ended.mjpeg = Date.now(); });
		var w = new WebSocket(location.origin.replace('http', 'ws') + '/ws');
		w.onclose = function (e) { window.ended.ws = Date.now(); window.wsCode = e.code; };
	})(); true`
	var ok bool
	eval(open, &ok)
	var n int
	testx.WaitFor(t, 10*time.Second, "frames on the stream", func() bool {
		chromedp.Run(ctx, chromedp.Evaluate(`window.mjpegBytes || 0`, &n))
		return n > 1000
	})
	both := `!!(window.ended.mjpeg && window.ended.ws)`
	// Logout ends both.
	eval(`fetch('/api/session').then(function (r) { return r.json(); }).then(function (s) {
		return fetch('/api/logout', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf}}); }).then(function (r) { return r.status === 204; })`, &ok)
	start := time.Now()
	testx.WaitFor(t, 5*time.Second, "streams ended after logout", func() bool {
		chromedp.Run(ctx, chromedp.Evaluate(both, &ok))
		return ok
	})
	t.Logf("logout: both streams ended within %v", time.Since(start).Round(10*time.Millisecond))

	// Log in again, open streams, rotate the password on disk.
	eval(`fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({password: '`+testPassword+`'})}).then(function (r) { return r.ok; })`, &ok)
	if !ok {
		t.Fatal("second login failed")
	}
	eval(open, &ok)
	testx.WaitFor(t, 10*time.Second, "frames again", func() bool {
		chromedp.Run(ctx, chromedp.Evaluate(`window.mjpegBytes || 0`, &n))
		return n > 1000
	})
	if err := login.WriteHash(hashFile, "rotated password"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	testx.WaitFor(t, 5*time.Second, "streams ended after a password change", func() bool {
		chromedp.Run(ctx, chromedp.Evaluate(both, &ok))
		return ok
	})
	t.Logf("rotation: both streams ended within %v", time.Since(start).Round(10*time.Millisecond))
}

// browserContext starts Chromium (the test's own profile and flags) for one
// test, bounded to 90 s; everything ends with the test.
func browserContext(t *testing.T, chrome string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chrome), chromedp.UserDataDir(testx.ChromiumProfile(t))}
	for _, f := range testx.ChromiumFlags {
		opts = append(opts, chromedp.Flag(f.Name, f.Value))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel2 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel2)
	return ctx
}
