package pprofx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMountGuarded(t *testing.T) {
	mux := http.NewServeMux()
	Mount(mux, "tok")
	get := func(path, remote, bearer string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = remote
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	if w := get("/debug/pprof/", "127.0.0.1:5000", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("loopback index: %d %.200s", w.Code, w.Body.String())
	}
	if w := get("/debug/pprof/goroutine?debug=1", "[::1]:5000", ""); w.Code != 200 {
		t.Fatalf("loopback goroutine profile: %d", w.Code)
	}
	if w := get("/debug/pprof/heap", "192.0.2.7:5000", ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("remote without token: %d, want 401", w.Code)
	}
	if w := get("/debug/pprof/heap", "192.0.2.7:5000", "wrong"); w.Code != http.StatusUnauthorized {
		t.Fatalf("remote with a wrong token: %d, want 401", w.Code)
	}
	if w := get("/debug/pprof/cmdline", "192.0.2.7:5000", "tok"); w.Code != 200 {
		t.Fatalf("remote with the token: %d", w.Code)
	}
	open := http.NewServeMux()
	Mount(open, "")
	r := httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)
	r.RemoteAddr = "192.0.2.7:5000"
	w := httptest.NewRecorder()
	open.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("remote, no token configured: %d, want 403", w.Code)
	}
}
