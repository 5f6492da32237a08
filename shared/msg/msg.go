package msg

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Unknown is the name given to a face that matches nobody in the gallery.
const Unknown = "unknown"

// MaxJSONBytes bounds every JSON payload except enrolment images.
const MaxJSONBytes = 64 << 10

// MaxFaces bounds the faces listed in one identities message.
const MaxFaces = 256

// ErrBadName is returned for a person name that cannot be used.
var ErrBadName = errors.New("msg: name must be 1-64 characters of letters, digits, spaces, '_', '-', '.' and not start with '.'")

// ValidName reports whether name can be a person's name, which is also a
// folder name in the dataset: letters (any script), digits, space, '_', '-'
// and '.', not starting with '.' or a space, at most 64 characters, and not
// the reserved name "unknown".
func ValidName(name string) bool {
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) {
		return false
	}
	if name[0] == '.' || name[0] == ' ' || strings.HasSuffix(name, " ") || strings.EqualFold(name, Unknown) {
		return false
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// Face is one face found in a frame.
type Face struct {
	Name      string  `json:"name"`                // person, or "unknown"
	Distance  float64 `json:"distance"`            // Euclidean distance to the best match
	Box       [4]int  `json:"box"`                 // x0, y0, x1, y1 in frame pixels
	Votes     int     `json:"votes,omitempty"`     // samples of Name that voted for it
	Track     int     `json:"track,omitempty"`     // track id, stable while a face stays in view
	Candidate string  `json:"candidate,omitempty"` // nearest person, also when Name is unknown
	// Verdict is set on the one frame where the face's track is decided:
	// VerdictKnown when it is first named, VerdictUnknown when it stayed
	// unknown for its whole recognition budget. Events and alerts key off it.
	Verdict string `json:"verdict,omitempty"`
	// Tentative: Name is the track's best recognition so far, shown before
	// the track's attempts agree on it; no event (known_person, presence,
	// history) is raised for a tentative name.
	Tentative bool `json:"tentative,omitempty"`
}

// Track verdicts (Face.Verdict).
const (
	VerdictKnown   = "known"
	VerdictUnknown = "unknown"
)

// Identities is published on cam/<id>/identities for every processed frame.
type Identities struct {
	V          int       `json:"v"`
	Camera     string    `json:"camera"`
	Seq        uint64    `json:"seq"`
	Captured   time.Time `json:"captured"`
	Processed  time.Time `json:"processed"`
	Recognizer string    `json:"recognizer"`
	Faces      []Face    `json:"faces"`
}

// Validate checks an Identities message.
func (m *Identities) Validate() error {
	if m.V != Version {
		return badVersion(m.V)
	}
	if m.Camera == "" {
		return errors.New("msg: identities without camera")
	}
	if len(m.Faces) > MaxFaces {
		return fmt.Errorf("msg: %d faces > %d", len(m.Faces), MaxFaces)
	}
	for i, f := range m.Faces {
		if f.Name != Unknown && !ValidName(f.Name) {
			return fmt.Errorf("msg: face %d: %w", i, ErrBadName)
		}
		if math.IsNaN(f.Distance) || f.Distance < 0 {
			return fmt.Errorf("msg: face %d: bad distance %v", i, f.Distance)
		}
	}
	return nil
}

func badVersion(v int) error {
	return fmt.Errorf("%w: v=%d (this build speaks v=%d; leave \"v\" out to mean the current version)", ErrBadVersion, v, Version)
}

// Enrol asks the recognizer to add a face image to a person (topic
// facemon/cmd/enrol). Image is a JPEG; it travels base64-encoded in JSON.
type Enrol struct {
	V      int    `json:"v"`
	ID     string `json:"id"` // request id, echoed in the result
	Name   string `json:"name"`
	Camera string `json:"camera,omitempty"`
	Image  []byte `json:"image"`
	// CheckOnly asks only how many faces the image holds, without enrolling.
	CheckOnly bool `json:"check_only,omitempty"`
	// Burst holds further frames of the same capture (Image is the first),
	// e.g. 10 frames while the person turns their head: the recognizer
	// keeps the sharp, well-lit, diverse ones and says why it dropped the
	// others (EnrolResult.Frames). The whole command must fit the broker's
	// packet limit (2 MiB by default: about ten 640x480 frames).
	Burst [][]byte `json:"burst,omitempty"`
	// Session is a person's session token (recognizer REST POST
	// /api/sessions), sent by an edge on cam/<id>/enrol: without a valid
	// one the enrolment is kept pending until a person confirms it. Never
	// logged or echoed.
	Session string `json:"session,omitempty"`
}

// MaxSessionLen bounds a session token in a command.
const MaxSessionLen = 256

// ErrBadSession is returned for a session field that cannot be a token.
var ErrBadSession = fmt.Errorf("msg: session must be at most %d characters of [A-Za-z0-9_-]", MaxSessionLen)

// ValidSession reports whether tok can be a session token: at most
// MaxSessionLen characters of the base64url alphabet (empty: no session).
func ValidSession(tok string) bool {
	if len(tok) > MaxSessionLen {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MaxEnrolBurst bounds the frames of one enrolment command (Image + Burst).
const MaxEnrolBurst = 20

// MaxEnrolBytes bounds an enrolment command (the image is base64 inside).
const MaxEnrolBytes = 4 << 20

// Validate checks an Enrol command.
func (m *Enrol) Validate() error {
	if m.V != Version {
		return badVersion(m.V)
	}
	if !m.CheckOnly && !ValidName(m.Name) {
		return ErrBadName
	}
	if !ValidSession(m.Session) {
		return ErrBadSession
	}
	if len(m.Burst) >= MaxEnrolBurst {
		return fmt.Errorf("msg: enrol burst of %d frames (at most %d)", len(m.Burst)+1, MaxEnrolBurst)
	}
	for i, b := range m.Burst {
		if err := CheckJPEG(b, MaxFrameBytes); err != nil {
			return fmt.Errorf("burst frame %d: %w", i+1, err)
		}
	}
	return CheckJPEG(m.Image, MaxFrameBytes)
}

// Enrol result statuses.
const (
	EnrolSaved        = "saved"
	EnrolChecked      = "ok"
	EnrolNoFace       = "no_face"
	EnrolSeveralFaces = "several_faces"
	EnrolError        = "error"
	// EnrolPending: an enrolment from an edge without a valid person's
	// session, kept until a person confirms it (EnrolResult.Pending is its id).
	EnrolPending = "pending"
	// EnrolRefused: a command the sender may not give (cam/<id>/train
	// without a valid session).
	EnrolRefused = "refused"
	// TrainAccepted answers a cam/<id>/train that was queued.
	TrainAccepted = "accepted"
)

// Commands answered on cam/<id>/result (EnrolResult.Command).
const (
	CommandEnrol = "enrol"
	CommandTrain = "train"
)

// EnrolResult answers an Enrol command on facemon/enrol/result.
type EnrolResult struct {
	V      int    `json:"v"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Faces  int    `json:"faces"`
	Path   string `json:"path,omitempty"`
	Error  string `json:"error,omitempty"`
	// Warnings lists quality problems of a saved face (blurry, small,
	// turned, badly lit): enrolled, but a better photo would help.
	Warnings []string `json:"warnings,omitempty"`
	// Command is CommandTrain for answers to cam/<id>/train (empty or
	// CommandEnrol: an enrolment).
	Command string `json:"command,omitempty"`
	// Pending is the pending enrolment's id when Status is EnrolPending.
	Pending string `json:"pending,omitempty"`
	// Frames answers a burst (Enrol.Burst): one entry per frame, in order,
	// kept (saved as a sample) or dropped with the reason. Faces is then
	// the number of frames kept and Path the first kept frame's.
	Frames []EnrolFrame `json:"frames,omitempty"`
}

// EnrolFrame is the fate of one frame of an enrolment burst.
type EnrolFrame struct {
	Index    int      `json:"index"` // 0 = Enrol.Image, i = Enrol.Burst[i-1]
	Kept     bool     `json:"kept"`
	Path     string   `json:"path,omitempty"`   // dataset-relative, when kept
	Reason   string   `json:"reason,omitempty"` // why dropped
	Warnings []string `json:"warnings,omitempty"`
	// Sharpness is the face's sharpness score (quality.Report.Sharpness).
	Sharpness float64 `json:"sharpness,omitempty"`
}

// Train asks the recognizer to re-train its gallery from the dataset
// (topic facemon/cmd/train).
type Train struct {
	V  int    `json:"v"`
	ID string `json:"id"`
	// Session is a person's session token; required on cam/<id>/train
	// (an edge's request), not on facemon/cmd/train. Never logged or echoed.
	Session string `json:"session,omitempty"`
}

// Validate checks a Train command.
func (m *Train) Validate() error {
	if m.V != Version {
		return badVersion(m.V)
	}
	if len(m.ID) > 128 {
		return errors.New("msg: train request id longer than 128")
	}
	if !ValidSession(m.Session) {
		return ErrBadSession
	}
	return nil
}

// Training states.
const (
	TrainRunning = "running"
	TrainDone    = "done"
	TrainError   = "error"
)

// TrainStatus reports training progress and results on facemon/train/status.
type TrainStatus struct {
	V          int            `json:"v"`
	ID         string         `json:"id"`
	State      string         `json:"state"`
	Seen       int            `json:"seen"`
	Total      int            `json:"total"`
	Encoded    int            `json:"encoded"`
	Skipped    int            `json:"skipped"`
	Reasons    map[string]int `json:"reasons,omitempty"`
	People     int            `json:"people,omitempty"`
	Encodings  int            `json:"encodings,omitempty"`
	DurationMS int64          `json:"duration_ms,omitempty"`
	Error      string         `json:"error,omitempty"`
	Time       time.Time      `json:"time"`
}

// Decode unmarshals a JSON payload of at most limit bytes into v (unknown
// fields are ignored, for forward compatibility) and runs v's Validate
// method when it has one.
func Decode(b []byte, limit int, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("msg: %w", err)
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}

// DecodeIdentities decodes and validates an identities payload.
func DecodeIdentities(b []byte) (*Identities, error) {
	var m Identities
	if err := Decode(b, MaxJSONBytes, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Commands come from people's scripts and Home Assistant automations as
// well as from facemon: a command without "v" (or with "v":null) means the
// current schema version, so {"id":"x"} is a valid train command. An
// explicit version other than Version (including "v":0) is still refused.

// DecodeEnrol decodes and validates an enrolment command.
func DecodeEnrol(b []byte) (*Enrol, error) {
	m := Enrol{V: Version}
	if err := Decode(b, MaxEnrolBytes, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeTrain decodes and validates a train command. An empty payload is a
// train request without id.
func DecodeTrain(b []byte) (*Train, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return &Train{V: Version}, nil
	}
	m := Train{V: Version}
	if err := Decode(b, MaxJSONBytes, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Person commands (topics facemon/cmd/delete, facemon/cmd/rename,
// facemon/cmd/threshold) edit the gallery; the answer is a CommandResult on
// facemon/result.
type PersonCmd struct {
	V       int    `json:"v"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	NewName string `json:"new_name,omitempty"` // rename
	// Threshold sets the person's own distance threshold (0 = use the global one).
	Threshold *float64 `json:"threshold,omitempty"`
}

// Validate checks the fields every person command needs.
func (m *PersonCmd) Validate() error {
	if m.V != Version {
		return badVersion(m.V)
	}
	if !ValidName(m.Name) {
		return ErrBadName
	}
	if m.NewName != "" && !ValidName(m.NewName) {
		return fmt.Errorf("new_name: %w", ErrBadName)
	}
	if m.Threshold != nil && (math.IsNaN(*m.Threshold) || *m.Threshold < 0 || *m.Threshold > 2) {
		return fmt.Errorf("msg: threshold %v out of range [0, 2]", *m.Threshold)
	}
	return nil
}

// DecodePersonCmd decodes and validates a person command.
func DecodePersonCmd(b []byte) (*PersonCmd, error) {
	m := PersonCmd{V: Version}
	if err := Decode(b, MaxJSONBytes, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// CommandResult answers a command on facemon/result.
type CommandResult struct {
	V       int    `json:"v"`
	ID      string `json:"id"`
	Command string `json:"command"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}
