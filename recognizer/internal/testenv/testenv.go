// Package testenv locates the shared test data and model files for tests.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// root is the repository root, found from this file's location.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Shared returns the read-only shared data folder: $FACEMON_SHARED, or
// ../shared beside the checkout. Under CI a missing folder fails the test;
// elsewhere it skips.
func Shared(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FACEMON_SHARED")
	if dir == "" {
		dir = filepath.Join(root(), "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "testdata")); err != nil {
		missing(t, "shared test data not found at "+dir+" (set FACEMON_SHARED)")
	}
	return dir
}

// Testdata returns Shared(t)/testdata/<elem...>.
func Testdata(t testing.TB, elem ...string) string {
	return filepath.Join(append([]string{Shared(t), "testdata"}, elem...)...)
}

// Models returns the provisioned model directory: $FACEMON_MODELS or
// models/data at the repository root.
func Models(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FACEMON_MODELS")
	if dir == "" {
		dir = filepath.Join(root(), "models", "data")
	}
	if _, err := os.Stat(filepath.Join(dir, "dlib_face_recognition_resnet_model_v1.dat")); err != nil {
		missing(t, "models not provisioned in "+dir+" (run `make models`)")
	}
	return dir
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
