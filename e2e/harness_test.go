// Package e2e runs the real binaries (recognizer, edge, broker) against real
// brokers on 127.0.0.1: the embedded mochi broker and Debian's mosquitto.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

var (
	binDir  string // built binaries
	shared  string // ../shared
	models  string // provisioned model dir
	gallery string // gallery trained from shared faces/
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root := repoRoot()
	shared = os.Getenv("FACEMON_SHARED")
	if shared == "" {
		shared = filepath.Join(root, "..", "shared")
	}
	models = os.Getenv("FACEMON_MODELS")
	if models == "" {
		models = filepath.Join(root, "models", "data")
	}
	if _, err := os.Stat(filepath.Join(models, "dlib_face_recognition_resnet_model_v1.dat")); err != nil {
		// Failing (not "ok" with nothing run) is deliberate, in CI or not:
		// a suite that passes without running hides that it did not run.
		fmt.Fprintf(os.Stderr, "e2e: FAIL: models not provisioned in %s (run `make models` or set FACEMON_MODELS)\n", models)
		return 1
	}
	if _, err := os.Stat(filepath.Join(shared, "testdata", "faces")); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: shared test data not found in %s (set FACEMON_SHARED)\n", shared)
		return 1
	}
	tmp, err := os.MkdirTemp("", "facemon-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binDir = filepath.Join(tmp, "bin")
	if err := setupSecrets(tmp); err != nil { // dashboard login, API token
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, b := range []struct{ mod, pkg, name string }{
		{"recognizer", "./cmd/facemon-recognizer", "facemon-recognizer"},
		{"edge", "./cmd/facemon-edge", "facemon-edge"},
		{"broker", "./cmd/facemon-broker", "facemon-broker"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b.name), b.pkg)
		cmd.Dir = filepath.Join(root, b.mod)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n", b.name, err)
			return 1
		}
	}
	gallery = filepath.Join(tmp, "gallery.json")
	start := time.Now()
	cmd := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "train", "--models", models,
		"--dataset", filepath.Join(shared, "testdata", "faces"), "--gallery", gallery)
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: train: %v\n%s", err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: trained gallery in %v\n", time.Since(start).Round(time.Millisecond))
	return m.Run()
}

func video(t *testing.T) string {
	p := filepath.Join(shared, "testdata", "video", "short_hamilton_clip.mp4")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared video missing: %v", err)
	}
	return p
}

// linkedFaces makes a dataset of the shared people as symlinked folders
// (training follows them; nothing is copied), leaving out those named in
// except.
func linkedFaces(t *testing.T, except ...string) string {
	t.Helper()
	faces := filepath.Join(shared, "testdata", "faces")
	ents, err := os.ReadDir(faces)
	if err != nil {
		t.Fatal(err)
	}
	dataset := t.TempDir()
	for _, e := range ents {
		if !e.IsDir() || slices.Contains(except, e.Name()) {
			continue
		}
		if err := os.Symlink(filepath.Join(faces, e.Name()), filepath.Join(dataset, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dataset
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int { return testx.FreePort(t) }

// proc is a running binary whose output goes to the test log.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	logs []string
}

func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	return startEnv(t, name, bin, os.Environ(), args...)
}

// startEnv is start with env as the process's whole environment (plus
// OPENBLAS_NUM_THREADS=1), e.g. the few variables a systemd unit gives.
func startEnv(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	if bin == "facemon-edge" && !slices.Contains(args, "--state") {
		// The edge's state (a generated dashboard password) stays out of
		// the source tree.
		args = append(args, "--state", t.TempDir())
	}
	cmd := exec.Command(filepath.Join(binDir, bin), args...)
	cmd.Env = append(slices.Clip(env), "OPENBLAS_NUM_THREADS=1")
	return startCmd(t, name, cmd)
}

// startCmd runs cmd with its output captured (not a terminal), stopped at
// the end of the test (start and startEnv use it).
func startCmd(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{t: t, name: name, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.collect(pr)
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() { p.stop(); p.dumpIfFailed() })
	return p
}

// collect keeps the process's output lines for grep and the failure dump.
func (p *proc) collect(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.logs = append(p.logs, sc.Text())
		p.mu.Unlock()
	}
}

func (p *proc) dumpIfFailed() {
	if !p.t.Failed() && os.Getenv("E2E_VERBOSE") == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := p.logs
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	p.t.Logf("--- last log lines of %s:\n%s", p.name, strings.Join(lines, "\n"))
}

func (p *proc) grep(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.logs {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits (then SIGKILL).
func (p *proc) stop() {
	if !p.running() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process abruptly (no clean disconnect: the last will fires).
func (p *proc) kill() {
	if p.running() {
		p.cmd.Process.Kill()
		<-p.done
	}
}

func waitTCP(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not listening after %v", addr, within)
}

// observer records what the system publishes.
type observer struct {
	cl *mqttx.Client
	mu sync.Mutex

	identities []*msg.Identities
	annotated  int
	frames     map[uint64]bool
	status     map[string]string
}

func observe(t *testing.T, brokerURL string) *observer {
	t.Helper()
	o := &observer{frames: map[uint64]bool{}, status: map[string]string{}}
	cl, err := mqttx.New(mqttx.Options{Broker: brokerURL, ClientID: mqttx.DefaultClientID(mqttx.URLUser(brokerURL), "e2e-observer"), MaxReconnectInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o.cl = cl
	sp := topic.New("")
	cl.Subscribe(sp.AllCameras(topic.Identities), 1, func(_ string, b []byte) {
		m, err := msg.DecodeIdentities(b)
		if err != nil {
			t.Errorf("bad identities payload: %v", err)
			return
		}
		o.mu.Lock()
		o.identities = append(o.identities, m)
		o.mu.Unlock()
	})
	cl.Subscribe(sp.AllCameras(topic.Annotated), 0, func(_ string, b []byte) {
		if msg.CheckJPEG(b, msg.MaxFrameBytes) == nil {
			o.mu.Lock()
			o.annotated++
			o.mu.Unlock()
		}
	})
	cl.Subscribe(sp.AllCameras(topic.Frames), 0, func(_ string, b []byte) {
		if m, err := msg.ExtractMeta(b); err == nil {
			o.mu.Lock()
			o.frames[m.Seq] = true
			o.mu.Unlock()
		}
	})
	cl.Subscribe(sp.AllStatus(), 1, func(tp string, b []byte) {
		o.mu.Lock()
		o.status[tp] = string(b)
		o.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return o
}

func (o *observer) snapshot() (ids []*msg.Identities, annotated, frames int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*msg.Identities(nil), o.identities...), o.annotated, len(o.frames)
}

func (o *observer) statusOf(t string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status[t]
}

// waitFor polls cond until it holds or within passes (testx.WaitFor).
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testx.WaitFor(t, within, what, cond)
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// metric reads one counter (summing label sets) from a /metrics endpoint.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name) && (len(l) > len(name) && (l[len(name)] == ' ' || l[len(name)] == '{')) {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

var _ = json.Marshal
