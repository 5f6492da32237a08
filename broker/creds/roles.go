package creds

import (
	"fmt"

	"github.com/facemon/facemon/shared/topic"
)

// Roles of generated users.
const (
	RoleRecognizer    = "recognizer"
	RoleEdge          = "edge"
	RoleHomeAssistant = "homeassistant"
	RoleAdmin         = "admin"
)

// Fixed user names (edge users are EdgeUser(camera)).
const (
	UserRecognizer    = "recognizer"
	UserHomeAssistant = "homeassistant"
	UserAdmin         = "admin"
)

// DefaultHAPrefix is Home Assistant's MQTT discovery prefix (the
// recognizer's --ha-prefix default). It is not under the topic prefix.
const DefaultHAPrefix = "homeassistant"

// EdgeUser returns the MQTT user name of the edge for camera id: "edge-<id>".
func EdgeUser(camera string) string { return "edge-" + camera }

// Spec describes a generated user: its role and the options that shape its
// rules.
type Spec struct {
	Role   string
	Camera string // RoleEdge: the camera id
	// ViewAll (RoleEdge) lets the edge's dashboard show every camera: read
	// cam/+/frames and cam/+/annotated.
	ViewAll bool
	// Commands (RoleHomeAssistant) lets Home Assistant publish facemon/cmd/#
	// (enrol, train, delete, rename, threshold) and read their answers.
	Commands bool
}

// Topics are where the rules live: the facemon topic space and Home
// Assistant's discovery prefix.
type Topics struct {
	Space    topic.Space
	HAPrefix string // default DefaultHAPrefix
}

// NewTopics returns Topics for a topic prefix and discovery prefix ("":
// DefaultHAPrefix).
func NewTopics(prefix, haPrefix string) Topics {
	if haPrefix == "" {
		haPrefix = DefaultHAPrefix
	}
	return Topics{Space: topic.New(prefix), HAPrefix: haPrefix}
}

func (t Topics) ha(rest string) string { return t.HAPrefix + "/" + rest }

// facemon returns <prefix>facemon/<rest>, for the topics shared/topic has
// no builder for (notify's alerts, the HA state topics).
func (t Topics) facemon(rest string) string { return t.Space.Prefix + "facemon/" + rest }

// AlertTopic is recognizer/notify's default alert topic.
func (t Topics) AlertTopic() string { return t.facemon("alerts/unknown") }

// HAStateFilter covers the recognizer's Home Assistant state topics
// (recognizer/ha: facemon/ha/<cam>/last_person, facemon/ha/<cam>/event,
// facemon/ha/person/<slug>/present|last_camera).
func (t Topics) HAStateFilter() string { return t.facemon("ha/#") }

// Rules returns the concrete read and write topic filters for a spec. They
// are the whole policy: everything else is denied.
func (s Spec) Rules(t Topics) (read, write []string, err error) {
	sp := t.Space
	switch s.Role {
	case RoleRecognizer:
		read = []string{
			sp.AllCameras(topic.Frames), // also $share/<group>/cam/+/frames
			sp.AllCameras(topic.Enrol),
			sp.AllCameras(topic.Train),
			sp.AllCameras(topic.Viewers),
			t.facemon("cmd/#"),
			sp.AllStatus(),
			t.ha("status"),
		}
		write = []string{
			sp.AllCameras(topic.Annotated),
			sp.AllCameras(topic.Identities),
			sp.AllCameras(topic.ResultKind),
			sp.Status(topic.KindRecognizer, "+"),
			sp.Result(),
			sp.EnrolResult(),
			sp.TrainStatus(),
			t.ha("#"),
			t.HAStateFilter(),
			t.AlertTopic(),
		}
	case RoleEdge:
		if !topic.ValidID(s.Camera) {
			return nil, nil, fmt.Errorf("camera %q: %w", s.Camera, topic.ErrBadID)
		}
		read = []string{
			sp.Annotated(s.Camera),
			sp.Identities(s.Camera),
			sp.CamResult(s.Camera),
			sp.TrainStatus(),
			sp.AllStatus(),
		}
		if s.ViewAll {
			read = append(read, sp.AllCameras(topic.Frames), sp.AllCameras(topic.Annotated), sp.AllCameras(topic.Identities))
		}
		write = []string{
			sp.Frames(s.Camera),
			sp.Status(topic.KindEdge, s.Camera),
			sp.CamEnrol(s.Camera),
			sp.CamTrain(s.Camera),
			sp.Viewers(s.Camera),
		}
	case RoleHomeAssistant:
		read = []string{
			t.ha("#"),
			sp.AllCameras(topic.Identities),
			sp.AllCameras(topic.Annotated),
			sp.AllStatus(),
			t.HAStateFilter(),
			t.AlertTopic(),
		}
		write = []string{t.ha("status")}
		if s.Commands {
			write = append(write, t.facemon("cmd/#"))
			read = append(read, sp.Result(), sp.EnrolResult(), sp.TrainStatus())
		}
	case RoleAdmin:
		read, write = []string{"#"}, []string{"#"}
	default:
		return nil, nil, fmt.Errorf("unknown role %q (want %s, %s, %s or %s)", s.Role, RoleRecognizer, RoleEdge, RoleHomeAssistant, RoleAdmin)
	}
	return read, write, nil
}

