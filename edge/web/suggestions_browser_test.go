package web

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/facemon/facemon/dashboard"
	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/edge/rapi"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// suggestRec answers the recognizer's REST routes the People view reads,
// with /api/suggestions as recognizer/api serves them (the store behind
// them is tested with real dlib in recognizer/service).
type suggestRec struct {
	mu       sync.Mutex
	img      []byte
	sugs     []map[string]any
	samples  map[string]int
	accepted []string
	deleted  []string
}

func (f *suggestRec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/api/sessions" && r.Method == "POST" {
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"token": "tok-1", "expires": time.Now().Add(time.Hour)})
		return
	}
	if r.Header.Get("Authorization") != "Bearer tok-1" {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":"unauthorized"}`)
		return
	}
	p := r.URL.Path
	id := func(suffix string) string {
		return strings.TrimSuffix(strings.TrimPrefix(p, "/api/suggestions/"), suffix)
	}
	drop := func(x string) bool {
		for i, s := range f.sugs {
			if s["id"] == x {
				f.sugs = append(f.sugs[:i], f.sugs[i+1:]...)
				return true
			}
		}
		return false
	}
	nameOf := func(x string) string {
		for _, s := range f.sugs {
			if s["id"] == x {
				return s["name"].(string)
			}
		}
		return ""
	}
	switch {
	case p == "/api/people":
		var ps []map[string]any
		for _, n := range []string{"biden", "obama"} {
			ps = append(ps, map[string]any{"name": n, "samples": f.samples[n]})
		}
		json.NewEncoder(w).Encode(map[string]any{"people": ps})
	case p == "/api/pending":
		io.WriteString(w, `{"pending":[]}`)
	case p == "/api/suggestions":
		json.NewEncoder(w).Encode(map[string]any{"suggestions": f.sugs})
	case strings.HasSuffix(p, "/image.jpg") && strings.HasPrefix(p, "/api/suggestions/"):
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(f.img)
	case r.Method == "POST" && strings.HasSuffix(p, "/accept"):
		x := id("/accept")
		n := nameOf(x)
		if n == "" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":"not found"}`)
			return
		}
		drop(x)
		f.samples[n]++
		f.accepted = append(f.accepted, x)
		json.NewEncoder(w).Encode(map[string]any{"v": 1, "id": "suggestion-" + x, "name": n, "status": "saved", "faces": 1, "path": n + "/x.jpg"})
	case r.Method == "DELETE" && strings.HasPrefix(p, "/api/suggestions/"):
		x := id("")
		if !drop(x) {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":"not found"}`)
			return
		}
		f.deleted = append(f.deleted, x)
		w.WriteHeader(204)
	default: // events, unknowns...: empty
		io.WriteString(w, `{}`)
	}
}

func smallJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBrowserSuggestions: in Chromium, the People view lists the
// suggestions (through the edge's /rapi proxy) with their thumbnails;
// clicking Accept on obama's sends the accept and the list and people
// refresh; Discard on biden's deletes it.
func TestBrowserSuggestions(t *testing.T) {
	chrome := testx.Chromium(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hashFile := t.TempDir() + "/dashboard.bcrypt"
	if err := login.WriteHash(hashFile, testPassword); err != nil {
		t.Fatal(err)
	}
	rec := &suggestRec{img: smallJPEG(t), samples: map[string]int{"obama": 1, "biden": 1}, sugs: []map[string]any{
		{"id": "00112233445566778899aabb", "name": "biden", "camera": "door", "created": time.Now().UTC(), "quality": 150.2, "distance": 0.22},
		{"id": "bbaa99887766554433221100", "name": "obama", "camera": "door", "created": time.Now().UTC(), "quality": 276.2, "distance": 0.38},
	}}
	rs := httptest.NewServer(rec)
	defer rs.Close()
	px, err := rapi.New(rapi.Options{Target: rs.URL, Logger: quiet, Token: login.RequestToken,
		Refused: func(r *http.Request, tok string) { login.RequestTokenRefused(r, tok, rapi.RefusedMessage) }})
	if err != nil {
		t.Fatal(err)
	}
	a, err := login.New(login.Options{HashFile: hashFile, Logger: quiet, Issuer: px.Sessions()})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Hub: stream.New(stream.Options{}), State: state.New(state.Options{Space: topic.New(""), Local: "c1", Logger: quiet}),
		History: px, Metrics: metrics.New(), Local: "c1", Logger: quiet, Login: a, Assets: dashboard.Static()})
	ts := httptest.NewServer(s)
	defer ts.Close()

	ctx := browserContext(t, chrome)
	if err := chromedp.Run(ctx, chromedp.Navigate(ts.URL+"/login?next=%2F%23people"),
		chromedp.WaitVisible("#password", chromedp.ByID),
		chromedp.SendKeys("#password", testPassword, chromedp.ByID),
		chromedp.Click("#login", chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	js := func(expr string) string {
		var out string
		chromedp.Run(ctx, chromedp.Evaluate(expr, &out))
		return out
	}
	cards := `Array.prototype.map.call(document.querySelectorAll('#suggestion-list li.suggestion'), function (li) {
		var img = li.querySelector('img'); return li.dataset.person + ':' + (img && img.complete && img.naturalWidth > 0 ? 'img' : 'noimg'); }).join(',')`
	testx.WaitFor(t, 30*time.Second, "two suggestions with thumbnails", func() bool {
		return js(cards) == "biden:img,obama:img"
	})
	if st := js(`document.getElementById('suggestions-status').textContent`); st != "2 suggestions" {
		t.Fatalf("status %q", st)
	}
	if err := chromedp.Run(ctx, chromedp.Click(`#suggestion-list li[data-person="obama"] button.accept`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	testx.WaitFor(t, 10*time.Second, "obama's accepted, the list refreshed", func() bool { return js(cards) == "biden:img" })
	rec.mu.Lock()
	acc := append([]string(nil), rec.accepted...)
	rec.mu.Unlock()
	if len(acc) != 1 || acc[0] != "bbaa99887766554433221100" {
		t.Fatalf("accepted %v", acc)
	}
	if err := chromedp.Run(ctx, chromedp.Click(`#suggestion-list li[data-person="biden"] button.discard`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	testx.WaitFor(t, 10*time.Second, "biden's discarded", func() bool {
		return js(`document.querySelector('#suggestion-list li.empty') ? 'empty' : ''`) == "empty"
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.deleted) != 1 || rec.deleted[0] != "00112233445566778899aabb" || rec.samples["obama"] != 2 {
		t.Fatalf("deleted %v samples %v", rec.deleted, rec.samples)
	}
}
