package convert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot returns the directory holding the models module's go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/facemon/facemon/models") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the models module root (go.mod)")
		}
		dir = parent
	}
}

// sharedDir is $FACEMON_SHARED, default ../../shared relative to the module.
func sharedDir(t testing.TB) string {
	if d := os.Getenv("FACEMON_SHARED"); d != "" {
		return d
	}
	return filepath.Clean(filepath.Join(moduleRoot(t), "../../shared"))
}

func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

// skipOrFail skips locally but fails under CI, where every prerequisite must
// be present.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf("CI is set, refusing to skip: "+format, args...)
	}
	t.Skipf(format, args...)
}

// faceAPIModelDir finds face-api's model directory: $FACEMON_FACEAPI, else the
// copy installed by crosscheck/install.sh.
func faceAPIModelDir(t testing.TB) string {
	t.Helper()
	cands := []string{}
	if d := os.Getenv("FACEMON_FACEAPI"); d != "" {
		cands = append(cands, d, filepath.Join(d, "model"), filepath.Join(d, "package", "model"))
	}
	cands = append(cands, filepath.Join(moduleRoot(t), "crosscheck", "node_modules", "@vladmandic", "face-api", "model"))
	for _, c := range cands {
		if _, err := os.Stat(filepath.Join(c, ManifestName)); err == nil {
			return c
		}
	}
	skipOrFail(t, "face-api weights not found (tried %v); run models/crosscheck/install.sh or set FACEMON_FACEAPI", cands)
	return ""
}
