package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/facemon/facemon/shared/testx"
)

// wsProbe is installed in the page before the dashboard's own script runs.
// It wraps WebSocket to record, per socket URL, the camera id carried in
// each binary frame's facemon COM segment ("facemon/1 cam=.. seq=.. ts=.."),
// and watches the live image's data-frames attribute so the test can time
// the first frame of a camera shown after a switch (performance.now()).
const wsProbe = `(function () {
  var W = window.WebSocket;
  var st = window.__fm = { urls: [], frames: {}, seqs: {}, last: '', want: '', switchAt: -1, firstMsgAt: -1, firstShownAt: -1, liveAt: -1 };
  function camOf(u8) {
    if (u8.length < 8 || u8[0] !== 0xFF || u8[1] !== 0xD8 || u8[2] !== 0xFF || u8[3] !== 0xFE) return '';
    var n = (u8[4] << 8) | u8[5], s = '';
    if (n < 2 || 4 + n > u8.length || n > 256) return '';
    for (var i = 6; i < 4 + n; i++) s += String.fromCharCode(u8[i]);
    var m = / cam=([^ ]+)/.exec(s), q = / seq=([^ ]+)/.exec(s);
    return m ? m[1] + (q ? '#' + q[1] : '') : '';
  }
  function Probe(url, protocols) {
    var s = protocols === undefined ? new W(url) : new W(url, protocols);
    st.urls.push(String(url));
    var n = st.urls.length;
    s.addEventListener('message', function (e) {
      if (typeof e.data === 'string') {
        // The recognition badge turning live on the newest socket.
        if (n !== st.urls.length || st.switchAt < 0 || st.liveAt >= 0) return;
        try {
          var ev = JSON.parse(e.data), m = ev.type === 'hello' ? (ev.data.mode || {}).mode : ev.type === 'mode' ? ev.data.mode : '';
          if (m === 'annotated') st.liveAt = performance.now();
        } catch (err) {}
        return;
      }
      var cs = (camOf(new Uint8Array(e.data)) || '?').split('#'), c = cs[0];
      st.frames[c] = (st.frames[c] || 0) + 1;
      st.seqs[c] = st.seqs[c] || {};
      st.seqs[c][cs[1]] = (st.seqs[c][cs[1]] || 0) + 1;
      st.last = c;
      if (st.switchAt >= 0 && c === st.want && st.firstMsgAt < 0) st.firstMsgAt = performance.now();
    });
    return s;
  }
  Probe.prototype = W.prototype;
  ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'].forEach(function (k) { Probe[k] = W[k]; });
  window.WebSocket = Probe;
  document.addEventListener('DOMContentLoaded', function () {
    var img = document.getElementById('view');
    new MutationObserver(function () {
      // The first image shown once a frame of the wanted camera arrived.
      if (st.firstMsgAt >= 0 && st.firstShownAt < 0) st.firstShownAt = performance.now();
    }).observe(img, { attributes: true, attributeFilter: ['data-frames'] });
  });
})();`

// camState summarises the camera switcher for failure messages.
const camState = `['cam select=' + document.getElementById('camera').value,
  'options=' + [...document.getElementById('camera').options].map(o => o.value + ':' + o.textContent).join(','),
  'url=' + location.search,
  'badge=' + document.getElementById('badge').dataset.mode,
  'frames=' + document.getElementById('view').dataset.frames,
  'people=' + document.getElementById('people').textContent,
  'enrol hidden=' + document.getElementById('enrol-panel').hidden,
  'probe=' + JSON.stringify(window.__fm, (k, v) => k === 'seqs' ? undefined : v)].join(' | ')`

// untilCam is untilJS with the camera switcher in the failure message.
func untilCam(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) time.Duration {
	t.Helper()
	return untilPage(t, ctx, what, expr, timeout, camState)
}

// optionJS is the text of the camera switcher's option for id (empty if
// there is none).
func optionJS(id string) string {
	return fmt.Sprintf(`(([...document.getElementById('camera').options].find(o => o.value === %q) || {}).textContent || '')`, id)
}

// seqStats sums up the frames the probe saw per camera: how many distinct
// capture sequence numbers, and how many of them came twice (the raw frame
// and the annotated one).
func seqStats(t *testing.T, ctx context.Context) string {
	t.Helper()
	return evalJS[string](t, ctx, `Object.keys(window.__fm.seqs).map(c => {
  var v = Object.values(window.__fm.seqs[c]);
  return c + ': ' + v.length + ' distinct seqs, ' + v.filter(n => n > 1).length + ' sent more than once';
}).join('; ')`)
}

