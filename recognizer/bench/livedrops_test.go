package bench

import (
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
