package bench

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// What `bench --live` counts as dropped, and where the drops happened.
//
// A frame is dropped when it was published (handed to the MQTT client by
// an in-process publisher or a facemon-edge process, captured in the
// measured window; for edges see windowPublished) and no identities
// message for it (camera, sequence) came back:
// "unanswered". That is the one number the targets judge. The breakdown
// says where such frames went, from the counters of the processes on the
// path (deltas over the measured window):
//   - edge: captured by an edge but never handed to MQTT (its publisher's
//     newest-frame slot, busy or disconnected: facemon_edge_frames_dropped_total);
//     these are not in "published", so they are reported apart;
//   - mqtt_out: the publishers' queue replaced or refused a frame
//     (facemon_mqtt_dropped_total{direction="out"} of the edges);
//   - broker: published but never received by the recognizer (published -
//     facemon_recognizer_frames_received_total - the recognizer's MQTT-in
//     drops; a frame the broker or the network lost);
//   - mqtt_in: the recognizer's subscription queue was full
//     (facemon_mqtt_dropped_total{direction="in"} of the recognizer);
//   - mailbox: dropped from its camera's full mailbox by a newer frame
//     before a worker took it (facemon_recognizer_frames_dropped_total,
//     "newest wins");
//   - the rest: received and processed but its identities never reached
//     the bench's observer (its own MQTT-in queue, or the recognizer's
//     MQTT-out queue: recognizer facemon_mqtt_dropped_total{direction="out"}).

// LiveDrops is the breakdown of a live run's drops (deltas over the
// measured window; -1 where a counter could not be read).
type LiveDrops struct {
	Unanswered   int     `json:"unanswered"`         // published, no identities came back
	Received     float64 `json:"received"`           // frames the recognizer accepted into a mailbox
	Mailbox      float64 `json:"mailbox"`            // newest-wins replacements
	MQTTIn       float64 `json:"mqtt_in"`            // recognizer subscription queue drops
	MQTTOut      float64 `json:"mqtt_out"`           // recognizer publish queue drops (identities, annotated)
	Rejected     float64 `json:"rejected"`           // frames the recognizer refused (bad, stale, unknown camera)
	EdgeMQTTOut  float64 `json:"edge_mqtt_out"`      // edges' publish queue drops and replacements
	EdgeNotPubl  float64 `json:"edge_not_published"` // edges' captured frames never handed to MQTT
	EdgeCaptured float64 `json:"edge_captured"`      // edges' captured frames
	ObserverMQTT int     `json:"observer_mqtt_in"`   // the bench observer's own subscription drops
}

// CameraResult is one camera's part of a live run.
type CameraResult struct {
	Camera     string  `json:"camera"`
	Published  int     `json:"published"`
	Answered   int     `json:"answered"`
	DroppedPct float64 `json:"dropped_pct"`
	P95ms      float64 `json:"p95_ms"`
}

// scrapeSums reads a Prometheus text page and returns, per metric name
// (labels ignored) and per "name{direction=...}" direction, the sum of
// its series; nil when the page cannot be read.
func scrapeSums(url string) map[string]float64 {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	return parseSums(resp.Body)
}

func parseSums(r io.Reader) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(l, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[sp+1:], 64)
		if err != nil {
			continue
		}
		series := l[:sp]
		name := series
		if i := strings.IndexByte(series, '{'); i >= 0 {
			name = series[:i]
			labels := series[i:]
			if j := strings.Index(labels, `direction="`); j >= 0 {
				d := labels[j+len(`direction="`):]
				if k := strings.IndexByte(d, '"'); k >= 0 {
					out[name+"/"+d[:k]] += v
				}
			}
		}
		out[name] += v
	}
	return out
}

// sumsDelta returns after-before per key of after (-1 when either page was
// not read).
func sumsDelta(before, after map[string]float64, key string) float64 {
	if before == nil || after == nil {
		return -1
	}
	return after[key] - before[key]
}

// sumEdges scrapes every edge's /metrics.
func (e *liveEdges) sums() []map[string]float64 {
	out := make([]map[string]float64, len(e.addrs))
	for i, a := range e.addrs {
		out[i] = scrapeSums("http://" + a + "/metrics")
	}
	return out
}