// switchCamera picks id in the camera switcher the way a user does (a
// change event on the select) and arms the probe's first-frame timer.
func switchCamera(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	evalJS[bool](t, ctx, fmt.Sprintf(`(function () {
  var fm = window.__fm;
  fm.want = %[1]q; fm.firstMsgAt = -1; fm.firstShownAt = -1; fm.liveAt = -1; fm.switchAt = performance.now();
  var sel = document.getElementById('camera');
  sel.value = %[1]q;
  sel.dispatchEvent(new Event('change', { bubbles: true }));
  return true;
})()`, id))
}

// firstFrame waits for the first frame of the camera switched to and
// returns the times from the switch to its arrival over the WebSocket and
// to the live image showing it.
func firstFrame(t *testing.T, ctx context.Context, id string) (arrived, shown time.Duration) {
	t.Helper()
	untilCam(t, ctx, "first "+id+" frame shown", `window.__fm.firstShownAt >= 0`, 15*time.Second)
	ms := func(expr string) time.Duration {
		return time.Duration(evalJS[float64](t, ctx, expr) * float64(time.Millisecond)).Round(time.Millisecond)
	}
	return ms(`window.__fm.firstMsgAt - window.__fm.switchAt`), ms(`window.__fm.firstShownAt - window.__fm.switchAt`)
}

