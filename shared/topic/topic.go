// Package topic builds and parses the MQTT topic names facemon uses.
//
// Every topic may carry an optional prefix (e.g. "site1/") so several
// installations can share one broker. The layout is:
//
//	<prefix>cam/<id>/frames         JPEG bytes from an edge, QoS 0
//	<prefix>cam/<id>/annotated      JPEG with boxes and names, QoS 0
//	<prefix>cam/<id>/identities     JSON msg.Identities, QoS 1
//	<prefix>cam/<id>/enrol          JSON msg.Enrol from that camera's edge (with a person's session token)
//	<prefix>cam/<id>/train          JSON msg.Train from that camera's edge (with a person's session token)
//	<prefix>cam/<id>/result         JSON msg.EnrolResult answers to that camera's enrol/train, QoS 1
//	<prefix>cam/<id>/viewers        JSON viewer count from that camera's edge, retained
//	<prefix>facemon/status/<kind>/<id>   retained "online"/"offline"
//	<prefix>facemon/cmd/<verb>      JSON commands to the recognizer
//	<prefix>facemon/train/status    JSON training progress, QoS 1, retained
//	<prefix>facemon/enrol/result    JSON answers to enrol commands, QoS 1
package topic

import (
	"errors"
	"fmt"
	"strings"
)

// Kinds of per-camera streams.
const (
	Frames     = "frames"
	Annotated  = "annotated"
	Identities = "identities"
	// Commands an edge sends for its own camera, and their answers.
	Enrol      = "enrol"
	Train      = "train"
	ResultKind = "result"
	// Viewers: how many dashboards watch the camera (retained, from its edge).
	Viewers = "viewers"
)

// Kinds of component that publish availability.
const (
	KindEdge       = "edge"
	KindRecognizer = "recognizer"
)

// Availability payloads.
const (
	Online  = "online"
	Offline = "offline"
)

// ErrBadID is returned for camera or instance ids that cannot be used in a topic.
var ErrBadID = errors.New("topic: id must be 1-64 characters of [A-Za-z0-9_.-]")

