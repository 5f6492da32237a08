package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/login"
	"github.com/facemon/facemon/shared/firstrun"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/tlsx"
)

func TestParseConfigWeb(t *testing.T) {
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
		{"--api-token", "t"},
		{"--api-token-file", "f"},
		{"--state", ""},
	} {
		if _, err := parseConfig(append([]string{"facemon-edge"}, bad...), io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestFirstStartPassword: without a login file the edge creates one; with
// stdout not a terminal (a journal, a container log) the password is written
// once to <state>/first-run-credentials (0600), never to stdout or the log,
// which says where it is; and that password logs in.
func TestFirstStartPassword(t *testing.T) {
	state := filepath.Join(t.TempDir(), "edge-state")
	var out testx.Buffer
	old := stdout
	stdout = &out
	t.Cleanup(func() { stdout = old })

	start := func() (string, *testx.Buffer, func()) {
		addr := freePort(t)
		cfg, err := parseConfig([]string{"facemon-edge", "--broker", "tcp://" + freePort(t), "--camera-id", "first",
			"--source", sharedVideo(t), "--listen", addr, "--dataset", filepath.Join(state, "..", "dataset"), "--state", state}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		logs := &testx.Buffer{}
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
	if out.String() != "" {
		t.Fatalf("stdout is not a terminal, yet the edge printed: %q", out.String())
	}
	saved, err := os.ReadFile(filepath.Join(state, firstrun.FileName))
	if err != nil {
		t.Fatalf("no first-run credentials file: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(state, firstrun.FileName)); st.Mode().Perm() != 0o600 {
		t.Errorf("first-run file mode %v, want 0600", st.Mode().Perm())
	}
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(string(saved))
	if m == nil {
		t.Fatalf("no password in the first-run file: %q", saved)
	}
	pw := m[1]
	if strings.Contains(logs.String(), pw) {
		t.Fatal("the password reached the log")
	}
	if !strings.Contains(logs.String(), firstrun.FileName) {
		t.Errorf("the log does not say where the password is:\n%s", logs.String())
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

	// Second start: the file is kept, nothing printed or saved.
	n := len(out.String())
	if err := os.Remove(filepath.Join(state, firstrun.FileName)); err != nil {
		t.Fatal(err)
	}
	_, _, stop = start()
	stop()
	if len(out.String()) != n {
		t.Errorf("printed again on the second start: %q", out.String()[n:])
	}
	if _, err := os.Stat(filepath.Join(state, firstrun.FileName)); err == nil {
		t.Error("first-run credentials written again on the second start")
	}
}

// TestDashboardTLS: with --tls-cert/--tls-key the dashboard is HTTPS and
// the session cookie is Secure; a bad key pair stops the start.
func TestDashboardTLS(t *testing.T) {
	dir := t.TempDir()
	certs, _, err := tlsx.Generate(filepath.Join(dir, "tls"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := certs.Cert, certs.Key

	loginFile := filepath.Join(dir, "state", "dashboard.bcrypt")
	if err := login.WriteHash(loginFile, testPassword); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	args := []string{"facemon-edge", "--broker", "tcp://" + freePort(t), "--camera-id", "tls",
		"--source", sharedVideo(t), "--listen", addr, "--dataset", filepath.Join(dir, "dataset"),
		"--login-file", loginFile, "--tls-cert", certFile, "--tls-key", keyFile}
	cfg, err := parseConfig(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() { cancel(); <-done }()

	pool := must(tlsx.LoadPool(certs.CA))
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err = c.Post("https://"+addr+"/api/login", "application/json", strings.NewReader(`{"password":"`+testPassword+`"}`))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTPS login: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); resp.StatusCode != 200 || !strings.Contains(sc, "; Secure") {
		t.Errorf("HTTPS login: %d Set-Cookie %q", resp.StatusCode, sc)
	}
	if r, err := http.Get("http://" + addr + "/healthz"); err == nil && r.StatusCode == 200 {
		t.Error("plain HTTP served with --tls-cert")
	}

	// A key that does not match the certificate: refused at start.
	other, _, err := tlsx.Generate(filepath.Join(dir, "other"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyFile, must(os.ReadFile(other.Key)), 0o600)
	args[len(args)-9] = freePort(t) // --listen
	cfg, _ = parseConfig(args, io.Discard)
	if err := serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Errorf("mismatched key pair: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
