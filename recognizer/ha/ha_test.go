package ha

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

func testConfig() Config {
	c := Config{Space: topic.New(""), Instance: "rec1", BaseURL: "http://facemon.local:9101", Version: "1.2.3"}
	c.Defaults()
	return c
}

var people = []string{"alice", "Zoë Smith"}

func golden(t *testing.T, name string, msgs []Message) {
	t.Helper()
	// Pretty-print payloads for review; empty payloads (removals) become "".
	type row struct {
		Topic   string `json:"topic"`
		Payload any    `json:"payload"`
	}
	rows := make([]row, len(msgs))
	for i, m := range msgs {
		var v any = ""
		if len(m.Payload) > 0 {
			if err := json.Unmarshal(m.Payload, &v); err != nil {
				t.Fatalf("%s: %v", m.Topic, err)
			}
		}
		rows[i] = row{m.Topic, v}
	}
	got, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ha -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from golden file (go test ./ha -update to accept):\n%s", path, got)
	}
}

func TestGoldenOneCameraTwoPeople(t *testing.T) {
	c := testConfig()
	golden(t, "one_camera_two_people", c.Configs([]string{"door"}, people))
}

func TestGoldenPersonRemoval(t *testing.T) {
	c := testConfig()
	golden(t, "person_removal", Removals(c.PersonConfigs("alice")))
}

var discoveryTopic = regexp.MustCompile(`^homeassistant/(image|sensor|binary_sensor|event)/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config$`)

// TestRequiredKeys checks every config against Home Assistant's MQTT
// discovery requirements for its platform.
func TestRequiredKeys(t *testing.T) {
	for _, prefix := range []string{"", "site1/"} {
		c := testConfig()
		c.Space = topic.New(prefix)
		msgs := c.Configs([]string{"door", "pi.kitchen"}, people)
		if len(msgs) != 1+2*3+2*2 {
			t.Fatalf("%d configs", len(msgs))
		}
		uids := map[string]bool{}
		topics := map[string]bool{}
		for _, m := range msgs {
			sm := discoveryTopic.FindStringSubmatch(m.Topic)
			if sm == nil {
				t.Fatalf("bad discovery topic %q", m.Topic)
			}
			if topics[m.Topic] {
				t.Fatalf("duplicate topic %s", m.Topic)
			}
			topics[m.Topic] = true
			var p map[string]any
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatal(err)
			}
			str := func(k string) string { s, _ := p[k].(string); return s }
			uid := str("unique_id")
			if uid == "" || uids[uid] {
				t.Fatalf("%s: unique_id %q missing or duplicate", m.Topic, uid)
			}
			uids[uid] = true
			if prefix != "" && !strings.HasPrefix(uid, "facemon_site1_") {
				t.Fatalf("%s: unique_id %q not scoped to the topic prefix", m.Topic, uid)
			}
			dev, _ := p["device"].(map[string]any)
			if ids, _ := dev["identifiers"].([]any); len(ids) == 0 || dev["name"] == nil {
				t.Fatalf("%s: device without identifiers/name: %v", m.Topic, dev)
			}
			switch sm[1] {
			case "image":
				if str("image_topic") == "" && str("url_topic") == "" {
					t.Fatalf("%s: image needs image_topic or url_topic", m.Topic)
				}
				if str("image_topic") != "" && str("content_type") != "image/jpeg" {
					t.Fatalf("%s: content_type %q", m.Topic, str("content_type"))
				}
			case "sensor", "binary_sensor":
				if str("state_topic") == "" {
					t.Fatalf("%s: no state_topic", m.Topic)
				}
			case "event":
				types, _ := p["event_types"].([]any)
				if str("state_topic") == "" || len(types) != 2 {
					t.Fatalf("%s: event needs state_topic and event_types", m.Topic)
				}
			}
			for _, k := range []string{"state_topic", "image_topic", "json_attributes_topic"} {
				if v := str(k); v != "" && (strings.ContainsAny(v, "+#") || !strings.HasPrefix(v, prefix)) {
					t.Fatalf("%s: %s %q", m.Topic, k, v)
				}
			}
			avail, _ := p["availability"].([]any)
			isConnectivity := str("device_class") == "connectivity"
			if !isConnectivity && len(avail) == 0 {
				t.Fatalf("%s: no availability", m.Topic)
			}
			for _, a := range avail {
				at, _ := a.(map[string]any)["topic"].(string)
				if _, _, err := c.Space.ParseStatus(at); err != nil {
					t.Fatalf("%s: availability topic %q: %v", m.Topic, at, err)
				}
			}
			if len(avail) > 1 && str("availability_mode") != "all" {
				t.Fatalf("%s: several availability topics without availability_mode all", m.Topic)
			}
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"alice": "alice", "Bob_2": "Bob_2", "door-1": "door-1"} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q", in, got)
		}
	}
	re := regexp.MustCompile(`^[a-z0-9_-]+_[0-9a-f]{8}$`)
	seen := map[string]bool{}
	for _, in := range []string{"Zoë Smith", "zoe smith", "Zoe Smith", "pi.kitchen", "pi_kitchen.", "李雷", "a b"} {
		s := Slug(in)
		if !re.MatchString(s) && !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(s) || seen[s] {
			t.Errorf("Slug(%q) = %q", in, s)
		}
		seen[s] = true
	}
}

