//go:build containers

// Package containers tests the compose stack (docker-compose.yml) built
// and run with podman: `make test-containers` (scripts/test-containers.sh)
// builds the image and runs this test with FACEMON_CONTAINERS=1.
package containers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

const (
	performer = "lin_manuel_miranda"
	project   = "facemonci"
	image     = "localhost/facemon:latest"
	edgeURL   = "http://127.0.0.1:8001"
	recURL    = "http://127.0.0.1:9101"
	brokerURL = "tcp://127.0.0.1:1883"
)

type stack struct {
	t       *testing.T
	root    string
	compose []string // the compose command and its -f/-p flags
	env     []string
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

// run runs a command with a bound, failing the test with its output.
func (s *stack) run(within time.Duration, name string, args ...string) string {
	s.t.Helper()
	out, err := s.try(within, name, args...)
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (s *stack) try(within time.Duration, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), s.env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(within):
		cmd.Process.Kill()
		<-done
		return buf.String(), fmt.Errorf("timed out after %v", within)
	}
}

func (s *stack) composeRun(within time.Duration, args ...string) string {
	s.t.Helper()
	return s.run(within, s.compose[0], append(slices.Clone(s.compose[1:]), args...)...)
}

func (s *stack) podman(within time.Duration, args ...string) string {
	s.t.Helper()
	return s.run(within, "podman", args...)
}

func cname(svc string) string { return project + "_" + svc + "_1" }
func vname(v string) string   { return project + "_" + v }

// up runs init to completion first (podman-compose ignores depends_on
// conditions), then the rest.
func (s *stack) up() {
	s.t.Helper()
	s.composeRun(3*time.Minute, "up", "-d", "--no-build", "init")
	s.podman(2*time.Minute, "wait", cname("init"))
	if code := strings.TrimSpace(s.podman(time.Minute, "inspect", "-f", "{{.State.ExitCode}}", cname("init"))); code != "0" {
		s.t.Fatalf("init exited %s:\n%s", code, s.podman(time.Minute, "logs", cname("init")))
	}
	s.composeRun(3*time.Minute, "up", "-d", "--no-build")
}

func (s *stack) down(volumes bool) {
	args := []string{"down"}
	if volumes {
		args = append(args, "-v")
	}
	s.try(3*time.Minute, s.compose[0], append(slices.Clone(s.compose[1:]), args...)...)
}

// logs returns every service's container log (for failures, and to check
// that no secret is in them).
func (s *stack) logs() string {
	var b strings.Builder
	for _, svc := range []string{"init", "broker", "recognizer", "edge"} {
		out, _ := s.try(time.Minute, "podman", "logs", cname(svc))
		fmt.Fprintf(&b, "==== %s\n%s\n", svc, out)
	}
	return b.String()
}

func waitFor(t *testing.T, s *stack, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s\n%s", within, what, s.logs())
		}
		time.Sleep(time.Second)
	}
}

// waitHealthy runs each service's compose healthcheck (facemon-health,
// inside the container: /healthz answers loopback clients only) until it
// passes.
func waitHealthy(t *testing.T, s *stack, within time.Duration, services ...string) {
	t.Helper()
	for _, svc := range services {
		waitFor(t, s, within, svc+"'s healthcheck (podman healthcheck run)", func() bool {
			_, err := s.try(30*time.Second, "podman", "healthcheck", "run", cname(svc))
			return err == nil
		})
	}
}

// login logs in to the edge's dashboard over HTTP and returns a client
// holding the session cookie and the CSRF token.
func login(t *testing.T, password string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	body, _ := json.Marshal(map[string]string{"password": password})
	resp, err := c.Post(edgeURL+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("dashboard login: %s %s", resp.Status, b)
	}
	var info struct {
		CSRF         string `json:"csrf"`
		HistoryError string `json:"history_error"`
	}
	json.Unmarshal(b, &info)
	if info.CSRF == "" {
		t.Fatalf("dashboard login answered no CSRF token: %s", b)
	}
	return c, info.CSRF
}

func postJSON(t *testing.T, c *http.Client, url, csrf, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// apiGet reads the recognizer's REST API with the API token.
func apiGet(t *testing.T, token, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", recURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	return string(b)
}

// events maps the event ids of a GET /api/events answer to their names.
func events(t *testing.T, body string) map[int64]string {
	t.Helper()
	var r struct {
		Events []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("events: %v: %.500s", err, body)
	}
	m := map[int64]string{}
	for _, e := range r.Events {
		m[e.ID] = e.Name
	}
	return m
}

type watcher struct {
	mu     sync.Mutex
	named  time.Time // first identities naming the performer
	topics map[string]bool
}

func (w *watcher) firstNamed() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.named }

