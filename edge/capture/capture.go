// Package capture reads a camera, network stream or video file with gocv
// (OpenCV) and turns it into a stream of JPEG frames carrying facemon frame
// metadata (camera id, sequence number, capture time).
package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/redact"
)

// Kinds of source.
const (
	KindDevice = "device" // V4L2 index or /dev/videoN
	KindURL    = "url"    // rtsp://, http://, ...
	KindFile   = "file"   // a video file
)

// Source is a parsed --source value.
type Source struct {
	Kind  string
	Index int    // KindDevice given as a number
	Path  string // device path, URL or file path
}

// String names the source for logs and errors; a URL's password (and
// secret-looking query values) are masked.
func (s Source) String() string {
	if s.Kind == KindDevice && s.Path == "" {
		return "camera " + strconv.Itoa(s.Index)
	}
	return redact.URL(s.Path)
}

// ParseSource recognises a V4L2 index ("0"), a device path ("/dev/video0"),
// a URL with a scheme ("rtsp://...") or a video file path.
func ParseSource(s string) (Source, error) {
	switch {
	case s == "":
		return Source{}, errors.New("empty source")
	case isDigits(s):
		n, err := strconv.Atoi(s)
		if err != nil || n > 1024 {
			return Source{}, fmt.Errorf("camera index %q out of range", s)
		}
		return Source{Kind: KindDevice, Index: n}, nil
	case strings.HasPrefix(s, "/dev/"):
		return Source{Kind: KindDevice, Path: s}, nil
	case strings.Contains(s, "://"):
		return Source{Kind: KindURL, Path: s}, nil
	default:
		return Source{Kind: KindFile, Path: s}, nil
	}
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Options configure a capture.
type Options struct {
	Source  Source
	Camera  string  // camera id written into each frame's metadata
	FPS     float64 // frames delivered per second (default 10)
	Width   int     // resize to this width (0: keep; with only one of Width/Height the aspect ratio is kept)
	Height  int
	Quality int  // JPEG quality 1-100 (default 80)
	Loop    bool // restart a video file at its end
	Logger  *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between attempts to (re)open
	// a source that failed (defaults 500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// OnError is called for every open or read failure (for metrics).
	OnError func(error)
}

// Frame is one encoded frame.
type Frame struct {
	JPEG     []byte // with the facemon COM segment
	Seq      uint64
	Captured time.Time
	Width    int
	Height   int
}

// ErrEnded is returned by Run when a video file ends and Loop is off.
var ErrEnded = errors.New("capture: end of video file")

// Run captures until ctx ends (returning nil) or a non-looping file ends
// (returning ErrEnded), calling out for each frame from its own goroutine.
// out must not block for long: hand the frame on and return.
func Run(ctx context.Context, o Options, out func(Frame)) error {
	if o.FPS <= 0 {
		o.FPS = 10
	}
	if o.Quality <= 0 || o.Quality > 100 {
		o.Quality = 80
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	c := &capturer{o: o, log: o.Logger.With("source", o.Source.String()), out: out}
	return c.run(ctx)
}

type capturer struct {
	o    Options
	log  *slog.Logger
	out  func(Frame)
	seq  uint64
	next time.Time // earliest time the next frame may be delivered
}

func (c *capturer) run(ctx context.Context) error {
	backoff := c.o.MinBackoff
	for ctx.Err() == nil {
		vc, err := c.open()
		if err != nil {
			c.o.OnError(err)
			c.log.Error("cannot open camera source; retrying", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, c.o.MaxBackoff)
			continue
		}
		got, err := c.read(ctx, vc)
		vc.Close()
		if got > 0 {
			backoff = c.o.MinBackoff
		}
		switch {
		case ctx.Err() != nil:
		case c.o.Source.Kind == KindFile && errors.Is(err, ErrEnded):
			if !c.o.Loop {
				c.log.Info("video file ended", "frames", got)
				return ErrEnded
			}
			c.log.Debug("video file ended; looping", "frames", got)
			if got == 0 { // an empty or unreadable file must not spin
				if !sleep(ctx, backoff) {
					return nil
				}
				backoff = min(backoff*2, c.o.MaxBackoff)
			}
		default:
			c.o.OnError(err)
			c.log.Error("camera stopped delivering frames; reopening", "err", err, "frames", got, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, c.o.MaxBackoff)
		}
	}
	return nil
}

func (c *capturer) open() (*gocv.VideoCapture, error) {
	var (
		vc  *gocv.VideoCapture
		err error
	)
	s := c.o.Source
	switch s.Kind {
	case KindDevice:
		if s.Path != "" {
			vc, err = gocv.VideoCaptureFileWithAPI(s.Path, gocv.VideoCaptureV4L2)
		} else {
			vc, err = gocv.VideoCaptureDeviceWithAPI(s.Index, gocv.VideoCaptureV4L2)
		}
	case KindFile:
		if _, serr := os.Stat(s.Path); serr != nil {
			return nil, serr
		}
		vc, err = gocv.VideoCaptureFileWithAPI(s.Path, gocv.VideoCaptureFFmpeg)
	default:
		vc, err = gocv.VideoCaptureFileWithAPI(s.Path, gocv.VideoCaptureFFmpeg)
	}
	if err != nil {
		if vc != nil {
			vc.Close()
		}
		return nil, redact.Error(err) // gocv quotes the URL
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("open %s: OpenCV could not open it", s)
	}
	if s.Kind == KindDevice {
		// Ask the camera for what we need; it may ignore us, and frames
		// are resized below anyway.
		if c.o.Width > 0 && c.o.Height > 0 {
			vc.Set(gocv.VideoCaptureFrameWidth, float64(c.o.Width))
			vc.Set(gocv.VideoCaptureFrameHeight, float64(c.o.Height))
		}
		vc.Set(gocv.VideoCaptureFPS, c.o.FPS)
		vc.Set(gocv.VideoCaptureBufferSize, 1)
	}
	c.log.Info("camera source opened",
		"width", vc.Get(gocv.VideoCaptureFrameWidth), "height", vc.Get(gocv.VideoCaptureFrameHeight),
		"source_fps", vc.Get(gocv.VideoCaptureFPS))
	return vc, nil
}

// read delivers frames from an open source until it fails or ends.
func (c *capturer) read(ctx context.Context, vc *gocv.VideoCapture) (int, error) {
	img := gocv.NewMat()
	defer img.Close()
	small := gocv.NewMat()
	defer small.Close()

	// A file plays at its own frame rate: frame i is due at start+i/fps.
	var filePeriod time.Duration
	if c.o.Source.Kind == KindFile {
		fps := vc.Get(gocv.VideoCaptureFPS)
		if fps <= 0 || fps > 1000 || math.IsNaN(fps) {
			fps = 25
		}
		filePeriod = time.Duration(float64(time.Second) / fps)
	}
	outPeriod := time.Duration(float64(time.Second) / c.o.FPS)
	start := time.Now()
	got := 0
	for i := 0; ctx.Err() == nil; i++ {
		if filePeriod > 0 {
			if !sleep(ctx, time.Until(start.Add(time.Duration(i)*filePeriod))) {
				return got, nil
			}
		}
		if !vc.Read(&img) || img.Empty() {
			if c.o.Source.Kind == KindFile {
				return got, ErrEnded
			}
			return got, errors.New("read failed (camera unplugged or stream ended?)")
		}
		now := time.Now()
		// Faster than --fps: skip this frame (with a little slack for jitter,
		// so a source at exactly --fps is not halved).
		if now.Before(c.next.Add(-outPeriod / 4)) {
			continue
		}
		// Keep a steady cadence without drifting, but never burst to catch up.
		// A frame taken up to the slack early keeps the schedule: resetting
		// it to now+outPeriod would pull each frame earlier and deliver
		// more than --fps (7.5 instead of 6 from a 29.97 fps file).
		c.next = c.next.Add(outPeriod)
		if c.next.Before(now) || c.next.After(now.Add(outPeriod+outPeriod/4)) {
			c.next = now.Add(outPeriod)
		}
		f, err := c.encode(img, &small, now)
		if err != nil {
			c.o.OnError(err)
			c.log.Warn("encode failed; frame skipped", "err", err)
			continue
		}
		got++
		c.out(f)
	}
	return got, nil
}

func (c *capturer) encode(img gocv.Mat, small *gocv.Mat, captured time.Time) (Frame, error) {
	src := img
	w, h := img.Cols(), img.Rows()
	tw, th := c.o.Width, c.o.Height
	if tw > 0 && th <= 0 {
		th = int(math.Round(float64(h) * float64(tw) / float64(w)))
	} else if th > 0 && tw <= 0 {
		tw = int(math.Round(float64(w) * float64(th) / float64(h)))
	}
	if tw > 0 && th > 0 && (tw != w || th != h) {
		interp := gocv.InterpolationArea
		if tw > w {
			interp = gocv.InterpolationLinear
		}
		gocv.Resize(img, small, image.Pt(tw, th), 0, 0, interp)
		src, w, h = *small, tw, th
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, src, []int{gocv.IMWriteJpegQuality, c.o.Quality})
	if err != nil {
		return Frame{}, err
	}
	defer buf.Close()
	c.seq++
	b, err := msg.EmbedMeta(buf.GetBytes(), msg.FrameMeta{Camera: c.o.Camera, Seq: c.seq, Captured: captured})
	if err != nil {
		return Frame{}, err
	}
	return Frame{JPEG: b, Seq: c.seq, Captured: captured, Width: w, Height: h}, nil
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
