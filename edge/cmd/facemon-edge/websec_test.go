package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseConfigWeb(t *testing.T) {
	t.Setenv("FACEMON_API_TOKEN", "")
	c, err := parseConfig([]string{"facemon-edge"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Web.LoginFile != filepath.Join("var", "edge", "dashboard.bcrypt") || c.Web.NoLogin {
		t.Errorf("defaults: %+v", c.Web)
	}
	c, err = parseConfig([]string{"facemon-edge", "--state", "/tmp/s"}, io.Discard)
	if err != nil || c.Web.LoginFile != "/tmp/s/dashboard.bcrypt" {
		t.Errorf("--state: %+v %v", c.Web, err)
	}
	c, err = parseConfig([]string{"facemon-edge", "--no-login"}, io.Discard)
	if err != nil || c.Web.LoginFile != "" || !c.Web.NoLogin {
		t.Errorf("--no-login: %+v %v", c.Web, err)
	}
	for _, bad := range [][]string{
		{"--no-login", "--login-file", "x"},
		{"--tls-cert", "c.pem"},
		{"--tls-key", "k.pem"},
		{"--api-token", "t", "--api-token-file", "f"},
		{"--state", ""},
	} {
		if _, err := parseConfig(append([]string{"facemon-edge"}, bad...), io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// syncBuf is a goroutine-safe buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFirstStartPassword: without a login file the edge creates one, prints
// the password once on stdout (never in the log), and that password logs in.
func TestFirstStartPassword(t *testing.T) {
	state := filepath.Join(t.TempDir(), "edge-state")
	var out syncBuf
	old := stdout
	stdout = &out
	t.Cleanup(func() { stdout = old })

	start := func() (string, *syncBuf, func()) {
		addr := freePort(t)
		cfg, err := parseConfig([]string{"facemon-edge", "--broker", "tcp://" + freePort(t), "--camera-id", "first",
			"--source", sharedVideo(t), "--listen", addr, "--dataset", filepath.Join(state, "..", "dataset"), "--state", state}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		logs := &syncBuf{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if r, err := http.Get("http://" + addr + "/healthz"); err == nil {
				r.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("edge not serving")
			}
			time.Sleep(50 * time.Millisecond)
		}
		return addr, logs, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	addr, logs, stop := start()
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no password banner on stdout: %q", out.String())
	}
	pw := m[1]
	if strings.Contains(logs.String(), pw) {
		t.Fatal("the password reached the log")
	}
	file := filepath.Join(state, "dashboard.bcrypt")
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("login file: %v %v", st, err)
	}
	if dst, _ := os.Stat(state); dst.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v", dst.Mode().Perm())
	}
	if b, _ := os.ReadFile(file); strings.Contains(string(b), pw) {
		t.Fatal("the login file holds the password")
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Post("http://"+addr+"/api/login", "application/json", strings.NewReader(`{"password":"`+pw+`"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login with the printed password: %v %v", resp, err)
	}
	resp.Body.Close()
	if r, err := c.Get("http://" + addr + "/api/config"); err != nil || r.StatusCode != 200 {
		t.Fatalf("config after login: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	stop()

	// Second start: the file is kept, nothing printed.
	n := len(out.String())
	_, _, stop = start()
	stop()
	if len(out.String()) != n {
		t.Errorf("printed again on the second start: %q", out.String()[n:])
	}
}
