package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/facemon/facemon/shared/testx"
)

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runIO(context.Background(), []string{"facemon-broker", "-h"}, nil, &out, &errb, nil); code != 0 {
		t.Fatalf("-h exit code %d", code)
	}
	for _, f := range []string{"-listen", "-ws", "-tls-listen", "-tls-cert", "-tls-key", "-max-packet", "-max-pending", "-users", "-log-level", "hash-password", "2097152",
		"-state", "-allow-anonymous", "-ws-origin", "-camera", "-host", "users ..."} {
		if !strings.Contains(errb.String(), f) {
			t.Errorf("usage lacks %q:\n%s", f, errb.String())
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--nope"},
		{"--log-level", "loud"},
		{"--max-pending", "0"},
		{"--max-packet", "999999999999"},
		{"extra"},
		{"--users", "u.yaml", "--state", "dir"},
		{"--camera", "door"},
	} {
		var out, errb bytes.Buffer
		if code := runIO(context.Background(), append([]string{"facemon-broker"}, args...), nil, &out, &errb, nil); code != 2 {
			t.Errorf("%v: exit code %d, want 2; stderr: %s", args, code, errb.String())
		}
	}
	var errb bytes.Buffer
	if code := runIO(context.Background(), []string{"facemon-broker", "--listen", "127.0.0.1:0", "--users", "/nonexistent/users.yaml"}, nil, &errb, &errb, nil); code != 1 {
		t.Errorf("missing users file: exit code %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "/nonexistent/users.yaml") {
		t.Errorf("error does not name the file: %s", errb.String())
	}
}

func TestRunAndShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errb testx.Buffer
	started := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- runIO(ctx, []string{"facemon-broker", "--listen", "127.0.0.1:0", "--allow-anonymous", "--log-level", "debug"}, nil, &errb, &errb, started)
	}()
	var addr string
	select {
	case addr = <-started:
	case code := <-done:
		t.Fatalf("exited early with %d: %s", code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not start")
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// The port is now taken: a second instance fails with exit code 1.
	var errb2 bytes.Buffer
	if code := runIO(context.Background(), []string{"facemon-broker", "--listen", addr, "--allow-anonymous"}, nil, &errb2, &errb2, nil); code != 1 {
		t.Errorf("second instance on %s: exit code %d, want 1", addr, code)
	}

	cancel() // as SIGINT/SIGTERM would
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not shut down")
	}
	if !strings.Contains(errb.String(), "ANONYMOUS MQTT CLIENTS ALLOWED") {
		t.Errorf("no anonymous warning:\n%s", errb.String())
	}
}

func TestHashPassword(t *testing.T) {
	for _, in := range []string{"s3cret\n", "s3cret", "s3cret\r\n"} {
		var out, errb bytes.Buffer
		code := runIO(context.Background(), []string{"facemon-broker", "hash-password", "--cost", "4"}, strings.NewReader(in), &out, &errb, nil)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		h := strings.TrimSpace(out.String())
		if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")); err != nil {
			t.Fatalf("input %q: hash %q does not verify: %v", in, h, err)
		}
	}
	var out, errb bytes.Buffer
	if code := runIO(context.Background(), []string{"facemon-broker", "hash-password"}, strings.NewReader("\n"), &out, &errb, nil); code != 1 {
		t.Errorf("empty password: exit %d, want 1", code)
	}
	if code := runIO(context.Background(), []string{"facemon-broker", "hash-password", "--cost", "99"}, strings.NewReader("x"), &out, &errb, nil); code != 1 {
		t.Errorf("bad cost: exit %d, want 1", code)
	}
}

func TestNoUsersRefused(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runIO(context.Background(), []string{"facemon-broker", "--listen", "127.0.0.1:0"}, nil, &out, &errb, nil); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "users init --state DIR") {
		t.Errorf("error does not say how to create users:\n%s", errb.String())
	}
}

func TestStateAndUsersCommand(t *testing.T) {
	dir := t.TempDir() + "/state"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testx.Buffer
	started := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- runIO(ctx, []string{"facemon-broker", "--listen", "127.0.0.1:0", "--state", dir, "--camera", "door", "--host", "hub.lan"}, nil, &out, &errb, started)
	}()
	select {
	case <-started:
	case code := <-done:
		t.Fatalf("exited early with %d: %s", code, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not start")
	}
	// stdout is not a terminal: nothing on it, the banner in the
	// first-run file, the log says where.
	if out.String() != "" {
		t.Errorf("secrets printed to a non-terminal stdout:\n%s", out.String())
	}
	fr, err := os.ReadFile(filepath.Join(dir, "first-run-credentials"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Dashboard login:       admin / ", "--username edge-door --camera-id door", "tcp://hub.lan:"} {
		if !strings.Contains(string(fr), want) {
			t.Errorf("first-run file lacks %q:\n%s", want, fr)
		}
	}
	if !strings.Contains(errb.String(), "facemon-broker users show --first-run --state "+dir) {
		t.Errorf("the log does not say where the credentials are:\n%s", errb.String())
	}
	if strings.Contains(errb.String(), "ANONYMOUS") {
		t.Errorf("anonymous warning with --state:\n%s", errb.String())
	}
	cancel()
	<-done

	var lo, le bytes.Buffer
	if code := runIO(context.Background(), []string{"facemon-broker", "users", "list", "--state", dir}, nil, &lo, &le, nil); code != 0 {
		t.Fatalf("users list: %d %s", code, le.String())
	}
	for _, u := range []string{"admin", "recognizer", "homeassistant", "edge-door"} {
		if !strings.Contains(lo.String(), u) {
			t.Errorf("users list lacks %s:\n%s", u, lo.String())
		}
	}
}