// TestCamerasBrowser drives the dashboard's camera switcher in headless
// Chromium against the real binaries: a recognizer with its embedded
// broker and two edges, "front" and "back", on the shared video. Edge
// "front"'s dashboard lists both cameras (from the retained edge status
// topics), switches its live view to "back" (frames and annotated frames
// subscribed over MQTT, enrolment hidden for the remote camera), switches
// back, and marks "back" offline once that edge stops.
func TestCamerasBrowser(t *testing.T) {
	ctx := browser(t)
	arts := testx.Artifacts(t)

	brokerAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	brokerURL := "tcp://" + brokerAddr
	startRecognizer(t, "rec1", "--listen", brokerAddr)
	waitTCP(t, brokerAddr, 30*time.Second)

	const fps = 6 // two cameras share the recognizer (and the test host)
	edge := func(cam string) (*proc, string) {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		p := start(t, "edge-"+cam, "facemon-edge", append([]string{"--broker", brokerURL, "--camera-id", cam,
			"--source", video(t), "--loop", "--fps", fmt.Sprint(fps), "--listen", addr, "--dataset", t.TempDir(), "--view-all"}, edgeAuth()...)...)
		waitServing(t, addr)
		return p, addr
	}
	_, frontAddr := edge("front")
	back, _ := edge("back")
	loginBrowser(t, ctx, "http://"+frontAddr+"/")

	if err := chromedp.Run(ctx,
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(wsProbe).Do(ctx)
			return err
		}),
		chromedp.Navigate("http://"+frontAddr+"/"),
	); err != nil {
		t.Fatal(err)
	}

	// The local camera is live, and the switcher lists both cameras.
	untilCam(t, ctx, "front live", `document.getElementById('view').naturalWidth > 0 && `+framesJS+` > 2 && window.__fm.last === 'front'`, 20*time.Second)
	untilCam(t, ctx, "both cameras listed",
		`[...document.getElementById('camera').options].map(o => o.value).join(',') === 'front,back'`, 15*time.Second)
	if got := evalJS[string](t, ctx, `document.getElementById('camera').value`); got != "front" {
		t.Errorf("selected camera %q, want front", got)
	}
	if got := evalJS[string](t, ctx, optionJS("front")); got != "front (this edge)" {
		t.Errorf("front option %q", got)
	}
	untilCam(t, ctx, "back listed online", optionJS("back")+` === 'back'`, 5*time.Second)
	untilCam(t, ctx, "enrolment shown for the local camera", `!document.getElementById('enrol-panel').hidden`, 5*time.Second)

	// Switch to "back": its frames arrive over MQTT via edge "front".
	switchCamera(t, ctx, "back")
	arrived, shown := firstFrame(t, ctx, "back")
	t.Logf("switch to back -> first back frame over the WebSocket %v, shown %v", arrived, shown)
	untilCam(t, ctx, "viewing back", `document.getElementById('camera').value === 'back' && location.search === '?cam=back'`, 5*time.Second)
	untilCam(t, ctx, "enrolment hidden for the remote camera", `document.getElementById('enrol-panel').hidden`, 5*time.Second)
	if !evalJS[bool](t, ctx, `document.getElementById('train').hidden`) {
		t.Errorf("train button shown for the remote camera")
	}
	if u := evalJS[string](t, ctx, `window.__fm.urls[window.__fm.urls.length - 1]`); !strings.HasSuffix(u, "/ws?cam=back") {
		t.Errorf("WebSocket URL %q", u)
	}
	// The image keeps updating, with back's frames only.
	src1 := evalJS[string](t, ctx, `document.getElementById('view').src`)
	untilCam(t, ctx, "back image updated", `document.getElementById('view').src !== `+fmt.Sprintf("%q", src1), 3*time.Second)
	evalJS[bool](t, ctx, `(window.__fm.frames = {}, window.__fm.seqs = {}, true)`)
	n0 := evalJS[int](t, ctx, framesJS)
	time.Sleep(3 * time.Second)
	backFPS := float64(evalJS[int](t, ctx, framesJS)-n0) / 3
	got := evalJS[map[string]float64](t, ctx, `window.__fm.frames`)
	t.Logf("viewing back: %.1f fps shown (edges capture at %d); frames received by camera %v (%s)", backFPS, fps, got, seqStats(t, ctx))
	if backFPS < fps/2 {
		t.Errorf("back view shows only %.1f fps", backFPS)
	}
	if backFPS > fps*1.4 {
		t.Errorf("back view shows %.1f fps, more than the %d captured", backFPS, fps)
	}
	if len(got) != 1 || got["back"] == 0 {
		t.Errorf("frames received while viewing back: %v (want back only)", got)
	}

	// Recognition is live for "back" too: annotated frames and names.
	untilCam(t, ctx, "back badge live", badgeJS+` === 'annotated' && window.__fm.liveAt >= 0`, 30*time.Second)
	t.Logf("switch to back -> recognition badge live (first annotated back frame): %v",
		time.Duration(evalJS[float64](t, ctx, `window.__fm.liveAt - window.__fm.switchAt`)*float64(time.Millisecond)).Round(time.Millisecond))
	if b := evalJS[string](t, ctx, `document.getElementById('badge').textContent`); b != "recognition live" {
		t.Errorf("badge text %q", b)
	}
	untilCam(t, ctx, "performer named on back", `document.getElementById('people').textContent.includes('`+performer+`')`, 20*time.Second)
	untilCam(t, ctx, "recognizer online", `document.getElementById('recognizer').textContent === 'recognizer online'`, 5*time.Second)
	screenshot(t, ctx, filepath.Join(arts, "dashboard-camera-back.png"))

	// Switch back to "front".
	switchCamera(t, ctx, "front")
	arrived, shown = firstFrame(t, ctx, "front")
	t.Logf("switch to front -> first front frame over the WebSocket %v, shown %v", arrived, shown)
	untilCam(t, ctx, "viewing front", `document.getElementById('camera').value === 'front' && location.search === ''`, 5*time.Second)
	untilCam(t, ctx, "enrolment shown again", `!document.getElementById('enrol-panel').hidden`, 5*time.Second)
	evalJS[bool](t, ctx, `(window.__fm.frames = {}, window.__fm.seqs = {}, true)`)
	untilCam(t, ctx, "front badge live", badgeJS+` === 'annotated'`, 30*time.Second)
	time.Sleep(time.Second)
	if got := evalJS[map[string]float64](t, ctx, `window.__fm.frames`); len(got) != 1 || got["front"] == 0 {
		t.Errorf("frames received while viewing front: %v (want front only)", got)
	}

	// Edge "back" stops: its retained status turns offline and the
	// switcher says so.
	stopped := time.Now()
	back.stop()
	exited := time.Since(stopped)
	untilCam(t, ctx, "back marked offline", optionJS("back")+`.includes('offline')`, 5*time.Second)
	t.Logf("edge back stop (SIGTERM) -> marked offline: %v (the process took %v to exit); option %q",
		time.Since(stopped).Round(time.Millisecond), exited.Round(time.Millisecond), evalJS[string](t, ctx, optionJS("back")))
	if got := evalJS[string](t, ctx, optionJS("front")); got != "front (this edge)" {
		t.Errorf("front option after back stopped: %q", got)
	}
	// The local view is unaffected.
	n0 = evalJS[int](t, ctx, framesJS)
	untilCam(t, ctx, "front still updating", framesJS+` > `+fmt.Sprint(n0+2), 5*time.Second)
}
