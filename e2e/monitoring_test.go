package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/mqttx"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+e2eAPIToken) // the recognizer's API token
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest("POST", url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e2eAPIToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The monitoring loop on the real video: the performer is not enrolled, so
// his face is kept as an unknown group; naming the group through the API
// and re-training makes him recognized; events land in the database; Home
// Assistant discovery describes the camera and the people.
func TestUnknownNamedViaAPIThenRecognized(t *testing.T) {
	// A dataset without the performer.
	dataset := linkedFaces(t, performer)
	gal := filepath.Join(t.TempDir(), "gallery.json")
	cmd := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "train", "--models", models, "--dataset", dataset, "--gallery", gal, "--no-quality")
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	// HA discovery is retained: subscribe before it is published.
	ha := map[string]map[string]any{}
	var haMu sync.Mutex
	rec, httpAddr := startRecognizer(t, "mon1", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--gallery", gal, "--dataset", dataset, "--history", filepath.Join(t.TempDir(), "history.db"),
		"--history-debounce", "1s", "--public-url", "http://127.0.0.1:9101")
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	sub, err := mqttx.New(mqttx.Options{Broker: url, ClientID: "e2e-ha"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sub.Subscribe("homeassistant/#", 1, func(tp string, b []byte) {
		var m map[string]any
		if len(b) > 0 && json.Unmarshal(b, &m) == nil {
			haMu.Lock()
			ha[tp] = m
			haMu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	obs := observe(t, url)
	startEdge(t, url, "stage", 10)
	api := "http://" + httpAddr + "/api"

	type group struct {
		ID    int64 `json:"id"`
		Count int   `json:"count"`
	}
	var groups struct {
		Groups []group `json:"groups"`
	}
	// One face per track verdict (one per pass of the clip): four passes
	// give enough crops to train on (two were not always enough).
	waitFor(t, 90*time.Second, "an unknown-face group with several faces", func() bool {
		getJSON(t, api+"/unknowns", &groups)
		for _, g := range groups.Groups {
			if g.Count >= 4 {
				return true
			}
		}
		return false
	})
	// Issue target: a stranger in view produces no named event. The
	// performer is not enrolled; the only enrolled person in the clip is
	// Obama, in the audience.
	{
		ids, _, _ := obs.snapshot()
		wrong := map[string]int{}
		faces := 0
		for _, m := range ids {
			for _, f := range m.Faces {
				faces++
				if f.Name != "unknown" && f.Name != "obama" {
					wrong[f.Name]++
				}
			}
		}
		t.Logf("before naming: %d frames, %d faces, named as someone else: %v", len(ids), faces, wrong)
		if len(wrong) > 0 {
			t.Errorf("the unenrolled performer was given a name: %v", wrong)
		}
	}
	best := groups.Groups[0]
	for _, g := range groups.Groups {
		if g.Count > best.Count {
			best = g
		}
	}
	t.Logf("unknown groups: %+v; naming group %d (%d faces)", groups.Groups, best.ID, best.Count)
	if code, body := postJSON(t, fmt.Sprintf("%s/unknowns/%d/name", api, best.ID), `{"name":"../evil"}`); code != 400 {
		t.Fatalf("bad name: %d %s", code, body)
	}
	code, body := postJSON(t, fmt.Sprintf("%s/unknowns/%d/name", api, best.ID), `{"name":"`+performer+`","train":true}`)
	if code != 200 {
		t.Fatalf("name group: %d %s", code, body)
	}
	var st struct {
		State   string `json:"state"`
		People  int    `json:"people"`
		Encoded int    `json:"encoded"`
	}
	waitFor(t, 90*time.Second, "training done", func() bool {
		getJSON(t, api+"/train/status", &st)
		return st.State == "done"
	})
	t.Logf("training: %+v", st)
	if files, _ := filepath.Glob(filepath.Join(dataset, performer, "*.jpg")); len(files) == 0 {
		t.Fatal("named crops not added to the dataset")
	}
	before, _, _ := obs.snapshot()
	waitFor(t, 30*time.Second, performer+" recognized after naming", func() bool {
		ids, _, _ := obs.snapshot()
		for _, m := range ids[len(before):] {
			for _, f := range m.Faces {
				if f.Name == performer {
					return true
				}
			}
		}
		return false
	})
	var events struct {
		Events []struct {
			ID     int64  `json:"id"`
			Name   string `json:"name"`
			Camera string `json:"camera"`
		} `json:"events"`
	}
	waitFor(t, 20*time.Second, "events for the performer in the database", func() bool {
		getJSON(t, api+"/events?person="+performer, &events)
		return len(events.Events) > 0
	})
	t.Logf("events for %s: %d", performer, len(events.Events))
	if code := getJSON(t, fmt.Sprintf("%s/events/%d/crop.jpg", api, events.Events[0].ID), nil); code != 200 {
		t.Fatalf("event crop: %d", code)
	}
	// Home Assistant discovery: the camera and the new person.
	waitFor(t, 15*time.Second, "HA discovery for camera and person", func() bool {
		haMu.Lock()
		defer haMu.Unlock()
		var cam, person bool
		for tp := range ha {
			cam = cam || strings.Contains(tp, "stage_")
			person = person || strings.Contains(tp, "person_"+performer)
		}
		return cam && person
	})
	haMu.Lock()
	for tp, m := range ha {
		if _, ok := m["unique_id"]; !ok {
			t.Errorf("%s: no unique_id", tp)
		}
	}
	t.Logf("%d HA discovery configs", len(ha))
	haMu.Unlock()
	// Malformed API input is refused, the recognizer stays up.
	if code, _ := postJSON(t, api+"/unknowns/999999/dismiss", ""); code != 404 {
		t.Errorf("dismiss missing group: %d", code)
	}
	if code, _ := postJSON(t, api+"/train", "{not json"); code != 400 {
		t.Errorf("bad train body: %d", code)
	}
	if !rec.running() {
		t.Fatal("recognizer died")
	}
}
