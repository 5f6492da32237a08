package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hashPassword returns a bcrypt hash from facemon-broker hash-password.
func hashPassword(t *testing.T, pw string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "facemon-broker"), "hash-password")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hash-password: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestNoSecretInLogs runs the system with a secret in every place one can
// be given — MQTT passwords in the environment and in broker URLs, the API
// token in the environment, an RTSP source and a webhook URL with
// credentials, a wrong password — checks it works, and then fails if any
// secret appears in any log line of any process.
func TestNoSecretInLogs(t *testing.T) {
	secrets := map[string]string{
		"recognizer": "RecPW-7f3a9c",
		"edge":       "EdgePW-2b8d41",
		"admin":      "AdminPW-c0ffee",
		"token":      "ApiTok-5e6f7a8b",
		"rtsp":       "RtspPW-9a8b7c",
		"hook":       "HookPW-1d2e3f",
		"hookid":     "HookID-4c5d6e",
		"hooktok":    "HookTok-8f9e0d",
		"wrong":      "WrongPW-abcdef",
	}
	dir := t.TempDir()
	var users strings.Builder
	users.WriteString("users:\n")
	for _, u := range []string{"recognizer", "edge", "admin"} {
		fmt.Fprintf(&users, "  - name: %s\n    password_hash: %q\n    read: ['#']\n    write: ['#']\n", u, hashPassword(t, secrets[u]))
	}
	usersFile := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(usersFile, []byte(users.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	hook := fmt.Sprintf("http://hook:%s@127.0.0.1:%d/api/webhook/%s?token=%s", secrets["hook"], freePort(t), secrets["hookid"], secrets["hooktok"])
	t.Setenv("FACEMON_MQTT_USER", "recognizer")
	t.Setenv("FACEMON_MQTT_PASSWORD", secrets["recognizer"])
	t.Setenv("FACEMON_API_TOKEN", secrets["token"])
	rec, httpAddr := startRecognizer(t, "rec1", "--listen", addr, "--users", usersFile, "--log-level", "debug",
		"--alert-webhook", hook, "--alert-cooldown", "1s")
	t.Setenv("FACEMON_MQTT_USER", "")
	t.Setenv("FACEMON_MQTT_PASSWORD", "")
	waitTCP(t, addr, 30*time.Second)
	obs := observe(t, fmt.Sprintf("tcp://admin:%s@%s", secrets["admin"], addr))

	edgeURL := fmt.Sprintf("tcp://edge:%s@%s", secrets["edge"], addr)
	edge := start(t, "edge-stage", "facemon-edge", "--broker", edgeURL, "--camera-id", "stage",
		"--source", video(t), "--loop", "--fps", "10", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--dataset", t.TempDir(), "--recognizer-url", "http://"+httpAddr, "--log-level", "debug")
	rtsp := start(t, "edge-rtsp", "facemon-edge", "--broker", edgeURL, "--camera-id", "door",
		"--source", fmt.Sprintf("rtsp://cam:%s@127.0.0.1:1/stream", secrets["rtsp"]),
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--dataset", t.TempDir(), "--log-level", "debug")
	wrong := start(t, "edge-wrong", "facemon-edge", "--broker", fmt.Sprintf("tcp://edge:%s@%s", secrets["wrong"], addr),
		"--camera-id", "garage", "--source", video(t), "--loop", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--dataset", t.TempDir(), "--log-level", "debug")
	t.Setenv("FACEMON_API_TOKEN", "")

	// The system works with its secrets: the edge's frames are recognized
	// (faces found and matched; naming quality is another test's business).
	waitFor(t, 40*time.Second, "identities with a face from the edge", func() bool {
		ids, _, _ := obs.snapshot()
		for _, m := range ids {
			if m.Camera == "stage" && len(m.Faces) > 0 {
				return true
			}
		}
		return false
	})
	waitFor(t, 20*time.Second, "the failure lines the test is about", func() bool {
		return rtsp.grep("cannot open camera source") > 0 && wrong.grep("mqtt connection attempt failed") > 0
	})
	time.Sleep(2 * time.Second)
	for _, p := range []*proc{edge, rtsp, wrong, rec} {
		p.stop()
	}

	procs := []*proc{rec, edge, rtsp, wrong}
	lines := 0
	for _, p := range procs {
		p.mu.Lock()
		lines += len(p.logs)
		for i, l := range p.logs {
			for name, s := range secrets {
				if strings.Contains(l, s) {
					t.Errorf("%s log line %d shows the %s secret: %s", p.name, i+1, name, l)
				}
			}
		}
		p.mu.Unlock()
	}
	t.Logf("%d log lines from %d processes, no secret in any", lines, len(procs))
	// The lines that would carry a secret are there, redacted.
	for _, c := range []struct {
		p    *proc
		want string
	}{
		{edge, "broker=tcp://edge:xxxxx@127.0.0.1"},
		{rtsp, "rtsp://cam:xxxxx@127.0.0.1:1/stream"},
		{wrong, "not Authorized"},
		{rec, "recognizer started"},
	} {
		if c.p.grep(c.want) == 0 {
			t.Errorf("%s: no log line with %q", c.p.name, c.want)
		}
	}
}
