package enrol

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/fakemqtt"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// frameJPEG is a minimal JPEG of about size bytes, distinct per n.
func frameJPEG(n, size int) []byte {
	b := []byte{0xFF, 0xD8}
	b = append(b, []byte(fmt.Sprintf("frame-%04d", n))...)
	if pad := size - len(b) - 2; pad > 0 {
		b = append(b, bytes.Repeat([]byte{byte(n)}, pad)...)
	}
	return append(b, 0xFF, 0xD9)
}

// camera is a fake live camera: each call returns the current frame;
// next advances it. Repeat makes every other call return the previous
// frame again (a camera slower than the burst interval).
type camera struct {
	mu     sync.Mutex
	seq    uint64
	size   int
	repeat bool
	calls  int
}

func (c *camera) frame() (*stream.Frame, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if !c.repeat || c.calls%2 == 1 {
		c.seq++
	}
	return &stream.Frame{JPEG: frameJPEG(int(c.seq), c.size), Seq: c.seq, HasMeta: true}, true
}

// recognizer is a fake one on cam/c/enrol: it records every command and,
// while answering, keeps the odd frames and drops the even ones.
type recognizer struct {
	sp       topic.Space
	c        *fakemqtt.Client
	answer   atomic.Bool
	mu       sync.Mutex
	cmds     []msg.Enrol
	payloads []int
}

func newRecognizer(t *testing.T) *recognizer {
	r := &recognizer{sp: topic.New(""), c: &fakemqtt.Client{}}
	r.c.OnPublish = func(m fakemqtt.Message) {
		if m.Topic != r.sp.CamEnrol("c") {
			return
		}
		cmd, err := msg.DecodeEnrol(m.Payload)
		if err != nil {
			t.Errorf("enrol command refused by the recognizer's decoder: %v", err)
			return
		}
		r.mu.Lock()
		r.cmds = append(r.cmds, *cmd)
		r.payloads = append(r.payloads, len(m.Payload))
		r.mu.Unlock()
		if !r.answer.Load() {
			return
		}
		res := msg.EnrolResult{V: msg.Version, ID: cmd.ID, Name: cmd.Name, Status: msg.EnrolSaved, Path: cmd.Name + "/0.jpg"}
		for i := 0; i < 1+len(cmd.Burst); i++ {
			f := msg.EnrolFrame{Index: i, Kept: i%2 == 0}
			if f.Kept {
				res.Faces++
			} else {
				f.Reason = "near-duplicate of frame 1 (0.05 apart)"
			}
			res.Frames = append(res.Frames, f)
		}
		b, _ := json.Marshal(res)
		go r.c.Deliver(r.sp.CamResult("c"), b)
	}
	return r
}

func (r *recognizer) commands() []msg.Enrol {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]msg.Enrol(nil), r.cmds...)
}

func newBurstEnroller(t *testing.T, r *recognizer, cam *camera, maxBytes int) (*Enroller, string) {
	dir := t.TempDir()
	e, err := New(Options{Client: r.c, Space: r.sp, Camera: "c", Dataset: dir, Timeout: 200 * time.Millisecond,
		BurstInterval: 5 * time.Millisecond, BurstFrameWait: 10 * time.Millisecond, MaxBytes: maxBytes,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Frame: cam.frame})
	if err != nil {
		t.Fatal(err)
	}
	return e, dir
}

// One Capture of 10 frames is one enrol command (Image + 9 Burst frames,
// each a distinct camera frame even when the camera repeats one), and the
// answer's per-frame fates reach the result; progress counts the frames.
func TestBurstIsOneCommand(t *testing.T) {
	r := newRecognizer(t)
	r.answer.Store(true)
	cam := &camera{size: 2000, repeat: true}
	e, dir := newBurstEnroller(t, r, cam, 0)
	var prog []Progress
	res, err := e.Enrol(context.Background(), Capture{Name: "Ada", Burst: 10, Progress: func(p Progress) { prog = append(prog, p) }})
	if err != nil {
		t.Fatal(err)
	}
	cmds := r.commands()
	if len(cmds) != 1 || len(cmds[0].Burst) != 9 {
		t.Fatalf("%d commands (burst of %d), want one with Image + 9", len(cmds), len(cmds[0].Burst))
	}
	seen := map[string]bool{string(cmds[0].Image): true}
	for _, f := range cmds[0].Burst {
		if seen[string(f)] {
			t.Fatal("the same camera frame sent twice in one burst")
		}
		seen[string(f)] = true
	}
	if res.Status != msg.EnrolSaved || len(res.Frames) != 10 || res.Faces != 5 || res.Captured != 10 || res.Sent != 10 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res.Message, "5 of 10 frames kept") {
		t.Errorf("message %q", res.Message)
	}
	if res.Frames[1].Kept || !strings.HasPrefix(res.Frames[1].Reason, "near-duplicate") {
		t.Errorf("frame 1: %+v", res.Frames[1])
	}
	if len(prog) != 11 || prog[0] != (Progress{"capturing", 1, 10}) || prog[9] != (Progress{"capturing", 10, 10}) || prog[10].Stage != "checking" {
		t.Errorf("progress %+v", prog)
	}
	if cam.calls < 19 {
		t.Errorf("camera asked %d times; repeats should have been skipped and retried", cam.calls)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("edge wrote into the dataset: %v", entries)
	}
}