type pub struct {
	topic    string
	retained bool
	payload  string
}

type fakeMQTT struct {
	mu   sync.Mutex
	msgs []pub
}

func (f *fakeMQTT) Publish(t string, qos byte, retained bool, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, pub{t, retained, string(payload)})
	return nil
}

func (f *fakeMQTT) take() []pub {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.msgs
	f.msgs = nil
	return m
}

func count(ms []pub, pred func(pub) bool) int {
	n := 0
	for _, m := range ms {
		if pred(m) {
			n++
		}
	}
	return n
}

func isConfig(m pub) bool { return strings.HasSuffix(m.topic, "/config") }

func TestPublisher(t *testing.T) {
	mq := &fakeMQTT{}
	p, err := NewPublisher(Config{Space: topic.New(""), Instance: "rec1"}, mq, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	p.SetClock(func() time.Time { return now })
	p.AddCamera("door")
	p.SetPeople([]string{"alice", "bob"})
	ms := mq.take()
	if n := count(ms, func(m pub) bool { return isConfig(m) && m.retained && m.payload != "" }); n != 3+2*2 {
		t.Fatalf("configs %d: %+v", n, ms)
	}
	p.PublishAll()
	if n := len(mq.take()); n != 1+3+4 {
		t.Fatalf("PublishAll sent %d", n)
	}
	p.HandleHAStatus(p.HAStatusTopic(), []byte("offline"))
	if len(mq.take()) != 0 {
		t.Fatal("re-sent on offline")
	}
	p.HandleHAStatus(p.HAStatusTopic(), []byte("online"))
	if n := len(mq.take()); n != 8 {
		t.Fatalf("re-sent %d on online", n)
	}

	ids := &msg.Identities{V: 1, Camera: "door", Captured: now, Faces: []msg.Face{
		{Name: "alice", Distance: 0.4, Verdict: msg.VerdictKnown}, {Name: msg.Unknown, Distance: 0.8, Candidate: "bob", Verdict: msg.VerdictUnknown}}}
	// A tentative name (shown before the track's attempts agree) raises
	// nothing: no event, no presence, no new person.
	p.Observe(&msg.Identities{V: 1, Camera: "door", Captured: now, Faces: []msg.Face{{Name: "carol", Distance: 0.45, Tentative: true}}})
	if ms := mq.take(); len(ms) != 0 {
		t.Fatalf("tentative name published %+v", ms)
	}
	// Without a verdict (a track not decided yet) there is no event; the
	// named face still updates the presence states.
	p.Observe(&msg.Identities{V: 1, Camera: "door", Captured: now, Faces: []msg.Face{{Name: "alice", Distance: 0.4}, {Name: msg.Unknown, Distance: 0.8}}})
	if ms := mq.take(); count(ms, func(m pub) bool { return strings.HasSuffix(m.topic, "/event") || strings.Contains(m.topic, "event") }) != 0 || len(ms) != 3 {
		t.Fatalf("undecided tracks: %+v", ms)
	}
	now = now.Add(11 * time.Second)
	p.Observe(ids)
	ms = mq.take()
	byTopic := map[string]pub{}
	for _, m := range ms {
		byTopic[m.topic] = m
	}
	c := p.Config()
	if m := byTopic[c.PresentTopic("alice")]; m.payload != "ON" || m.retained {
		t.Fatalf("present %+v", m)
	}
	var lp LastPerson
	if m := byTopic[c.LastPersonTopic("door")]; !m.retained || json.Unmarshal([]byte(m.payload), &lp) != nil || lp.Name != "alice" || lp.Camera != "door" {
		t.Fatalf("last person %+v", m)
	}
	var lc LastCamera
	if m := byTopic[c.LastCameraTopic("alice")]; json.Unmarshal([]byte(m.payload), &lc) != nil || lc.Camera != "door" {
		t.Fatalf("last camera %+v", m)
	}
	evs := count(ms, func(m pub) bool { return m.topic == c.EventTopic("door") })
	if evs != 2 {
		t.Fatalf("events %d: %+v", evs, ms)
	}
	// Debounced: same frame 5 s later publishes nothing.
	now = now.Add(5 * time.Second)
	p.Observe(ids)
	if ms := mq.take(); len(ms) != 0 {
		t.Fatalf("not debounced: %+v", ms)
	}
	now = now.Add(6 * time.Second)
	p.Observe(ids)
	if ms := mq.take(); len(ms) != 5 {
		t.Fatalf("after debounce %d: %+v", len(ms), ms)
	}
	// New camera and person from identities are announced.
	p.Observe(&msg.Identities{V: 1, Camera: "yard", Faces: []msg.Face{{Name: "carol"}}})
	ms = mq.take()
	if n := count(ms, isConfig); n != 3+2 {
		t.Fatalf("announced %d", n)
	}
	// Removing bob publishes empty retained configs.
	p.SetPeople([]string{"alice", "carol"})
	ms = mq.take()
	if n := count(ms, func(m pub) bool {
		return isConfig(m) && m.retained && m.payload == "" && strings.Contains(m.topic, "person_bob_")
	}); n != 2 {
		t.Fatalf("removal %+v", ms)
	}
	if n := count(ms, func(m pub) bool { return isConfig(m) && m.payload != "" }); n != 0 {
		t.Fatalf("re-announced existing people: %+v", ms)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Instance: "a/b"}, {Instance: "x", BaseURL: "ftp://x"}, {Instance: "x", Prefix: "home/#"}} {
		if _, err := NewPublisher(c, &fakeMQTT{}, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	// Credentials in the public URL would land in retained discovery
	// messages: refused, and the error does not repeat them.
	_, err := NewPublisher(Config{Instance: "x", BaseURL: "http://u:haPW@h:9101"}, &fakeMQTT{}, nil)
	if err == nil || strings.Contains(err.Error(), "haPW") {
		t.Errorf("base URL with a password: %v", err)
	}
}

// failingMQTT refuses every publish, as a client whose broker is gone.
type failingMQTT struct{ n int }

func (f *failingMQTT) Publish(string, byte, bool, []byte) error {
	f.n++
	return errors.New("mqttx: not connected")
}

// A failed discovery or state publish is a warning a person sees (Home
// Assistant misses the entity), once a minute at most, not a debug line.
func TestPublishFailuresWarnOncePerMinute(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mq := &failingMQTT{}
	p, err := NewPublisher(Config{Space: topic.New(""), Instance: "rec1"}, mq, log)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	p.SetClock(func() time.Time { return now })
	p.AddCamera("door")
	p.PublishAll()
	warns := func() int { return strings.Count(buf.String(), "level=WARN") }
	if mq.n < 2 {
		t.Fatalf("only %d publishes tried", mq.n)
	}
	if w := warns(); w != 1 {
		t.Fatalf("%d warnings for %d failed publishes, want 1:\n%s", w, mq.n, buf.String())
	}
	if !strings.Contains(buf.String(), "discovery publish failed") || !strings.Contains(buf.String(), "not connected") {
		t.Fatalf("the warning does not say what failed:\n%s", buf.String())
	}
	now = now.Add(61 * time.Second)
	p.PublishAll()
	if w := warns(); w != 2 {
		t.Fatalf("%d warnings after a minute, want 2", w)
	}
}
