package mjpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Stream is an open MJPEG source. Close may be called from another goroutine
// while Next blocks (to stop a stalled source); Next then returns an error.
type Stream interface {
	Next() ([]byte, error)
	Close() error
}

// ErrNoTool is wrapped by the error Start returns when the program is not
// installed.
var ErrNoTool = errors.New("mjpeg: program not found")

// Process is a subprocess writing an MJPEG byte stream to its stdout.
type Process struct {
	cmd    *exec.Cmd
	split  *Splitter
	stderr *tail
	name   string
	waitMu sync.Mutex
	waited bool
	werr   error
	once   sync.Once
}

// Start runs argv (no shell) in its own process group and reads frames of at
// most maxFrame bytes from its stdout. Its stderr lines are logged at debug
// level (and the last ones are quoted when it exits). ctx ending stops it.
func Start(ctx context.Context, argv []string, maxFrame int, log *slog.Logger) (*Process, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("mjpeg: empty command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not in PATH", ErrNoTool, argv[0])
	}
	if log == nil {
		log = slog.Default()
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, stderr: &tail{max: 2048, log: log, name: argv[0]}, name: argv[0]}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mjpeg: start %s: %w", argv[0], err)
	}
	p.split = NewSplitter(out, maxFrame)
	return p, nil
}

// Next returns the next frame. When the process has ended it returns an
// error with its exit status and the tail of its stderr.
func (p *Process) Next() ([]byte, error) {
	b, err := p.split.Next()
	if err == nil || errors.Is(err, ErrBadFrame) {
		return b, err
	}
	if errors.Is(err, ErrNotMJPEG) {
		p.Close()
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	werr := p.wait()
	msg := "exited"
	if werr != nil {
		msg = werr.Error()
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if t := p.stderr.String(); t != "" {
		msg += "; stderr: " + t
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s after %d frames: %w", p.name, msg, p.split.Frames(), err)
	}
	return nil, fmt.Errorf("%s %s after %d frames: %w", p.name, msg, p.split.Frames(), io.EOF)
}

func (p *Process) wait() error {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	if !p.waited {
		p.werr = p.cmd.Wait()
		p.waited = true
	}
	return p.werr
}

// Close stops the process group (SIGTERM, then SIGKILL after 3 s) and waits.
func (p *Process) Close() error {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
			t := time.AfterFunc(3*time.Second, func() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) })
			defer t.Stop()
		}
		_ = p.wait()
	})
	return nil
}

// tail keeps the last bytes of a subprocess's stderr and logs its lines.
type tail struct {
	mu   sync.Mutex
	max  int
	buf  []byte
	line []byte
	log  *slog.Logger
	name string
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	t.line = append(t.line, b...)
	for {
		i := strings.IndexByte(string(t.line), '\n')
		if i < 0 {
			break
		}
		if l := strings.TrimSpace(string(t.line[:i])); l != "" {
			t.log.Debug("source stderr", "program", t.name, "line", l)
		}
		t.line = t.line[i+1:]
	}
	if len(t.line) > t.max {
		t.line = t.line[:0]
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	if len(lines) > 3 { // the last lines say why it stopped
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

// HTTPStream is an HTTP multipart/x-mixed-replace MJPEG stream.
type HTTPStream struct {
	body io.ReadCloser
	mr   *multipart.Reader
	max  int
	n    uint64
}

// OpenHTTP requests rawURL (credentials in the URL become basic auth) and,
// when the answer is multipart/x-mixed-replace (or any multipart/*), returns
// a stream of its JPEG parts. Any other content type gives an error wrapping
// ErrNotMultipart, so the caller can hand the URL to another reader. Errors
// never contain the URL's password.
func OpenHTTP(ctx context.Context, client *http.Client, rawURL string, maxFrame int) (*HTTPStream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("mjpeg: bad URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("mjpeg: request %s: %w", u.Redacted(), err)
	}
	if client == nil {
		client = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err // net/http strips the password from its URL errors
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("mjpeg: GET %s: %s", u.Redacted(), resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		resp.Body.Close()
		return nil, fmt.Errorf("%w (Content-Type %q)", ErrNotMultipart, ct)
	}
	boundary := params["boundary"]
	if boundary == "" {
		resp.Body.Close()
		return nil, fmt.Errorf("mjpeg: GET %s: multipart response without a boundary", u.Redacted())
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	// Some cameras declare boundary=--foo and separate parts with --foo
	// (instead of ----foo); look at what the body uses.
	if head, _ := br.Peek(1024); len(head) > 0 && !strings.Contains(string(head), "--"+boundary) {
		if b := strings.TrimPrefix(boundary, "--"); b != boundary && strings.Contains(string(head), "--"+b) {
			boundary = b
		}
	}
	return &HTTPStream{body: resp.Body, mr: multipart.NewReader(br, boundary), max: maxFrame}, nil
}

// Next returns the next JPEG part.
func (h *HTTPStream) Next() ([]byte, error) {
	p, err := h.mr.NextPart()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("mjpeg: HTTP stream ended after %d frames: %w", h.n, io.EOF)
		}
		return nil, fmt.Errorf("mjpeg: HTTP stream after %d frames: %w", h.n, err)
	}
	defer p.Close()
	b, err := io.ReadAll(io.LimitReader(p, int64(h.max)+1))
	if err != nil {
		return nil, fmt.Errorf("mjpeg: HTTP stream part %d: %w", h.n+1, err)
	}
	if h.max > 0 && len(b) > h.max {
		return nil, fmt.Errorf("%w: part %d is larger than %d bytes", ErrBadFrame, h.n+1, h.max)
	}
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, fmt.Errorf("%w: part %d (Content-Type %q) is not a JPEG", ErrBadFrame, h.n+1, p.Header.Get("Content-Type"))
	}
	h.n++
	return b, nil
}

// Close ends the stream.
func (h *HTTPStream) Close() error { return h.body.Close() }
