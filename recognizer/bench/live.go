package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/facemon/facemon/shared/freeport"
	"github.com/facemon/facemon/shared/fsx"
	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// LiveReport is one `bench --live` run: N cameras publishing through a
// broker to a `facemon-recognizer serve` child process.
type LiveReport struct {
	Broker       string  `json:"broker"`
	Cameras      int     `json:"cameras"`
	FPS          float64 `json:"fps"`
	Seconds      float64 `json:"seconds"`
	Published    int     `json:"published"`
	Identities   int     `json:"identities"`
	Named        int     `json:"named_frames"`
	DroppedPct   float64 `json:"dropped_pct"`
	MailboxDrops float64 `json:"mailbox_drops"`
	P50ms        float64 `json:"p50_ms"`
	P95ms        float64 `json:"p95_ms"`
	P99ms        float64 `json:"p99_ms"`
	Maxms        float64 `json:"max_ms"`
	CPUSeconds   float64 `json:"recognizer_cpu_s"`
	CPUmsPerFr   float64 `json:"recognizer_cpu_ms_per_frame"`
	CPUPct       float64 `json:"recognizer_cpu_pct"` // of one core
	// PublisherCPUSeconds is this process's CPU (publishers, observer and
	// the broker when it is not embedded in the recognizer).
	PublisherCPUSeconds float64 `json:"publisher_cpu_s"`
	// Edges is the facemon-edge binary when real edges published (--edge),
	// EdgeCPUSeconds their CPU over the measured window.
	Edges          string  `json:"edges,omitempty"`
	EdgeCPUSeconds float64 `json:"edge_cpu_s,omitempty"`
	// StageMS is the recognizer's wall ms per received frame by stage
	// (from /metrics, warm-up included).
	StageMS map[string]float64 `json:"stage_ms"`
	// Viewer: every camera had a live viewer (CONTRACTS C2), so the
	// recognizer drew and published annotated frames; Annotated counts the
	// cam/+/annotated frames received while measuring, AnnPerCPU per CPU
	// second of the whole serve process (embedded broker included).
	Viewer    bool    `json:"viewer"`
	Annotated int     `json:"annotated"`
	AnnPerCPU float64 `json:"annotated_per_cpu_s"`
	// FramesPerCPU is identities (answered frames) per CPU second.
	FramesPerCPU float64 `json:"frames_per_cpu_s"`
	// Drops says where the unanswered frames went, PerCamera each
	// camera's share (livedrops.go).
	Drops     LiveDrops      `json:"drops"`
	PerCamera []CameraResult `json:"per_camera"`
}

// freeAddr returns a free loopback TCP address (freeport.Port).
func freeAddr() (string, error) {
	port, err := freeport.Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// procCPU is a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f))
	}
	// Fields after the command: state(0) ... utime(11) stime(12), in clock
	// ticks (100 per second on Linux).
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond, nil
}

// runLive runs the live stack once (with a viewer unless --viewer=false)
// and prints it; with --compare it runs the engine-only naive and facemon
// variants, then the live stack with a viewer and without, and prints them
// side by side.
func runLive(ctx context.Context, f flags, stdout, stderr io.Writer) error {
	if !f.compare {
		r, err := liveOnce(ctx, f, f.viewer, stderr)
		if err != nil {
			return err
		}
		printLive(stdout, r, f)
		return writeJSON(f.jsonOut, r)
	}
	var engine []*Report
	for _, v := range []string{"naive", "facemon"} {
		fmt.Fprintf(stderr, "bench: live --compare: engine-only %s...\n", v)
		r, err := runVariantChild(ctx, f, v, stderr)
		if err != nil {
			return err
		}
		engine = append(engine, r)
	}
	var live []*LiveReport
	for _, viewer := range []bool{true, false} {
		fmt.Fprintf(stderr, "bench: live --compare: serve, viewer %v...\n", viewer)
		r, err := liveOnce(ctx, f, viewer, stderr)
		if err != nil {
			return err
		}
		live = append(live, r)
	}
	printCompare(stdout, engine, live, f)
	return writeJSON(f.jsonOut, map[string]any{"engine": engine, "live": live})
}

func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return fsx.WriteFileAtomic(path, append(b, '\n'), 0o644)
}

