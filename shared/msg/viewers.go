package msg

import (
	"fmt"
	"strings"
)

// Viewers is the retained payload of cam/<id>/viewers: how many live views
// (dashboard WebSockets and MJPEG clients) of the camera its edge serves.
// The recognizer draws and publishes annotated frames for a camera only
// while this is above zero. An empty retained message means none.
type Viewers struct {
	V       int `json:"v"`
	Viewers int `json:"viewers"`
}

// MaxViewers bounds the count (a larger one is refused as malformed).
const MaxViewers = 1 << 20

// Validate checks the version and the count.
func (m *Viewers) Validate() error {
	if m.V != Version {
		return badVersion(m.V)
	}
	if m.Viewers < 0 || m.Viewers > MaxViewers {
		return fmt.Errorf("msg: viewers %d: want 0..%d", m.Viewers, MaxViewers)
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
	if err := Decode(b, 256, &m); err != nil {
		return Viewers{}, err
	}
	return m, nil
}
