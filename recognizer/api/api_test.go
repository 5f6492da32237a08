package api

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/history"
	"github.com/facemon/facemon/shared/msg"
)

// ---- fakes

type fakePeople struct {
	mu    sync.Mutex
	ppl   map[string]*Person
	panic bool
}

func newPeople() *fakePeople {
	return &fakePeople{ppl: map[string]*Person{"alice": {Name: "alice", Samples: 3}, "Zoë": {Name: "Zoë", Samples: 1, Threshold: 0.5}}}
}

func (f *fakePeople) People(context.Context) ([]Person, error) {
	if f.panic {
		panic("boom")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Person
	for _, p := range f.ppl {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakePeople) get(name string) (*Person, error) {
	p := f.ppl[name]
	if p == nil {
		return nil, ErrNotFound
	}
	return p, nil
}

func (f *fakePeople) Samples(_ context.Context, name string) ([]Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.get(name)
	if err != nil {
		return nil, err
	}
	out := make([]Sample, p.Samples)
	for i := range out {
		out[i] = Sample{Source: name + "/x.jpg", Box: [4]int{1, 2, 3, 4}}
	}
	return out, nil
}

func (f *fakePeople) SetThreshold(_ context.Context, name string, t float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.get(name)
	if err == nil {
		p.Threshold = t
	}
	return err
}

func (f *fakePeople) DeletePerson(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(name); err != nil {
		return err
	}
	delete(f.ppl, name)
	return nil
}

func (f *fakePeople) RenamePerson(_ context.Context, old, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.get(old)
	if err != nil {
		return err
	}
	if f.ppl[name] != nil {
		return ErrConflict
	}
	delete(f.ppl, old)
	p.Name = name
	f.ppl[name] = p
	return nil
}

type fakeTrainer struct {
	mu      sync.Mutex
	running bool
	runs    []string
	status  *msg.TrainStatus
}

func (f *fakeTrainer) StartTraining(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ctx.Done() != nil {
		return io.ErrUnexpectedEOF // the run must not be tied to the request
	}
	if f.running {
		return ErrConflict
	}
	f.running = true
	f.runs = append(f.runs, id)
	f.status = &msg.TrainStatus{V: 1, ID: id, State: msg.TrainRunning}
	return nil
}

func (f *fakeTrainer) TrainStatus(context.Context) (*msg.TrainStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

type fakeDataset struct {
	mu    sync.Mutex
	saved map[string][][]byte
}

func (f *fakeDataset) AddImages(_ context.Context, name string, jpegs [][]byte) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saved == nil {
		f.saved = map[string][][]byte{}
	}
	var paths []string
	for _, j := range jpegs {
		f.saved[name] = append(f.saved[name], j)
		paths = append(paths, filepath.Join(name, "unknown-"+string(rune('a'+len(f.saved[name])))+".jpg"))
	}
	return paths, nil
}

// ---- helpers

type env struct {
	t     *testing.T
	srv   *httptest.Server
	ppl   *fakePeople
	tr    *fakeTrainer
	ds    *fakeDataset
	store *history.Store
}

const testToken = "s3cret"

// newEnv serves the API with testToken; e.do sends it (and a JSON content
// type on writes) unless told otherwise.
func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := history.Open(history.Config{Path: filepath.Join(t.TempDir(), "h.db"), Debounce: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, ppl: newPeople(), tr: &fakeTrainer{}, ds: &fakeDataset{}, store: st}
	e.srv = httptest.NewServer(New(Options{People: e.ppl, Trainer: e.tr, History: st, Dataset: e.ds, Token: testToken}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) do(method, path, body string, hdr ...string) (int, []byte, http.Header) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if method != "GET" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (e *env) want(method, path, body string, status int) []byte {
	e.t.Helper()
	got, b, h := e.do(method, path, body)
	if got != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, b)
	}
	if status >= 400 {
		var er map[string]string
		if json.Unmarshal(b, &er) != nil || er["error"] == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			e.t.Fatalf("%s %s: error body %q", method, path, b)
		}
	}
	return b
}

func frame(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 200, 150))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	jpeg.Encode(&b, img, nil)
	return b.Bytes()
}

