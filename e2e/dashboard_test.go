package e2e

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/facemon/facemon/shared/testx"
)

// browser starts headless Chromium for the test; it is stopped at the end.
func browser(t *testing.T) context.Context {
	t.Helper()
	profile := testx.ChromiumProfile(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(testx.Chromium(t)), chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 860)}
	for _, f := range testx.ChromiumFlags {
		opts = append(opts, chromedp.Flag(f.Name, f.Value))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// pageState summarises the page for failure messages.
const pageState = `['badge=' + document.getElementById('badge').dataset.mode,
  document.getElementById('recognizer').textContent,
  'frames=' + document.getElementById('view').dataset.frames,
  'people=' + document.getElementById('people').textContent,
  'enrol=' + document.getElementById('enrol-status').textContent,
  'train=' + document.getElementById('train-status').textContent].join(' | ')`

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	var v T
	if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &v)); err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// untilJS polls a boolean expression every 25 ms and returns how long it
// took to hold.
func untilJS(t *testing.T, ctx context.Context, expr string, timeout time.Duration) time.Duration {
	t.Helper()
	return untilPage(t, ctx, "", expr, timeout, pageState)
}

// untilPage polls the page until expr is true and returns how long it took;
// on timeout it fails with the page summary state (a JS expression). A
// non-empty what is logged with the time.
func untilPage(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration, state string) time.Duration {
	t.Helper()
	start := time.Now()
	var lastErr error
	for {
		// An evaluation can fail while the page navigates (a login
		// redirect: "Inspected target navigated or closed"); keep polling.
		var ok bool
		lastErr = chromedp.Run(ctx, chromedp.Evaluate(expr, &ok))
		if ok && lastErr == nil {
			d := time.Since(start)
			if what != "" {
				t.Logf("%s after %v", what, d.Round(time.Millisecond))
			}
			return d
		}
		if time.Since(start) > timeout {
			var page string
			chromedp.Run(ctx, chromedp.Evaluate(state, &page))
			t.Fatalf("after %v still not %s: %s (last evaluation error: %v)\npage: %s", timeout, what, expr, lastErr, page)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitServing waits for an edge's /healthz to answer 200.
func waitServing(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, 15*time.Second, "edge serving", func() bool {
		r, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// copyTree copies the regular files under src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

const (
	badgeJS  = `document.getElementById('badge').dataset.mode`
	framesJS = `Number(document.getElementById('view').dataset.frames || 0)`
)

// TestDashboardRealSystem drives the dashboard in headless Chromium against
// the real binaries: the recognizer with its embedded broker, and an edge
// fed by the shared video. It checks the live image, the badge and names,
// the fallback to the raw feed while the recognizer (and with it the
// broker) is gone, enrolment, training and the browser frame rate.
func TestDashboardRealSystem(t *testing.T) {
	ctx := browser(t)
	arts := testx.Artifacts(t)

	// A copy of the gallery and the dataset, shared by the recognizer and
	// the edge as `make run` does: the recognizer stores Captures, the edge
	// only queues them while unanswered (.queue/).
	work := t.TempDir()
	gal := filepath.Join(work, "gallery.json")
	if b, err := os.ReadFile(gallery); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(gal, b, 0o644); err != nil {
		t.Fatal(err)
	}
	recData := filepath.Join(work, "faces")
	copyTree(t, filepath.Join(shared, "testdata", "faces"), recData)

	brokerAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	brokerURL := "tcp://" + brokerAddr
	// The REST API on a fixed port, so the edge finds the restarted
	// recognizer at the same URL (a person's session comes from it).
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startRec := func(name string) *proc {
		p, _ := startRecognizer(t, name, "--listen", brokerAddr, "--gallery", gal, "--dataset", recData, "--http", apiAddr)
		waitTCP(t, brokerAddr, 30*time.Second)
		return p
	}
	rec := startRec("rec1")

	edgeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	edge := start(t, "edge-stage", "facemon-edge", append([]string{"--broker", brokerURL, "--camera-id", "stage",
		"--source", video(t), "--loop", "--fps", "10", "--listen", edgeAddr, "--dataset", recData,
		"--enrol-timeout", "10s", "--recognizer-url", "http://" + apiAddr}, edgeAuth()...)...)
	waitServing(t, edgeAddr)

	loginBrowser(t, ctx, "http://"+edgeAddr+"/")

	// The image updates.
	untilJS(t, ctx, `document.getElementById('view').naturalWidth > 0 && `+framesJS+` > 2`, 20*time.Second)
	src1 := evalJS[string](t, ctx, `document.getElementById('view').src`)
	untilJS(t, ctx, `document.getElementById('view').src !== `+fmt.Sprintf("%q", src1), 2*time.Second)
	t.Logf("image %dx%d", evalJS[int](t, ctx, `document.getElementById('view').naturalWidth`),
		evalJS[int](t, ctx, `document.getElementById('view').naturalHeight`))

	// Recognition live, and the performer named.
	untilJS(t, ctx, badgeJS+` === 'annotated'`, 30*time.Second)
	if b := evalJS[string](t, ctx, `document.getElementById('badge').textContent`); b != "recognition live" {
		t.Errorf("badge text %q", b)
	}
	untilJS(t, ctx, `document.getElementById('people').textContent.includes('`+performer+`')`, 20*time.Second)
	untilJS(t, ctx, `document.getElementById('recognizer').textContent === 'recognizer online'`, 5*time.Second)
	untilJS(t, ctx, `!document.getElementById('train').hidden`, 5*time.Second)

	// Browser frame rate over 3 s (annotated stream).
	n0 := evalJS[int](t, ctx, framesJS)
	time.Sleep(3 * time.Second)
	fps := float64(evalJS[int](t, ctx, framesJS)-n0) / 3
	t.Logf("browser frame rate (recognition live): %.1f fps (edge captures at 10)", fps)
	if fps < 5 {
		t.Errorf("browser shows only %.1f fps", fps)
	}

	// The recognizer stops; its embedded broker goes with it. The edge
	// keeps streaming: the badge turns raw while frames keep coming.
	stopped := time.Now() // SIGTERM
	rec.stop()
	exited := time.Since(stopped)
	untilJS(t, ctx, badgeJS+` === 'raw'`, 10*time.Second)
	t.Logf("recognizer stop (SIGTERM) -> badge raw: %v (the process took %v to exit)",
		time.Since(stopped).Round(time.Millisecond), exited.Round(time.Millisecond))
	if b := evalJS[string](t, ctx, `document.getElementById('badge').textContent`); !strings.Contains(b, "raw feed") {
		t.Errorf("badge text %q", b)
	}
	untilJS(t, ctx, `document.getElementById('recognizer').textContent === 'recognizer offline'`, 5*time.Second)
	n0 = evalJS[int](t, ctx, framesJS)
	time.Sleep(2 * time.Second)
	rawFPS := float64(evalJS[int](t, ctx, framesJS)-n0) / 2
	t.Logf("browser frame rate without recognizer/broker: %.1f fps", rawFPS)
	if rawFPS < 5 {
		t.Errorf("frames stalled without the broker: %.1f fps", rawFPS)
	}
	screenshot(t, ctx, filepath.Join(arts, "dashboard-raw.png"))

	// Restart on the same port: live again.
	restarted := time.Now()
	startRec("rec1")
	listening := time.Since(restarted)
	untilJS(t, ctx, badgeJS+` === 'annotated'`, 45*time.Second)
	t.Logf("recognizer restart -> badge live: %v (its broker listening after %v)",
		time.Since(restarted).Round(time.Millisecond), listening.Round(time.Millisecond))
	untilJS(t, ctx, `document.getElementById('people').textContent.includes('`+performer+`')`, 20*time.Second)
	untilJS(t, ctx, `document.getElementById('recognizer').textContent === 'recognizer online'`, 10*time.Second)

	// The restarted recognizer does not know the session it issued before
	// (sessions live in its memory): without one a Capture would only be
	// kept pending. The person logs in again, as the history views ask.
	if err := chromedp.Run(ctx, network.ClearBrowserCookies()); err != nil {
		t.Fatal(err)
	}
	loginBrowser(t, ctx, "http://"+edgeAddr+"/")
	untilJS(t, ctx, badgeJS+` === 'annotated'`, 20*time.Second)

	// Enrol while the recognizer is up: a Capture is a burst of the
	// edge's default 10 frames (the frames input is prefilled from it),
	// shown as "capturing frame k/10…" while it is taken, then every frame
	// kept or dropped with the recognizer's reason. The clip has moments
	// with no face or several; a burst of only those is refused, so retry.
	const visitor = "e2e_visitor"
	if err := chromedp.Run(ctx, chromedp.SendKeys("#name", visitor, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	if n := evalJS[string](t, ctx, `document.getElementById('burst').value`); n != "10" {
		t.Fatalf("frames input %q, want the edge's default 10", n)
	}
	var (
		attempts []string
		saved    time.Duration
		shown    []string // the status line's texts during the last Capture
	)
	for i := 0; i < 6 && saved == 0; i++ {
		if i > 0 {
			time.Sleep(700 * time.Millisecond) // let the video move on
		}
		clicked := time.Now()
		if err := chromedp.Run(ctx, chromedp.Click("#capture", chromedp.ByID)); err != nil {
			t.Fatal(err)
		}
		shown = shown[:0]
		for {
			txt := evalJS[string](t, ctx, `document.getElementById('enrol-status').textContent`)
			if len(shown) == 0 || shown[len(shown)-1] != txt {
				shown = append(shown, txt)
			}
			if evalJS[bool](t, ctx, `document.getElementById('enrol-status').dataset.status !== 'pending' && !document.getElementById('capture').disabled`) {
				break
			}
			if time.Since(clicked) > 90*time.Second {
				t.Fatalf("Capture not answered within 90 s: %q", shown)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("capture %d took %v: %q", i+1, time.Since(clicked).Round(time.Millisecond), shown)
		st := evalJS[string](t, ctx, `document.getElementById('enrol-status').dataset.status`)
		attempts = append(attempts, st)
		switch st {
		case "saved":
			saved = time.Since(clicked)
		case "no_face", "several_faces":
		default:
			t.Fatalf("capture: %s (%s)", st, evalJS[string](t, ctx, `document.getElementById('enrol-status').textContent`))
		}
	}
	t.Logf("capture attempts %v; click -> 'saved' shown %v", attempts, saved.Round(time.Millisecond))
	if saved == 0 {
		t.Fatalf("no capture saved in %d attempts: %v", len(attempts), attempts)
	}
	if txt := evalJS[string](t, ctx, `document.getElementById('enrol-status').textContent`); !strings.Contains(txt, "saved") ||
		!strings.Contains(txt, "frames kept") {
		t.Errorf("enrol status text %q", txt)
	}
	sawFrames := 0
	for _, p := range shown {
		if strings.HasPrefix(p, "capturing frame ") && strings.HasSuffix(p, "/10…") {
			sawFrames++
		}
	}
	if sawFrames < 3 || !slices.ContainsFunc(shown, func(p string) bool { return strings.HasPrefix(p, "checking ") }) {
		t.Errorf("progress shown %q: want several \"capturing frame k/10…\" and \"checking …\"", shown)
	}
	frames := evalJS[[]string](t, ctx, `Array.from(document.querySelectorAll('#enrol-frames li')).map(function (li) { return li.dataset.kept + ' ' + li.textContent; })`)
	kept := 0
	for _, f := range frames {
		t.Logf("  %s", f)
		if strings.HasPrefix(f, "1 ") {
			kept++
		} else if !strings.Contains(f, "dropped: ") || strings.HasSuffix(f, "dropped: no reason given") {
			t.Errorf("dropped frame without its reason: %q", f)
		}
	}
	if len(frames) != 10 || kept < 1 {
		t.Errorf("frames listed %d (kept %d), want the 10 of the burst", len(frames), kept)
	}
	if rf, _ := filepath.Glob(filepath.Join(recData, visitor, "*.jpg")); len(rf) != kept {
		t.Errorf("dataset %v, want one image per kept frame (%d)", rf, kept)
	}
	if q, _ := filepath.Glob(filepath.Join(recData, ".queue", "*", "*")); len(q) != 0 {
		t.Errorf("answered Captures left in the queue: %v", q)
	}
	screenshot(t, ctx, filepath.Join(arts, "dashboard-live.png"))

	// Train (last: it needs the recognizer's facemon/cmd/train support):
	// progress reaches done.
	if err := chromedp.Run(ctx, chromedp.Click("#train", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	clicked := time.Now()
	untilJS(t, ctx, `['running', 'done', 'error'].includes(document.getElementById('train-status').dataset.state)`, 20*time.Second)
	var progress []string
	for {
		st := evalJS[string](t, ctx, `document.getElementById('train-status').dataset.state + ': ' + document.getElementById('train-status').textContent`)
		if len(progress) == 0 || progress[len(progress)-1] != st {
			progress = append(progress, st)
		}
		if !strings.HasPrefix(st, "running") {
			break
		}
		if time.Since(clicked) > 3*time.Minute {
			t.Fatalf("training still running after 3 min: %v", progress)
		}
		time.Sleep(100 * time.Millisecond)
	}
	last := progress[len(progress)-1]
	t.Logf("training: %d distinct progress lines in %v; first %q, last %q (%s)", len(progress),
		time.Since(clicked).Round(100*time.Millisecond), progress[0], last,
		evalJS[string](t, ctx, `document.getElementById('train-detail').textContent`))
	if !strings.HasPrefix(last, "done: trained ") {
		t.Fatalf("training ended with %q", last)
	}
	// After re-training, recognition still names the performer.
	untilJS(t, ctx, badgeJS+` === 'annotated'`, 20*time.Second)
	untilJS(t, ctx, `document.getElementById('people').textContent.includes('`+performer+`')`, 20*time.Second)

	screenshot(t, ctx, filepath.Join(arts, "dashboard.png"))
	_ = edge
}
