package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "facemon-recognizer"), append([]string{args[0], "--models", models}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), code
}

func jsonLines(t *testing.T, s string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewBufferString(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestIdentifyAndEncodeCLI(t *testing.T) {
	td := filepath.Join(shared, "testdata")
	corrupt := filepath.Join(t.TempDir(), "corrupt.jpg")
	os.WriteFile(corrupt, []byte("\xff\xd8\xff\xe0 broken"), 0o644)
	out, code := runCLI(t, "identify", "--gallery", gallery,
		filepath.Join(td, "groups", "two_people.jpg"), filepath.Join(td, "noface", "dogs.jpg"),
		filepath.Join(td, "edge", "32bit.png"), corrupt, filepath.Join(td, "missing.jpg"))
	lines := jsonLines(t, out)
	t.Logf("%s", out)
	if code != 1 {
		t.Fatalf("exit status %d, want 1 (unreadable inputs)", code)
	}
	names := map[string]bool{}
	errs, zero := 0, 0
	for _, l := range lines {
		if n, ok := l["name"].(string); ok {
			names[n] = true
		}
		if _, ok := l["error"]; ok {
			errs++
		}
		if f, ok := l["faces"].(float64); ok && f == 0 {
			zero++
		}
	}
	if !names["obama"] || !names["biden"] || errs != 2 || zero != 1 || len(lines) != 6 {
		t.Fatalf("identify lines: %v", lines)
	}
	out, code = runCLI(t, "encode", filepath.Join(td, "faces", "obama", "1.jpg"))
	lines = jsonLines(t, out)
	if code != 0 || len(lines) != 1 || len(lines[0]["descriptor"].([]any)) != 128 || lines[0]["detector"] != "hog" {
		t.Fatalf("encode: code %d lines %v", code, lines)
	}
	// A turned head HOG misses: the CNN fallback finds it (and says so),
	// unless --no-fallback.
	turned := filepath.Join(td, "faces", "jimin", "3.jpg")
	out, code = runCLI(t, "encode", turned)
	if lines = jsonLines(t, out); code != 0 || len(lines) != 1 || lines[0]["detector"] != "cnn" || lines[0]["descriptor"] == nil {
		t.Fatalf("encode with fallback: code %d lines %v", code, lines)
	}
	out, code = runCLI(t, "encode", "--no-fallback", turned)
	if lines = jsonLines(t, out); code != 0 || len(lines) != 1 || lines[0]["faces"] != 0.0 {
		t.Fatalf("encode --no-fallback: code %d lines %v", code, lines)
	}
	out, code = runCLI(t, "identify", "--gallery", gallery, turned)
	if lines = jsonLines(t, out); code != 0 || len(lines) != 1 || lines[0]["detector"] != "cnn" || lines[0]["box"] == nil {
		t.Fatalf("identify with fallback: code %d lines %v", code, lines)
	}
	if _, code = runCLI(t, "encode", "--landmarks", "7", turned); code != 2 {
		t.Fatalf("bad --landmarks: exit %d, want 2", code)
	}
	if _, code = runCLI(t, "identify", "--gallery", gallery, "--strictness", "lax", filepath.Join(td, "faces", "obama", "1.jpg")); code != 2 {
		t.Fatalf("bad --strictness: exit %d, want 2", code)
	}
	if _, code = runCLI(t, "identify", "--gallery", filepath.Join(t.TempDir(), "none.json"), filepath.Join(td, "faces", "obama", "1.jpg")); code != 1 {
		t.Fatalf("missing gallery: exit %d, want 1", code)
	}
}