func desc(r *rand.Rand) face.Descriptor {
	var d face.Descriptor
	for i := range d {
		d[i] = float32(r.NormFloat64() / math.Sqrt(128))
	}
	return d
}

// ---- tests

func TestPeople(t *testing.T) {
	e := newEnv(t)
	var ps struct{ People []Person }
	json.Unmarshal(e.want("GET", "/api/people", "", 200), &ps)
	if len(ps.People) != 2 || ps.People[1].Name != "alice" || ps.People[1].Samples != 3 {
		t.Fatalf("people %+v", ps)
	}
	e.want("GET", "/api/people/alice/samples", "", 200)
	e.want("GET", "/api/people/Zo%C3%AB/samples", "", 200)
	e.want("GET", "/api/people/nobody/samples", "", 404)
	e.want("GET", "/api/people/unknown/samples", "", 400)
	e.want("GET", "/api/people/.hidden/samples", "", 400)

	e.want("PUT", "/api/people/alice/threshold", `{"threshold":0.55}`, 200)
	if e.ppl.ppl["alice"].Threshold != 0.55 {
		t.Fatal("threshold not set")
	}
	for _, bad := range []string{``, `{`, `{"threshold":-1}`, `{"threshold":3}`, `{"threshold":0.2}`, `{"threshold":0.8}`, `{"threshold":"x"}`, `{}`, `{"threshold":0.5,"x":1}`, `{"threshold":0.5} {}`, `[]`} {
		e.want("PUT", "/api/people/alice/threshold", bad, 400)
	}
	e.want("PUT", "/api/people/alice/threshold", `{"threshold":0.5,"pad":"`+strings.Repeat("x", MaxBodyBytes)+`"}`, 413)

	e.want("POST", "/api/people/alice/rename", `{"name":"Zoë"}`, 409)
	e.want("POST", "/api/people/alice/rename", `{"name":"a/b"}`, 400)
	e.want("POST", "/api/people/alice/rename", `{"name":"alice"}`, 400)
	e.want("POST", "/api/people/alice/rename", `{"name":"Alice B"}`, 200)
	e.want("DELETE", "/api/people/Alice%20B", "", 204)
	e.want("DELETE", "/api/people/Alice%20B", "", 404)
	e.want("GET", "/api/nothing", "", 404)
	e.want("PATCH", "/api/people", "{}", 404) // JSON 404 for every unknown route/method
}

func TestTrain(t *testing.T) {
	e := newEnv(t)
	e.want("GET", "/api/train/status", "", 404)
	var r map[string]string
	json.Unmarshal(e.want("POST", "/api/train", "", 202), &r)
	if r["id"] == "" {
		t.Fatal("no id")
	}
	e.want("POST", "/api/train", `{"id":"x"}`, 409)
	e.want("POST", "/api/train", `{"id":"`+strings.Repeat("x", 129)+`"}`, 400)
	e.want("POST", "/api/train", `{"id":1}`, 400)
	var st msg.TrainStatus
	json.Unmarshal(e.want("GET", "/api/train/status", "", 200), &st)
	if st.State != msg.TrainRunning {
		t.Fatalf("status %+v", st)
	}
}