// A burst over MaxBytes goes with fewer frames (the command within the
// limit), and the result says so.
func TestBurstOverMaxBytesSendsFewer(t *testing.T) {
	r := newRecognizer(t)
	r.answer.Store(true)
	cam := &camera{size: 100 << 10} // 100 KiB frames, ~133 KiB in base64
	const limit = 700 << 10
	e, _ := newBurstEnroller(t, r, cam, limit)
	res, err := e.Enrol(context.Background(), Capture{Name: "Bob", Burst: 10})
	if err != nil {
		t.Fatal(err)
	}
	cmds := r.commands()
	if len(cmds) != 1 {
		t.Fatalf("%d commands", len(cmds))
	}
	n := 1 + len(cmds[0].Burst)
	if n < 4 || n > 5 || r.payloads[0] > limit {
		t.Fatalf("sent %d frames in %d bytes (limit %d)", n, r.payloads[0], limit)
	}
	if res.Captured != 10 || res.Sent != n || !strings.Contains(res.Message, fmt.Sprintf("%d of the 10 frames taken were sent", n)) {
		t.Fatalf("result %+v", res)
	}
	// Spread over the capture: the first and the last frame taken go.
	if !bytes.Equal(cmds[0].Image, frameJPEG(1, cam.size)) || !bytes.Equal(cmds[0].Burst[n-2], frameJPEG(10, cam.size)) {
		t.Error("the frames sent are not spread over the burst")
	}
	// A single frame over the limit: an error, nothing sent.
	cam.size = 800 << 10
	res, _ = e.Enrol(context.Background(), Capture{Name: "Bob", Burst: 3})
	if res.Status != msg.EnrolError || !strings.Contains(res.Message, "--enrol-max-bytes") || len(r.commands()) != 1 {
		t.Fatalf("oversized frame: %+v (%d commands)", res, len(r.commands()))
	}
}

// A burst nobody answers is queued whole (one .burst entry), resent whole
// once the recognizer answers, and removed; a late answer to a queued
// burst removes it too.
func TestBurstQueuedWhole(t *testing.T) {
	r := newRecognizer(t)
	cam := &camera{size: 3000}
	e, dir := newBurstEnroller(t, r, cam, 0)
	res, err := e.Enrol(context.Background(), Capture{Name: "Cy", Burst: 6})
	if err != nil || res.Status != StatusQueued {
		t.Fatalf("unanswered: %+v %v", res, err)
	}
	q := e.queued()
	if len(q) != 1 || !strings.HasSuffix(q[0], burstExt) || res.File != q[0] {
		t.Fatalf("queue %v (result file %q), want one burst", q, res.File)
	}
	if fi, err := os.Stat(filepath.Join(dir, q[0])); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("queued burst: %v %v", fi, err)
	}
	first := r.commands()[0]
	r.answer.Store(true)
	if n := e.Drain(context.Background()); n != 1 || e.Queued() != 0 {
		t.Fatalf("drain: %d sent, %d queued", n, e.Queued())
	}
	cmds := r.commands()
	if len(cmds) != 2 || len(cmds[1].Burst) != 5 || !bytes.Equal(cmds[1].Image, first.Image) || !bytes.Equal(cmds[1].Burst[4], first.Burst[4]) {
		t.Fatalf("resent %d commands; last has %d burst frames", len(cmds), len(cmds[len(cmds)-1].Burst))
	}

	// A late answer (after the timeout) removes the queued burst.
	r.answer.Store(false)
	res, _ = e.Enrol(context.Background(), Capture{Name: "Dee", Burst: 4})
	if res.Status != StatusQueued || e.Queued() != 1 {
		t.Fatalf("unanswered: %+v (queue %d)", res, e.Queued())
	}
	last := r.commands()[2]
	b, _ := json.Marshal(msg.EnrolResult{V: msg.Version, ID: last.ID, Name: "Dee", Status: msg.EnrolSaved, Faces: 2})
	r.c.Deliver(r.sp.CamResult("c"), b)
	if e.Queued() != 0 {
		t.Fatalf("late answer left %v queued", e.queued())
	}
	// A corrupt queued burst is dropped, not sent.
	bad := filepath.Join(dir, QueueDir, "Eve", "0123456789abcdef01234567"+burstExt)
	os.MkdirAll(filepath.Dir(bad), 0o700)
	os.WriteFile(bad, []byte(`{"v":1,"frames":["AAAA"]}`), 0o600)
	before := len(r.commands())
	r.answer.Store(true)
	if n := e.Drain(context.Background()); n != 0 || e.Queued() != 0 || len(r.commands()) != before {
		t.Fatalf("corrupt burst: drained %d, queued %d, sent %d", n, e.Queued(), len(r.commands())-before)
	}
}
