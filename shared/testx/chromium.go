package testx

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// Chromium returns the Chromium the browser tests drive: $FACEMON_CHROMIUM
// or a usual install. Without one the test is skipped, or fails when CI is
// set (browser tests must run there).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("FACEMON_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found (CI set: browser tests must run)")
	}
	t.Skip("chromium not found")
	return ""
}

// ChromiumFlags are the switches the browser tests start headless Chromium
// with: fit for containers and CI runners (no sandbox, GPU or /dev/shm) and
// quiet (no background traffic, updates or sync).
var ChromiumFlags = []struct {
	Name  string
	Value any
}{
	{"headless", true},
	{"no-sandbox", true},
	{"disable-gpu", true},
	{"disable-quic", true},
	{"no-first-run", true},
	{"disable-background-networking", true},
	{"disable-component-update", true},
	{"disable-sync", true},
	{"disable-dev-shm-usage", true},
}

// ChromiumProfile makes a profile folder for a Chromium the test starts and
// removes it at cleanup, retrying while the browser's helper processes exit
// (t.TempDir would fail the test). Call it before starting the browser:
// cleanups run last first, so the folder outlives the browser.
func ChromiumProfile(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "facemon-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; ; i++ {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if i == 20 {
				t.Logf("chromium profile %s not removed: %v", dir, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// Artifacts returns the folder for what a test leaves for people to look
// at (screenshots): $FACEMON_ARTIFACTS, created, or a temporary folder.
func Artifacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FACEMON_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