// subscribe connects as user and records identities naming the performer
// and the topics seen.
func subscribe(t *testing.T, user, password, filter string) *watcher {
	t.Helper()
	w := &watcher{topics: map[string]bool{}}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetUsername(user).SetPassword(password).
		SetClientID("").SetCleanSession(true).SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect as %s: %v", user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(filter, 0, func(_ mqtt.Client, m mqtt.Message) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.topics[m.Topic()] = true
		if strings.HasSuffix(m.Topic(), "/identities") && w.named.IsZero() {
			var ids struct {
				Faces []struct {
					Name      string `json:"name"`
					Tentative bool   `json:"tentative"`
				} `json:"faces"`
			}
			if json.Unmarshal(m.Payload(), &ids) == nil {
				for _, f := range ids.Faces {
					if f.Name == performer && !f.Tentative {
						w.named = time.Now()
					}
				}
			}
		}
	})
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT subscribe %s as %s: %v", filter, user, tok.Error())
	}
	return w
}

var (
	adminRE  = regexp.MustCompile(`Dashboard login:\s+admin / (\S+)`)
	secretRE = regexp.MustCompile(`(?m)^secret=(\S+)`) // podman-compose run has a tty: \r\n
)

func TestContainerStack(t *testing.T) {
	if os.Getenv("FACEMON_CONTAINERS") == "" {
		t.Fatal("the compose stack test runs under `make test-containers` (FACEMON_CONTAINERS=1, a built image)")
	}
	shared := os.Getenv("FACEMON_SHARED")
	if shared == "" {
		shared = filepath.Join(repoRoot(), "..", "shared")
	}
	videos := filepath.Join(shared, "testdata", "video")
	faces := filepath.Join(shared, "testdata", "faces", performer)
	for _, p := range []string{videos, faces} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("shared test data: %v (set FACEMON_SHARED)", err)
		}
	}
	compose := strings.Fields(os.Getenv("FACEMON_COMPOSE"))
	if len(compose) == 0 {
		compose = []string{"podman-compose"}
	}
	// docker-compose.yml as a person runs it: its own bridge network, the
	// services finding each other by name (podman: CNI's dnsname plugin;
	// Docker: its embedded DNS), the ports published on the host.
	compose = append(compose, "-p", project, "-f", "docker-compose.yml")
	for _, f := range strings.Fields(os.Getenv("FACEMON_COMPOSE_FILES")) {
		compose = append(compose, "-f", f)
	}
	s := &stack{t: t, root: repoRoot(), compose: compose,
		env: []string{"FACEMON_VIDEOS=" + videos, "FACEMON_SOURCE=/videos/short_hamilton_clip.mp4"}}
	for _, port := range []string{"1883", "9101", "8001"} {
		if out, _ := s.try(10*time.Second, "ss", "-ltnH", "sport = :"+port); strings.TrimSpace(out) != "" {
			t.Fatalf("port %s is in use on this host (the stack uses the host's network):\n%s", port, out)
		}
	}
	s.down(true)
	// A network left by an earlier run (or made before the dnsname plugin
	// was installed) would lack the name service: start from a new one.
	s.try(time.Minute, "podman", "network", "rm", "-f", vname("default"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(s.logs())
		}
		s.down(true)
		s.try(time.Minute, "podman", "volume", "rm", "-f", vname("recognizer-data"))
		s.try(time.Minute, "podman", "network", "rm", "-f", vname("default"))
	})

	// 1. First start: init creates the credentials (never in a log).
	t0 := time.Now()
	s.up()
	waitHealthy(t, s, 3*time.Minute, "broker", "recognizer", "edge")
	t.Logf("first up to healthy: %v", time.Since(t0).Round(time.Second))
	first := s.composeRun(time.Minute, "run", "--rm", "--no-deps", "init",
		"facemon-broker", "users", "show", "--first-run", "--state", "/var/lib/facemon")
	m := adminRE.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("no dashboard password in users show --first-run:\n%s", first)
	}
	admin := m[1]
	// podman-compose prints its podman commands and an "exit code" line
	// around the command's output: each secret is marked.
	secretOf := func(what, shell string) string {
		out := s.composeRun(time.Minute, "run", "--rm", "--no-deps", "init", "bash", "-c", `printf 'secret=%s\n' "$(`+shell+`)"`)
		m := secretRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in the output of %s:\n%s", what, shell, out)
		}
		return m[1]
	}
	haPass := secretOf("homeassistant password", "facemon-broker users show homeassistant --state /var/lib/facemon")
	apiToken := secretOf("API token", "cat /var/lib/facemon/api-token")
	logs := s.logs()
	for name, secret := range map[string]string{"admin password": admin, "homeassistant password": haPass, "API token": apiToken} {
		if len(secret) < 12 {
			t.Fatalf("%s looks wrong: %q", name, secret)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the %s is in a container log", name)
		}
	}

	// 2. Least privilege: what each service mounts, and who it runs as.
	for svc, want := range map[string][]string{
		"broker":     {"users.yaml"},
		"recognizer": {"api-token", "dashboard.bcrypt", "recognizer"},
		"edge":       {"dashboard.bcrypt", "edge-cam1"},
	} {
		out := s.podman(time.Minute, "exec", cname(svc), "bash", "-c", "ls -A /secrets; id -u; ls /var/lib/facemon/secrets /var/lib/facemon/users.yaml /var/lib/facemon/api-token 2>&1 || true")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < len(want)+1 || !slices.Equal(lines[:len(want)], want) {
			t.Errorf("%s mounts /secrets = %q, want exactly %q", svc, lines, want)
		}
		if len(lines) > len(want) && lines[len(want)] != "10001" {
			t.Errorf("%s runs as uid %q, want 10001", svc, lines[len(want)])
		}
		if svc != "recognizer" && strings.Contains(out, "users.yaml\n") && svc != "broker" {
			t.Errorf("%s sees the full credentials: %s", svc, out)
		}
	}

	// 3. Enrol the performer: photos into the recognizer's dataset, then
	// Train from the dashboard as the logged-in person.
	s.podman(2*time.Minute, "run", "--rm", "--user", "10001:10001", "--network", "none",
		"-v", vname("recognizer-data")+":/var/lib/facemon", "-v", faces+":/seed:ro", image,
		"bash", "-c", "mkdir -p /var/lib/facemon/dataset/"+performer+" && cp /seed/* /var/lib/facemon/dataset/"+performer+"/")
	c, csrf := login(t, admin)
	code, body := postJSON(t, c, edgeURL+"/api/train", csrf, `{}`)
	if code != http.StatusAccepted {
		t.Fatalf("Train from the dashboard: %d %s", code, body)
	}
	w := subscribe(t, "admin", admin, "cam/cam1/identities")
	waitFor(t, s, 8*time.Minute, "identities naming "+performer, func() bool { return !w.firstNamed().IsZero() })
	t.Logf("trained and named %v after the first up", time.Since(t0).Round(time.Second))

	// 4. Home Assistant discovery as the homeassistant user.
	ha := subscribe(t, "homeassistant", haPass, "homeassistant/#")
	waitFor(t, s, time.Minute, "Home Assistant discovery (homeassistant/.../config)", func() bool {
		ha.mu.Lock()
		defer ha.mu.Unlock()
		for tp := range ha.topics {
			if strings.HasSuffix(tp, "/config") {
				return true
			}
		}
		return false
	})
	// History through the dashboard's session (rapi): events were recorded.
	waitFor(t, s, 2*time.Minute, "an event of "+performer, func() bool {
		return strings.Contains(apiGet(t, apiToken, "/api/events"), performer)
	})
	people := apiGet(t, apiToken, "/api/people")
	if !strings.Contains(people, performer) {
		t.Fatalf("people: %s", people)
	}

	// 5. down, up: state kept (gallery, history, credentials).
	s.down(false)
	t1 := time.Now()
	s.up()
	w2 := subscribe(t, "admin", admin, "cam/cam1/identities") // same password: credentials kept
	waitFor(t, s, 5*time.Minute, "identities naming "+performer+" after down/up", func() bool { return !w2.firstNamed().IsZero() })
	t.Logf("compose up (state kept) to the first identity naming %s: %v", performer, w2.firstNamed().Sub(t1).Round(100*time.Millisecond))
	login(t, admin)
	if got := apiGet(t, apiToken, "/api/people"); !strings.Contains(got, performer) {
		t.Fatalf("people after down/up: %s", got)
	}

	// 6. Backup while running, restore into a fresh volume.
	s.podman(2*time.Minute, "exec", cname("recognizer"), "facemon-recognizer", "backup", "--out", "/tmp/facemon-backup.tar")
	archive := filepath.Join(t.TempDir(), "facemon-backup.tar")
	s.podman(time.Minute, "cp", cname("recognizer")+":/tmp/facemon-backup.tar", archive)
	peopleBefore := apiGet(t, apiToken, "/api/people")
	eventsBefore := apiGet(t, apiToken, "/api/events?limit=1000")
	s.down(false)
	s.podman(time.Minute, "volume", "rm", vname("recognizer-data"))
	s.podman(time.Minute, "volume", "create", "--label", "io.podman.compose.project="+project, "--label", "com.docker.compose.project="+project, vname("recognizer-data"))
	// On stdin: the archive is 0600 and root's, the container runs as 10001.
	s.run(2*time.Minute, "bash", "-c", "podman run --rm -i --user 10001:10001 --network none -v "+
		vname("recognizer-data")+":/var/lib/facemon "+image+" tar -xf - -C /var/lib/facemon < "+archive)
	s.up()
	waitHealthy(t, s, 3*time.Minute, "recognizer")
	if got := apiGet(t, apiToken, "/api/people"); got != peopleBefore {
		t.Errorf("people after restore:\n%s\nbefore:\n%s", got, peopleBefore)
	}
	after := events(t, apiGet(t, apiToken, "/api/events?limit=1000"))
	before := events(t, eventsBefore)
	if len(before) == 0 {
		t.Fatalf("no events before the backup: %s", eventsBefore)
	}
	for id, name := range before {
		if after[id] != name {
			t.Errorf("event %d (%s) after the restore: %q", id, name, after[id])
		}
	}
	t.Logf("restored %d events; people: %s", len(before), peopleBefore)
	w3 := subscribe(t, "admin", admin, "cam/cam1/identities")
	waitFor(t, s, 5*time.Minute, "identities naming "+performer+" after the restore", func() bool { return !w3.firstNamed().IsZero() })
}