func TestTokenAndRecover(t *testing.T) {
	e := newEnv(t)
	e.want("GET", "/api/people", "", 200)
	// Every route, reads included, needs the token.
	for _, rt := range [][2]string{{"GET", "/api/people"}, {"GET", "/api/events"}, {"GET", "/api/events/1/frame.jpg"},
		{"GET", "/api/events/1/crop.jpg"}, {"GET", "/api/unknowns"}, {"GET", "/api/unknowns/faces/1/crop.jpg"},
		{"GET", "/api/train/status"}, {"POST", "/api/train"}, {"DELETE", "/api/people/alice"}, {"GET", "/api/nothing"}} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, "Bearer"} {
			st, b, h := e.do(rt[0], rt[1], "", "Authorization", auth)
			var er map[string]string
			if st != 401 || h.Get("WWW-Authenticate") == "" || json.Unmarshal(b, &er) != nil || er["error"] == "" {
				t.Errorf("%s %s with %q: %d %s (WWW-Authenticate %q)", rt[0], rt[1], auth, st, b, h.Get("WWW-Authenticate"))
			}
		}
	}
	if e.ppl.ppl["alice"] == nil {
		t.Fatal("alice deleted without a token")
	}
	// Bodies must be JSON: the cross-site no-cors text/plain POST.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		st, b, _ := e.do("POST", "/api/unknowns/1/name", `{"name":"mallory"}`, "Content-Type", ct)
		if st != 415 || !strings.Contains(string(b), "application/json") {
			t.Errorf("POST as %q: %d %s", ct, st, b)
		}
	}
	if st, _, _ := e.do("PUT", "/api/people/alice/threshold", `{"threshold":0.3}`, "Content-Type", "text/plain"); st != 415 || e.ppl.ppl["alice"].Threshold == 0.3 {
		t.Errorf("text/plain PUT: %d", st)
	}
	if st, _, _ := e.do("DELETE", "/api/people/alice", `{}`, "Content-Type", "text/plain"); st != 415 {
		t.Errorf("text/plain DELETE: %d", st)
	}
	// A browser's cross-site request: 403, token or not.
	if st, b, _ := e.do("GET", "/api/people", "", "Sec-Fetch-Site", "cross-site"); st != 403 || !strings.Contains(string(b), `"error"`) {
		t.Errorf("cross-site: %d %s", st, b)
	}
	// No CORS: a preflight gets no Access-Control-* header.
	_, _, h := e.do("OPTIONS", "/api/unknowns/1/name", "", "Origin", "http://evil.example", "Access-Control-Request-Method", "POST")
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("CORS header %s: %v", k, h[k])
		}
	}
	if st, _, _ := e.do("POST", "/api/train", "", "Content-Type", "application/json; charset=utf-8"); st != 202 {
		t.Fatalf("with token: %d", st)
	}
	e.ppl.panic = true
	e.want("GET", "/api/people", "", 500)
	e.ppl.panic = false
	e.want("GET", "/api/people", "", 200) // still serving

	// Nothing configured (opened without a token): 501.
	srv := httptest.NewServer(New(Options{Open: true}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 501 {
		t.Fatalf("unconfigured: %d", resp.StatusCode)
	}
}

// Without a token the API refuses everything unless opened explicitly.
func TestNoTokenRefuses(t *testing.T) {
	ppl := newPeople()
	srv := httptest.NewServer(New(Options{People: ppl}))
	defer srv.Close()
	for _, m := range []string{"GET", "DELETE"} {
		req, _ := http.NewRequest(m, srv.URL+"/api/people/alice", nil)
		if m == "GET" {
			req, _ = http.NewRequest(m, srv.URL+"/api/people", nil)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || !strings.Contains(string(b), "no API token configured") {
			t.Errorf("%s without a configured token: %d %s", m, resp.StatusCode, b)
		}
	}
	if ppl.ppl["alice"] == nil {
		t.Fatal("deleted")
	}
	open := httptest.NewServer(New(Options{People: ppl, Open: true}))
	defer open.Close()
	resp, err := http.Get(open.URL + "/api/people")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("--api-open: %d", resp.StatusCode)
	}
}

// TestWithHistoryStore wires the API to a real history store.
func TestWithHistoryStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := rand.New(rand.NewSource(1))
	fr := frame(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	visitor := desc(r)
	for i := 0; i < 3; i++ {
		faces := []history.Seen{{Name: "alice", Distance: 0.4, Box: [4]int{10, 10, 60, 60}, Descriptor: desc(r)},
			{Name: msg.Unknown, Distance: 0.8, Box: [4]int{100, 50, 150, 110}, Descriptor: visitor}}
		if _, err := e.store.Record(ctx, history.Observation{Camera: "door", Time: t0.Add(time.Duration(i) * time.Minute), Frame: fr, Faces: faces}); err != nil {
			t.Fatal(err)
		}
	}
	e.store.Record(ctx, history.Observation{Camera: "yard", Time: t0.Add(time.Hour), Frame: fr, Faces: []history.Seen{{Name: msg.Unknown, Distance: 0.9, Box: [4]int{0, 0, 40, 40}, Descriptor: desc(r)}}})

	var evs struct {
		Events []struct {
			ID      int64  `json:"id"`
			Camera  string `json:"camera"`
			CropURL string `json:"crop_url"`
		}
	}
	json.Unmarshal(e.want("GET", "/api/events?camera=door&person=alice&limit=2&since="+t0.Format(time.RFC3339), "", 200), &evs)
	if len(evs.Events) != 2 || evs.Events[0].CropURL == "" {
		t.Fatalf("events %+v", evs)
	}
	json.Unmarshal(e.want("GET", "/api/events?until="+fmtUnix(t0.Add(30*time.Second)), "", 200), &evs)
	if len(evs.Events) != 1 {
		t.Fatalf("until: %+v", evs)
	}
	for _, q := range []string{"camera=a%2Fb", "person=unknown", "limit=0", "limit=1001", "limit=x", "since=yesterday", "since=2025-06-02T00:00:00Z&until=2025-06-01T00:00:00Z"} {
		e.want("GET", "/api/events?"+q, "", 400)
	}
	st, b, h := e.do("GET", evs.Events[0].CropURL, "")
	if st != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("crop %d", st)
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	e.want("GET", "/api/events/1/frame.jpg", "", 200)
	e.want("GET", "/api/events/999/crop.jpg", "", 404)
	e.want("GET", "/api/events/-1/crop.jpg", "", 400)
	e.want("GET", "/api/events/abc/crop.jpg", "", 400)
	e.want("GET", "/api/events/latest/crop.jpg?camera=door&person=alice", "", 200)
	e.want("GET", "/api/events/latest/crop.jpg?camera=door&person=bob", "", 404)
	e.want("POST", "/api/events/1/not-this-person", "", 201)
	if ns, _ := e.store.Negatives(ctx, "alice"); len(ns) != 1 {
		t.Fatal("negative not stored")
	}

	var gs struct {
		Groups []struct {
			ID         int64    `json:"id"`
			Count      int      `json:"count"`
			SampleURLs []string `json:"sample_urls"`
			CropURL    string   `json:"crop_url"`
		}
	}
	json.Unmarshal(e.want("GET", "/api/unknowns", "", 200), &gs)
	if len(gs.Groups) != 2 || gs.Groups[1].Count != 3 || len(gs.Groups[1].SampleURLs) != 3 {
		t.Fatalf("groups %+v", gs)
	}
	e.want("GET", gs.Groups[1].SampleURLs[0], "", 200)
	e.want("GET", gs.Groups[1].CropURL, "", 200)
	e.want("GET", "/api/unknowns/"+itoa(gs.Groups[1].ID), "", 200)
	e.want("GET", "/api/unknowns?state=bogus", "", 400)
	e.want("GET", "/api/unknowns/999", "", 404)

	visitorGroup, other := itoa(gs.Groups[1].ID), itoa(gs.Groups[0].ID)
	e.want("POST", "/api/unknowns/"+visitorGroup+"/name", `{"name":"unknown"}`, 400)
	e.want("POST", "/api/unknowns/"+visitorGroup+"/name", `{"nam":"carol"}`, 400)
	var nr nameResult
	json.Unmarshal(e.want("POST", "/api/unknowns/"+visitorGroup+"/name", `{"name":"carol","train":true}`, 200), &nr)
	if nr.Added != 3 || !nr.Training || len(e.ds.saved["carol"]) != 3 || len(e.tr.runs) != 1 {
		t.Fatalf("name result %+v (trainer runs %v)", nr, e.tr.runs)
	}
	e.want("POST", "/api/unknowns/"+visitorGroup+"/name", `{"name":"carol"}`, 409)
	e.want("POST", "/api/unknowns/"+visitorGroup+"/dismiss", "", 409)
	// Merging: a named group takes no faces; bad bodies and ids refused.
	e.want("POST", "/api/unknowns/"+other+"/merge", `{"into":`+visitorGroup+`}`, 409)
	e.want("POST", "/api/unknowns/"+other+"/merge", `{"into":0}`, 400)
	e.want("POST", "/api/unknowns/"+other+"/merge", `{"into":"x"}`, 400)
	e.want("POST", "/api/unknowns/"+other+"/merge", ``, 400)
	e.want("POST", "/api/unknowns/"+other+"/merge", `{"into":`+other+`}`, 400)
	e.want("POST", "/api/unknowns/"+other+"/merge", `{"into":999}`, 404)
	e.want("POST", "/api/unknowns/999/merge", `{"into":`+other+`}`, 404)
	e.want("POST", "/api/unknowns/"+other+"/dismiss", "", 204)
	// Two open groups of one visitor become one.
	var split []string
	for i, d := range []face.Descriptor{desc(r), desc(r)} {
		res, err := e.store.Record(ctx, history.Observation{Camera: "porch", Time: t0.Add(time.Duration(90+i) * time.Minute), Frame: fr,
			Faces: []history.Seen{{Name: msg.Unknown, Distance: 0.9, Box: [4]int{0, 0, 40, 40}, Descriptor: d}}})
		if err != nil || !res.Unknowns[0].NewGroup {
			t.Fatalf("split visitor: %+v %v", res, err)
		}
		split = append(split, itoa(res.Unknowns[0].Group))
	}
	var merged struct {
		Group struct {
			ID    int64 `json:"id"`
			Count int   `json:"count"`
		} `json:"group"`
	}
	json.Unmarshal(e.want("POST", "/api/unknowns/"+split[1]+"/merge", `{"into":`+split[0]+`}`, 200), &merged)
	if itoa(merged.Group.ID) != split[0] || merged.Group.Count != 2 {
		t.Fatalf("merged %+v", merged)
	}
	e.want("GET", "/api/unknowns/"+split[1], "", 404)
	e.want("POST", "/api/unknowns/"+split[0]+"/dismiss", "", 204)
	json.Unmarshal(e.want("GET", "/api/unknowns", "", 200), &gs)
	if len(gs.Groups) != 0 {
		t.Fatalf("open groups left %+v", gs)
	}

	// Single face naming.
	rec, _ := e.store.Record(ctx, history.Observation{Camera: "yard", Time: t0.Add(2 * time.Hour), Frame: fr, Faces: []history.Seen{{Name: msg.Unknown, Distance: 0.9, Box: [4]int{0, 0, 40, 40}, Descriptor: desc(r)}}})
	fid := itoa(rec.Unknowns[0].ID)
	e.want("GET", "/api/unknowns/faces/"+fid+"/crop.jpg", "", 200)
	e.want("POST", "/api/unknowns/faces/"+fid+"/name", `{"name":"dave"}`, 200)
	e.want("POST", "/api/unknowns/faces/"+fid+"/name", `{"name":"dave"}`, 409)
	if len(e.ds.saved["dave"]) != 1 {
		t.Fatal("single face not saved")
	}
}

func itoa(i int64) string { return strings.TrimSpace(string(mustJSON(i))) }

func fmtUnix(t time.Time) string { return itoa(t.Unix()) }

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