// ValidID reports whether id can be used as a camera or instance id:
// 1-64 characters of letters, digits, '_', '-' and '.', and not "." or "..".
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 || id == "." || id == ".." {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

// Space is a topic namespace: a prefix (empty, or ending in '/').
type Space struct{ Prefix string }

// New returns a Space for prefix, adding a trailing '/' when missing.
func New(prefix string) Space {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return Space{Prefix: prefix}
}

// Camera returns the topic of stream kind for camera id.
func (s Space) Camera(id, kind string) string { return s.Prefix + "cam/" + id + "/" + kind }

// Frames returns cam/<id>/frames.
func (s Space) Frames(id string) string { return s.Camera(id, Frames) }

// Annotated returns cam/<id>/annotated.
func (s Space) Annotated(id string) string { return s.Camera(id, Annotated) }

// Identities returns cam/<id>/identities.
func (s Space) Identities(id string) string { return s.Camera(id, Identities) }

// CamEnrol returns cam/<id>/enrol, where camera id's edge sends enrolments.
func (s Space) CamEnrol(id string) string { return s.Camera(id, Enrol) }

// CamTrain returns cam/<id>/train, where camera id's edge asks for training.
func (s Space) CamTrain(id string) string { return s.Camera(id, Train) }

// CamResult returns cam/<id>/result, where the recognizer answers camera
// id's enrol and train commands.
func (s Space) CamResult(id string) string { return s.Camera(id, ResultKind) }

// Viewers returns cam/<id>/viewers.
func (s Space) Viewers(id string) string { return s.Camera(id, Viewers) }

// AllCameras returns the filter cam/+/<kind>.
func (s Space) AllCameras(kind string) string { return s.Prefix + "cam/+/" + kind }

// Shared returns the shared-subscription form of filter for group, so that
// several subscribers in one group split the messages between them.
func Shared(group, filter string) string { return "$share/" + group + "/" + filter }

// Status returns facemon/status/<kind>/<id>.
func (s Space) Status(kind, id string) string {
	return s.Prefix + "facemon/status/" + kind + "/" + id
}

// AllStatusOf returns the filter facemon/status/<kind>/+.
func (s Space) AllStatusOf(kind string) string { return s.Prefix + "facemon/status/" + kind + "/+" }

// AllStatus returns the filter facemon/status/#.
func (s Space) AllStatus() string { return s.Prefix + "facemon/status/#" }

// Command returns facemon/cmd/<verb>.
func (s Space) Command(verb string) string { return s.Prefix + "facemon/cmd/" + verb }

// AllCommands returns facemon/cmd/+.
func (s Space) AllCommands() string { return s.Prefix + "facemon/cmd/+" }

// EnrolResult returns facemon/enrol/result, where the recognizer answers
// facemon/cmd/enrol requests (QoS 1).
func (s Space) EnrolResult() string { return s.Prefix + "facemon/enrol/result" }

// Result returns facemon/result, where the recognizer answers person
// commands (delete, rename, threshold), QoS 1.
func (s Space) Result() string { return s.Prefix + "facemon/result" }

// TrainStatus returns facemon/train/status.
func (s Space) TrainStatus() string { return s.Prefix + "facemon/train/status" }

// ParseCamera splits a cam/<id>/<kind> topic into its camera id and kind.
func (s Space) ParseCamera(t string) (id, kind string, err error) {
	rest, ok := strings.CutPrefix(t, s.Prefix+"cam/")
	if !ok {
		return "", "", fmt.Errorf("topic %q: not a camera topic", t)
	}
	id, kind, ok = strings.Cut(rest, "/")
	if !ok || strings.Contains(kind, "/") || kind == "" {
		return "", "", fmt.Errorf("topic %q: want %scam/<id>/<kind>", t, s.Prefix)
	}
	if !ValidID(id) {
		return "", "", fmt.Errorf("topic %q: %w", t, ErrBadID)
	}
	return id, kind, nil
}

// ParseStatus splits facemon/status/<kind>/<id> into kind and id.
func (s Space) ParseStatus(t string) (kind, id string, err error) {
	rest, ok := strings.CutPrefix(t, s.Prefix+"facemon/status/")
	if !ok {
		return "", "", fmt.Errorf("topic %q: not a status topic", t)
	}
	kind, id, ok = strings.Cut(rest, "/")
	if !ok || !ValidID(id) || kind == "" {
		return "", "", fmt.Errorf("topic %q: want %sfacemon/status/<kind>/<id>", t, s.Prefix)
	}
	return kind, id, nil
}

// ParseCommand returns the verb of a facemon/cmd/<verb> topic.
func (s Space) ParseCommand(t string) (string, error) {
	verb, ok := strings.CutPrefix(t, s.Prefix+"facemon/cmd/")
	if !ok || verb == "" || strings.Contains(verb, "/") {
		return "", fmt.Errorf("topic %q: not a command topic", t)
	}
	return verb, nil
}

// KindOf names the kind of topic t for a metric label with a bounded set
// of values: a camera stream's kind (frames, annotated, identities, enrol,
// train, result, viewers), "status", "cmd", "train_status",
// "enrol_result", "result", or "other" (never the camera id or the full topic).
func (s Space) KindOf(t string) string {
	if _, kind, err := s.ParseCamera(t); err == nil {
		switch kind {
		case Frames, Annotated, Identities, Enrol, Train, ResultKind, Viewers:
			return kind
		}
		return "other"
	}
	switch {
	case strings.HasPrefix(t, s.Prefix+"facemon/status/"):
		return "status"
	case strings.HasPrefix(t, s.Prefix+"facemon/cmd/"):
		return "cmd"
	case t == s.TrainStatus():
		return "train_status"
	case t == s.EnrolResult():
		return "enrol_result"
	case t == s.Result():
		return "result"
	}
	return "other"
}
