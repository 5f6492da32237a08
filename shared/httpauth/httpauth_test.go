package httpauth

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEqual(t *testing.T) {
	if !Equal("abc", "abc") || Equal("abc", "abd") || Equal("abc", "abcd") || Equal("", "x") {
		t.Fatal("Equal is wrong")
	}
}

func TestBearerOK(t *testing.T) {
	for _, c := range []struct {
		hdr, want string
		ok        bool
	}{
		{"Bearer tok", "tok", true},
		{"bearer tok", "tok", true},
		{"Bearer tok2", "tok", false},
		{"Basic tok", "tok", false},
		{"Bearer ", "", false},
		{"", "", false},
		{"Bearer x", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.hdr != "" {
			r.Header.Set("Authorization", c.hdr)
		}
		if got := BearerOK(r, c.want); got != c.ok {
			t.Errorf("%q want %q: got %v", c.hdr, c.want, got)
		}
	}
}

func TestMetricsGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) })
	for _, c := range []struct {
		name, remote, token, auth string
		code                      int
	}{
		{"loopback v4", "127.0.0.1:5000", "", "", 200},
		{"loopback v6", "[::1]:5000", "", "", 200},
		{"lan no token configured", "192.168.1.9:5000", "", "", 403},
		{"lan token missing", "192.168.1.9:5000", "s3", "", 401},
		{"lan token wrong", "192.168.1.9:5000", "s3", "Bearer nope", 401},
		{"lan token right", "192.168.1.9:5000", "s3", "Bearer s3", 200},
		{"loopback wrong token", "127.0.0.1:5000", "s3", "Bearer nope", 401},
		{"mapped v4 lan", "[::ffff:10.0.0.2]:1", "", "", 403},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = c.remote
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		Metrics(ok, c.token).ServeHTTP(w, r)
		if w.Code != c.code {
			t.Errorf("%s: code %d, want %d (%s)", c.name, w.Code, c.code, w.Body)
		}
		// /healthz is guarded the same way, with its own name in the error.
		hw := httptest.NewRecorder()
		Health(ok, c.token).ServeHTTP(hw, r)
		if hw.Code != c.code || (c.code != 200 && !strings.Contains(hw.Body.String(), "healthz:")) {
			t.Errorf("%s: /healthz code %d, want %d (%s)", c.name, hw.Code, c.code, hw.Body)
		}
		if c.code != 200 && !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%s: body %q is not the JSON error", c.name, w.Body)
		}
		if c.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if s, err := ReadSecret(write("ok", "  tok-123\n")); err != nil || s != "tok-123" {
		t.Fatalf("got %q %v", s, err)
	}
	for name, content := range map[string]string{"empty": " \n", "two": "secretA\nsecretB\n", "big": strings.Repeat("x", MaxSecretBytes+1)} {
		_, err := ReadSecret(write(name, content))
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "secretA") {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
	}
	if _, err := ReadSecret(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestSameOrigin(t *testing.T) {
	// {Sec-Fetch-Site, Origin} ("" = header absent) for a request to pi.lan:8080.
	for hdr, want := range map[[2]string]bool{
		{"", ""}: true, {"same-origin", "http://pi.lan:8080"}: true, {"none", ""}: true, {"", "http://PI.lan:8080"}: true,
		{"cross-site", ""}: false, {"same-site", "http://pi.lan:8080"}: false, {"", "http://evil.example"}: false, {"", "null"}: false,
	} {
		r := httptest.NewRequest("POST", "http://pi.lan:8080/api/login", nil)
		if hdr[0] != "" {
			r.Header.Set("Sec-Fetch-Site", hdr[0])
		}
		if hdr[1] != "" {
			r.Header.Set("Origin", hdr[1])
		}
		if got := SameOrigin(r); got != want {
			t.Errorf("Sec-Fetch-Site %q Origin %q: %v, want %v", hdr[0], hdr[1], got, want)
		}
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "Application/JSON; charset=utf-8": true, " application/json ": true,
		"": false, "text/plain": false, "application/jsonx": false, "multipart/form-data": false,
	} {
		if IsJSON(ct) != want {
			t.Errorf("IsJSON(%q) = %v", ct, !want)
		}
	}
}
