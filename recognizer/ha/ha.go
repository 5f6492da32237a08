// Package ha announces facemon to Home Assistant through MQTT discovery
// and keeps the announced entities' state topics up to date.
//
// # Entities
//
// Discovery configs are published retained on
// <prefix>/<component>/<node>/<object>/config, where prefix is the discovery
// prefix (default "homeassistant") and node is "facemon" (or
// "facemon_<topic prefix>" when a topic prefix is set, so several
// installations can share one broker and one Home Assistant).
//
// Per camera <cam> (a device "facemon <cam>", via the recognizer device):
//
//	image          <cam>_annotated     image_topic cam/<cam>/annotated (image/jpeg)
//	sensor         <cam>_last_person   state: name of the last known person seen;
//	                                   attributes: name, distance, time, camera, snapshot
//	event          <cam>_face          event_types known_person, unknown_face
//
// Camera entities are available while both the edge (facemon/status/edge/<cam>)
// and this recognizer (facemon/status/recognizer/<instance>) are online
// (availability_mode "all").
//
// Per known person <name> (a device named after the person):
//
//	binary_sensor  person_<slug>_present      device_class occupancy, off_delay (default 60 s)
//	sensor         person_<slug>_last_camera  state: camera id; attributes: camera, time, distance
//
// Person entities are available while the recognizer is online.
//
// The recognizer itself (device "facemon recognizer <instance>"):
//
//	binary_sensor  recognizer_<instance>_connectivity  from facemon/status/recognizer/<instance>
//
// The connectivity sensor has no availability topic on purpose: it must read
// "off" (not "unavailable") when the recognizer is offline.
//
// <slug> is the name itself when it is made of [A-Za-z0-9_-] only, and
// otherwise a lower-case ASCII slug followed by 8 hex digits of the name's
// SHA-256 (e.g. "Zoë Smith" -> "zo_smith_<hash>"), so object ids and state
// topics stay ASCII and distinct.
//
// # State topics
//
// All under the facemon topic prefix:
//
//	facemon/ha/<cam>/last_person         retained JSON {"name","distance","time","camera"[,"snapshot"]}
//	facemon/ha/<cam>/event               JSON {"event_type":"known_person"|"unknown_face","camera","time","distance"[,"name"|"candidate"]}
//	facemon/ha/person/<slug>/present     "ON" (not retained; Home Assistant turns it off after off_delay)
//	facemon/ha/person/<slug>/last_camera retained JSON {"camera","time","distance"}
//
// The snapshot attribute is <BaseURL>/api/events/latest/crop.jpg?camera=<cam>&person=<name>
// when a base URL is configured (served by package api from the history store).
package ha

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/redact"
	"github.com/facemon/facemon/shared/topic"
)

// Defaults.
const (
	DefaultPrefix   = "homeassistant"
	DefaultOffDelay = 60 * time.Second
	DefaultDebounce = 10 * time.Second
)

// Event types of the camera event entity.
const (
	EventKnown   = "known_person"
	EventUnknown = "unknown_face"
)

// Config describes what to announce.
type Config struct {
	Prefix   string      // discovery prefix (default "homeassistant")
	Space    topic.Space // facemon topic space
	Instance string      // recognizer instance id
	// BaseURL of the recognizer's HTTP API (e.g. http://host:9101); when
	// set, last-person attributes carry a snapshot URL and the recognizer
	// device a configuration_url.
	BaseURL string
	// OffDelay is the presence sensors' off_delay (default 60 s).
	OffDelay time.Duration
	// Debounce is the least time between two state updates for the same
	// person (or unknown faces) on the same camera (default 10 s; keep it
	// well below OffDelay).
	Debounce time.Duration
	Version  string // recognizer version, shown as sw_version
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	if c.OffDelay <= 0 {
		c.OffDelay = DefaultOffDelay
	}
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, "+#") {
		return fmt.Errorf("ha: bad discovery prefix %q", c.Prefix)
	}
	if !topic.ValidID(c.Instance) {
		return fmt.Errorf("ha: instance %q: %w", c.Instance, topic.ErrBadID)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			// No credentials: the URL goes into retained discovery
			// messages; and none in the error text either.
			return redact.Errorf("ha: base URL %q: want http(s)://host[:port] without user or password", c.BaseURL)
		}
	}
	return nil
}

