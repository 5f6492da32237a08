package msg

import (
	"fmt"
	"strings"

	"github.com/facemon/facemon/shared/topic"
)

// Viewers is the retained payload of cam/<id>/viewers: how many live views
// (dashboard WebSockets and MJPEG clients) of the camera its edge serves.
// The recognizer draws and publishes annotated frames for a camera only
// while this is above zero. An empty retained message means none.
type Viewers struct {
	V       int `json:"v"`
	Viewers int `json:"viewers"`
	// Remote lists the other cameras this edge (started with --view-all)
	// serves live views of right now: their annotated frames are drawn too,
	// although their own edges may have no viewers. Optional.
	Remote []string `json:"remote,omitempty"`
}

// MaxViewers bounds the count (a larger one is refused as malformed);
// MaxRemoteViewed bounds Remote.
const (
	MaxViewers      = 1 << 20
	MaxRemoteViewed = 64
)

// Validate checks the version and the count.
func (m *Viewers) Validate() error {
	if m.V != Version {
		return badVersion(m.V)
	}
	if m.Viewers < 0 || m.Viewers > MaxViewers {
		return fmt.Errorf("msg: viewers %d: want 0..%d", m.Viewers, MaxViewers)
	}
	if len(m.Remote) > MaxRemoteViewed {
		return fmt.Errorf("msg: viewers: %d remote cameras, want at most %d", len(m.Remote), MaxRemoteViewed)
	}
	for _, id := range m.Remote {
		if !topic.ValidID(id) {
			return fmt.Errorf("msg: viewers: remote camera %q: %w", id, topic.ErrBadID)
		}
	}
	return nil
}

// DecodeViewers decodes a viewers payload; an empty one (the edge stopped
// cleanly or cleared it) is zero viewers.
func DecodeViewers(b []byte) (Viewers, error) {
	m := Viewers{V: Version}
	if len(strings.TrimSpace(string(b))) == 0 {
		return m, nil
	}
	if err := Decode(b, 256+MaxRemoteViewed*(64+3), &m); err != nil {
		return Viewers{}, err
	}
	return m, nil
}
