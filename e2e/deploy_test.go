package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unit is a parsed deploy/systemd/*.service.
type unit struct {
	path    string
	exec    []string          // ExecStart, ${VAR}/$VAR expanded from the env template
	envFile string            // EnvironmentFile (without a leading '-')
	env     map[string]string // the env template's assignments
	rawExec string
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// readEnv parses a systemd EnvironmentFile (KEY=value lines, # comments).
func readEnv(t *testing.T, path string) (map[string]string, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	var comments []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			comments = append(comments, l)
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
			t.Errorf("%s: bad line %q", path, l)
			continue
		}
		env[k] = strings.Trim(v, `"'`)
	}
	return env, comments
}

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{path: path}
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "ExecStart":
			u.rawExec = v
		case "EnvironmentFile":
			u.envFile = strings.TrimPrefix(v, "-")
		}
	}
	if u.rawExec == "" || u.envFile == "" {
		t.Fatalf("%s: want ExecStart and EnvironmentFile", path)
	}
	tmpl := filepath.Join(filepath.Dir(path), filepath.Base(u.envFile))
	u.env, _ = readEnv(t, tmpl)
	u.exec = expandExec(t, path, u.rawExec, u.env)
	return u
}

// expandExec expands an ExecStart line with env as systemd does: ${VAR} is
// one word, $VAR splits on white space.
func expandExec(t *testing.T, where, raw string, env map[string]string) []string {
	t.Helper()
	var out []string
	for _, w := range strings.Fields(raw) {
		if m := envRef.FindStringSubmatch(w); m != nil && m[0] == w {
			name := m[1] + m[2]
			val, ok := env[name]
			if !ok {
				t.Errorf("%s: ExecStart uses $%s, which its environment file does not set", where, name)
			}
			if m[1] != "" {
				out = append(out, val)
			} else {
				out = append(out, strings.Fields(val)...)
			}
			continue
		}
		if strings.Contains(w, "$") {
			t.Errorf("%s: ExecStart word %q mixes text and a variable", where, w)
		}
		out = append(out, w)
	}
	return out
}

func units(t *testing.T) []unit {
	paths, _ := filepath.Glob(filepath.Join(repoRoot(), "deploy", "systemd", "*.service"))
	if len(paths) != 3 {
		t.Fatalf("want the broker, recognizer and edge units, have %v", paths)
	}
	var us []unit
	for _, p := range paths {
		us = append(us, readUnit(t, p))
	}
	return us
}

// Every flag in the units' ExecStart (with the env templates' values) and
// in the env templates' documented examples exists in the binary.
func TestSystemdUnitFlags(t *testing.T) {
	for _, u := range units(t) {
		bin := filepath.Base(u.exec[0])
		checkFlags(t, filepath.Base(u.path), bin, u.exec[1:])
		// Flags mentioned in the env template's comments (examples).
		_, comments := readEnv(t, filepath.Join(filepath.Dir(u.path), filepath.Base(u.envFile)))
		var mentioned []string
		for _, c := range comments {
			for _, w := range strings.Fields(c) {
				if strings.HasPrefix(w, "--") && len(w) > 2 {
					mentioned = append(mentioned, w)
				}
			}
			if i := strings.Index(c, "_ARGS="); i >= 0 {
				mentioned = append(mentioned, strings.Fields(c[i+6:])...)
			}
		}
		if sub := u.exec[1]; !strings.HasPrefix(sub, "-") {
			mentioned = append([]string{sub}, mentioned...)
		}
		checkFlags(t, filepath.Base(u.envFile)+" (comments)", bin, mentioned)
		// Credentials go in the env file, never on the command line.
		for _, w := range u.exec {
			if strings.HasPrefix(w, "--password") {
				t.Errorf("%s: %s on the command line (use FACEMON_MQTT_PASSWORD in %s)", u.path, w, u.envFile)
			}
		}
	}
}

// systemd-analyze verify accepts the units (binaries and env files put
// where the units point).
func TestSystemdUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze missing (scripts/deps.sh installs systemd)")
		}
		t.Log("!!! systemd-analyze not installed: the systemd units are NOT verified here !!!")
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	var files []string
	for _, u := range units(t) {
		b, _ := os.ReadFile(u.path)
		s := strings.ReplaceAll(string(b), filepath.Dir(u.exec[0])+"/", binDir+"/")
		s = strings.ReplaceAll(s, "EnvironmentFile="+u.envFile, "EnvironmentFile="+filepath.Join(dir, filepath.Base(u.envFile)))
		env, _ := os.ReadFile(filepath.Join(filepath.Dir(u.path), filepath.Base(u.envFile)))
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(u.envFile)), env, 0o600); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(u.path))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
		for _, want := range []string{"Restart=on-failure", "User=facemon", "ProtectSystem=strict", "ReadWritePaths=/var/lib/facemon",
			"NoNewPrivileges=yes", "PrivateTmp=yes"} {
			if !strings.Contains(s, "\n"+want+"\n") {
				t.Errorf("%s lacks %s", u.path, want)
			}
		}
		if filepath.Base(u.path) == "facemon-edge.service" && !strings.Contains(s, "SupplementaryGroups=video") {
			t.Errorf("%s: the edge must be in the video group", u.path)
		}
	}
	out, err := exec.Command(sa, append([]string{"verify"}, files...)...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, f := range files {
		out, _ := exec.Command(sa, "security", "--offline=yes", f).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("%s", lines[len(lines)-1])
	}
}

// scripts/install.sh into a DESTDIR: binaries, units pointing at PREFIX,
// settings 0640 kept on a second run.
func TestInstallScript(t *testing.T) {
	dest := t.TempDir()
	run := func() string {
		cmd := exec.Command("bash", filepath.Join(repoRoot(), "scripts", "install.sh"))
		cmd.Env = append(os.Environ(), "DESTDIR="+dest, "PREFIX=/opt/facemon", "BINDIR_FROM="+binDir,
			"COMPONENTS=broker recognizer edge", "MODELS="+models)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	run()
	for _, c := range []string{"broker", "recognizer", "edge"} {
		if fi, err := os.Stat(filepath.Join(dest, "opt/facemon/bin/facemon-"+c)); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("binary facemon-%s: %v", c, err)
		}
		u, err := os.ReadFile(filepath.Join(dest, "etc/systemd/system/facemon-"+c+".service"))
		if err != nil || !strings.Contains(string(u), "ExecStart=/opt/facemon/bin/facemon-"+c+" ") {
			t.Errorf("unit facemon-%s: %v\n%s", c, err, u)
		}
		fi, err := os.Stat(filepath.Join(dest, "etc/facemon", c+".env"))
		if err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("%s.env: %v %v (want mode 0640: it may hold the MQTT password)", c, err, fi)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "opt/facemon/share/facemon/models/dlib_face_recognition_resnet_model_v1.dat")); err != nil {
		t.Errorf("models not installed: %v", err)
	}
	edgeEnv := filepath.Join(dest, "etc/facemon/edge.env")
	if err := os.WriteFile(edgeEnv, []byte("FACEMON_CAMERA_ID=mine\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if out := run(); !strings.Contains(out, "kept") {
		t.Errorf("second run did not say it kept the settings:\n%s", out)
	}
	if b, _ := os.ReadFile(edgeEnv); string(b) != "FACEMON_CAMERA_ID=mine\n" {
		t.Errorf("install overwrote edited settings: %q", b)
	}
	if _, err := os.Stat(edgeEnv + ".new"); err != nil {
		t.Errorf("no new template beside the kept settings: %v", err)
	}
}
