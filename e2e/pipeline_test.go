package e2e

import (
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

const performer = "lin_manuel_miranda"

func startRecognizer(t *testing.T, name string, args ...string) (*proc, string) {
	httpPort := freePort(t)
	base := []string{"serve", "--models", models, "--gallery", gallery, "--instance", name,
		"--dataset", t.TempDir(), "--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--workers", "2",
		"--api-token-file", apiTokenFile,
		// The dashboard hash the edges use: person sessions (issue 17).
		"--dashboard-hash", loginFile}
	// Tests that are not about credentials opt in to anonymous clients on
	// loopback (explicitly, as a user would have to); the embedded broker
	// still gets its generated users in a state folder of the test's own.
	// security tests give --state themselves.
	if !slices.Contains(args, "--state") {
		if slices.Contains(args, "--broker") {
			base = append(base, "--state", "-")
		} else {
			base = append(base, "--state", t.TempDir(), "--allow-anonymous")
		}
	}
	p := start(t, name, "facemon-recognizer", append(base, args...)...)
	return p, fmt.Sprintf("127.0.0.1:%d", httpPort)
}

func startEdge(t *testing.T, brokerURL, cam string, fps int) *proc {
	return start(t, "edge-"+cam, "facemon-edge", "--broker", brokerURL, "--camera-id", cam,
		"--source", video(t), "--loop", "--fps", fmt.Sprint(fps), "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--dataset", t.TempDir(), "--login-file", loginFile)
}

type latencyReport struct {
	frames, withFaces, named int
	lat                      []time.Duration
	perInstance              map[string]int
}

func analyse(ids []*msg.Identities) latencyReport {
	r := latencyReport{perInstance: map[string]int{}}
	for _, m := range ids {
		r.frames++
		r.perInstance[m.Recognizer]++
		r.lat = append(r.lat, m.Processed.Sub(m.Captured))
		if len(m.Faces) > 0 {
			r.withFaces++
			for _, f := range m.Faces {
				if f.Name == performer {
					r.named++
					break
				}
			}
		}
	}
	return r
}

// The whole system on the embedded broker: the shared video as the camera,
// identities name the performer, annotated frames arrive at the Home
// Assistant image rate (nobody watches the live view).
func TestEndToEndEmbeddedBroker(t *testing.T) {
	port := freePort(t)
	brokerURL := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	rec, httpAddr := startRecognizer(t, "rec1", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	obs := observe(t, brokerURL)
	startEdge(t, brokerURL, "stage", 10)

	// The clip is 10 s; run ~12 s so it plays through and loops.
	time.Sleep(12 * time.Second)
	ids, annotated, frames := obs.snapshot()
	r := analyse(ids)
	t.Logf("frames published %d, identities %d (%.1f/s), with faces %d, naming %s %d, annotated %d",
		frames, r.frames, float64(r.frames)/12, r.withFaces, performer, r.named, annotated)
	t.Logf("capture->identity latency p50 %v p95 %v max %v", percentile(r.lat, 0.5), percentile(r.lat, 0.95), percentile(r.lat, 1))
	// Time from the first frame where a face is found to the first frame
	// naming the performer: the name is shown (tentative) from the track's
	// first matching attempt; the confirmed name (and its known verdict)
	// needs a few agreeing attempts. The bound applies to the confirmed one.
	var firstFace, firstShown, firstNamed time.Time
	for _, m := range ids {
		if len(m.Faces) > 0 && firstFace.IsZero() {
			firstFace = m.Captured
		}
		for _, f := range m.Faces {
			if f.Name == performer && firstShown.IsZero() {
				firstShown = m.Captured
			}
			if f.Name == performer && !f.Tentative && firstNamed.IsZero() {
				firstNamed = m.Captured
			}
		}
	}
	t.Logf("first face at capture %v, first shown %v later, first confirmed %v later", firstFace.Format("15:04:05.000"), firstShown.Sub(firstFace), firstNamed.Sub(firstFace))
	// Asserted: a 2 s bound, which holds on a loaded 2-core CI machine
	// where the mailbox drops frames. The 1 s target (measured 0.2-0.6 s on
	// an idle machine) is a measurement, printed on the "e2e: naming" line,
	// not an assertion.
	d := firstNamed.Sub(firstFace)
	fmt.Fprintf(os.Stderr, "e2e: naming latency (first face -> first named frame) %v; target 1 s, bound 2 s\n", d.Round(time.Millisecond))
	if firstNamed.IsZero() || d > 2*time.Second {
		t.Errorf("performer named %v after his face first appeared (bound 2 s)", d)
	}
	if r.frames < 50 {
		t.Fatalf("only %d identities messages in 12 s at 10 fps", r.frames)
	}
	if r.withFaces < 10 {
		t.Fatalf("faces found in only %d frames", r.withFaces)
	}
	if float64(r.named) < 0.5*float64(r.withFaces) {
		t.Fatalf("%s named in %d of %d frames with faces", performer, r.named, r.withFaces)
	}
	// Nobody watches the edge's live view: annotated frames only at the
	// Home Assistant image rate (serve's --ha-image-interval 10s: the
	// first frame and one 10 s later). TestAnnotatedOnDemand opens a view.
	if annotated < 1 || annotated > 3 {
		t.Fatalf("annotated frames %d in 12 s without a viewer; want 1..3 (one every 10 s for Home Assistant)", annotated)
	}
	if got := obs.statusOf(topic.New("").Status(topic.KindRecognizer, "rec1")); got != topic.Online {
		t.Fatalf("recognizer status %q", got)
	}
	if got := obs.statusOf(topic.New("").Status(topic.KindEdge, "stage")); got != topic.Online {
		t.Fatalf("edge status %q", got)
	}
	if p95 := percentile(r.lat, 0.95); p95 > 2*time.Second {
		t.Fatalf("p95 latency %v: frames are queueing", p95)
	}
	if n := metric(t, httpAddr, "facemon_recognizer_frames_processed_total"); int(n) < r.frames {
		t.Fatalf("metrics say %v processed, observer saw %d", n, r.frames)
	}
	_ = rec
}

func startMosquitto(t *testing.T) (url string, p *proc) {
	port := freePort(t)
	return fmt.Sprintf("tcp://127.0.0.1:%d", port), startMosquittoOn(t, port)
}

// mosquittoBin finds Debian's mosquitto; the suite fails without it.
func mosquittoBin(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("mosquitto"); err == nil {
		return bin
	}
	for _, c := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	t.Fatal("mosquitto not installed (scripts/deps.sh installs it)")
	return ""
}

// startExternal runs a program that is not one of ours (mosquitto) with
// its output in the test log.
func startExternal(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	p := &proc{t: t, name: name, cmd: cmd, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.collect(pr)
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() { p.stop(); p.dumpIfFailed() })
	return p
}

// Two recognizers in one shared subscription on mosquitto: every frame is
// processed exactly once across the two, and both get work.
func TestMosquittoSharedSubscription(t *testing.T) {
	url, _ := startMosquitto(t)
	obs := observe(t, url)
	// --assign share (the old default): the broker deals one camera's
	// frames to both; the default, owner, is TestScaleOut's.
	startRecognizer(t, "recA", "--broker", url, "--assign", "share")
	startRecognizer(t, "recB", "--broker", url, "--assign", "share")
	waitFor(t, 30*time.Second, "both recognizers online", func() bool {
		sp := topic.New("")
		return obs.statusOf(sp.Status(topic.KindRecognizer, "recA")) == topic.Online &&
			obs.statusOf(sp.Status(topic.KindRecognizer, "recB")) == topic.Online
	})
	edge := startEdge(t, url, "door", 5)
	time.Sleep(10 * time.Second)
	edge.stop()
	time.Sleep(2 * time.Second) // let the last frames finish
	ids, _, frames := obs.snapshot()
	seen := map[uint64]string{}
	dup := 0
	per := map[string]int{}
	for _, m := range ids {
		if prev, ok := seen[m.Seq]; ok {
			dup++
			t.Errorf("frame %d processed by %s and %s", m.Seq, prev, m.Recognizer)
		}
		seen[m.Seq] = m.Recognizer
		per[m.Recognizer]++
	}
	t.Logf("frames published %d, processed %d (recA %d, recB %d), duplicates %d", frames, len(seen), per["recA"], per["recB"], dup)
	if per["recA"] == 0 || per["recB"] == 0 {
		t.Fatalf("work not shared: %v", per)
	}
	if len(seen) < frames*9/10 {
		t.Fatalf("only %d of %d frames processed", len(seen), frames)
	}
}

// The recognizer dies: the edge keeps publishing; a restarted recognizer
// resumes. The broker restarts: edge and recognizer reconnect on their own.
func TestRecognizerAndBrokerRestarts(t *testing.T) {
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	url := "tcp://" + addr
	brk := start(t, "broker", "facemon-broker", "--listen", addr, "--allow-anonymous")
	waitTCP(t, addr, 15*time.Second)
	obs := observe(t, url)
	rec, _ := startRecognizer(t, "rec1", "--broker", url)
	startEdge(t, url, "hall", 10)
	waitFor(t, 30*time.Second, "first identities", func() bool { ids, _, _ := obs.snapshot(); return len(ids) > 5 })

	rec.kill()
	waitFor(t, 10*time.Second, "last will offline", func() bool {
		return obs.statusOf(topic.New("").Status(topic.KindRecognizer, "rec1")) == topic.Offline
	})
	ids0, _, frames0 := obs.snapshot()
	time.Sleep(3 * time.Second)
	ids1, _, frames1 := obs.snapshot()
	if frames1-frames0 < 15 {
		t.Fatalf("edge published only %d frames in 3 s with the recognizer dead", frames1-frames0)
	}
	if len(ids1)-len(ids0) > 1 {
		t.Fatalf("identities kept coming from a dead recognizer")
	}
	startRecognizer(t, "rec1b", "--broker", url)
	waitFor(t, 30*time.Second, "identities after recognizer restart", func() bool {
		ids, _, _ := obs.snapshot()
		return len(ids) > len(ids1)+5
	})

	// Broker restart on the same port.
	brk.kill()
	time.Sleep(time.Second)
	start(t, "broker2", "facemon-broker", "--listen", addr, "--allow-anonymous")
	waitTCP(t, addr, 15*time.Second)
	ids2, _, _ := obs.snapshot()
	restart := time.Now()
	waitFor(t, 45*time.Second, "identities after broker restart", func() bool {
		ids, _, _ := obs.snapshot()
		return len(ids) > len(ids2)+5
	})
	t.Logf("pipeline flowing again %v after the broker restart", time.Since(restart).Round(100*time.Millisecond))
	_ = brk
}

// Garbage on cam/x/frames is logged and counted; the recognizer stays up.
func TestGarbageFrames(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	// One good frame must be named by itself: decide per frame, and detect
	// on every frame (with motion gating the good frame, which differs
	// little from the corrupt copy of it before, would wait for the
	// periodic full detection, 2 s, which a single frame never reaches).
	// Camera x is no facemon edge (it announces no online status): it is
	// configured, as a user would for such a publisher.
	rec, httpAddr := startRecognizer(t, "rec1", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--track-agree", "1", "--no-motion-gate", "--cameras", "auto,x")
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	obs := observe(t, url)
	pub, err := mqttx.New(mqttx.Options{Broker: url, ClientID: "e2e-garbage"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	waitFor(t, 10*time.Second, "garbage publisher connected", pub.Connected)
	good, err := os.ReadFile(filepath.Join(shared, "testdata", "edge", "obama-480p.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	rnd := make([]byte, 5000)
	rand.New(rand.NewSource(1)).Read(rnd)
	corrupt := append([]byte(nil), good...)
	for i := 1000; i < len(corrupt)-100; i += 50 {
		corrupt[i] = 0
	}
	bigish := append([]byte{0xFF, 0xD8}, make([]byte, msg.MaxFrameBytes-100)...) // under the broker limit, no EOI
	payloads := map[string][]byte{"random": rnd, "truncated": good[:len(good)/2], "empty": {}, "corrupt": corrupt, "no-eoi": bigish}
	sp := topic.New("")
	for name, p := range payloads {
		if err := pub.PublishWait(sp.Frames("x"), 0, false, p, 5*time.Second); err != nil {
			t.Fatalf("publish %s: %v", name, err)
		}
	}
	// A payload over the broker's packet limit: the broker drops it (and the
	// sending client); use a throwaway client.
	big, _ := mqttx.New(mqttx.Options{Broker: url, ClientID: "e2e-big"})
	waitFor(t, 10*time.Second, "big publisher connected", big.Connected)
	big.PublishWait(sp.Frames("x"), 0, false, make([]byte, 3<<20), 5*time.Second)
	big.Close()
	// A valid frame after the garbage is still recognized.
	time.Sleep(time.Second)
	pub.PublishWait(sp.Frames("x"), 0, false, good, 5*time.Second)
	waitFor(t, 20*time.Second, "identities for the good frame", func() bool {
		ids, _, _ := obs.snapshot()
		for _, m := range ids {
			if m.Camera == "x" && len(m.Faces) == 1 && m.Faces[0].Name == "obama" {
				return true
			}
		}
		return false
	})
	bad := metric(t, httpAddr, "facemon_recognizer_frames_bad_total")
	t.Logf("bad frames counted: %v", bad)
	if bad < 3 {
		t.Fatalf("bad frames counted %v, want >= 3", bad)
	}
	if !rec.running() {
		t.Fatal("recognizer died")
	}
	if rec.grep("bad frame dropped") < 3 {
		t.Fatalf("bad frames not logged")
	}
}

// At the clip's own frame rate (29.97 fps): the recognizer keeps latency
// bounded, dropping (and counting) frames it cannot keep up with rather than
// queueing them.
func TestEndToEndFullFrameRate(t *testing.T) {
	port := freePort(t)
	brokerURL := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	_, httpAddr := startRecognizer(t, "rec30", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	obs := observe(t, brokerURL)
	startEdge(t, brokerURL, "stage30", 30)
	const run = 10 * time.Second
	time.Sleep(run)
	ids, _, frames := obs.snapshot()
	r := analyse(ids)
	dropped := metric(t, httpAddr, "facemon_recognizer_frames_dropped_total")
	t.Logf("30 fps: frames published %d (%.1f/s), processed %d (%.1f/s), dropped by the mailbox %v, with faces %d, naming %s %d",
		frames, float64(frames)/run.Seconds(), r.frames, float64(r.frames)/run.Seconds(), dropped, r.withFaces, performer, r.named)
	t.Logf("30 fps: capture->identity latency p50 %v p95 %v max %v", percentile(r.lat, 0.5), percentile(r.lat, 0.95), percentile(r.lat, 1))
	if frames < 200 {
		t.Fatalf("edge published only %d frames in %v at 30 fps", frames, run)
	}
	if r.frames < frames/3 {
		t.Fatalf("processed %d of %d frames", r.frames, frames)
	}
	if p95 := percentile(r.lat, 0.95); p95 > 2*time.Second {
		t.Fatalf("p95 latency %v: frames are queueing", p95)
	}
}
