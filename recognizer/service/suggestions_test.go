//go:build cgo

package service_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// With real dlib and the embedded broker: obama enrolled from one photo;
// frames of another photo of him make a confirmed track whose crop is
// offered as a suggestion (0600 in a 0700 folder), frames of a
// near-duplicate of the enrolled photo offer none; Accept over REST adds
// the crop as a sample (dataset file, gallery), Discard removes one.
func TestSuggestionsFromConfirmedTracks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "suggestions")
	h := startWith(t, func(c *service.Config) {
		c.HTTP = "127.0.0.1:0"
		c.Suggestions = dir
		c.Integrations.HistoryDB, c.Integrations.HAPrefix, c.Integrations.APIToken = "-", "-", "tok"
	})
	select {
	case <-h.svc.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("service not ready")
	}
	base := "http://" + h.svc.HTTPAddr()
	rest := func(method, path string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		if method != "GET" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	list := func() []api.Suggestion {
		t.Helper()
		c, b := rest("GET", "/api/suggestions")
		var v struct{ Suggestions []api.Suggestion }
		if c != 200 || json.Unmarshal(b, &v) != nil {
			t.Fatalf("list: %d %s", c, b)
		}
		return v.Suggestions
	}
	frames := func(rel string, d time.Duration) {
		t.Helper()
		img := shrink(t, rel, 640)
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if err := h.cl.PublishWait(topic.New("").Frames("door"), 0, false, img, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}

	h.publish(t, "enrol", msg.Enrol{V: 1, ID: "one", Name: "obama", Image: shrink(t, "faces/obama/1.jpg", 640)})
	if r := h.enrolResult(t, "one"); r.Status != msg.EnrolSaved {
		t.Fatalf("enrol: %+v", r)
	}
	testx.WaitFor(t, 10*time.Second, "obama in the pipeline's gallery", func() bool { return h.svc.Pipeline.Gallery().Person("obama") != nil })
	if s := list(); len(s) != 0 {
		t.Fatalf("suggestions before any frame: %+v", s)
	}

	frames("faces/obama/5.jpg", 2500*time.Millisecond) // 0.07 from 1.jpg: a near-duplicate
	frames("faces/obama/2.jpg", 2500*time.Millisecond)
	var got []api.Suggestion
	testx.WaitFor(t, 60*time.Second, "a suggestion", func() bool { got = list(); return len(got) > 0 })
	time.Sleep(2 * time.Second) // the worker's queue drains
	got = list()
	t.Logf("suggestions: %+v", got)
	if len(got) != 1 || got[0].Name != "obama" || got[0].Camera != "door" || got[0].Distance < service.SuggestMinDistance || got[0].Quality <= 0 {
		t.Fatalf("want one suggestion of obama on door (not the near-duplicate): %+v", got)
	}
	sg := got[0]
	for _, f := range []string{sg.ID + ".jpg", sg.ID + ".json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("folder: %v %v", st, err)
	}
	c, b := rest("GET", "/api/suggestions/"+sg.ID+"/image.jpg")
	if c != 200 || !bytes.HasPrefix(b, []byte{0xff, 0xd8}) {
		t.Fatalf("image: %d", c)
	}

	c, b = rest("POST", "/api/suggestions/"+sg.ID+"/accept")
	var res msg.EnrolResult
	if c != 200 || json.Unmarshal(b, &res) != nil || res.Status != msg.EnrolSaved || res.Path == "" {
		t.Fatalf("accept: %d %s", c, b)
	}
	if _, err := os.Stat(filepath.Join(h.dataset, filepath.FromSlash(res.Path))); err != nil {
		t.Fatalf("accepted crop not in the dataset: %v", err)
	}
	testx.WaitFor(t, 10*time.Second, "obama's second sample", func() bool {
		p := h.svc.Pipeline.Gallery().Person("obama")
		return p != nil && len(p.Samples) == 2
	})
	if s := list(); len(s) != 0 {
		t.Fatalf("after accept: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, sg.ID+".jpg")); !os.IsNotExist(err) {
		t.Fatalf("accepted suggestion's file: %v", err)
	}
	if c, _ := rest("POST", "/api/suggestions/"+sg.ID+"/accept"); c != 404 {
		t.Fatalf("accept twice: %d", c)
	}

	// Another photo: a new suggestion, discarded.
	frames("faces/obama/3.jpg", 2500*time.Millisecond)
	testx.WaitFor(t, 60*time.Second, "a second suggestion", func() bool { got = list(); return len(got) > 0 })
	if c, b := rest("DELETE", "/api/suggestions/"+got[0].ID); c != 204 {
		t.Fatalf("discard: %d %s", c, b)
	}
	if _, err := os.Stat(filepath.Join(dir, got[0].ID+".json")); !os.IsNotExist(err) {
		t.Fatalf("discarded suggestion's file: %v", err)
	}
}
