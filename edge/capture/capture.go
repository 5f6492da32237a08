// Package capture reads a camera, network stream or video file with gocv
// (OpenCV) and turns it into a stream of JPEG frames carrying facemon frame
// metadata (camera id, sequence number, capture time).
package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-shellwords"
	"gocv.io/x/gocv"

	"github.com/facemon/facemon/edge/capture/mjpeg"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/redact"
)

// Kinds of source.
const (
	KindDevice = "device" // V4L2 index or /dev/videoN
	KindURL    = "url"    // rtsp://, http://, ...
	KindFile   = "file"   // a video file
	KindExec   = "exec"   // a program writing MJPEG to its stdout
	KindRPiCam = "rpicam" // rpicam-vid (Raspberry Pi camera module through libcamera)
)

// Source is a parsed --source value.
type Source struct {
	Kind  string
	Index int      // KindDevice given as a number
	Path  string   // device path, URL or file path
	Args  []string // KindExec: the command; KindRPiCam: extra rpicam-vid arguments
}

// String names the source for logs and errors; a URL's password (and
// secret-looking query values) are masked.
func (s Source) String() string {
	switch s.Kind {
	case KindDevice:
		if s.Path == "" {
			return "camera " + strconv.Itoa(s.Index)
		}
	case KindExec:
		return "exec:" + redactArgs(s.Args)
	case KindRPiCam:
		return strings.TrimSpace("rpicam:" + redactArgs(s.Args))
	case KindURL:
		if u, err := url.Parse(s.Path); err == nil {
			return u.Redacted() // never log a camera password
		}
		return "(unparsable URL)"
	}
	return redact.URL(s.Path)
}

// userinfo matches the password part of URL credentials (scheme://user:pass@).
var userinfo = regexp.MustCompile(`(://[^/@:\s]*):[^/@\s]*@`)

// redactArgs joins a command line for logs, hiding passwords in URLs.
func redactArgs(args []string) string {
	return userinfo.ReplaceAllString(strings.Join(args, " "), "$1:xxxxx@")
}

// PassThrough reports whether the source delivers JPEG frames the edge can
// publish as they are (exec:, rpicam:, and http(s) URLs that answer with
// multipart MJPEG).
func (s Source) PassThrough() bool {
	return s.Kind == KindExec || s.Kind == KindRPiCam || s.Kind == KindURL && isHTTP(s.Path)
}