// Use is one topic a facemon binary publishes or subscribes to.
type Use struct {
	Role    string
	Publish bool   // false: subscribe (and receive)
	Topic   string // topic name (publish) or filter (subscribe)
	// ViewAll / Commands: only with that Spec option.
	ViewAll, Commands bool
	Where             string // the code that does it
}

// Uses lists every topic the edge (camera cam, other camera remote), the
// recognizer (instance inst, shared-subscription group group), Home
// Assistant and its integration use, so tests (here, users.example.yaml's
// and the e2e attack suite) can check that the role templates allow all of
// it. Keep it in sync with the code named in Where.
func Uses(t Topics, cam, remote, inst, group string) []Use {
	sp := t.Space
	pub := func(role, tp, where string) Use { return Use{Role: role, Publish: true, Topic: tp, Where: where} }
	sub := func(role, tp, where string) Use { return Use{Role: role, Topic: tp, Where: where} }
	us := []Use{
		// edge/cmd/facemon-edge/main.go, shared/mqttx (status + will)
		pub(RoleEdge, sp.Frames(cam), "edge/publish via main.go"),
		pub(RoleEdge, sp.Status(topic.KindEdge, cam), "shared/mqttx StatusTopic (retained + will)"),
		sub(RoleEdge, sp.Annotated(cam), "edge main.go"),
		sub(RoleEdge, sp.Identities(cam), "edge main.go (state.HandleIdentities)"),
		{Role: RoleEdge, Topic: sp.AllCameras(topic.Identities), ViewAll: true, Where: "edge main.go --view-all (state.HandleIdentities)"},
		sub(RoleEdge, sp.AllStatus(), "edge main.go (state.HandleStatus)"),
		pub(RoleEdge, sp.CamEnrol(cam), "edge/enrol (with the person's session token)"),
		sub(RoleEdge, sp.CamResult(cam), "edge/enrol, edge/train (answers)"),
		pub(RoleEdge, sp.CamTrain(cam), "edge/train (with the person's session token)"),
		sub(RoleEdge, sp.TrainStatus(), "edge/train"),
		pub(RoleEdge, sp.Viewers(cam), "edge viewers count (retained, C2)"),
		{Role: RoleEdge, Topic: sp.Frames(remote), ViewAll: true, Where: "edge main.go watch()"},
		{Role: RoleEdge, Topic: sp.Annotated(remote), ViewAll: true, Where: "edge main.go watch()"},

		// recognizer/service, pipeline, ha, notify, trainer
		sub(RoleRecognizer, topic.Shared(group, sp.AllCameras(topic.Frames)), "recognizer/service (--group)"),
		sub(RoleRecognizer, sp.AllCameras(topic.Frames), "recognizer/service (--group -)"),
		sub(RoleRecognizer, sp.AllCameras(topic.Enrol), "recognizer/service (edge enrolments, pending without a session)"),
		sub(RoleRecognizer, sp.AllCameras(topic.Train), "recognizer/service (edge training requests)"),
		sub(RoleRecognizer, sp.AllCameras(topic.Viewers), "recognizer/pipeline (annotated frames on demand, C2)"),
		pub(RoleRecognizer, sp.CamResult(cam), "recognizer/service (answers to cam/<id>/enrol and train)"),
		sub(RoleRecognizer, sp.Command("enrol"), "recognizer/service"),
		sub(RoleRecognizer, sp.Command("train"), "recognizer/service"),
		sub(RoleRecognizer, sp.Command("delete"), "recognizer/service"),
		sub(RoleRecognizer, sp.Command("rename"), "recognizer/service"),
		sub(RoleRecognizer, sp.Command("threshold"), "recognizer/service"),
		sub(RoleRecognizer, t.ha("status"), "recognizer/service/integrations (HAStatusTopic)"),
		sub(RoleRecognizer, sp.AllStatusOf(topic.KindEdge), "recognizer/service (camera registry, pipeline.HandleEdgeStatus)"),
		pub(RoleRecognizer, sp.Status(topic.KindRecognizer, inst), "shared/mqttx StatusTopic (retained + will)"),
		pub(RoleRecognizer, sp.Annotated(cam), "recognizer/pipeline"),
		pub(RoleRecognizer, sp.Identities(cam), "recognizer/pipeline"),
		pub(RoleRecognizer, sp.Result(), "recognizer/service/people"),
		pub(RoleRecognizer, sp.EnrolResult(), "recognizer/service/enrol"),
		pub(RoleRecognizer, sp.TrainStatus(), "recognizer/service/trainer"),
		pub(RoleRecognizer, t.ha("binary_sensor/facemon/"+cam+"_x/config"), "recognizer/ha discovery"),
		pub(RoleRecognizer, t.ha("camera/facemon/"+cam+"/config"), "recognizer/ha discovery"),
		pub(RoleRecognizer, t.facemon("ha/"+cam+"/last_person"), "recognizer/ha LastPersonTopic"),
		pub(RoleRecognizer, t.facemon("ha/"+cam+"/event"), "recognizer/ha EventTopic"),
		pub(RoleRecognizer, t.facemon("ha/person/alice/present"), "recognizer/ha PresentTopic"),
		pub(RoleRecognizer, t.facemon("ha/person/alice/last_camera"), "recognizer/ha LastCameraTopic"),
		pub(RoleRecognizer, t.AlertTopic(), "recognizer/notify"),

		// Home Assistant's MQTT integration and the entities recognizer/ha announces
		sub(RoleHomeAssistant, t.ha("#"), "HA discovery"),
		pub(RoleHomeAssistant, t.ha("status"), "HA birth/will"),
		sub(RoleHomeAssistant, sp.Identities(cam), "HA entities"),
		sub(RoleHomeAssistant, sp.Annotated(cam), "HA image entity"),
		sub(RoleHomeAssistant, sp.Status(topic.KindEdge, cam), "HA availability"),
		sub(RoleHomeAssistant, sp.Status(topic.KindRecognizer, inst), "HA availability"),
		sub(RoleHomeAssistant, t.facemon("ha/"+cam+"/last_person"), "HA sensor"),
		sub(RoleHomeAssistant, t.facemon("ha/"+cam+"/event"), "HA event entity"),
		sub(RoleHomeAssistant, t.facemon("ha/person/alice/present"), "HA binary_sensor"),
		sub(RoleHomeAssistant, t.AlertTopic(), "HA automation"),
		{Role: RoleHomeAssistant, Publish: true, Topic: sp.Command("enrol"), Commands: true, Where: "HA automation"},
		{Role: RoleHomeAssistant, Publish: true, Topic: sp.Command("threshold"), Commands: true, Where: "HA automation"},
		{Role: RoleHomeAssistant, Topic: sp.Result(), Commands: true, Where: "HA automation"},
	}
	return us
}

