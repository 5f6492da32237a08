package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// liveEdges are facemon-edge child processes of `bench --live --edge BIN`.
type liveEdges struct {
	cmds  []*exec.Cmd
	addrs []string // their --listen addresses (/metrics)
}

// defaultEdgeStagger is the default time between edge starts (--edge-stagger):
// each plays the looped clip from another point, as independent cameras
// would show other scenes (the in-process publishers start 3.7 s apart in
// the video too). 0 starts them together: every camera shows a face at the
// same moments, the worst case for the recognizer's workers.
const defaultEdgeStagger = 3700 * time.Millisecond

// startEdges starts f.cameras facemon-edge processes capturing f.video in
// a loop at f.fps and publishing through broker, as camera live<i>, one
// every f.edgeStagger.
func startEdges(ctx context.Context, f flags, broker, tmp string) (*liveEdges, error) {
	e := &liveEdges{}
	for i := range f.cameras {
		if i > 0 && f.edgeStagger > 0 {
			select {
			case <-time.After(f.edgeStagger):
			case <-ctx.Done():
				e.stop()
				return nil, ctx.Err()
			}
		}
		addr, err := freeAddr()
		if err != nil {
			e.stop()
			return nil, err
		}
		dir := filepath.Join(tmp, fmt.Sprintf("edge%d", i))
		cmd := exec.CommandContext(ctx, f.edge, "--broker", broker, "--camera-id", fmt.Sprintf("live%d", i),
			"--source", f.video, "--loop", "--fps", fmt.Sprint(f.fps), "--listen", addr,
			"--state", filepath.Join(dir, "state"), "--dataset", filepath.Join(dir, "dataset"), "--no-login", "--log-level", "warn")
		log, err := os.Create(dir + ".log")
		if err != nil {
			e.stop()
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = log, log
		cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
		if err := cmd.Start(); err != nil {
			log.Close()
			e.stop()
			return nil, fmt.Errorf("bench: live: start %s: %w", f.edge, err)
		}
		log.Close()
		e.cmds = append(e.cmds, cmd)
		e.addrs = append(e.addrs, addr)
	}
	// Each edge answers /metrics once it runs.
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range e.addrs {
		for scrapeCounter("http://"+a+"/metrics", "facemon_edge_frames_published_total") < 0 {
			if time.Now().After(deadline) {
				e.stop()
				return nil, fmt.Errorf("bench: live: edge on %s not serving /metrics in 30 s (logs in %s)", a, tmp)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return e, nil
}

// published sums the edges' facemon_edge_frames_published_total.
func (e *liveEdges) published() int {
	n := 0.0
	for _, a := range e.addrs {
		if v := scrapeCounter("http://"+a+"/metrics", "facemon_edge_frames_published_total"); v > 0 {
			n += v
		}
	}
	return int(n)
}

// cpu sums the edges' CPU time.
func (e *liveEdges) cpu() time.Duration {
	var d time.Duration
	for _, c := range e.cmds {
		if t, err := procCPU(c.Process.Pid); err == nil {
			d += t
		}
	}
	return d
}

func (e *liveEdges) stop() {
	for _, c := range e.cmds {
		c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range e.cmds {
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
	e.cmds = nil
}
