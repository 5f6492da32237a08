package api

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/facemon/facemon/shared/msg"
)

// fakeSuggestions stands for the recognizer's store (tested for real in
// recognizer/service): the API's routes, ids, statuses and auth are what
// is tested here.
type fakeSuggestions struct {
	mu    sync.Mutex
	items map[string]Suggestion
}

const (
	sugA = "00112233445566778899aabb" // accepted: saved
	sugB = "bbaa99887766554433221100" // accepted: no face (422)
)

func (f *fakeSuggestions) List(context.Context) ([]Suggestion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Suggestion
	for _, id := range []string{sugA, sugB} {
		if s, ok := f.items[id]; ok {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeSuggestions) Image(_ context.Context, id string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[id]; !ok {
		return nil, ErrNotFound
	}
	return []byte{0xff, 0xd8, 0xff, 0xd9}, nil
}

func (f *fakeSuggestions) Accept(_ context.Context, id string) (msg.EnrolResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.items[id]
	if !ok {
		return msg.EnrolResult{}, ErrNotFound
	}
	if id == sugB {
		return msg.EnrolResult{V: msg.Version, ID: "suggestion-" + id, Name: s.Name, Status: msg.EnrolNoFace}, nil
	}
	delete(f.items, id)
	return msg.EnrolResult{V: msg.Version, ID: "suggestion-" + id, Name: s.Name, Status: msg.EnrolSaved, Faces: 1, Path: s.Name + "/x.jpg"}, nil
}

func (f *fakeSuggestions) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[id]; !ok {
		return ErrNotFound
	}
	delete(f.items, id)
	return nil
}

func TestSuggestionRoutes(t *testing.T) {
	e := newEnv(t)
	f := &fakeSuggestions{items: map[string]Suggestion{
		sugA: {ID: sugA, Name: "alice", Camera: "door", Quality: 120.5, Distance: 0.31},
		sugB: {ID: sugB, Name: "bob", Camera: "hall", Quality: 80, Distance: 0.2},
	}}
	e.srv.Close()
	e.srv = httptest.NewServer(New(Options{People: e.ppl, Token: testToken, Suggestions: f}))
	t.Cleanup(e.srv.Close)

	b := e.want("GET", "/api/suggestions", "", 200)
	if !strings.Contains(string(b), `"id":"`+sugA+`","name":"alice","camera":"door"`) || !strings.Contains(string(b), `"quality":120.5,"distance":0.31`) {
		t.Fatalf("list %s", b)
	}
	if c, _, h := e.do("GET", "/api/suggestions/"+sugA+"/image.jpg", ""); c != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("image: %d", c)
	}
	e.want("GET", "/api/suggestions/xyz/image.jpg", "", 400)
	e.want("GET", "/api/suggestions/ffffffffffffffffffffffff/image.jpg", "", 404)
	e.want("POST", "/api/suggestions/ffffffffffffffffffffffff/accept", "", 404)
	if c, b, _ := e.do("POST", "/api/suggestions/"+sugB+"/accept", ""); c != 422 || !strings.Contains(string(b), `"status":"no_face"`) {
		t.Fatalf("accept without a face: %d %s", c, b)
	}
	b = e.want("POST", "/api/suggestions/"+sugA+"/accept", "", 200)
	if !strings.Contains(string(b), `"name":"alice","status":"saved"`) {
		t.Fatalf("accept %s", b)
	}
	e.want("DELETE", "/api/suggestions/"+sugA, "", 404)
	if c, _, _ := e.do("DELETE", "/api/suggestions/"+sugB, ""); c != 204 {
		t.Fatalf("discard: %d", c)
	}
	if b := e.want("GET", "/api/suggestions", "", 200); string(b) != "{\"suggestions\":[]}\n" {
		t.Fatalf("list after: %q", b)
	}
	if c, _, _ := e.do("GET", "/api/suggestions", "", "Authorization", ""); c != 401 {
		t.Fatalf("without a token: %d", c)
	}
	// A recognizer without suggestions (--suggestions -) says so.
	e.srv.Close()
	e.srv = httptest.NewServer(New(Options{Token: testToken}))
	e.want("GET", "/api/suggestions", "", 501)
}