// Denial is something a role must not be able to do.
type Denial struct {
	Role    string
	Publish bool
	Topic   string
	Why     string
}

// Denials lists what the templates must refuse (the attack suite's MQTT
// part) for edge camera cam, another camera remote.
func Denials(t Topics, cam, remote string) []Denial {
	sp := t.Space
	return []Denial{
		{RoleEdge, true, sp.Frames(remote), "edge publishing another camera's frames"},
		{RoleEdge, false, sp.AllCameras(topic.Frames), "edge subscribing every camera's frames"},
		{RoleEdge, false, sp.Frames(remote), "edge reading another camera's frames"},
		{RoleEdge, false, sp.Annotated(remote), "edge reading another camera's annotated frames"},
		{RoleEdge, false, sp.Identities(remote), "edge reading who another camera saw"},
		{RoleEdge, true, sp.Command("threshold"), "edge changing a threshold"},
		{RoleEdge, true, sp.Command("delete"), "edge deleting a person"},
		{RoleEdge, true, sp.Command("rename"), "edge renaming a person"},
		{RoleEdge, true, sp.Identities(cam), "edge forging identities"},
		{RoleEdge, true, sp.Status(topic.KindRecognizer, "r1"), "edge forging recognizer status"},
		{RoleEdge, true, sp.Status(topic.KindEdge, remote), "edge forging another edge's status"},
		{RoleEdge, false, t.AlertTopic(), "edge reading face-crop alerts"},
		{RoleEdge, false, "#", "edge subscribing everything"},
		{RoleEdge, true, sp.Command("enrol"), "edge enrolling a face without a person (facemon/cmd/enrol)"},
		{RoleEdge, true, sp.Command("train"), "edge training without a person (facemon/cmd/train)"},
		{RoleEdge, false, sp.EnrolResult(), "edge reading every enrolment answer"},
		{RoleEdge, true, sp.CamEnrol(remote), "edge enrolling on another camera's topic"},
		{RoleEdge, true, sp.CamTrain(remote), "edge training on another camera's topic"},
		{RoleEdge, true, sp.Viewers(remote), "edge forging another camera's viewers"},
		{RoleEdge, false, sp.CamResult(remote), "edge reading another camera's answers"},
		{RoleEdge, true, sp.CamResult(cam), "edge forging the recognizer's answers"},
		{RoleEdge, true, t.ha("binary_sensor/facemon/x/config"), "edge publishing Home Assistant discovery"},
		{RoleHomeAssistant, true, sp.Command("enrol"), "HA enrolling a face"},
		{RoleHomeAssistant, true, sp.Command("threshold"), "HA changing a threshold"},
		{RoleHomeAssistant, true, sp.Command("delete"), "HA deleting a person"},
		{RoleHomeAssistant, false, sp.AllCameras(topic.Frames), "HA reading raw frames"},
		{RoleHomeAssistant, true, sp.Identities(cam), "HA forging identities"},
		{RoleRecognizer, true, sp.Frames(cam), "recognizer forging frames"},
		{RoleRecognizer, true, sp.Command("delete"), "recognizer publishing commands"},
	}
}
