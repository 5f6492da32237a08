package rapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSessionsIssueAndRevoke(t *testing.T) {
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var rec *fakeRecognizer
	rec = newRecognizer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/sessions":
			var b struct{ Password string }
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "" {
				w.WriteHeader(400)
				return
			}
			rec.mu.Lock()
			json.Unmarshal([]byte(rec.reqs[len(rec.reqs)-1].Body), &b)
			rec.mu.Unlock()
			switch b.Password {
			case "right":
				w.WriteHeader(201)
				json.NewEncoder(w).Encode(map[string]any{"token": "tok_abc-123", "expires": exp})
			case "busy":
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(429)
				io.WriteString(w, `{"error":"too many"}`)
			case "nohash":
				w.WriteHeader(503)
				io.WriteString(w, `{"error":"no dashboard password file"}`)
			default:
				w.WriteHeader(401)
				io.WriteString(w, `{"error":"wrong password"}`)
			}
		case r.Method == "DELETE" && r.URL.Path == "/api/sessions/current":
			if r.Header.Get("Authorization") == "Bearer tok_abc-123" {
				w.WriteHeader(204)
				return
			}
			w.WriteHeader(401)
		default:
			w.WriteHeader(404)
		}
	})
	px, err := New(Options{Target: rec.URL, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := px.Sessions()
	ctx := context.Background()
	tok, got, err := s.Issue(ctx, "right")
	if err != nil || tok != "tok_abc-123" || !got.Equal(exp) {
		t.Fatalf("Issue = %q %v %v", tok, got, err)
	}
	for pw, want := range map[string]string{"wrong": "did not accept this password", "busy": "retry after 7 s", "nohash": "no dashboard password file"} {
		_, _, err := s.Issue(ctx, pw)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), pw) && pw != "busy" {
			t.Errorf("Issue(%s): %v, want %q", pw, err, want)
		}
	}
	if err := s.Revoke(ctx, "tok_abc-123"); err != nil {
		t.Errorf("Revoke: %v", err)
	}
	if err := s.Revoke(ctx, "unknown"); err != nil {
		t.Errorf("Revoke of an unknown token: %v", err)
	}
	if l := rec.last(t); l.Method != "DELETE" || l.Auth != "Bearer unknown" {
		t.Errorf("revoke sent %+v", l)
	}
	// The password never goes anywhere but the POST body.
	for _, r := range rec.reqs {
		if r.Path != "/api/sessions" && strings.Contains(r.Body+r.Query+r.Auth, "right") {
			t.Errorf("password in %+v", r)
		}
	}
}

func TestSessionsUnreachable(t *testing.T) {
	px, err := New(Options{Target: "http://127.0.0.1:1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, err := px.Sessions().Issue(ctx, "pw"); err == nil || err.Error() != Unreachable {
		t.Errorf("unreachable: %v", err)
	}
}
