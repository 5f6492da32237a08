package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/facemon/facemon/shared/testx"
)

// Issue 17.4: the shipped systemd units and compose services, run with
// their own command lines on a fresh state directory with stdout and
// stderr captured (as the journal and `docker compose logs` capture them:
// not a terminal), create their credentials, write them to
// first-run-credentials files, say in the log where they are, and never
// put one in the log.
func TestNoSecretInServiceLogs(t *testing.T) {
	t.Run("systemd", func(t *testing.T) {
		state := t.TempDir()
		bport, hport, eport := freePort(t), freePort(t), freePort(t)
		override := map[string]string{
			"FACEMON_BROKER_LISTEN": fmt.Sprintf("127.0.0.1:%d", bport),
			"FACEMON_BROKER":        fmt.Sprintf("tcp://127.0.0.1:%d", bport),
			"FACEMON_HTTP":          fmt.Sprintf("127.0.0.1:%d", hport),
			"FACEMON_LISTEN":        fmt.Sprintf("127.0.0.1:%d", eport),
			"FACEMON_MODELS":        models,
			"FACEMON_SOURCE":        video(t),
		}
		byName := map[string]unit{}
		for _, u := range units(t) {
			byName[filepath.Base(u.path)] = u
		}
		run := func(name string, extra map[string]string) *proc {
			u := byName[name]
			env := map[string]string{}
			for k, v := range u.env {
				env[k] = v
				if o, ok := override[k]; ok {
					env[k] = o
				}
			}
			for k, v := range extra {
				env[k] = v
			}
			args := expandExec(t, u.path, u.rawExec, env)
			for i, a := range args {
				args[i] = strings.Replace(a, "/var/lib/facemon", state, 1)
			}
			// systemd passes only the EnvironmentFile (and Environment=
			// lines: the edge's HOME) to the process.
			envList := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + state}
			for k, v := range env {
				envList = append(envList, k+"="+v)
			}
			cmd := exec.Command(filepath.Join(binDir, filepath.Base(args[0])), args[1:]...)
			cmd.Env, cmd.Dir = envList, state // WorkingDirectory=/var/lib/facemon
			return startCmd(t, name, cmd)
		}
		broker := run("facemon-broker.service", nil)
		testx.WaitFor(t, 20*time.Second, "broker listening", func() bool { return broker.grep("first-run-credentials") > 0 || !broker.running() })
		// The person adds the camera and puts its password in edge.env, as
		// the first-run file says.
		out, err := exec.Command(filepath.Join(binDir, "facemon-broker"), "users", "add", "camera", "door", "--state", state).CombinedOutput()
		if err != nil {
			t.Fatalf("users add camera door: %v\n%s", err, out)
		}
		doorPW := readSecret(t, filepath.Join(state, "secrets", "edge-door"))
		rec := run("facemon-recognizer.service", nil)
		edge := run("facemon-edge.service", map[string]string{"FACEMON_MQTT_USER": "edge-door", "FACEMON_MQTT_PASSWORD": doorPW})
		for _, p := range []*proc{rec, edge} {
			testx.WaitFor(t, 90*time.Second, p.name+" connected", func() bool { return p.grep("mqtt connected") > 0 || !p.running() })
		}
		time.Sleep(2 * time.Second) // a few frames, a few more log lines
		procs := []*proc{broker, rec, edge}
		for _, p := range procs {
			if !p.running() {
				t.Errorf("%s stopped", p.name)
			}
		}
		secrets := stateSecrets(t, state)
		secrets = append(secrets, stateSecrets(t, filepath.Join(state, "var", "edge"))...) // the edge's own dashboard password
		assertNoSecret(t, secrets, procs...)
		assertSaysWhere(t, broker, state, true)
		assertSaysWhere(t, edge, filepath.Join(state, "var", "edge"), false)
		t.Logf("systemd: %d secrets, none in %d log lines", len(secrets), lines(procs...))
	})

	t.Run("compose", func(t *testing.T) {
		root := t.TempDir()
		for _, d := range []string{"var", "dataset"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(filepath.Join(repoRoot(), "docker-compose.yml"))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Services map[string]struct {
				Command     []string          `yaml:"command"`
				Environment map[string]string `yaml:"environment"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		bport, hport, eport := freePort(t), freePort(t), freePort(t)
		// The containers' names, ports and mounts, mapped onto this host.
		repl := strings.NewReplacer(
			"tcp://broker:1883", fmt.Sprintf("tcp://127.0.0.1:%d", bport),
			"http://recognizer:9101", fmt.Sprintf("http://127.0.0.1:%d", hport),
			"/data/var", filepath.Join(root, "var"),
			"/data/dataset", filepath.Join(root, "dataset"),
			"/dev/video0", video(t),
		)
		listen := map[string]string{":1883": fmt.Sprintf("127.0.0.1:%d", bport), ":9101": fmt.Sprintf("127.0.0.1:%d", hport),
			":8001": fmt.Sprintf("127.0.0.1:%d", eport)}
		run := func(name string) *proc {
			svc, ok := c.Services[name]
			if !ok || len(svc.Command) == 0 {
				t.Fatalf("compose service %s has no command", name)
			}
			own := map[string]string{"broker": "broker", "recognizer": "recognizer", "edge": "edge1"}[name]
			mounts := strings.NewReplacer("/secrets/", filepath.Join(root, "export", own)+"/",
				"/var/lib/facemon", filepath.Join(root, "data-"+own), "/usr/share/facemon/models", models,
				"${FACEMON_SOURCE:-/videos/camera.mp4}", video(t))
			var args []string
			for _, a := range svc.Command[1:] {
				a = mounts.Replace(a)
				if l, ok := listen[a]; ok {
					a = l
				} else if a == "/models" {
					a = models
				}
				args = append(args, repl.Replace(a))
			}
			cmd := exec.Command(filepath.Join(binDir, svc.Command[0]), args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root, "OPENBLAS_NUM_THREADS=1"}
			for k, v := range svc.Environment {
				cmd.Env = append(cmd.Env, k+"="+repl.Replace(mounts.Replace(v)))
			}
			cmd.Dir = root
			return startCmd(t, "compose "+name, cmd)
		}
		// The init service, as compose runs it (deploy/containers/facemon-init,
		// its state and export folders moved here): it creates the
		// credentials and copies each service's own files to its secrets.
		for _, d := range []string{"broker", "recognizer", "edge1"} {
			if err := os.MkdirAll(filepath.Join(root, "export", d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		initCmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(), "deploy", "containers", "facemon-init")}, c.Services["init"].Command[1:]...)...)
		initCmd.Env = []string{"PATH=" + binDir + ":" + os.Getenv("PATH"), "HOME=" + root,
			"FACEMON_INIT_STATE=" + filepath.Join(root, "var"), "FACEMON_INIT_EXPORT=" + filepath.Join(root, "export")}
		initProc := startCmd(t, "compose init", initCmd)
		testx.WaitFor(t, 30*time.Second, "init done", func() bool { return !initProc.running() })
		if initProc.grep("credentials ready") == 0 {
			t.Fatal("compose init did not finish")
		}
		// Least privilege (issue 17.7): the edge's secrets are its own MQTT
		// password and the dashboard hash, nothing else, and its command
		// line names no API token (only the recognizer's does).
		ents, err := os.ReadDir(filepath.Join(root, "export", "edge1"))
		if err != nil {
			t.Fatal(err)
		}
		var edgeFiles []string
		for _, e := range ents {
			edgeFiles = append(edgeFiles, e.Name())
		}
		if want := []string{"dashboard.bcrypt", "edge-cam1"}; !slices.Equal(edgeFiles, want) {
			t.Fatalf("the edge's secrets folder holds %v, want exactly %v", edgeFiles, want)
		}
		for _, a := range c.Services["edge"].Command {
			if strings.Contains(a, "api-token") {
				t.Fatalf("the compose edge is given an API token: %q", a)
			}
		}
		broker := run("broker")
		rec := run("recognizer")
		edge := run("edge")
		for _, p := range []*proc{rec, edge} {
			testx.WaitFor(t, 90*time.Second, p.name+" connected", func() bool { return p.grep("mqtt connected") > 0 || !p.running() })
		}
		time.Sleep(2 * time.Second)
		procs := []*proc{initProc, broker, rec, edge}
		for _, p := range procs[1:] {
			if !p.running() {
				t.Errorf("%s stopped", p.name)
			}
		}
		var secrets []string
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "first-run-credentials" {
				secrets = append(secrets, stateSecrets(t, filepath.Dir(p))...)
			}
			return nil
		})
		if len(secrets) < 5 {
			t.Fatalf("compose: only %d secrets found", len(secrets))
		}
		assertNoSecret(t, secrets, procs...)
		assertSaysWhere(t, initProc, filepath.Join(root, "var"), true)
		t.Logf("compose: %d secrets, none in %d log lines", len(secrets), lines(procs...))
	})
}

func readSecret(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 12 {
		t.Fatalf("%s: secret too short (%d)", path, len(s))
	}
	return s
}

// stateSecrets returns every secret generated into a state directory: the
// client passwords (secrets/*), the API token, and the passwords shown in
// its first-run-credentials file (each checked against the directory's
// dashboard.bcrypt, so only the real one counts).
func stateSecrets(t *testing.T, dir string) []string {
	t.Helper()
	fr, err := os.ReadFile(filepath.Join(dir, "first-run-credentials"))
	if err != nil {
		t.Fatalf("no first-run-credentials in %s (a fresh start under systemd/compose must write one): %v", dir, err)
	}
	var secrets []string
	ents, _ := os.ReadDir(filepath.Join(dir, "secrets"))
	for _, e := range ents {
		secrets = append(secrets, readSecret(t, filepath.Join(dir, "secrets", e.Name())))
	}
	if _, err := os.Stat(filepath.Join(dir, "api-token")); err == nil {
		secrets = append(secrets, readSecret(t, filepath.Join(dir, "api-token")))
	}
	hash, err := os.ReadFile(filepath.Join(dir, "dashboard.bcrypt"))
	if err != nil {
		t.Fatalf("%s: no dashboard.bcrypt beside first-run-credentials: %v", dir, err)
	}
	found := false
	for _, m := range regexp.MustCompile(`(?m)(?:admin / |password: )(\S+)`).FindAllSubmatch(fr, -1) {
		if bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(string(hash))), m[1]) == nil {
			secrets, found = append(secrets, string(m[1])), true
		}
	}
	if !found {
		t.Errorf("%s: the first-run file shows no dashboard password matching dashboard.bcrypt:\n%s", dir, fr)
	}
	return secrets
}

func assertNoSecret(t *testing.T, secrets []string, procs ...*proc) {
	t.Helper()
	for _, p := range procs {
		p.mu.Lock()
		for i, l := range p.logs {
			for _, s := range secrets {
				if strings.Contains(l, s) {
					t.Errorf("%s log line %d contains a generated secret (%.4s…): %.200s", p.name, i+1, s, strings.ReplaceAll(l, s, "<SECRET>"))
				}
			}
		}
		p.mu.Unlock()
	}
}

// assertSaysWhere: the log names the first-run file of dir (and, from a
// program with a users command, how to show it).
func assertSaysWhere(t *testing.T, p *proc, dir string, show bool) {
	t.Helper()
	if p.grep(filepath.Join(dir, "first-run-credentials")) == 0 || show && p.grep("users show --first-run") == 0 {
		p.mu.Lock()
		t.Errorf("%s: the log does not say where the credentials are (%s/first-run-credentials, `users show --first-run`):\n%s",
			p.name, dir, strings.Join(p.logs, "\n"))
		p.mu.Unlock()
	}
}

func lines(procs ...*proc) int {
	n := 0
	for _, p := range procs {
		p.mu.Lock()
		n += len(p.logs)
		p.mu.Unlock()
	}
	return n
}
