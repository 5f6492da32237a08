//go:build cgo

package service_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/annotate"
	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/recognizer/bench"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// A measurement, not a check (minutes): FACEMON_EVAL_SUGGEST_VIDEO=1 runs
// the shared clip (10 fps, 30 s) through the service as serve configures
// it (decode once, grey HOG, the shipped tracker): the performer enrolled
// from ONE frame (the first of him), one pass on camera a, every
// suggestion accepted over REST, the same frames again on camera b.
// Confirmed coverage = processed frames with a face where a face shows the
// performer's confirmed (not tentative) name / processed frames with a face.
//
//	FACEMON_EVAL_SUGGEST_VIDEO=1 go test -run TestSuggestionsOnSharedVideo -v -timeout 30m ./service/
func TestSuggestionsOnSharedVideo(t *testing.T) {
	if os.Getenv("FACEMON_EVAL_SUGGEST_VIDEO") == "" {
		t.Skip("set FACEMON_EVAL_SUGGEST_VIDEO=1 to measure coverage before/after accepting suggestions on the shared clip")
	}
	frames, err := bench.LoadFrames(testenv.Testdata(t, "video/short_hamilton_clip.mp4"), 10, 30*time.Second, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "suggestions")
	h := startWith(t, func(c *service.Config) {
		c.HTTP, c.Suggestions = "127.0.0.1:0", dir
		c.Integrations.HistoryDB, c.Integrations.HAPrefix, c.Integrations.APIToken = "-", "-", "tok"
		c.Analyzer.Detector = face.HOGGrey
		c.Codec = annotate.Codec{}
		c.Track, c.Motion = pipeline.DefaultTrack, pipeline.DefaultMotion
	})
	<-h.svc.Ready()
	base := "http://" + h.svc.HTTPAddr()
	rest := func(method, path string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	// The one frame: the first (every 5th) whose face is the performer's,
	// as a person choosing a frame of him would: within 0.5 of his shared
	// photo (enrolled as "ref" for the choice only, deleted after).
	h.publish(t, "enrol", msg.Enrol{V: 1, ID: "ref", Name: "ref", Image: shrink(t, "faces/lin_manuel_miranda/1.jpg", 640)})
	if r := h.enrolResult(t, "ref"); r.Status != msg.EnrolSaved {
		t.Fatalf("ref: %+v", r)
	}
	enrolled := -1
	for i := 0; i < len(frames) && enrolled < 0; i += 5 {
		id := fmt.Sprintf("f%d", i)
		h.publish(t, "enrol", msg.Enrol{V: 1, ID: id, Name: "performer", Image: frames[i]})
		if r := h.enrolResult(t, id); r.Status != msg.EnrolSaved {
			continue
		}
		g := h.svc.Pipeline.Gallery()
		p, ref := g.Person("performer"), g.Person("ref")
		if p != nil && ref != nil && face.Distance(p.Samples[0].Descriptor, ref.Samples[0].Descriptor) < 0.5 {
			enrolled = i
			break
		}
		if err := h.svc.DeletePerson("performer"); err != nil {
			t.Fatal(err)
		}
	}
	if enrolled < 0 {
		t.Fatal("no frame enrolled")
	}
	if err := h.svc.DeletePerson("ref"); err != nil {
		t.Fatal(err)
	}
	testx.WaitFor(t, 10*time.Second, "gallery", func() bool {
		g := h.svc.Pipeline.Gallery()
		return g.Person("performer") != nil && g.Person("ref") == nil
	})
	pass := func(cam string) (withFace, confirmed, other int) {
		tentative, dists := 0, []float64{}
		defer func() {
			t.Logf("camera %s: %d faces tentative; distances of the first faces %v", cam, tentative, dists)
		}()
		h.mu.Lock()
		from := len(h.ids)
		h.mu.Unlock()
		start := time.Now()
		for i, f := range frames {
			b, err := msg.EmbedMeta(f, msg.FrameMeta{Camera: cam, Seq: uint64(i + 1), Captured: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			h.cl.Publish(topic.New("").Frames(cam), 0, false, b)
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * 100 * time.Millisecond)))
		}
		time.Sleep(3 * time.Second)
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, m := range h.ids[from:] {
			if m.Camera != cam || len(m.Faces) == 0 {
				continue
			}
			withFace++
			named := false
			for _, f := range m.Faces {
				if f.Tentative {
					tentative++
				}
				if len(dists) < 30 {
					dists = append(dists, f.Distance)
				}
				if f.Name == "performer" && !f.Tentative {
					named = true
				} else if f.Name != msg.Unknown && !f.Tentative {
					other++
				}
			}
			if named {
				confirmed++
			}
		}
		return
	}
	w1, c1, o1 := pass("a")
	time.Sleep(5 * time.Second) // the suggestion worker's queue drains
	var v struct{ Suggestions []api.Suggestion }
	json.Unmarshal(rest("GET", "/api/suggestions"), &v)
	accepted := 0
	for _, s := range v.Suggestions {
		var r msg.EnrolResult
		json.Unmarshal(rest("POST", "/api/suggestions/"+s.ID+"/accept"), &r)
		t.Logf("suggestion %s quality %.0f distance %.3f: %s", s.ID, s.Quality, s.Distance, r.Status)
		if r.Status == msg.EnrolSaved {
			accepted++
		}
	}
	testx.WaitFor(t, 10*time.Second, "samples", func() bool {
		return len(h.svc.Pipeline.Gallery().Person("performer").Samples) == 1+accepted
	})
	w2, c2, o2 := pass("b")
	t.Logf("faces shown with another confirmed name: before %d, after %d", o1, o2)
	t.Logf("enrolled from frame %d of %d; before: %d/%d processed face frames confirmed (%.1f%%); accepted %d of %d suggestions; after: %d/%d (%.1f%%)",
		enrolled, len(frames), c1, w1, 100*float64(c1)/float64(max(1, w1)), accepted, len(v.Suggestions), c2, w2, 100*float64(c2)/float64(max(1, w2)))
}
