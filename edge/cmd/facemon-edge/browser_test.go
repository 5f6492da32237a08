package main

import (
	"context"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/facemon/facemon/edge/internal/testbroker"
	"github.com/facemon/facemon/shared/testx"
)

// newBrowser starts headless Chromium for the test; it is stopped at the
// end.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	profile := testx.ChromiumProfile(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(testx.Chromium(t)), chromedp.UserDataDir(profile), chromedp.WindowSize(1000, 800)}
	for _, f := range testx.ChromiumFlags {
		opts = append(opts, chromedp.Flag(f.Name, f.Value))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// waitJS polls a boolean JavaScript expression until it is true and returns
// how long that took.
func waitJS(t *testing.T, ctx context.Context, expr string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		// An evaluation can fail while the page navigates (the login
		// redirect: "Inspected target navigated or closed"); keep polling.
		var ok bool
		err := chromedp.Run(ctx, chromedp.Evaluate(expr, &ok))
		if ok && err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			var state string
			chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('badge').dataset.mode+' | '+document.getElementById('enrol-status').textContent+' | frames '+document.getElementById('view').dataset.frames`, &state))
			t.Fatalf("after %v still false: %s (last evaluation error: %v; page: %s)", timeout, expr, err, state)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func evalInt(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	var n int
	if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &n)); err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return n
}

// browserLogin opens url, which sends the browser to the login page, logs
// in there with password and waits until the dashboard is back at url.
func browserLogin(t *testing.T, ctx context.Context, url, password string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `location.pathname === '/login' && !!document.getElementById('password')`, 10*time.Second)
	if err := chromedp.Run(ctx,
		chromedp.SendKeys("#password", password, chromedp.ByID),
		chromedp.Click("#login", chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `location.pathname !== '/login' && !!document.getElementById('view')`, 10*time.Second)
}

const framesJS = `Number(document.getElementById('view').dataset.frames||0)`

// TestDashboardBrowser drives the dashboard in headless Chromium against an
// in-process edge fed by the shared video, mosquitto on loopback and a fake
// recognizer.
func TestDashboardBrowser(t *testing.T) {
	b := testbroker.Start(t)
	// The recognizer's REST API for the login's person session (issue 17:
	// without one a Capture is kept pending).
	rs := httptest.NewServer(&recorder{})
	t.Cleanup(rs.Close)
	e := startEdge(t, b.URL, "door", "--enrol-timeout", "1500ms", "--recognizer-url", rs.URL)
	ctx := newBrowser(t)
	arts := testx.Artifacts(t)
	t.Logf("artifacts: %s", arts)

	browserLogin(t, ctx, "http://"+e.Addr+"/", testPassword)
	// The image updates.
	waitJS(t, ctx, `document.getElementById('view').naturalWidth > 0 && `+framesJS+` > 2`, 10*time.Second)
	waitJS(t, ctx, `document.getElementById('badge').dataset.mode === 'raw'`, 5*time.Second)
	var src1, src2 string
	chromedp.Run(ctx, chromedp.AttributeValue("#view", "src", &src1, nil))
	n0 := evalInt(t, ctx, framesJS)
	time.Sleep(3 * time.Second)
	n1 := evalInt(t, ctx, framesJS)
	chromedp.Run(ctx, chromedp.AttributeValue("#view", "src", &src2, nil))
	fps := float64(n1-n0) / 3
	t.Logf("browser frame rate (raw): %.1f fps (edge captures at 10)", fps)
	if fps < 5 || src1 == src2 {
		t.Fatalf("image not updating: %.1f fps, src %q -> %q", fps, src1, src2)
	}

	// Recognizer starts: badge turns live.
	rec := startRecognizer(t, b.URL, "r1")
	d := waitJS(t, ctx, `document.getElementById('badge').dataset.mode === 'annotated'`, 10*time.Second)
	t.Logf("recognizer start -> badge 'recognition live': %v", d.Round(time.Millisecond))
	waitJS(t, ctx, `document.getElementById('people').textContent.includes('Lin-Manuel Miranda')`, 5*time.Second)
	n0 = evalInt(t, ctx, framesJS)
	time.Sleep(2 * time.Second)
	t.Logf("browser frame rate (annotated): %.1f fps", float64(evalInt(t, ctx, framesJS)-n0)/2)
	var shot []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&shot, 100)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(arts, "dashboard-annotated.png"), shot, 0o644)

	// Enrol while the recognizer is up: saved. The frames field starts at
	// the edge's --enrol-burst (10): one Capture is one enrol command
	// carrying the 10 frames.
	name := "Lin-Manuel Miranda"
	if err := chromedp.Run(ctx,
		chromedp.SendKeys("#name", name, chromedp.ByID),
		chromedp.Click("#capture", chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	d = waitJS(t, ctx, `document.getElementById('enrol-status').dataset.status === 'saved'`, 15*time.Second)
	t.Logf("Capture click -> 'saved' shown: %v", d.Round(time.Millisecond))
	// The recognizer owns the dataset: once it answered, the edge keeps no
	// copy (neither saved nor queued).
	var files []string
	filepath.WalkDir(e.Dataset, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("the edge kept files %v after the recognizer saved the Capture", files)
	}
	if enr := rec.Enrols(); len(enr) != 1 || enr[0].Name != name || enr[0].Camera != "door" || len(enr[0].Burst) != 9 {
		t.Fatalf("recognizer got %d enrolments (want one of 10 frames)", len(enr))
	}

	// Recognizer stops: badge falls back to raw.
	rec.Stop()
	d = waitJS(t, ctx, `document.getElementById('badge').dataset.mode === 'raw'`, 5*time.Second)
	t.Logf("recognizer stop -> badge 'recognition offline — raw feed': %v", d.Round(time.Millisecond))
	var badge string
	chromedp.Run(ctx, chromedp.Text("#badge", &badge, chromedp.ByID))
	if !strings.Contains(badge, "raw feed") {
		t.Errorf("badge text %q", badge)
	}
	os.WriteFile(filepath.Join(arts, "dashboard-raw.png"), func() []byte {
		var b []byte
		chromedp.Run(ctx, chromedp.FullScreenshot(&b, 100))
		return b
	}(), 0o644)

	// Enrol while the recognizer is away: queued, then resent when it is back.
	if err := chromedp.Run(ctx, chromedp.Click("#capture", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	// (The wait for an answer: --enrol-timeout 1.5 s plus 1 s per frame after the first.)
	waitJS(t, ctx, `document.getElementById('enrol-status').dataset.status === 'queued'`, 20*time.Second)
	queued, _ := filepath.Glob(filepath.Join(e.Dataset, ".queue", name, "*"))
	if len(queued) != 1 || !strings.HasSuffix(queued[0], ".burst") {
		t.Fatalf("queue %v, want the burst as one file", queued)
	}

	rec2 := startRecognizer(t, b.URL, "r1")
	d = waitJS(t, ctx, `document.getElementById('badge').dataset.mode === 'annotated'`, 10*time.Second)
	t.Logf("recognizer restart -> badge 'recognition live': %v", d.Round(time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Resent and answered: the queue empties and the edge keeps no copy.
		files, _ = filepath.Glob(filepath.Join(e.Dataset, name, "*.jpg"))
		queued, _ = filepath.Glob(filepath.Join(e.Dataset, ".queue", name, "*"))
		if len(rec2.Enrols()) == 1 && len(queued) == 0 && len(files) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued image not resent: dataset %v, queue %v", files, queued)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if enr := rec2.Enrols(); len(enr) != 1 || len(enr[0].Burst) != 9 {
		t.Fatalf("restarted recognizer got %d enrolments, want the queued burst whole", len(enr))
	}
	waitJS(t, ctx, `document.getElementById('enrol-log').textContent.includes('queued capture')`, 5*time.Second)

	// A bad name is refused with visible feedback.
	if err := chromedp.Run(ctx,
		chromedp.SetValue("#name", "../etc", chromedp.ByID),
		chromedp.Click("#capture", chromedp.ByID),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.getElementById('enrol-status').dataset.status === 'error'`, 5*time.Second)
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&shot, 100)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(arts, "dashboard.png")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// TestDashboardTrain: the Train button appears with a recognizer, and a
// click shows the progress reaching "trained ...".
func TestDashboardTrain(t *testing.T) {
	b := testbroker.Start(t)
	rs := httptest.NewServer(&recorder{})
	t.Cleanup(rs.Close)
	e := startEdge(t, b.URL, "door", "--recognizer-url", rs.URL)
	ctx := newBrowser(t)
	browserLogin(t, ctx, "http://"+e.Addr+"/", testPassword)
	waitJS(t, ctx, framesJS+` > 0`, 10*time.Second)
	hidden := `document.getElementById('train').hidden`
	var h bool
	chromedp.Run(ctx, chromedp.Evaluate(hidden, &h))
	if !h {
		t.Fatal("Train button shown without a recognizer")
	}
	startRecognizer(t, b.URL, "r1")
	waitJS(t, ctx, `!`+hidden, 10*time.Second)
	if err := chromedp.Run(ctx, chromedp.Click("#train", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.getElementById('train-status').dataset.state === 'running'`, 5*time.Second)
	d := waitJS(t, ctx, `document.getElementById('train-status').dataset.state === 'done'`, 10*time.Second)
	var line, detail string
	chromedp.Run(ctx, chromedp.Text("#train-status", &line, chromedp.ByID), chromedp.Text("#train-detail", &detail, chromedp.ByID))
	t.Logf("train: %q / %q (done %v after running)", line, detail, d.Round(time.Millisecond))
	if !strings.HasPrefix(line, "trained 2 people, 3 encodings in ") || !strings.Contains(detail, "1 skipped (no face 1)") {
		t.Fatalf("train status %q / %q", line, detail)
	}
	var disabled bool
	chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('train').disabled`, &disabled))
	if disabled {
		t.Fatal("Train button still disabled after done")
	}
	// A fresh page shows the retained result.
	if err := chromedp.Run(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.getElementById('train-status').textContent.startsWith('trained 2 people')`, 5*time.Second)
}
