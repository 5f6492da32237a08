//go:build unix

package enrol

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/fakemqtt"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// TestQueuePrivate (issue 17.6): queued Captures (face photos) are 0600 in
// 0700 folders, and a queue an older version left 0644/0755 is tightened
// when the edge starts, with one log line.
func TestQueuePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	var status atomic.Value
	e, _, dir := setup(t, &status)
	if res, _ := enrolList(e, context.Background(), "Alice", 1, nil); res[0].Status != StatusQueued {
		t.Fatalf("%+v", res)
	}
	q := filepath.Join(dir, QueueDir)
	imgs := files(t, filepath.Join(q, "Alice", "*.jpg"))
	if len(imgs) != 1 {
		t.Fatalf("queued %v", imgs)
	}
	for p, want := range map[string]os.FileMode{q: 0o700, filepath.Join(q, "Alice"): 0o700, imgs[0]: 0o600} {
		if st, _ := os.Stat(p); st.Mode().Perm() != want {
			t.Errorf("new queue: %s is %04o, want %04o", p, st.Mode().Perm(), want)
		}
	}
	// An older version's queue.
	for _, p := range []string{q, filepath.Join(q, "Alice")} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(imgs[0], 0o644)
	var logs testx.Buffer
	_, err := New(Options{Client: &fakemqtt.Client{}, Space: topic.New(""), Camera: "c", Dataset: dir, Timeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Frame: func() (*stream.Frame, bool) { return &stream.Frame{JPEG: jpg}, true }})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{q: 0o700, filepath.Join(q, "Alice"): 0o700, imgs[0]: 0o600} {
		if st, _ := os.Stat(p); st.Mode().Perm() != want {
			t.Errorf("upgraded queue: %s is %04o, want %04o", p, st.Mode().Perm(), want)
		}
	}
	if !strings.Contains(logs.String(), "made private") || !strings.Contains(logs.String(), "changed=3") {
		t.Errorf("log: %s", logs.String())
	}
}
