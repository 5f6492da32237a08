package bench

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestParseSums: series of one metric are summed over their labels, and
// per direction for facemon_mqtt_dropped_total.
func TestParseSums(t *testing.T) {
	page := `# HELP facemon_mqtt_dropped_total x
# TYPE facemon_mqtt_dropped_total counter
facemon_mqtt_dropped_total{direction="in",topic_kind="frames"} 3
facemon_mqtt_dropped_total{direction="out",topic_kind="annotated"} 5
facemon_mqtt_dropped_total{direction="out",topic_kind="identities"} 2
facemon_recognizer_frames_dropped_total 7
facemon_recognizer_frames_rejected_total{reason="stale"} 1
facemon_recognizer_frames_rejected_total{reason="camera"} 1e+00
`
	s := parseSums(strings.NewReader(page))
	for k, want := range map[string]float64{
		"facemon_mqtt_dropped_total":               10,
		"facemon_mqtt_dropped_total/in":            3,
		"facemon_mqtt_dropped_total/out":           7,
		"facemon_recognizer_frames_dropped_total":  7,
		"facemon_recognizer_frames_rejected_total": 2,
	} {
		if s[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, s[k], want, s)
		}
	}
}

// TestFillDrops: dropped per camera and in all are the published frames
// without identities, the breakdown is the counters' window deltas, p99
// is the 99th percentile.
func TestFillDrops(t *testing.T) {
	got := map[string]time.Duration{}
	for i := 1; i <= 100; i++ {
		got["live0/"+strconv.Itoa(i)] = time.Duration(i) * time.Millisecond
	}
	for i := 1; i <= 90; i++ {
		got["live1/"+strconv.Itoa(i)] = 10 * time.Millisecond
	}
	r := &LiveReport{Published: 200}
	rec0 := map[string]float64{"facemon_recognizer_frames_dropped_total": 4, "facemon_recognizer_frames_received_total": 10}
	rec1 := map[string]float64{"facemon_recognizer_frames_dropped_total": 9, "facemon_recognizer_frames_received_total": 205, "facemon_mqtt_dropped_total/in": 2}
	fillDrops(r, got, map[string]int{"live0": 100, "live1": 100}, rec0, rec1, nil, nil, 0)
	if r.Drops.Unanswered != 10 || r.Drops.Mailbox != 5 || r.Drops.Received != 195 || r.Drops.MQTTIn != 2 {
		t.Errorf("drops %+v", r.Drops)
	}
	if len(r.PerCamera) != 2 || r.PerCamera[0].DroppedPct != 0 || r.PerCamera[1].DroppedPct != 10 || r.PerCamera[1].Answered != 90 {
		t.Errorf("per camera %+v", r.PerCamera)
	}
	if r.P99ms != 99 || r.PerCamera[0].P95ms != 96 {
		t.Errorf("p99 %v, live0 p95 %v", r.P99ms, r.PerCamera[0].P95ms)
	}
	r2 := &LiveReport{Published: 1}
	fillDrops(r2, nil, map[string]int{"live0": 1}, nil, rec1, nil, nil, 0)
	if r2.Drops.Mailbox != -1 || r2.Drops.Unanswered != 1 {
		t.Errorf("unread counters: %+v", r2.Drops)
	}
}

// The frames an edge published in the window are counted by their
// numbers and capture times, as the answers are: frames captured before
// or after the window are not, unanswered ones inside it are, wherever
// they fall (middle, either end, a dead tail), and frames the edge never
// handed to MQTT are taken off.
func TestWindowPublished(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(seq int) time.Time { return t0.Add(time.Duration(seq) * 100 * time.Millisecond) }
	// the window holds the frames numbered 10..39 (captured at 1.0 s .. 3.9 s)
	w0, w1 := at(10), at(40)
	answered := func(skip ...int) []seqCapture {
		var l []seqCapture
		for s := 1; s <= 50; s++ {
			if !slices.Contains(skip, s) {
				l = append(l, seqCapture{uint64(s), at(s)})
			}
		}
		return l
	}
	var tail []seqCapture // the recognizer stopped answering after frame 30
	for s := 1; s <= 30; s++ {
		tail = append(tail, seqCapture{uint64(s), at(s)})
	}
	seen := map[string][]seqCapture{
		"all":     answered(),
		"middle":  answered(20, 21, 22),
		"ends":    answered(9, 10, 11, 39, 40), // 10, 11 and 39 are in the window
		"tail":    tail,
		"edge":    answered(25, 26), // never handed to MQTT by the edge
		"outside": {{1, at(1)}, {60, at(60)}},
		"twice":   append(answered(), seqCapture{15, at(15)}),
	}
	got := windowPublished(seen, w0, w1, 10, map[string]int{"edge": 2})
	want := map[string]int{"all": 30, "middle": 30, "ends": 30, "tail": 30, "edge": 28, "twice": 30}
	for cam, n := range want {
		if got[cam] != n {
			t.Errorf("%s: %d published in the window, want %d", cam, got[cam], n)
		}
	}
	if _, ok := got["outside"]; ok {
		t.Errorf("a camera with no answer in the window: %d", got["outside"])
	}
}