// fillDrops completes r's drop breakdown, per-camera results and p99 from
// the identities received (got: "cam/seq" -> latency), the frames
// published per camera, and the counters scraped at the window's start
// and end (rec0/rec1 the recognizer's, edge0/edge1 the edges', nil
// without edges).
func fillDrops(r *LiveReport, got map[string]time.Duration, pubByCam map[string]int, rec0, rec1 map[string]float64, edge0, edge1 []map[string]float64, observerDrops int) {
	r.Drops.Unanswered = max(0, r.Published-len(got))
	r.Drops.Received = sumsDelta(rec0, rec1, "facemon_recognizer_frames_received_total")
	r.Drops.Mailbox = sumsDelta(rec0, rec1, "facemon_recognizer_frames_dropped_total")
	r.Drops.MQTTIn = sumsDelta(rec0, rec1, "facemon_mqtt_dropped_total/in")
	r.Drops.MQTTOut = sumsDelta(rec0, rec1, "facemon_mqtt_dropped_total/out")
	r.Drops.Rejected = sumsDelta(rec0, rec1, "facemon_recognizer_frames_rejected_total") + max(0, sumsDelta(rec0, rec1, "facemon_recognizer_frames_bad_total"))
	r.Drops.ObserverMQTT = observerDrops
	if edge0 != nil {
		for i := range edge0 {
			if i >= len(edge1) {
				break
			}
			r.Drops.EdgeMQTTOut += sumsDelta(edge0[i], edge1[i], "facemon_mqtt_dropped_total/out")
			r.Drops.EdgeNotPubl += sumsDelta(edge0[i], edge1[i], "facemon_edge_frames_dropped_total")
			r.Drops.EdgeCaptured += sumsDelta(edge0[i], edge1[i], "facemon_edge_frames_captured_total")
		}
	}
	var lat []time.Duration
	byCam := map[string][]time.Duration{}
	for k, l := range got {
		lat = append(lat, l)
		cam := k
		if i := strings.LastIndexByte(k, '/'); i >= 0 {
			cam = k[:i]
		}
		byCam[cam] = append(byCam[cam], l)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		r.P99ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
	}
	cams := make([]string, 0, len(pubByCam))
	for c := range pubByCam {
		cams = append(cams, c)
	}
	sort.Slice(cams, func(i, j int) bool { // live2 before live10
		if len(cams[i]) != len(cams[j]) {
			return len(cams[i]) < len(cams[j])
		}
		return cams[i] < cams[j]
	})
	r.PerCamera = nil
	for _, c := range cams {
		l := byCam[c]
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		cr := CameraResult{Camera: c, Published: pubByCam[c], Answered: len(l)}
		if cr.Published > 0 {
			cr.DroppedPct = 100 * float64(max(0, cr.Published-cr.Answered)) / float64(cr.Published)
		}
		if len(l) > 0 {
			cr.P95ms = ms(l[min(len(l)-1, len(l)*95/100)])
		}
		r.PerCamera = append(r.PerCamera, cr)
	}
}

// printDrops prints the per-camera table and the drop breakdown.
func printDrops(w io.Writer, r *LiveReport) {
	fmt.Fprintf(w, "\ndropped = published in the window with no identities back: %d of %d (%.2f %%); p50/p95/p99 capture->identity %.1f / %.1f / %.1f ms\n",
		r.Drops.Unanswered, r.Published, r.DroppedPct, r.P50ms, r.P95ms, r.P99ms)
	d := r.Drops
	fmt.Fprintf(w, "where (window deltas): recognizer received %.0f, mailbox newest-wins %.0f, recognizer mqtt in %.0f / out %.0f, rejected %.0f, observer mqtt in %d",
		d.Received, d.Mailbox, d.MQTTIn, d.MQTTOut, d.Rejected, d.ObserverMQTT)
	if r.Edges != "" {
		fmt.Fprintf(w, "; edges: captured %.0f, not handed to MQTT %.0f (not in published), mqtt out %.0f", d.EdgeCaptured, d.EdgeNotPubl, d.EdgeMQTTOut)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-10s %9s %8s %8s %7s\n", "camera", "published", "answered", "dropped", "p95ms")
	for _, c := range r.PerCamera {
		fmt.Fprintf(w, "%-10s %9d %8d %7.2f%% %7.1f\n", c.Camera, c.Published, c.Answered, c.DroppedPct, c.P95ms)
	}
}

// seqCapture is one answered frame of a camera: its sequence number and
// capture time (from the identities message).
type seqCapture struct {
	seq      uint64
	captured time.Time
}

// windowPublished counts, per camera, the frames captured in [w0, w1)
// that a facemon-edge handed to MQTT, from the answered frames of the
// whole run (warm-up and tail included). An edge numbers every frame it
// captures, so the frames of the window are the sequence numbers from its
// first answered frame to its last; unanswered frames next to the
// window's ends are placed in time between their answered neighbours
// (edges capture at a steady pace), and a tail with no answer after it is
// estimated from fps. Frames the edge captured but never handed to MQTT
// (notPub, its own counter) leave gaps in the numbers and are taken off.
//
// The edges' published counters cannot give this: they are scraped
// before the window opens and after it closes, one edge after another, so
// they count 1-2 frames per camera captured outside the window, whose
// answers are rightly not counted; before this, that showed as 15-24
// "unanswered" frames per 8-edge run that no drop counter explained.
func windowPublished(seen map[string][]seqCapture, w0, w1 time.Time, fps float64, notPub map[string]int) map[string]int {
	out := map[string]int{}
	for cam, l := range seen {
		l = slices.Clone(l)
		slices.SortFunc(l, func(a, b seqCapture) int { return cmp.Compare(a.seq, b.seq) })
		l = slices.CompactFunc(l, func(a, b seqCapture) bool { return a.seq == b.seq })
		lo, hi := -1, -1 // indexes of the first and last answered frame in the window
		for i, a := range l {
			if !a.captured.Before(w0) && a.captured.Before(w1) {
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
		if lo < 0 {
			continue // nothing of this camera was answered in the window
		}
		n := int(l[hi].seq - l[lo].seq + 1)
		// between answered frames a and b, the k-th of the missing ones
		// was captured about k/(gap) of the way from a to b
		between := func(a, b seqCapture, in func(time.Time) bool) int {
			c := 0
			gap := b.seq - a.seq
			for k := uint64(1); k < gap; k++ {
				t := a.captured.Add(time.Duration(float64(b.captured.Sub(a.captured)) * float64(k) / float64(gap)))
				if in(t) {
					c++
				}
			}
			return c
		}
		if lo > 0 {
			n += between(l[lo-1], l[lo], func(t time.Time) bool { return !t.Before(w0) })
		}
		if hi+1 < len(l) {
			n += between(l[hi], l[hi+1], func(t time.Time) bool { return t.Before(w1) })
		} else if fps > 0 {
			n += max(0, int(math.Ceil(w1.Sub(l[hi].captured).Seconds()*fps))-1)
		}
		out[cam] = max(hi-lo+1, n-notPub[cam])
	}
	return out
}
