package ha

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/facemon/facemon/shared/topic"
)

// haSchema is testdata/ha_mqtt_schema.json: the keys Home Assistant's own
// MQTT schemas accept (see the file's comment for the source files and
// commits).
type haSchema struct {
	Base, RO, Common, AvailabilityItem, AvailabilityModes []string
	Device, Origin, OriginRequired, EntityCategories      []string
	Platforms                                             map[string]struct {
		Schema    string
		Keys      []string
		Required  []string
		OneOf     []string   `json:"one_of"`
		Exclusive [][]string `json:"exclusive"`
	}
}

func loadSchema(t *testing.T) haSchema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ha_mqtt_schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var s haSchema
	fields := map[string]*[]string{"base": &s.Base, "ro": &s.RO, "common": &s.Common, "availability_item": &s.AvailabilityItem,
		"availability_modes": &s.AvailabilityModes, "device": &s.Device, "origin": &s.Origin, "origin_required": &s.OriginRequired,
		"entity_categories": &s.EntityCategories}
	for k, p := range fields {
		if err := json.Unmarshal(raw[k], p); err != nil || len(*p) == 0 {
			t.Fatalf("schema %s: %v", k, err)
		}
	}
	if err := json.Unmarshal(raw["platforms"], &s.Platforms); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDiscoveryKeysKnownToHomeAssistant checks every discovery config
// against Home Assistant's documented schema for its platform: no key HA
// would drop, every required key, nested device/origin/availability keys,
// and the platform's exclusions.
func TestDiscoveryKeysKnownToHomeAssistant(t *testing.T) {
	s := loadSchema(t)
	c := testConfig()
	for _, prefix := range []string{"", "site1/"} {
		c.Space = topic.New(prefix)
		msgs := c.Configs([]string{"door", "pi.kitchen"}, people)
		seen := map[string]int{}
		for _, m := range msgs {
			sm := discoveryTopic.FindStringSubmatch(m.Topic)
			if sm == nil {
				t.Fatalf("bad discovery topic %q", m.Topic)
			}
			platform := sm[1]
			ps, ok := s.Platforms[platform]
			if !ok {
				t.Fatalf("%s: platform %q not in the schema file", m.Topic, platform)
			}
			seen[platform]++
			allowed := slices.Concat(s.Base, s.Common, ps.Keys)
			if ps.Schema == "ro" {
				allowed = append(allowed, s.RO...)
			}
			var p map[string]any
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatal(err)
			}
			for k := range p {
				if !slices.Contains(allowed, k) {
					t.Errorf("%s: key %q is not in Home Assistant's %s schema (it would be dropped)", m.Topic, k, platform)
				}
			}
			for _, k := range ps.Required {
				if _, ok := p[k]; !ok {
					t.Errorf("%s: required key %q missing", m.Topic, k)
				}
			}
			if len(ps.OneOf) > 0 && !slices.ContainsFunc(ps.OneOf, func(k string) bool { _, ok := p[k]; return ok }) {
				t.Errorf("%s: needs one of %v", m.Topic, ps.OneOf)
			}
			for _, ex := range ps.Exclusive {
				_, a := p[ex[0]]
				_, b := p[ex[1]]
				if a && b {
					t.Errorf("%s: %s and %s cannot be used together", m.Topic, ex[0], ex[1])
				}
			}
			nested := func(key string, allowed, required []string) {
				v, ok := p[key]
				if !ok {
					return
				}
				obj, ok := v.(map[string]any)
				if !ok {
					t.Errorf("%s: %s is not an object", m.Topic, key)
					return
				}
				for k := range obj {
					if !slices.Contains(allowed, k) {
						t.Errorf("%s: %s.%s is not in Home Assistant's schema", m.Topic, key, k)
					}
				}
				for _, k := range required {
					if _, ok := obj[k]; !ok {
						t.Errorf("%s: %s.%s missing", m.Topic, key, k)
					}
				}
			}
			nested("device", s.Device, nil)
			nested("origin", s.Origin, s.OriginRequired)
			if dev, ok := p["device"].(map[string]any); ok {
				if ids, _ := dev["identifiers"].([]any); len(ids) == 0 {
					if conns, _ := dev["connections"].([]any); len(conns) == 0 {
						t.Errorf("%s: device needs identifiers or connections", m.Topic)
					}
				}
			}
			if _, a := p["availability"]; a {
				if _, b := p["availability_topic"]; b {
					t.Errorf("%s: availability and availability_topic are exclusive", m.Topic)
				}
			}
			if av, ok := p["availability"].([]any); ok {
				for _, it := range av {
					obj, _ := it.(map[string]any)
					if _, ok := obj["topic"]; !ok {
						t.Errorf("%s: availability item without topic", m.Topic)
					}
					for k := range obj {
						if !slices.Contains(s.AvailabilityItem, k) {
							t.Errorf("%s: availability item key %q is not in Home Assistant's schema", m.Topic, k)
						}
					}
				}
			}
			if mode, ok := p["availability_mode"].(string); ok && !slices.Contains(s.AvailabilityModes, mode) {
				t.Errorf("%s: availability_mode %q", m.Topic, mode)
			}
			if cat, ok := p["entity_category"].(string); ok && !slices.Contains(s.EntityCategories, cat) {
				t.Errorf("%s: entity_category %q", m.Topic, cat)
			}
		}
		for _, pl := range []string{"binary_sensor", "sensor", "image", "event"} {
			if seen[pl] == 0 {
				t.Errorf("no %s config checked", pl)
			}
		}
	}
}