func isHTTP(p string) bool {
	l := strings.ToLower(p)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// RPiCamTools are the names rpicam-vid has had (bullseye: libcamera-vid).
var RPiCamTools = []string{"rpicam-vid", "libcamera-vid"}

// ErrNoRPiCam is returned when no rpicam-vid is installed.
var ErrNoRPiCam = errors.New("rpicam-vid not found in PATH: on Raspberry Pi OS bookworm install it with `sudo apt install rpicam-apps` (or rpicam-apps-lite); check the camera with `rpicam-hello --list-cameras`")

// Command returns the program line an exec: or rpicam: source runs for
// the given frame size and rate (0 size: 640x480), after checking that the
// program is installed.
func (s Source) Command(width, height int, fps float64) ([]string, error) {
	switch s.Kind {
	case KindExec:
		if _, err := exec.LookPath(s.Args[0]); err != nil {
			return nil, fmt.Errorf("exec source: %s is not installed or not in PATH", s.Args[0])
		}
		return s.Args, nil
	case KindRPiCam:
		tool := ""
		for _, t := range RPiCamTools {
			if _, err := exec.LookPath(t); err == nil {
				tool = t
				break
			}
		}
		if tool == "" {
			return nil, ErrNoRPiCam
		}
		if width <= 0 && height <= 0 {
			width, height = 640, 480
		} else if width <= 0 {
			width = (height*4/3 + 1) &^ 1
		} else if height <= 0 {
			height = (width*3/4 + 1) &^ 1
		}
		argv := []string{tool, "--codec", "mjpeg", "-t", "0", "--nopreview",
			"--width", strconv.Itoa(width), "--height", strconv.Itoa(height),
			"--framerate", strconv.FormatFloat(fps, 'f', -1, 64), "-o", "-"}
		return append(argv, s.Args...), nil
	}
	return nil, fmt.Errorf("source %s runs no program", s)
}

// ParseSource recognises a V4L2 index ("0"), a device path ("/dev/video0"),
// a URL with a scheme ("rtsp://...", "http://..."), a program writing MJPEG
// ("exec:CMD ARGS", shell-like quoting, no shell), the Raspberry Pi camera
// ("rpicam:" with optional extra rpicam-vid arguments) or a video file path.
func ParseSource(s string) (Source, error) {
	switch {
	case s == "":
		return Source{}, errors.New("empty source")
	case strings.HasPrefix(s, "exec:"):
		args, err := shellwords.Parse(strings.TrimPrefix(s, "exec:"))
		if err != nil {
			return Source{}, fmt.Errorf("exec source: %w", err)
		}
		if len(args) == 0 {
			return Source{}, errors.New("exec source: no command (want exec:CMD ARGS)")
		}
		return Source{Kind: KindExec, Args: args}, nil
	case strings.HasPrefix(s, "rpicam:") || s == "rpicam":
		args, err := shellwords.Parse(strings.TrimPrefix(strings.TrimPrefix(s, "rpicam"), ":"))
		if err != nil {
			return Source{}, fmt.Errorf("rpicam source: %w", err)
		}
		for _, a := range args {
			switch a {
			case "-o", "--output", "--codec", "-t", "--timeout":
				return Source{}, fmt.Errorf("rpicam source: %s is set by facemon-edge", a)
			}
		}
		if len(args) == 0 {
			args = nil
		}
		return Source{Kind: KindRPiCam, Args: args}, nil
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
	Source Source
	Camera string  // camera id written into each frame's metadata
	FPS    float64 // frames delivered per second (default 10)
	Width  int     // resize to this width (0: keep; with only one of Width/Height the aspect ratio is kept)
	Height int
	// Quality is the JPEG quality 1-100 for frames the edge encodes (0:
	// 80). For a pass-through source a non-zero Quality forces a re-encode.
	Quality int
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
	// PassThrough is true when JPEG holds the camera's own bytes (only the
	// metadata segment inserted).
	PassThrough bool
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
	reencode := o.Quality > 0
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
	c := &capturer{o: o, log: o.Logger.With("source", o.Source.String()), out: out, reencode: reencode}
	return c.run(ctx)
}

type capturer struct {
	o        Options
	log      *slog.Logger
	out      func(Frame)
	seq      uint64
	next     time.Time // earliest time the next frame may be delivered
	reencode bool      // a quality was asked for: never pass JPEG through
}

// source is an open camera.
type source interface {
	read(ctx context.Context) (int, error)
	Close()
}

type cvSource struct {
	c  *capturer
	vc *gocv.VideoCapture
}

func (s cvSource) read(ctx context.Context) (int, error) { return s.c.read(ctx, s.vc) }
func (s cvSource) Close()                                { s.vc.Close() }

type mjpegSource struct {
	c  *capturer
	st mjpeg.Stream
}

func (s mjpegSource) read(ctx context.Context) (int, error) { return s.c.readMJPEG(ctx, s.st) }
func (s mjpegSource) Close()                                { s.st.Close() }

// StallTimeout is how long an MJPEG source may deliver nothing before it is
// closed and reopened.
var StallTimeout = 10 * time.Second

// openAny opens the source: MJPEG sources without OpenCV, the rest with it.
func (c *capturer) openAny(ctx context.Context) (source, error) {
	s := c.o.Source
	switch {
	case s.Kind == KindExec || s.Kind == KindRPiCam:
		argv, err := s.Command(c.o.Width, c.o.Height, c.o.FPS)
		if err != nil {
			return nil, err
		}
		p, err := mjpeg.Start(ctx, argv, msg.MaxFrameBytes, c.log)
		if err != nil {
			return nil, err
		}
		c.log.Info("camera source started", "program", argv[0], "args", redactArgs(argv[1:]))
		return mjpegSource{c, p}, nil
	case s.Kind == KindURL && isHTTP(s.Path):
		h, err := mjpeg.OpenHTTP(ctx, nil, s.Path, msg.MaxFrameBytes)
		if err == nil {
			c.log.Info("camera source opened (HTTP MJPEG, read without OpenCV)")
			return mjpegSource{c, h}, nil
		}
		if !errors.Is(err, mjpeg.ErrNotMultipart) {
			return nil, err
		}
		c.log.Info("HTTP source is not multipart MJPEG; opening it with OpenCV", "why", err)
	}
	vc, err := c.open()
	if err != nil {
		return nil, err
	}
	return cvSource{c, vc}, nil
}

func (c *capturer) run(ctx context.Context) error {
	backoff := c.o.MinBackoff
	for ctx.Err() == nil {
		src, err := c.openAny(ctx)
		if err != nil {
			c.o.OnError(err)
			c.log.Error("cannot open camera source; retrying", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, c.o.MaxBackoff)
			continue
		}
		got, err := src.read(ctx)
		src.Close()
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
		if err := checkDevice(s); err != nil {
			return nil, err // before OpenCV, which only warns on stderr
		}
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
		restore := streamTimeout(c.log)
		vc, err = gocv.VideoCaptureFileWithAPI(s.Path, gocv.VideoCaptureFFmpeg)
		restore()
	}
	if err != nil || !vc.IsOpened() {
		// gocv's error ("Error opening file: URL with api backend: N")
		// says nothing the source's kind does not say better.
		if vc != nil {
			vc.Close()
		}
		return nil, openError(s)
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

// StreamTimeout bounds each connect and socket read of a stream opened
// through OpenCV's FFmpeg backend (rtsp://, ...). Without it a camera that
// stops sending while its TCP connection stays up (a hung or powered-off
// camera behind a switch) blocks a read for OpenCV's own 30 s. FFmpeg may
// wait it out twice before the read fails.
var StreamTimeout = 5 * time.Second

// ffmpegOptionsEnv holds FFmpeg options for every capture OpenCV opens
// ("key;value|key;value"), read when a capture is opened.
const ffmpegOptionsEnv = "OPENCV_FFMPEG_CAPTURE_OPTIONS"

// streamTimeout sets FFmpeg's socket timeout (option "timeout", in
// microseconds, FFmpeg >= 5) for the next open and returns the function
// that undoes it. gocv 0.31 has no open parameters; the environment is how
// OpenCV 4.6 takes FFmpeg options. Options the user set are left alone.
func streamTimeout(log *slog.Logger) (restore func()) {
	if _, ok := os.LookupEnv(ffmpegOptionsEnv); ok {
		log.Debug("FFmpeg capture options set in the environment (" + ffmpegOptionsEnv + "); no stream timeout added")
		return func() {}
	}
	if StreamTimeout <= 0 {
		return func() {}
	}
	os.Setenv(ffmpegOptionsEnv, "timeout;"+strconv.FormatInt(StreamTimeout.Microseconds(), 10))
	return func() { os.Unsetenv(ffmpegOptionsEnv) }
}

// devicePath is the V4L2 device node of a device source.
func devicePath(s Source) string {
	if s.Path != "" {
		return s.Path
	}
	return "/dev/video" + strconv.Itoa(s.Index)
}

// checkDevice reports a missing or inaccessible V4L2 device node clearly.
func checkDevice(s Source) error {
	if runtime.GOOS != "linux" {
		return nil
	}
	p := devicePath(s)
	_, err := os.Stat(p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("camera device %s does not exist (camera unplugged, or another number? `ls /dev/video*` lists the devices)", p)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("camera device %s: permission denied (is the user in the video group?)", p)
	}
	return fmt.Errorf("camera device %s: %w", p, err)
}

// openError says why OpenCV may have refused a source it could not open.
func openError(s Source) error {
	switch s.Kind {
	case KindDevice:
		return fmt.Errorf("camera device %s exists but OpenCV (V4L2) could not open it (busy in another program, or not a capture device?)", devicePath(s))
	case KindURL:
		return fmt.Errorf("stream %s: OpenCV (FFmpeg) could not open it (server down or unreachable, wrong path or credentials?)", s)
	}
	return fmt.Errorf("%s: OpenCV (FFmpeg) could not open it (not a video file OpenCV reads?)", s)
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
			if c.o.Source.Kind == KindURL {
				return got, fmt.Errorf("stream read failed (server gone, stream ended, or nothing received for %v)", StreamTimeout)
			}
			return got, errors.New("read failed (camera unplugged or stream ended?)")
		}
		now := time.Now()
		if !c.due(now, outPeriod) {
			continue
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

// due reports whether a frame read at now is to be delivered, and
// schedules the next one.
func (c *capturer) due(now time.Time, outPeriod time.Duration) bool {
	// Faster than --fps: skip this frame (with a little slack for jitter,
	// so a source at exactly --fps is not halved).
	if now.Before(c.next.Add(-outPeriod / 4)) {
		return false
	}
	// Keep a steady cadence without drifting, but never burst to catch up.
	// A frame taken up to the slack early keeps the schedule: resetting
	// it to now+outPeriod would pull each frame earlier and deliver
	// more than --fps (7.5 instead of 6 from a 29.97 fps file).
	c.next = c.next.Add(outPeriod)
	if c.next.Before(now) || c.next.After(now.Add(outPeriod+outPeriod/4)) {
		c.next = now.Add(outPeriod)
	}
	return true
}

// readMJPEG delivers the frames of an MJPEG stream until it fails or ends.
// A stream that delivers nothing for StallTimeout is closed.
func (c *capturer) readMJPEG(ctx context.Context, st mjpeg.Stream) (int, error) {
	outPeriod := time.Duration(float64(time.Second) / c.o.FPS)
	var stalled atomic.Bool
	stall := time.AfterFunc(StallTimeout, func() { stalled.Store(true); st.Close() })
	defer stall.Stop()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	small := gocv.NewMat()
	defer small.Close()
	got, bad := 0, 0
	for ctx.Err() == nil {
		b, err := st.Next()
		stall.Reset(StallTimeout)
		if errors.Is(err, mjpeg.ErrBadFrame) {
			c.o.OnError(err)
			if bad++; bad <= 3 || bad%100 == 0 {
				c.log.Warn("bad frame from the camera; skipped", "err", err, "bad_frames", bad)
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return got, nil
			}
			if stalled.Load() {
				return got, fmt.Errorf("no frame for %v; restarting the source (%v)", StallTimeout, err)
			}
			return got, err
		}
		now := time.Now()
		if !c.due(now, outPeriod) {
			continue
		}
		f, err := c.passOrEncode(b, &small, now)
		if err != nil {
			c.o.OnError(err)
			if bad++; bad <= 3 || bad%100 == 0 {
				c.log.Warn("undecodable frame from the camera; skipped", "err", err, "bad_frames", bad)
			}
			continue
		}
		got++
		c.out(f)
	}
	return got, nil
}

// passOrEncode publishes the camera's JPEG as it is (metadata inserted) when
// no other size or quality is asked for; otherwise decodes and re-encodes.
func (c *capturer) passOrEncode(b []byte, small *gocv.Mat, now time.Time) (Frame, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return Frame{}, fmt.Errorf("camera JPEG header: %w", err)
	}
	tw, th := c.o.Width, c.o.Height
	sameSize := (tw == 0 || tw == cfg.Width) && (th == 0 || th == cfg.Height)
	if !c.reencode && sameSize {
		c.seq++
		out, err := msg.EmbedMeta(b, msg.FrameMeta{Camera: c.o.Camera, Seq: c.seq, Captured: now})
		if err != nil {
			return Frame{}, err
		}
		return Frame{JPEG: out, Seq: c.seq, Captured: now, Width: cfg.Width, Height: cfg.Height, PassThrough: true}, nil
	}
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil {
		return Frame{}, fmt.Errorf("camera JPEG does not decode: %w", err)
	}
	defer m.Close()
	if m.Empty() {
		return Frame{}, errors.New("camera JPEG does not decode")
	}
	return c.encode(m, small, now)
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

// OpenCVVersion returns the version of the OpenCV library linked in.
func OpenCVVersion() string { return gocv.OpenCVVersion() }