// Message is one MQTT message: a discovery config or its removal (empty
// payload).
type Message struct {
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
}

// Slug returns the object-id form of a camera id or person name (see the
// package documentation).
func Slug(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else if r < 0x80 && b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(s))
	slug := strings.Trim(b.String(), "_")
	if slug != "" {
		slug += "_"
	}
	return slug + hex.EncodeToString(sum[:4])
}

// node is the discovery node id and the prefix of every unique id.
func (c *Config) node() string {
	p := strings.Trim(c.Space.Prefix, "/")
	if p == "" {
		return "facemon"
	}
	return "facemon_" + Slug(p)
}

// HAStatusTopic is where Home Assistant announces "online" after a restart.
func (c *Config) HAStatusTopic() string { return c.Prefix + "/status" }

// LastPersonTopic returns facemon/ha/<cam>/last_person.
func (c *Config) LastPersonTopic(camera string) string {
	return c.Space.Prefix + "facemon/ha/" + camera + "/last_person"
}

// EventTopic returns facemon/ha/<cam>/event.
func (c *Config) EventTopic(camera string) string {
	return c.Space.Prefix + "facemon/ha/" + camera + "/event"
}

// PresentTopic returns facemon/ha/person/<slug>/present.
func (c *Config) PresentTopic(name string) string {
	return c.Space.Prefix + "facemon/ha/person/" + Slug(name) + "/present"
}

// LastCameraTopic returns facemon/ha/person/<slug>/last_camera.
func (c *Config) LastCameraTopic(name string) string {
	return c.Space.Prefix + "facemon/ha/person/" + Slug(name) + "/last_camera"
}

// SnapshotURL returns the URL of the newest crop of person on camera, or ""
// without a base URL.
func (c *Config) SnapshotURL(camera, person string) string {
	if c.BaseURL == "" {
		return ""
	}
	return c.BaseURL + "/api/events/latest/crop.jpg?" + url.Values{"camera": {camera}, "person": {person}}.Encode()
}

type obj = map[string]any

func (c *Config) discoveryTopic(component, object string) string {
	return c.Prefix + "/" + component + "/" + c.node() + "/" + object + "/config"
}

func (c *Config) availability(t string) obj {
	return obj{"topic": t, "payload_available": topic.Online, "payload_not_available": topic.Offline}
}

func (c *Config) recognizerDeviceID() string { return c.node() + "_recognizer_" + Slug(c.Instance) }

func (c *Config) origin() obj {
	o := obj{"name": "facemon"}
	if c.Version != "" {
		o["sw_version"] = c.Version
	}
	return o
}

func (c *Config) message(component, object string, payload obj) Message {
	payload["unique_id"] = c.node() + "_" + object
	payload["origin"] = c.origin()
	b, err := json.Marshal(payload)
	if err != nil { // only maps of strings, numbers and slices: cannot fail
		panic(err)
	}
	return Message{Topic: c.discoveryTopic(component, object), Payload: b}
}

// RecognizerConfigs returns the recognizer device's configs.
func (c *Config) RecognizerConfigs() []Message {
	dev := obj{"identifiers": []string{c.recognizerDeviceID()}, "name": "facemon recognizer " + c.Instance,
		"manufacturer": "facemon", "model": "recognizer"}
	if c.Version != "" {
		dev["sw_version"] = c.Version
	}
	if c.BaseURL != "" {
		dev["configuration_url"] = c.BaseURL + "/"
	}
	return []Message{c.message("binary_sensor", "recognizer_"+Slug(c.Instance)+"_connectivity", obj{
		"name":            "Connectivity",
		"device_class":    "connectivity",
		"entity_category": "diagnostic",
		"state_topic":     c.Space.Status(topic.KindRecognizer, c.Instance),
		"payload_on":      topic.Online,
		"payload_off":     topic.Offline,
		"device":          dev,
	})}
}

