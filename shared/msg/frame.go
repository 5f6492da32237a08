// Package msg holds the payloads facemon sends over MQTT, with encoding,
// decoding and validation shared by every component.
package msg

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the schema version carried by every JSON payload.
const Version = 1

// MaxFrameBytes is the default largest JPEG frame accepted (2 MiB, the
// broker's default packet limit).
const MaxFrameBytes = 2 << 20

// Errors returned by frame checks.
var (
	ErrNotJPEG    = errors.New("msg: payload is not a JPEG (no SOI marker)")
	ErrTruncated  = errors.New("msg: JPEG is truncated (no EOI marker)")
	ErrTooLarge   = errors.New("msg: payload too large")
	ErrNoMeta     = errors.New("msg: JPEG carries no facemon metadata")
	ErrBadVersion = errors.New("msg: unsupported schema version")
)

// FrameMeta travels inside each published JPEG frame as a COM (comment)
// segment right after the SOI marker, so the frame stays a plain JPEG that
// any MQTT consumer can show, while the recognizer can report latency and the
// edge can tell the newest frame. The comment reads
//
//	facemon/1 cam=<id> seq=<n> ts=<unix nanoseconds>
type FrameMeta struct {
	Camera   string
	Seq      uint64
	Captured time.Time
}

const metaMagic = "facemon/1 "

// CheckJPEG does a cheap structural check: size limit, SOI at the start and
// an EOI marker near the end (cameras may pad a few bytes after it).
func CheckJPEG(b []byte, limit int) error {
	if limit > 0 && len(b) > limit {
		return fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), limit)
	}
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return ErrNotJPEG
	}
	tail := b[max(0, len(b)-64):]
	if !bytes.Contains(tail, []byte{0xFF, 0xD9}) {
		return ErrTruncated
	}
	return nil
}

// EmbedMeta returns a copy of jpeg with m written as a COM segment after SOI.
// Any facemon COM segment already there is replaced.
func EmbedMeta(jpeg []byte, m FrameMeta) ([]byte, error) {
	if len(jpeg) < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		return nil, ErrNotJPEG
	}
	body := jpeg[2:]
	if n := ourCOMLen(body); n > 0 {
		body = body[n:]
	}
	text := fmt.Sprintf("%scam=%s seq=%d ts=%d", metaMagic, m.Camera, m.Seq, m.Captured.UnixNano())
	seg := len(text) + 2
	out := make([]byte, 0, len(jpeg)+4+len(text))
	out = append(out, 0xFF, 0xD8, 0xFF, 0xFE, byte(seg>>8), byte(seg))
	out = append(out, text...)
	return append(out, body...), nil
}

// ourCOMLen returns the byte length of a facemon COM segment at the start of
// b (after SOI), or 0.
func ourCOMLen(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xFE {
		return 0
	}
	n := int(b[2])<<8 | int(b[3])
	if n < 2 || 2+n > len(b) || !bytes.HasPrefix(b[4:2+n], []byte(metaMagic)) {
		return 0
	}
	return 2 + n
}

// ExtractMeta reads the facemon COM segment of a frame. It returns ErrNoMeta
// for a JPEG without one (e.g. from a third-party camera).
func ExtractMeta(jpeg []byte) (FrameMeta, error) {
	if len(jpeg) < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		return FrameMeta{}, ErrNotJPEG
	}
	n := ourCOMLen(jpeg[2:])
	if n == 0 {
		return FrameMeta{}, ErrNoMeta
	}
	text := string(jpeg[2+4+len(metaMagic) : 2+n])
	var m FrameMeta
	var haveTS bool
	for _, f := range strings.Fields(text) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "cam":
			m.Camera = v
		case "seq":
			s, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return FrameMeta{}, fmt.Errorf("msg: frame metadata seq %q: %w", v, err)
			}
			m.Seq = s
		case "ts":
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return FrameMeta{}, fmt.Errorf("msg: frame metadata ts %q: %w", v, err)
			}
			m.Captured, haveTS = time.Unix(0, ns), true
		}
	}
	if !haveTS {
		return FrameMeta{}, fmt.Errorf("msg: frame metadata %q has no ts", text)
	}
	return m, nil
}
