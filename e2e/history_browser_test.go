package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/facemon/facemon/shared/testx"
)

// historyState summarises the history views for failure messages.
const historyState = `['view=' + (document.querySelector('#tabs [aria-current]') || {}).textContent,
  'tabs=' + [...document.querySelectorAll('#tabs .tab')].filter(a => !a.hidden).map(a => a.textContent).join(','),
  'in view=' + document.getElementById('people').textContent,
  'people: ' + document.getElementById('people-status').textContent + ' ' + document.getElementById('people-list').textContent.slice(0, 300),
  'events: ' + document.getElementById('events-status').textContent + ' ' + document.getElementById('event-list').textContent.slice(0, 300),
  'unknowns: ' + document.getElementById('unknowns-status').textContent + ' ' + document.getElementById('unknown-list').textContent.slice(0, 300)].join(' | ')`

// untilHistory is untilJS with the history views in the failure message.
func untilHistory(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) time.Duration {
	t.Helper()
	return untilPage(t, ctx, what, expr, timeout, historyState)
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Click(sel, chromedp.ByQuery)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// TestHistoryBrowser drives the dashboard's history views in headless
// Chromium against the real binaries: a recognizer (embedded broker,
// history, REST API) trained without the performer, and an edge fed by the
// shared video that proxies the recognizer's API. The performer shows up
// as an unknown group; naming him in the Unknowns view trains the
// recognizer, the live view then names him, the Events view shows his
// events with thumbnails and takes a "not this person", and the People
// view lists him.
func TestHistoryBrowser(t *testing.T) {
	ctx := browser(t)
	arts := testx.Artifacts(t)
	began := time.Now()

	// A dataset without the performer (symlinks to the shared faces).
	dataset := linkedFaces(t, performer)
	gal := filepath.Join(t.TempDir(), "gallery.json")
	trainStart := time.Now()
	cmd := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "train", "--models", models,
		"--dataset", dataset, "--gallery", gal, "--no-quality")
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	t.Logf("gallery without %s trained in %v", performer, time.Since(trainStart).Round(time.Millisecond))

	brokerAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	rec, httpAddr := startRecognizer(t, "hist1", "--listen", brokerAddr, "--gallery", gal, "--dataset", dataset,
		"--history", filepath.Join(t.TempDir(), "history.db"), "--history-debounce", "1s")
	waitTCP(t, brokerAddr, 30*time.Second)
	waitTCP(t, httpAddr, 30*time.Second)

	edgeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	edge := start(t, "edge-stage", "facemon-edge", append([]string{"--broker", "tcp://" + brokerAddr, "--camera-id", "stage",
		"--source", video(t), "--loop", "--fps", "10", "--listen", edgeAddr, "--dataset", t.TempDir(),
		"--recognizer-url", "http://" + httpAddr}, edgeAuth()...)...)
	waitServing(t, edgeAddr)

	loginBrowser(t, ctx, "http://"+edgeAddr+"/")
	untilHistory(t, ctx, "history tabs shown", `!document.querySelector('#tabs [data-view=unknowns]').hidden`, 10*time.Second)
	untilHistory(t, ctx, "live image", `document.getElementById('view').naturalWidth > 0`, 20*time.Second)

	// Unknowns: wait for a group of the performer's face.
	click(t, ctx, `#tabs a[data-view="unknowns"]`)
	untilHistory(t, ctx, "Unknowns view open", `!document.getElementById('view-unknowns').hidden && document.getElementById('view-live').hidden`, 5*time.Second)
	// One face per track verdict (one per pass of the clip): four passes
	// give enough crops to train on (two were not always enough).
	untilHistory(t, ctx, "an unknown group with ≥4 faces",
		`[...document.querySelectorAll('#unknown-list li.group')].some(li => Number(li.dataset.count) >= 4 && li.querySelector('.thumb img') && li.querySelector('.thumb img').naturalWidth > 0)`,
		90*time.Second)
	groupID := evalJS[string](t, ctx, `[...document.querySelectorAll('#unknown-list li.group')]
		.sort((a, b) => Number(b.dataset.count) - Number(a.dataset.count))[0].dataset.id`)
	t.Logf("unknown groups: %s; naming group %s", evalJS[string](t, ctx,
		`[...document.querySelectorAll('#unknown-list li.group')].map(li => '#' + li.dataset.id + '×' + li.dataset.count).join(' ')`), groupID)
	screenshot(t, ctx, filepath.Join(arts, "history-unknowns.png"))

	group := `#group-` + groupID
	// The client refuses a bad name before asking the recognizer.
	if err := chromedp.Run(ctx, chromedp.SendKeys(group+` input.name`, "../evil", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, group+` button.name-btn`)
	untilHistory(t, ctx, "bad name refused", `document.querySelector('`+group+` .fb').dataset.state === 'error'`, 5*time.Second)
	evalJS[bool](t, ctx, `(document.querySelector('`+group+` input.name').value = '') === ''`)
	if err := chromedp.Run(ctx, chromedp.SendKeys(group+` input.name`, performer, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	named := time.Now()
	click(t, ctx, group+` button.name-btn`)
	untilHistory(t, ctx, "naming feedback", `['ok', 'error'].includes(document.querySelector('`+group+` .fb').dataset.state)`, 15*time.Second)
	fb := evalJS[string](t, ctx, `document.querySelector('`+group+` .fb').textContent`)
	t.Logf("naming feedback: %q", fb)
	if !strings.Contains(fb, "named "+performer) || !strings.Contains(fb, "training started") {
		t.Fatalf("naming failed: %q", fb)
	}
	screenshot(t, ctx, filepath.Join(arts, "history-unknowns-named.png"))

	// Live: training runs, the recognizer reloads, and the performer is named.
	click(t, ctx, `#tabs a[data-view="live"]`)
	untilHistory(t, ctx, performer+" in view", `document.getElementById('people').textContent.includes('`+performer+`')`, 3*time.Minute)
	t.Logf("Name click -> %s in the live view: %v", performer, time.Since(named).Round(time.Millisecond))
	screenshot(t, ctx, filepath.Join(arts, "history-live.png"))

	// Events: his events, with thumbnails; "not this person" on one.
	click(t, ctx, `#tabs a[data-view="events"]`)
	sel := `#event-list li.event[data-name="` + performer + `"]`
	untilHistory(t, ctx, "an event for "+performer+" with a thumbnail",
		`[...document.querySelectorAll('`+sel+`')].some(li => { const i = li.querySelector('.thumb img'); return i && i.complete && i.naturalWidth > 0; })`,
		60*time.Second)
	eventID := evalJS[string](t, ctx, `[...document.querySelectorAll('`+sel+`')].find(li => { const i = li.querySelector('.thumb img'); return i && i.naturalWidth > 0; }).dataset.id`)
	t.Logf("events shown: %d (%d for %s); first with a thumbnail: %s (%dx%d crop, frame link %s)",
		evalJS[int](t, ctx, `document.querySelectorAll('#event-list li.event').length`),
		evalJS[int](t, ctx, `document.querySelectorAll('`+sel+`').length`), performer, eventID,
		evalJS[int](t, ctx, `document.querySelector('#event-list li[data-id="`+eventID+`"] .thumb img').naturalWidth`),
		evalJS[int](t, ctx, `document.querySelector('#event-list li[data-id="`+eventID+`"] .thumb img').naturalHeight`),
		evalJS[string](t, ctx, `document.querySelector('#event-list li[data-id="`+eventID+`"] a.thumb').getAttribute('href')`))
	screenshot(t, ctx, filepath.Join(arts, "history-events.png"))
	ev := `#event-list li[data-id="` + eventID + `"]`
	click(t, ctx, ev+` button.not-this-person`)
	untilHistory(t, ctx, "not-this-person feedback", `['ok', 'error'].includes(document.querySelector('`+ev+` .fb').dataset.state)`, 15*time.Second)
	fb = evalJS[string](t, ctx, `document.querySelector('`+ev+` .fb').textContent`)
	t.Logf("not-this-person feedback: %q", fb)
	if !strings.Contains(fb, "not "+performer) || evalJS[string](t, ctx, `document.querySelector('`+ev+` .fb').dataset.state`) != "ok" {
		t.Fatalf("not this person failed: %q", fb)
	}
	screenshot(t, ctx, filepath.Join(arts, "history-events-feedback.png"))

	// People: he is listed.
	click(t, ctx, `#tabs a[data-view="people"]`)
	untilHistory(t, ctx, performer+" listed in People", `!!document.querySelector('#people-list li[data-name="`+performer+`"]')`, 20*time.Second)
	untilHistory(t, ctx, "People thumbnails settled", `[...document.querySelectorAll('#people-list li.person .thumb')].every(b => b.dataset.missing === '1' || (b.querySelector('img') && b.querySelector('img').complete))`, 10*time.Second)
	t.Logf("People: %s: %s; %d people, %d with a thumbnail", performer,
		evalJS[string](t, ctx, `document.querySelector('#people-list li[data-name="`+performer+`"] .info').innerText.replace(/\n/g, ' · ')`),
		evalJS[int](t, ctx, `document.querySelectorAll('#people-list li.person').length`),
		evalJS[int](t, ctx, `[...document.querySelectorAll('#people-list li.person .thumb img')].filter(i => i.naturalWidth > 0).length`))
	screenshot(t, ctx, filepath.Join(arts, "history-people.png"))

	if !rec.running() || !edge.running() {
		t.Fatal("a process died")
	}
	t.Logf("history browser test: %v in all", time.Since(began).Round(time.Millisecond))
}
