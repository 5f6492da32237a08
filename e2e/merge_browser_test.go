package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/testx"
)

// TestMergeGroupsBrowser: the Unknowns view merges two groups into one
// (issue 10: one visitor split across two groups). A recognizer with an
// empty gallery sees two strangers: the performer on the shared video
// (camera "stage") and a still photo of another person looped by an exec:
// source (camera "still"). Each becomes an unknown group; in headless
// Chromium, "Merge into…" on the photo's group and Merge leave the
// performer's group holding both groups' faces, with the feedback shown,
// and the merged-away group gone from the recognizer's API. (A still face
// is followed on gated frames, so this also covers an unknown verdict that
// falls on a frame without a descriptor of its own.)
func TestMergeGroupsBrowser(t *testing.T) {
	ctx := browser(t)
	arts := testx.Artifacts(t)

	brokerAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, httpAddr := startRecognizer(t, "merge1", "--listen", brokerAddr, "--gallery", filepath.Join(t.TempDir(), "empty-gallery.json"),
		"--history", filepath.Join(t.TempDir(), "history.db"), "--history-debounce", "1s")
	waitTCP(t, brokerAddr, 30*time.Second)
	waitTCP(t, httpAddr, 30*time.Second)

	edgeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	start(t, "edge-stage", "facemon-edge", append([]string{"--broker", "tcp://" + brokerAddr, "--camera-id", "stage",
		"--source", video(t), "--loop", "--fps", "10", "--listen", edgeAddr, "--dataset", t.TempDir(),
		"--recognizer-url", "http://" + httpAddr}, edgeAuth()...)...)
	photo := filepath.Join(shared, "testdata", "faces", "biden", "1.jpg")
	start(t, "edge-still", "facemon-edge", "--broker", "tcp://"+brokerAddr, "--camera-id", "still",
		"--source", `exec:bash -c 'while :; do cat "`+photo+`"; sleep 0.2; done'`,
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--dataset", t.TempDir(), "--login-file", loginFile)
	waitServing(t, edgeAddr)

	loginBrowser(t, ctx, "http://"+edgeAddr+"/")
	untilHistory(t, ctx, "history tabs shown", `!document.querySelector('#tabs [data-view=unknowns]').hidden`, 10*time.Second)
	click(t, ctx, `#tabs a[data-view="unknowns"]`)
	// The photo's group (camera still) and a group of the performer
	// (camera stage), each offering the other as a merge target.
	took := untilHistory(t, ctx, "an unknown group from each camera, each offering the other as a merge target",
		`(() => { const gs = [...document.querySelectorAll('#unknown-list li.group')].filter(li => li.querySelectorAll('select.merge-into option:not([value=""])').length >= 1);
			return gs.some(li => li.querySelector('.seen').textContent.includes('still')) && gs.some(li => li.querySelector('.seen').textContent.includes('stage')); })()`,
		2*time.Minute)
	// A stranger who stays in view adds further faces of the same track to
	// the group (one every 2 s, up to 3), so naming has crops to train on.
	untilHistory(t, ctx, "the photo's group grows past its verdict face",
		`[...document.querySelectorAll('#unknown-list li.group')].some(li => li.querySelector('.seen').textContent.includes('still') && Number(li.dataset.count) >= 3)`,
		30*time.Second)
	type grp struct {
		ID     string `json:"id"`
		Count  int    `json:"count"`
		Camera string `json:"camera"`
	}
	groups := evalJS[[]grp](t, ctx, `[...document.querySelectorAll('#unknown-list li.group')].map(li => ({id: li.dataset.id, count: Number(li.dataset.count),
		camera: li.querySelector('.seen').textContent.includes('still') ? 'still' : 'stage'}))`)
	t.Logf("groups after %v: %+v", took.Round(time.Second), groups)
	var from, into grp
	for _, g := range groups {
		if g.Camera == "still" && from.ID == "" {
			from = g
		}
		if g.Camera == "stage" && into.ID == "" {
			into = g
		}
	}
	sel := `#group-` + from.ID
	// Merge without a choice is refused by the page itself.
	click(t, ctx, sel+` button.merge-btn`)
	untilHistory(t, ctx, "merge without a target refused", `document.querySelector('`+sel+` .fb').dataset.state === 'error'`, 5*time.Second)
	evalJS[bool](t, ctx, `(() => { const s = document.querySelector('`+sel+` select.merge-into'); s.value = '`+into.ID+`'; return s.value === '`+into.ID+`'; })()`)
	screenshot(t, ctx, filepath.Join(arts, "unknowns-merge.png"))
	click(t, ctx, sel+` button.merge-btn`)
	untilHistory(t, ctx, "merge feedback", `['ok', 'error'].includes(document.querySelector('`+sel+` .fb').dataset.state)`, 15*time.Second)
	fb := evalJS[string](t, ctx, `document.querySelector('`+sel+` .fb').textContent`)
	t.Logf("merge feedback: %q", fb)
	if !strings.Contains(fb, "merged into Unknown #"+into.ID) {
		t.Fatalf("merge failed: %q", fb)
	}
	// The target group now holds at least both groups' faces (more may
	// arrive meanwhile); the merged-away one is gone on the recognizer.
	untilHistory(t, ctx, "the merged group's count", fmt.Sprintf(`Number(document.querySelector('#group-%s').dataset.count) >= %d`, into.ID, from.Count+into.Count), 15*time.Second)
	if st := getJSON(t, "http://"+httpAddr+"/api/unknowns/"+from.ID, nil); st != 404 {
		t.Fatalf("merged-away group %s: HTTP %d, want 404", from.ID, st)
	}
	screenshot(t, ctx, filepath.Join(arts, "unknowns-merged.png"))
}