// CameraConfigs returns camera's configs.
func (c *Config) CameraConfigs(camera string) []Message {
	s := Slug(camera)
	dev := obj{"identifiers": []string{c.node() + "_camera_" + s}, "name": "facemon " + camera,
		"manufacturer": "facemon", "model": "camera", "via_device": c.recognizerDeviceID()}
	avail := func() []obj {
		return []obj{c.availability(c.Space.Status(topic.KindEdge, camera)), c.availability(c.Space.Status(topic.KindRecognizer, c.Instance))}
	}
	return []Message{
		c.message("image", s+"_annotated", obj{
			"name": "Annotated", "image_topic": c.Space.Annotated(camera), "content_type": "image/jpeg",
			"availability": avail(), "availability_mode": "all", "device": dev,
		}),
		c.message("sensor", s+"_last_person", obj{
			"name": "Last person seen", "icon": "mdi:account-search",
			"state_topic": c.LastPersonTopic(camera), "value_template": "{{ value_json.name }}",
			"json_attributes_topic": c.LastPersonTopic(camera),
			"availability":          avail(), "availability_mode": "all", "device": dev,
		}),
		c.message("event", s+"_face", obj{
			"name": "Face", "icon": "mdi:face-recognition",
			"state_topic": c.EventTopic(camera), "event_types": []string{EventKnown, EventUnknown},
			"availability": avail(), "availability_mode": "all", "device": dev,
		}),
	}
}

// PersonConfigs returns a known person's configs.
func (c *Config) PersonConfigs(name string) []Message {
	s := Slug(name)
	dev := obj{"identifiers": []string{c.node() + "_person_" + s}, "name": name,
		"manufacturer": "facemon", "model": "known person", "via_device": c.recognizerDeviceID()}
	avail := func() []obj { return []obj{c.availability(c.Space.Status(topic.KindRecognizer, c.Instance))} }
	return []Message{
		c.message("binary_sensor", "person_"+s+"_present", obj{
			"name": "Present", "device_class": "occupancy",
			"state_topic": c.PresentTopic(name), "payload_on": "ON", "payload_off": "OFF",
			"off_delay":    int(c.OffDelay / time.Second),
			"availability": avail(), "device": dev,
		}),
		c.message("sensor", "person_"+s+"_last_camera", obj{
			"name": "Last seen camera", "icon": "mdi:cctv",
			"state_topic": c.LastCameraTopic(name), "value_template": "{{ value_json.camera }}",
			"json_attributes_topic": c.LastCameraTopic(name),
			"availability":          avail(), "device": dev,
		}),
	}
}

// Removals returns msgs with empty payloads: published retained, they
// delete the entities (and the retained configs).
func Removals(msgs []Message) []Message {
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = Message{Topic: m.Topic, Payload: json.RawMessage{}}
	}
	return out
}

// Configs returns every config for the recognizer, cameras and people.
func (c *Config) Configs(cameras, people []string) []Message {
	out := c.RecognizerConfigs()
	for _, cam := range cameras {
		out = append(out, c.CameraConfigs(cam)...)
	}
	for _, p := range people {
		out = append(out, c.PersonConfigs(p)...)
	}
	return out
}

// checkCamera and checkPerson validate ids before they reach a topic.
func checkCamera(id string) error {
	if !topic.ValidID(id) {
		return fmt.Errorf("ha: camera %q: %w", id, topic.ErrBadID)
	}
	return nil
}

func checkPerson(name string) error {
	if !msg.ValidName(name) {
		return fmt.Errorf("ha: person %q: %w", name, msg.ErrBadName)
	}
	return nil
}

var errNoPublisher = errors.New("ha: nil MQTT publisher")
