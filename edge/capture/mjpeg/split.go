// Package mjpeg reads Motion-JPEG without decoding it: a concatenated JPEG
// byte stream (what `rpicam-vid --codec mjpeg -o -` or `ffmpeg -f mjpeg -`
// write) from a subprocess, or an HTTP multipart/x-mixed-replace camera
// stream. Frames come out as the camera's own JPEG bytes, so the edge can
// publish them without a decode and re-encode. Pure Go.
package mjpeg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Errors. ErrBadFrame marks a problem with one frame (too large, corrupt):
// the stream itself may go on, and Next may be called again. The others end
// the stream.
var (
	ErrBadFrame     = errors.New("mjpeg: bad frame")
	ErrNotMJPEG     = errors.New("mjpeg: not a Motion-JPEG stream")
	ErrTruncated    = errors.New("mjpeg: stream ended inside a frame")
	ErrNotMultipart = errors.New("mjpeg: HTTP response is not multipart/x-mixed-replace")
)

// DefaultMaxJunk is how many bytes that are not a JPEG may precede a frame
// before the stream is declared not MJPEG.
const DefaultMaxJunk = 64 << 10

// Splitter cuts a concatenated JPEG byte stream into frames. It walks the
// JPEG marker segments (so an EOI inside an EXIF thumbnail does not end the
// frame early) and scans entropy-coded data for the EOI marker; bytes
// between frames are skipped up to a bound.
type Splitter struct {
	br      *bufio.Reader
	max     int
	maxJunk int
	frames  uint64
}

// NewSplitter reads frames of at most maxFrame bytes from r.
func NewSplitter(r io.Reader, maxFrame int) *Splitter {
	return &Splitter{br: bufio.NewReaderSize(r, 64<<10), max: maxFrame, maxJunk: DefaultMaxJunk}
}

// Frames returns how many frames Next has returned.
func (s *Splitter) Frames() uint64 { return s.frames }

// Next returns the next whole JPEG (a fresh slice the caller may keep). It
// returns io.EOF at a clean end of stream, ErrTruncated when the stream ends
// inside a frame, an error wrapping ErrBadFrame for a frame it skipped, and
// an error wrapping ErrNotMJPEG when too much data is not JPEG.
func (s *Splitter) Next() ([]byte, error) {
	if err := s.seekSOI(); err != nil {
		return nil, err
	}
	f := frame{s: s, b: make([]byte, 0, 64<<10)}
	f.b = append(f.b, 0xFF, 0xD8)
	if err := f.read(); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w (after %d bytes of frame %d)", ErrTruncated, len(f.b), s.frames+1)
		}
		return nil, err
	}
	s.frames++
	return f.b, nil
}

// seekSOI consumes bytes up to and including the next SOI marker (FF D8)
// that is followed by another marker.
func (s *Splitter) seekSOI() error {
	var junk int
	var head []byte // the first junk bytes, for the error message
	for {
		b, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF && junk > 0 && s.frames == 0 {
				return fmt.Errorf("%w: %d bytes and no JPEG start marker (begins % x)", ErrNotMJPEG, junk, head)
			}
			return err // io.EOF: clean end (trailing junk after the last frame is ignored)
		}
		if b == 0xFF {
			p, err := s.br.Peek(2)
			if err == nil && p[0] == 0xD8 && p[1] == 0xFF {
				s.br.Discard(1)
				return nil
			}
		}
		if len(head) < 16 {
			head = append(head, b)
		}
		junk++
		if junk > s.maxJunk {
			return fmt.Errorf("%w: %d bytes without a JPEG start marker (begins % x%s)", ErrNotMJPEG, junk, head, hint(head))
		}
	}
}

// hint names a few common wrong formats by their first bytes.
func hint(h []byte) string {
	switch {
	case len(h) >= 4 && h[0] == 0 && h[1] == 0 && (h[2] == 1 || h[2] == 0 && h[3] == 1):
		return "; looks like H.264/H.265: ask the camera for MJPEG (rpicam-vid --codec mjpeg)"
	case len(h) >= 4 && string(h[:4]) == "RIFF":
		return "; looks like an AVI container"
	case len(h) >= 8 && string(h[4:8]) == "ftyp":
		return "; looks like an MP4 container: use the file as --source instead"
	}
	return ""
}

// frame accumulates one JPEG while walking its markers.
type frame struct {
	s *Splitter
	b []byte
}

func (f *frame) grow(n int) error {
	if f.s.max > 0 && len(f.b)+n > f.s.max {
		return fmt.Errorf("%w: frame %d is larger than %d bytes", ErrBadFrame, f.s.frames+1, f.s.max)
	}
	return nil
}

func (f *frame) byte() (byte, error) {
	c, err := f.s.br.ReadByte()
	if err != nil {
		return 0, err
	}
	if err := f.grow(1); err != nil {
		return 0, err
	}
	f.b = append(f.b, c)
	return c, nil
}

// read walks the segments after SOI up to and including EOI.
func (f *frame) read() error {
	for {
		c, err := f.byte()
		if err != nil {
			return err
		}
		if c != 0xFF {
			return fmt.Errorf("%w: frame %d: expected a JPEG marker at byte %d, got %#02x", ErrBadFrame, f.s.frames+1, len(f.b)-1, c)
		}
		m, err := f.marker()
		if err != nil {
			return err
		}
		done, err := f.segment(m)
		if done || err != nil {
			return err
		}
	}
}

// marker reads the marker code after an FF, skipping fill bytes.
func (f *frame) marker() (byte, error) {
	for {
		m, err := f.byte()
		if err != nil || m != 0xFF {
			return m, err
		}
	}
}

// segment handles marker m; done is true after EOI.
func (f *frame) segment(m byte) (done bool, err error) {
	switch {
	case m == 0xD9: // EOI
		return true, nil
	case m == 0x01 || m >= 0xD0 && m <= 0xD7: // TEM, RSTn: no length
		return false, nil
	case m == 0xD8 || m == 0x00:
		return false, fmt.Errorf("%w: frame %d: unexpected marker %#02x at byte %d", ErrBadFrame, f.s.frames+1, m, len(f.b)-2)
	}
	hi, err := f.byte()
	if err != nil {
		return false, err
	}
	lo, err := f.byte()
	if err != nil {
		return false, err
	}
	n := int(hi)<<8 | int(lo)
	if n < 2 {
		return false, fmt.Errorf("%w: frame %d: segment %#02x has length %d", ErrBadFrame, f.s.frames+1, m, n)
	}
	if err := f.grow(n - 2); err != nil {
		return false, err
	}
	start := len(f.b)
	f.b = append(f.b, make([]byte, n-2)...)
	if _, err := io.ReadFull(f.s.br, f.b[start:]); err != nil {
		return false, err
	}
	if m == 0xDA { // SOS: entropy-coded data follows
		return f.entropy()
	}
	return false, nil
}

// entropy copies entropy-coded data up to the next marker that is not a
// stuffed zero or a restart marker, and handles that marker.
func (f *frame) entropy() (bool, error) {
	for {
		chunk, err := f.s.br.ReadSlice(0xFF)
		if gerr := f.grow(len(chunk)); gerr != nil {
			return false, gerr
		}
		f.b = append(f.b, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return false, err
		}
		m, err := f.marker()
		if err != nil {
			return false, err
		}
		if m == 0x00 || m >= 0xD0 && m <= 0xD7 {
			continue
		}
		// A real marker: EOI ends the frame; DHT/SOS/... (progressive) go on.
		return f.segment(m)
	}
}