// runVariantChild runs one engine-only variant on the live run's frames
// (same video, fps, duration, cameras, engines) in a child process.
func runVariantChild(ctx context.Context, f flags, variant string, stderr io.Writer) (*Report, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"bench", "--child", variant, "--video", f.video, "--gallery", f.gallery, "--models", f.models,
		"--fps", fmt.Sprint(f.fps), "--duration", f.duration.String(), "--start", f.start.String(),
		"--cameras", strconv.Itoa(f.cameras), "--workers", strconv.Itoa(f.workers), "--detector", f.detector,
		"--detect-every", strconv.Itoa(f.detectEvery), "--idle-detect-every", strconv.Itoa(f.idleEvery),
		"--crop-full-every", strconv.Itoa(f.cropFullEvery), "--track-agree", strconv.Itoa(f.agree), "--track-named-budget", strconv.Itoa(f.namedBudget)}
	if f.static {
		args = append(args, "--static", "--static-frame", strconv.Itoa(f.staticFrame))
	}
	if f.wideFull {
		args = append(args, "--wide-full-detector")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: variant %s: %w", variant, err)
	}
	var r Report
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		return nil, fmt.Errorf("bench: variant %s: report: %w", variant, err)
	}
	return &r, nil
}

// liveOnce starts `facemon-recognizer serve` as a child process (with its
// embedded broker when broker is "embedded", else connected to broker),
// publishes the video's frames from f.cameras in-process edges at f.fps to
// cam/<id>/frames (JPEG q80 with the frame metadata, QoS 0, as the edge
// does) for f.duration, and measures what arrives on cam/+/identities and
// cam/+/annotated. With viewer, every camera has a live viewer: the
// in-process edges announce one on cam/<id>/viewers (retained, as an edge
// with a dashboard open does); real edges (--edge) get an MJPEG client on
// their /video_feed.
func liveOnce(ctx context.Context, f flags, viewer bool, stderr io.Writer) (*LiveReport, error) {
	frames, err := LoadFrames(f.video, f.fps, f.duration, f.start, f.static, f.staticFrame)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "facemon-bench-live-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	const instance = "bench-live"
	args := []string{"serve", "--models", f.models, "--gallery", f.gallery, "--instance", instance,
		"--dataset", filepath.Join(tmp, "dataset"), "--http", httpAddr, "--workers", strconv.Itoa(f.workers),
		"--history", "-", "--ha-prefix", "-", "--log-level", "warn",
		"--detect-every", strconv.Itoa(f.detectEvery), "--idle-detect-every", strconv.Itoa(f.idleEvery),
		"--crop-full-every", strconv.Itoa(f.cropFullEvery), "--track-agree", strconv.Itoa(f.agree), "--track-named-budget", strconv.Itoa(f.namedBudget),
		"--detector", f.detector}
	if f.wideFull {
		args = append(args, "--wide-full-detector")
	}
	args = append(args, f.serveArgs...)
	broker := f.live
	if broker == "embedded" {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		// Loopback only, anonymous clients opted in (as the e2e tests do);
		// the broker's generated users stay in a state folder of its own.
		args = append(args, "--listen", addr, "--state", filepath.Join(tmp, "state"), "--allow-anonymous")
		broker = "tcp://" + addr
	} else {
		// An external broker: credentials from FACEMON_MQTT_USER and
		// FACEMON_MQTT_PASSWORD (the child inherits them), or anonymous.
		args = append(args, "--broker", broker, "--state", "-")
	}
	logf, err := os.Create(filepath.Join(tmp, "serve.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	fmt.Fprintf(stderr, "bench: live: starting %s %s\n", exe, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	serveLog := func() string {
		b, _ := os.ReadFile(logf.Name())
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		return string(b)
	}
	user, pass := os.Getenv(mqttx.EnvUser), os.Getenv(mqttx.EnvPassword)
	if f.live == "embedded" {
		user, pass = "", ""
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var observerDrops atomic.Int64 // only the observer subscribes
	onDrop := func(direction, _ string) {
		if direction == mqttx.DirIn {
			observerDrops.Add(1)
		}
	}
	// status, for a publisher, is its camera's edge status topic: like an
	// edge it announces itself online, which registers the camera with the
	// recognizer (serve --cameras auto).
	connect := func(id, status string) (*mqttx.Client, error) {
		c, err := mqttx.New(mqttx.Options{Broker: broker, ClientID: id, Username: user, Password: pass, Logger: quiet, MaxReconnectInterval: time.Second,
			StatusTopic: status, OnDrop: onDrop})
		if err != nil {
			return nil, err
		}
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		defer wcancel()
		for {
			if err := c.WaitConnected(wctx); err == nil {
				return c, nil
			}
			select {
			case err := <-exited:
				c.Close()
				return nil, fmt.Errorf("bench: live: recognizer exited (%v):\n%s", err, serveLog())
			default:
			}
			if wctx.Err() != nil {
				c.Close()
				return nil, fmt.Errorf("bench: live: no connection to %s in 60 s (%v):\n%s", broker, c.LastError(), serveLog())
			}
		}
	}
	space := topic.Space{}
	obs, err := connect("bench-observer", "")
	if err != nil {
		return nil, err
	}
	defer obs.Close()
	online := make(chan struct{})
	var onceOnline sync.Once
	obs.Subscribe(space.Status(topic.KindRecognizer, instance), 1, func(_ string, p []byte) {
		if string(p) == topic.Online {
			onceOnline.Do(func() { close(online) })
		}
	})
	type arrival struct {
		lat      time.Duration
		named    bool
		captured time.Time
	}
	var mu sync.Mutex
	seen := map[string][]seqCapture{} // with edges: every answered frame, by camera
	got := map[string]arrival{}       // cam/seq
	warmSeq := uint64(f.fps)          // the warm-up second's frames are not measured
	measuring := false
	obs.Subscribe(space.AllCameras(topic.Identities), 1, func(_ string, p []byte) {
		now := time.Now()
		ids, err := msg.DecodeIdentities(p)
		if err != nil {
			return
		}
		named := false
		for _, fc := range ids.Faces {
			named = named || fc.Name != msg.Unknown
		}
		mu.Lock()
		if f.edge != "" { // every answer, for the frames each edge published in the window (windowPublished)
			seen[ids.Camera] = append(seen[ids.Camera], seqCapture{ids.Seq, ids.Captured})
		}
		if measuring && (f.edge != "" || ids.Seq > warmSeq) {
			got[fmt.Sprintf("%s/%d", ids.Camera, ids.Seq)] = arrival{lat: now.Sub(ids.Captured), named: named, captured: ids.Captured}
		}
		mu.Unlock()
	})
	// cam/+/annotated frames received while measuring, by cam/seq and
	// capture time (their JPEG metadata), counted as the identities are.
	annGot := map[string]time.Time{}
	obs.Subscribe(space.AllCameras(topic.Annotated), 0, func(_ string, p []byte) {
		meta, err := msg.ExtractMeta(p)
		if err != nil || msg.CheckJPEG(p, msg.MaxFrameBytes) != nil {
			return
		}
		mu.Lock()
		if measuring && (f.edge != "" || meta.Seq > warmSeq) {
			annGot[fmt.Sprintf("%s/%d", meta.Camera, meta.Seq)] = meta.Captured
		}
		mu.Unlock()
	})
	select {
	case <-online:
	case err := <-exited:
		return nil, fmt.Errorf("bench: live: recognizer exited (%v):\n%s", err, serveLog())
	case <-time.After(120 * time.Second):
		return nil, fmt.Errorf("bench: live: recognizer not online in 120 s:\n%s", serveLog())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	pid := cmd.Process.Pid
	var (
		published      int
		elapsed        time.Duration
		cpu0, cpu1     time.Duration
		self           time.Duration
		window0, edgeT time.Time
		edgeCPU        time.Duration
		pubByCam       = map[string]int{}
		rec0           map[string]float64
		edge0, edge1   []map[string]float64
	)
	recMetrics := "http://" + httpAddr + "/metrics"
	if f.edge != "" {
		// Real edges: f.cameras facemon-edge processes capture the video
		// file (decode, resize, JPEG encode, publish), so the edges' cost
		// counts too; they announce themselves online like any edge.
		edges, err := startEdges(ctx, f, broker, tmp)
		if err != nil {
			return nil, err
		}
		defer edges.stop()
		if viewer {
			// One MJPEG client per edge, as a person watching its live view:
			// the edge announces a viewer, the recognizer draws for it.
			vctx, vcancel := context.WithCancel(ctx)
			defer vcancel()
			for _, a := range edges.addrs {
				go watchMJPEG(vctx, "http://"+a+"/video_feed")
			}
		}
		fmt.Fprintf(stderr, "bench: live: %d facemon-edge process(es) at %g fps for %v through %s\n", f.cameras, f.fps, f.duration, broker)
		time.Sleep(3 * time.Second) // warm-up: edges open the file and connect
		if cpu0, err = procCPU(pid); err != nil {
			return nil, err
		}
		e0 := edges.cpu()
		p0 := edges.published()
		rec0, edge0 = scrapeSums(recMetrics), edges.sums()
		mu.Lock()
		measuring = true
		mu.Unlock()
		window0 = time.Now()
		select {
		case <-time.After(f.duration):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		edgeT = time.Now()
		elapsed = edgeT.Sub(window0)
		counted := edges.published() - p0
		edgeCPU = edges.cpu() - e0
		edge1 = edges.sums()
		notPub, counter := map[string]int{}, map[string]int{} // per camera: never handed to MQTT; its published counter
		for i := range edge1 {
			if i < len(edge0) && edge0[i] != nil && edge1[i] != nil {
				cam := fmt.Sprintf("live%d", i)
				notPub[cam] = int(edge1[i]["facemon_edge_frames_dropped_total"] - edge0[i]["facemon_edge_frames_dropped_total"])
				counter[cam] = int(edge1[i]["facemon_edge_frames_published_total"] - edge0[i]["facemon_edge_frames_published_total"])
			}
		}
		time.Sleep(2 * time.Second) // frames in flight
		mu.Lock()
		measuring = false
		// Published in the window: by the frames' numbers and capture
		// times, as the answers are counted (not by the edges' counters,
		// which also count frames captured while they were scraped).
		pubByCam = windowPublished(seen, window0, edgeT, f.fps, notPub)
		for cam, n := range counter {
			if _, ok := pubByCam[cam]; !ok {
				pubByCam[cam] = n // nothing answered: all it published is unanswered
			}
		}
		for _, n := range pubByCam {
			published += n
		}
		fmt.Fprintf(stderr, "bench: live: edges published %d frames captured in the window (their counters, scraped around it: %d)\n", published, counted)
		for k, a := range got { // only frames captured in the window
			if a.captured.Before(window0) || !a.captured.Before(edgeT) {
				delete(got, k)
			}
		}
		for k, c := range annGot {
			if c.Before(window0) || !c.Before(edgeT) {
				delete(annGot, k)
			}
		}
		mu.Unlock()
		if cpu1, err = procCPU(pid); err != nil {
			return nil, err
		}
	} else {
		pubs := make([]*mqttx.Client, f.cameras)
		for i := range pubs {
			if pubs[i], err = connect(fmt.Sprintf("bench-edge-%d", i), topic.Space{}.Status(topic.KindEdge, fmt.Sprintf("live%d", i))); err != nil {
				return nil, err
			}
			defer pubs[i].Close()
			if viewer {
				// As an edge with a dashboard open: a retained viewers count.
				vb, _ := json.Marshal(msg.Viewers{V: msg.Version, Viewers: 1})
				if err := pubs[i].PublishWait(space.Viewers(fmt.Sprintf("live%d", i)), 1, true, vb, 10*time.Second); err != nil {
					return nil, err
				}
			}
		}
		// Warm up: one second of frames from every camera, not measured.
		fmt.Fprintf(stderr, "bench: live: %d camera(s) at %g fps for %v through %s\n", f.cameras, f.fps, f.duration, broker)
		seqBase := make([]uint64, f.cameras) // each camera's last sequence number
		publish := func(d time.Duration, count *int) {
			var wg sync.WaitGroup
			var cmu sync.Mutex
			n := int(d.Seconds() * f.fps)
			for c := range f.cameras {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cam := fmt.Sprintf("live%d", c)
					tick := time.NewTicker(time.Duration(float64(time.Second) / f.fps))
					defer tick.Stop()
					// Cameras start spread over one frame interval and 3.7 s
					// apart in the video, as independent edges would.
					time.Sleep(time.Duration(c) * time.Duration(float64(time.Second)/f.fps) / time.Duration(f.cameras))
					for i := 0; i < n; i++ {
						seq := seqBase[c] + 1
						seqBase[c] = seq
						j, err := msg.EmbedMeta(frames[(int(seq-1)+c*37)%len(frames)], msg.FrameMeta{Camera: cam, Seq: seq, Captured: time.Now().UTC()})
						if err == nil && pubs[c].Publish(space.Frames(cam), 0, false, j) == nil && count != nil {
							cmu.Lock()
							*count++
							pubByCam[cam]++
							cmu.Unlock()
						}
						select {
						case <-tick.C:
						case <-ctx.Done():
							return
						}
					}
				}()
			}
			wg.Wait()
		}
		publish(time.Second, nil)
		time.Sleep(time.Second)
		if cpu0, err = procCPU(pid); err != nil {
			return nil, err
		}
		self0 := CPUTime()
		rec0 = scrapeSums(recMetrics)
		mu.Lock()
		measuring = true
		mu.Unlock()
		t0 := time.Now()
		publish(f.duration, &published)
		elapsed = time.Since(t0)
		time.Sleep(2 * time.Second) // frames in flight
		mu.Lock()
		measuring = false
		mu.Unlock()
		if cpu1, err = procCPU(pid); err != nil {
			return nil, err
		}
		self = CPUTime() - self0
	}
	mailbox := scrapeCounter("http://"+httpAddr+"/metrics", "facemon_recognizer_frames_dropped_total")
	stages := scrapeStages("http://" + httpAddr + "/metrics")
	rec1 := scrapeSums(recMetrics)
	cancel()
	<-exited

	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	named := 0
	gotLat := make(map[string]time.Duration, len(got))
	for k, a := range got {
		gotLat[k] = a.lat
		lat = append(lat, a.lat)
		if a.named {
			named++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := &LiveReport{Broker: f.live, Cameras: f.cameras, FPS: f.fps, Seconds: elapsed.Seconds(), Published: published,
		Identities: len(got), Named: named, MailboxDrops: mailbox, PublisherCPUSeconds: self.Seconds(),
		Edges: f.edge, EdgeCPUSeconds: edgeCPU.Seconds()}
	if published > 0 {
		r.DroppedPct = 100 * float64(max(0, published-len(got))) / float64(published)
	}
	if len(lat) > 0 {
		r.P50ms = ms(lat[len(lat)/2])
		r.P95ms = ms(lat[min(len(lat)-1, len(lat)*95/100)])
		r.Maxms = ms(lat[len(lat)-1])
	}
	r.CPUSeconds = (cpu1 - cpu0).Seconds()
	if len(got) > 0 {
		r.CPUmsPerFr = r.CPUSeconds * 1000 / float64(len(got))
	}
	r.CPUPct = 100 * r.CPUSeconds / (elapsed + 2*time.Second).Seconds()
	r.StageMS = map[string]float64{}
	if len(got) > 0 {
		for k, v := range stages {
			r.StageMS[k] = v * 1000 / float64(len(got))
		}
	}
	r.Viewer, r.Annotated = viewer, len(annGot)
	if r.CPUSeconds > 0 {
		r.AnnPerCPU = float64(len(annGot)) / r.CPUSeconds
		r.FramesPerCPU = float64(len(got)) / r.CPUSeconds
	}
	fillDrops(r, gotLat, pubByCam, rec0, rec1, edge0, edge1, int(observerDrops.Load()))
	return r, nil
}

// watchMJPEG reads an MJPEG stream (and throws it away) until ctx ends.
func watchMJPEG(ctx context.Context, url string) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// scrapeStages reads facemon_recognizer_stage_seconds_sum per stage.
func scrapeStages(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	const pre = `facemon_recognizer_stage_seconds_sum{stage="`
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, pre) {
			continue
		}
		rest := strings.TrimPrefix(l, pre)
		i := strings.Index(rest, `"} `)
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest[i+3:]), 64); err == nil {
			out[rest[:i]] = v
		}
	}
	return out
}

// scrapeCounter reads one unlabelled counter from a Prometheus text page
// (-1 when it cannot).
func scrapeCounter(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(l, name)), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// printCompare prints the engine-only variants and the live runs (with a
// viewer and without) side by side, as annotated frames and answered
// frames per CPU second; x is against the engine-only naive pipeline.
func printCompare(w io.Writer, engine []*Report, live []*LiveReport, f flags) {
	src := "in-process publishers"
	if f.edge != "" {
		src = "facemon-edge processes"
	}
	fmt.Fprintf(w, "bench --live %s --compare: %s, %d camera(s) at %g fps for %v (%s), %d engine(s), detector %s\n\n",
		f.live, f.video, f.cameras, f.fps, f.duration, src, f.workers, f.detector)
	var naive float64
	for _, r := range engine {
		if r.Variant == "naive" {
			naive = r.PerCPUSecond
		}
	}
	x := func(v float64) string {
		if naive <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", v/naive)
	}
	fmt.Fprintf(w, "%-28s %7s %9s %8s %9s %6s %10s %9s %8s %7s\n", "run", "frames", "annotated", "cpu-s", "ann/cpu-s", "x", "frames/cpu", "cpu-ms/fr", "dropped", "p95ms")
	for _, r := range engine {
		fmt.Fprintf(w, "%-28s %7d %9d %8.2f %9.1f %6s %10.1f %9.2f %8s %7.1f\n", "engine-only "+r.Variant, r.Frames, r.Annotated, r.CPUSeconds,
			r.PerCPUSecond, x(r.PerCPUSecond), float64(r.Frames)/r.CPUSeconds, r.CPUmsPerFrame, "-", r.P95ms)
	}
	for _, r := range live {
		name := "serve, no viewer"
		if r.Viewer {
			name = "serve, viewer"
		}
		fmt.Fprintf(w, "%-28s %7d %9d %8.2f %9.1f %6s %10.1f %9.2f %7.2f%% %7.1f\n", name, r.Identities, r.Annotated, r.CPUSeconds,
			r.AnnPerCPU, x(r.AnnPerCPU), r.FramesPerCPU, r.CPUmsPerFr, r.DroppedPct, r.P95ms)
	}
	fmt.Fprintf(w, "\nengine-only: the variant's own process, frames from memory, no MQTT; serve: the whole `serve` process (embedded broker, MQTT in and out, JSON, history off, HA off), CPU from /proc over the measured window (+2 s for frames in flight); frames = answered frames (identities); cpu-ms/fr = CPU ms per answered frame; x = ann/cpu-s against engine-only naive\n")
}

func printLive(w io.Writer, r *LiveReport, f flags) {
	fmt.Fprintf(w, "bench --live %s: %s, %d camera(s) at %g fps for %.1f s, %d engine(s), detector %s, detect-every %d, idle-detect-every %d, crop-full-every %d, track-agree %d\n\n",
		r.Broker, f.video, r.Cameras, r.FPS, r.Seconds, f.workers, f.detector, f.detectEvery, f.idleEvery, f.cropFullEvery, f.agree)
	fmt.Fprintf(w, "%9s %10s %8s %10s %7s %7s %7s %9s %10s %8s %8s\n", "published", "identities", "dropped", "mailbox-dr", "p50ms", "p95ms", "maxms", "rec-cpu-s", "cpu-ms/fr", "rec-cpu", "pub-cpu")
	fmt.Fprintf(w, "%9d %10d %7.2f%% %10.0f %7.1f %7.1f %7.1f %9.2f %10.2f %7.0f%% %7.2fs\n", r.Published, r.Identities, r.DroppedPct, r.MailboxDrops,
		r.P50ms, r.P95ms, r.Maxms, r.CPUSeconds, r.CPUmsPerFr, r.CPUPct, r.PublisherCPUSeconds)
	fmt.Fprintf(w, "annotated frames %d (viewer %v), %.1f per recognizer CPU second\n", r.Annotated, r.Viewer, r.AnnPerCPU)
	fmt.Fprintf(w, "\nrecognizer ms per frame by stage (wall, warm-up included): %s\n", stageList(r.StageMS))
	fmt.Fprintf(w, "named frames %d; latency is capture (publish) -> identities received, same clock; rec-cpu is the recognizer process (with the embedded broker when --live embedded), %% of one core\n", r.Named)
	if r.Edges != "" {
		fmt.Fprintf(w, "edges: %d facemon-edge processes (%s), %.2f CPU s in the window (%.0f %% of one core); recognizer + edges %.0f %% of one core\n",
			r.Cameras, r.Edges, r.EdgeCPUSeconds, 100*r.EdgeCPUSeconds/r.Seconds, 100*(r.EdgeCPUSeconds/r.Seconds)+r.CPUPct)
	}
	printDrops(w, r)
}
