// Package enrol adds faces to the recognizer's gallery from the edge's live
// camera. A Capture takes a burst of raw frames (or one) and sends them as
// one msg.Enrol command (Image + Burst) on cam/<id>/enrol, so that the
// recognizer chooses the sharp, well-lit, diverse frames of the burst,
// with the recognizer session token of the dashboard login that asked for
// it, and waits for the recognizer's msg.EnrolResult on cam/<id>/result
// (for a burst, every frame's fate). Without a valid token the recognizer
// keeps the capture as a pending enrolment (status "pending") that a
// logged-in person confirms: an edge's word alone never enrols anybody.
// The recognizer owns the dataset (it saves accepted images); the edge
// keeps a capture only while the recognizer does not answer (offline, or
// no broker): in <dataset>/.queue/<name>/ (one frame as <hash>.jpg, a
// burst whole as one <hash>.burst), named by its content hash so a capture
// is queued once, sent again (whole) once a recognizer comes online (with
// the capturing login's token while that login still has a valid one,
// else without: pending), removed when any answer arrives (even a late
// one), and dropped after QueueMaxAge. The recognizer, keyed by each
// image's content hash, never stores one image twice, so a late answer or
// a resend does not duplicate a sample.
package enrol

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/facemon/facemon/edge/metrics"
	"github.com/facemon/facemon/edge/publish"
	"github.com/facemon/facemon/edge/state"
	"github.com/facemon/facemon/edge/stream"
	"github.com/facemon/facemon/shared/fsx"
	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Outcomes reported besides the recognizer's own statuses.
const (
	StatusQueued = "queued" // recognizer unreachable; kept in the queue
)

// QueueDir is the dataset subdirectory holding unsent images.
const QueueDir = ".queue"

// MaxBurst bounds the frames of one burst (msg.MaxEnrolBurst).
const MaxBurst = msg.MaxEnrolBurst

// Burst defaults (the edge's --enrol-burst, --enrol-burst-interval and
// --enrol-max-bytes): 10 frames over about 3 s while the person turns
// their head; a command under the broker's default 2 MiB packet limit
// (2,097,152 bytes, less room for the topic and MQTT headers).
const (
	DefaultBurst          = 10
	DefaultBurstInterval  = 330 * time.Millisecond
	DefaultBurstFrameWait = time.Second
	DefaultMaxBytes       = 2_000_000
)

// QueueMaxAge is how long an unsent image waits in the queue by default.
const QueueMaxAge = 72 * time.Hour

// maxLate bounds the remembered requests whose answer may still arrive.
const maxLate = 1024

// answeredLate marks, in Enroller.late, a request answered after send gave
// up on it and before its image was queued.
const answeredLate = "\x00answered"

// Errors.
var (
	ErrNoFrame = errors.New("no camera frame yet")
	ErrBurst   = fmt.Errorf("burst must be 1-%d", MaxBurst)
)

// Result is the outcome of one Capture (one frame or a burst).
type Result struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Status  string `json:"status"`         // saved, no_face, several_faces, pending, refused, error, queued
	Faces   int    `json:"faces"`          // a burst: the frames kept
	File    string `json:"file,omitempty"` // path relative to the dataset (a burst: its first kept frame)
	Message string `json:"message"`
	Resent  bool   `json:"resent,omitempty"` // sent from the queue
	// Pending is the recognizer's pending enrolment id (Status "pending":
	// sent without a valid person's session, kept until a person confirms
	// it in the dashboard's People view).
	Pending string `json:"pending,omitempty"`
	// Captured is the number of frames taken, Sent the number sent (fewer
	// when the burst was over MaxBytes).
	Captured int `json:"captured,omitempty"`
	Sent     int `json:"sent,omitempty"`
	// Frames is the recognizer's verdict on each frame sent (a burst):
	// kept, or dropped with the reason.
	Frames []msg.EnrolFrame `json:"frames,omitempty"`
}

// Credential is the authority an enrolment is sent with: the recognizer
// session token of the dashboard login that asked for it (a login.Session).
// RecognizerToken errs when the login has none (any more); the image is
// then sent without one and the recognizer keeps it pending.
type Credential interface {
	RecognizerToken() (string, error)
}

// token returns c's current token, "" for none.
func token(c Credential) string {
	if c == nil {
		return ""
	}
	tok, err := c.RecognizerToken()
	if err != nil || !msg.ValidSession(tok) {
		return ""
	}
	return tok
}

// Options configure an Enroller.
type Options struct {
	Client  publish.Client
	Space   topic.Space
	Camera  string
	Dataset string
	// Frame returns the newest raw frame of the local camera.
	Frame func() (*stream.Frame, bool)
	// RecognizerOnline reports whether a recognizer is online; queued
	// images are retried periodically while it is.
	RecognizerOnline func() bool
	// Events receives an "enrol" event per result (may be nil).
	Events func(state.Event)
	// TrainAnswer receives the answers to train commands, which arrive on
	// the same topic (cam/<id>/result) as enrolment answers (may be nil).
	TrainAnswer func(msg.EnrolResult)
	Metrics     *metrics.Metrics
	Logger      *slog.Logger
	// Timeout is how long to wait for the recognizer (default 3s).
	Timeout time.Duration
	// BurstInterval spaces the frames of a burst (default
	// DefaultBurstInterval).
	BurstInterval time.Duration
	// BurstFrameWait is added to Timeout for each frame of a burst after
	// the first: the recognizer analyses every frame (default
	// DefaultBurstFrameWait).
	BurstFrameWait time.Duration
	// MaxBytes bounds one enrolment command (the JSON, frames in base64;
	// default DefaultMaxBytes, at most msg.MaxEnrolBytes): it must fit the
	// broker's packet limit, or the broker drops the connection.
	MaxBytes int
	// RetryInterval is how often the queue is retried while a recognizer
	// is online (default 15s).
	RetryInterval time.Duration
	// QueueMaxAge drops queued images older than this (default QueueMaxAge).
	QueueMaxAge time.Duration
}

// Enroller is safe for concurrent use.
type Enroller struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]chan msg.EnrolResult
	late    map[string]string // request id -> queued file, for answers after the timeout
	// owner: queued file -> the login that captured it, whose token (if
	// it still has one) the resend carries. In memory only: after a
	// restart queued images go without one (and become pending).
	owner map[string]Credential

	draining sync.Mutex
}

// New returns an Enroller and subscribes to enrolment results.
func New(o Options) (*Enroller, error) {
	if o.Dataset == "" {
		return nil, errors.New("enrol: empty dataset directory")
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.BurstInterval <= 0 {
		o.BurstInterval = DefaultBurstInterval
	}
	if o.BurstFrameWait <= 0 {
		o.BurstFrameWait = DefaultBurstFrameWait
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxBytes > msg.MaxEnrolBytes {
		return nil, fmt.Errorf("enrol: max bytes %d over the recognizer's limit %d", o.MaxBytes, msg.MaxEnrolBytes)
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 15 * time.Second
	}
	if o.QueueMaxAge <= 0 {
		o.QueueMaxAge = QueueMaxAge
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.RecognizerOnline == nil {
		o.RecognizerOnline = func() bool { return false }
	}
	if !topic.ValidID(o.Camera) {
		return nil, fmt.Errorf("enrol: camera %q: %w", o.Camera, topic.ErrBadID)
	}
	e := &Enroller{o: o, log: o.Logger, pending: map[string]chan msg.EnrolResult{}, late: map[string]string{},
		owner: map[string]Credential{}}
	// Queued Captures are face photos: an older version left them 0644 in
	// 0755 folders. New ones are written 0600 in 0700 folders.
	if ch, err := fsx.MakePrivate(filepath.Join(o.Dataset, QueueDir)); err != nil {
		e.log.Warn("enrolment queue: could not make every file private (0600 files, 0700 folders)", "err", err)
	} else if len(ch) > 0 {
		e.log.Warn("enrolment queue was readable by other users: made private (0600 files, 0700 folders)", "changed", len(ch), "first", ch[0].String())
	}
	// Answers for this camera only (the edge may read no other camera's).
	o.Client.Subscribe(o.Space.CamResult(o.Camera), 1, e.handleResult)
	return e, nil
}

func (e *Enroller) handleResult(_ string, payload []byte) {
	var r msg.EnrolResult
	if err := msg.Decode(payload, msg.MaxJSONBytes, &r); err != nil || r.ID == "" {
		return
	}
	if r.Command == msg.CommandTrain {
		if e.o.TrainAnswer != nil {
			e.o.TrainAnswer(r)
		}
		return
	}
	if r.Command != "" && r.Command != msg.CommandEnrol {
		return
	}
	e.mu.Lock()
	ch := e.pending[r.ID]
	delete(e.pending, r.ID)
	queued, late := e.late[r.ID]
	delete(e.late, r.ID)
	if late && queued == "" {
		// Answered after send gave up but before its image was queued:
		// queueUnanswered sees this and removes the copy it writes.
		e.late[r.ID] = answeredLate
	}
	e.mu.Unlock()
	if ch != nil {
		ch <- r // buffered, one result per id
		return
	}
	if late && queued != "" && queued != answeredLate {
		// The recognizer answered after the timeout: it has the image (or
		// judged it), so the queued copy must not be sent again.
		os.Remove(filepath.Join(e.o.Dataset, queued))
		e.mu.Lock()
		delete(e.owner, queued)
		e.mu.Unlock()
		e.log.Info("late enrolment answer; queued copy removed", "id", r.ID, "status", r.Status, "file", queued)
	}
}

// Capture is one Capture request.
type Capture struct {
	Name  string
	Burst int // frames to take (1-MaxBurst)
	// Cred is the requesting login (nil: none; the recognizer keeps the
	// capture pending).
	Cred Credential
	// Progress, when set, is told about each frame taken and when the
	// burst goes to the recognizer.
	Progress func(Progress)
}

// Progress reports a Capture under way.
type Progress struct {
	Stage string `json:"stage"` // "capturing", then "checking" (sent, waiting for the answer)
	Frame int    `json:"frame"` // frames taken so far
	Of    int    `json:"of"`    // frames asked for
}

// Enrol takes c.Burst frames of the live camera, spaced by BurstInterval
// (a frame the camera has not replaced yet, same sequence number or same
// bytes, is not taken twice), and sends them as one enrolment command on
// cam/<id>/enrol (Image, then Burst), with c.Cred's recognizer session
// token when it has one (without, the recognizer keeps the capture
// pending). The recognizer keeps the sharp, well-lit, diverse frames and
// says why it dropped the others (Result.Frames). A burst over MaxBytes is
// sent with fewer frames, evenly spread over the capture, and the result
// says so. Unanswered, the capture is queued whole.
func (e *Enroller) Enrol(ctx context.Context, c Capture) (Result, error) {
	if !msg.ValidName(c.Name) {
		return Result{}, msg.ErrBadName
	}
	if c.Burst < 1 || c.Burst > MaxBurst {
		return Result{}, ErrBurst
	}
	progress := func(p Progress) {
		if c.Progress != nil {
			c.Progress(p)
		}
	}
	frames, err := e.take(ctx, c.Burst, func(n int) { progress(Progress{Stage: "capturing", Frame: n, Of: c.Burst}) })
	if err != nil {
		return Result{}, err
	}
	captured := len(frames)
	frames, fit := e.fit(c.Name, frames)
	if len(frames) == 0 {
		r := Result{Name: c.Name, Status: msg.EnrolError, Captured: captured,
			Message: fmt.Sprintf("one camera frame is larger than the enrolment limit (--enrol-max-bytes %d)", e.o.MaxBytes)}
		e.report(r)
		return r, nil
	}
	progress(Progress{Stage: "checking", Frame: len(frames), Of: c.Burst})
	r := e.send(ctx, c.Name, frames, false, token(c.Cred))
	if r.Status == StatusQueued {
		r = e.queueUnanswered(r, c.Name, frames, c.Cred)
	}
	r.Captured, r.Sent = captured, len(frames)
	if !fit {
		note := fmt.Sprintf("%d of the %d frames taken were sent: the whole burst is over the enrolment limit (--enrol-max-bytes %d)", len(frames), captured, e.o.MaxBytes)
		r.Message = note + "; " + r.Message
	}
	e.report(r)
	if r.Status == msg.EnrolSaved {
		go e.Drain(context.WithoutCancel(ctx))
	}
	return r, nil
}

// take collects up to n distinct frames of the live camera, BurstInterval
// apart; a frame the camera has not replaced yet is skipped (the next tick
// may bring a new one). It gives up waiting for new frames after 2n ticks
// and returns what it has; ErrNoFrame when there is none at all.
func (e *Enroller) take(ctx context.Context, n int, took func(int)) ([][]byte, error) {
	var (
		out     [][]byte
		lastSeq uint64
		lastSum [32]byte
	)
	for tick := 0; len(out) < n && tick < 2*n; tick++ {
		if tick > 0 {
			t := time.NewTimer(e.o.BurstInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				if len(out) == 0 {
					return nil, ctx.Err()
				}
				return out, nil
			case <-t.C:
			}
		}
		f, ok := e.o.Frame()
		if !ok || f == nil || len(f.JPEG) == 0 {
			if len(out) == 0 && tick == 0 {
				return nil, ErrNoFrame
			}
			continue
		}
		sum := sha256.Sum256(f.JPEG)
		if len(out) > 0 && ((f.HasMeta && f.Seq == lastSeq) || sum == lastSum) {
			e.log.Debug("burst: camera gave no new frame", "seq", f.Seq)
			continue
		}
		lastSeq, lastSum = f.Seq, sum
		out = append(out, f.JPEG)
		took(len(out))
	}
	if len(out) == 0 {
		return nil, ErrNoFrame
	}
	return out, nil
}

// commandSize is the size of the enrolment command carrying frames (the
// JSON with each JPEG in base64), without its request id and token.
func commandSize(name, camera string, frames [][]byte) int {
	n := 160 + len(name) + len(camera) + msg.MaxSessionLen // fields, id, token
	for _, f := range frames {
		n += base64.StdEncoding.EncodedLen(len(f)) + 3
	}
	return n
}

// fit returns the frames to send: all when the command stays within
// MaxBytes, else as many as fit, evenly spread over the burst (the first
// one always); fit reports whether all were kept.
func (e *Enroller) fit(name string, frames [][]byte) ([][]byte, bool) {
	if commandSize(name, e.o.Camera, frames) <= e.o.MaxBytes {
		return frames, true
	}
	for k := len(frames) - 1; k >= 1; k-- {
		pick := make([][]byte, 0, k)
		for i := 0; i < k; i++ {
			j := 0
			if k > 1 {
				j = i * (len(frames) - 1) / (k - 1)
			}
			pick = append(pick, frames[j])
		}
		if commandSize(name, e.o.Camera, pick) <= e.o.MaxBytes {
			return pick, false
		}
	}
	return nil, false
}

// queueUnanswered queues the image of a request send gave up on, and
// remembers it so that a late answer removes the queued copy. An answer
// that arrived between send's timeout and now (handle marked it
// answeredLate) removes it at once.
func (e *Enroller) queueUnanswered(r Result, name string, frames [][]byte, cred Credential) Result {
	rel, err := e.enqueue(name, frames)
	if err != nil {
		r.Status, r.Message = msg.EnrolError, "recognizer unreachable and queueing failed: "+err.Error()
		return r
	}
	r.File = rel
	e.mu.Lock()
	answered := e.late[r.ID] == answeredLate
	delete(e.late, r.ID)
	if !answered {
		if cred != nil {
			if len(e.owner) >= maxLate {
				for k := range e.owner {
					delete(e.owner, k)
					break
				}
			}
			e.owner[rel] = cred
		}
		if len(e.late) >= maxLate {
			for k := range e.late {
				delete(e.late, k)
				break
			}
		}
		e.late[r.ID] = rel
	}
	e.mu.Unlock()
	if answered {
		os.Remove(filepath.Join(e.o.Dataset, rel))
		e.log.Info("late enrolment answer; queued copy removed", "id", r.ID, "file", rel)
	}
	return r
}

func (e *Enroller) report(r Result) {
	e.o.Metrics.Enrolments.WithLabelValues(r.Status).Inc()
	e.log.Info("enrolment", "name", r.Name, "status", r.Status, "file", r.File, "resent", r.Resent, "pending", r.Pending, "msg", r.Message)
	if e.o.Events != nil {
		e.o.Events(state.Event{Type: "enrol", Data: r})
	}
}

// send publishes one enrol command carrying frames (the first as Image,
// the others as Burst; with the session token tok, "" for none) and waits
// for its answer (Timeout, plus BurstFrameWait per further frame); it
// returns StatusQueued when the recognizer cannot be reached in time.
func (e *Enroller) send(ctx context.Context, name string, frames [][]byte, resent bool, tok string) Result {
	id := ids.New()
	r := Result{ID: id, Name: name, Resent: resent}
	cmd := msg.Enrol{V: msg.Version, ID: id, Name: name, Camera: e.o.Camera, Image: frames[0], Session: tok}
	if len(frames) > 1 {
		cmd.Burst = frames[1:]
	}
	payload, err := json.Marshal(cmd)
	if err == nil && len(payload) > e.o.MaxBytes {
		err = fmt.Errorf("enrolment command of %d bytes is over the limit (--enrol-max-bytes %d)", len(payload), e.o.MaxBytes)
	}
	if err != nil {
		r.Status, r.Message = msg.EnrolError, err.Error()
		return r
	}
	ch := make(chan msg.EnrolResult, 1)
	e.mu.Lock()
	e.pending[id] = ch
	e.mu.Unlock()
	gaveUp := false
	defer func() {
		e.mu.Lock()
		delete(e.pending, id)
		if gaveUp && !resent {
			// From here until queueUnanswered runs, an answer is
			// remembered (handle) instead of dropped.
			e.late[id] = ""
		}
		e.mu.Unlock()
	}()
	if err := e.o.Client.Publish(e.o.Space.CamEnrol(e.o.Camera), 1, false, payload); err != nil {
		r.Status, r.Message = StatusQueued, "broker unreachable; capture queued and will be sent when the recognizer is back"
		return r
	}
	t := time.NewTimer(e.o.Timeout + time.Duration(len(frames)-1)*e.o.BurstFrameWait)
	defer t.Stop()
	select {
	case res := <-ch:
		r.Status, r.Faces, r.Frames = res.Status, res.Faces, res.Frames
		kept := ""
		if len(frames) > 1 {
			kept = fmt.Sprintf(" (%d of %d frames kept)", keptFrames(res.Frames), len(frames))
		}
		switch res.Status {
		case msg.EnrolSaved:
			r.Message, r.File = fmt.Sprintf("saved as %s%s", name, kept), res.Path
		case msg.EnrolNoFace:
			r.Message = "no face found; nothing saved"
		case msg.EnrolSeveralFaces:
			r.Message = fmt.Sprintf("%d faces in view; only one person may be in the picture; nothing saved", res.Faces)
		case msg.EnrolPending:
			r.Pending = res.Pending
			r.Message = "PENDING" + kept + ": sent without a valid login session, so the recognizer keeps it until a logged-in person confirms it (People view, pending captures)"
		case msg.EnrolRefused:
			r.Message = "refused: " + res.Error
		default:
			r.Status = msg.EnrolError
			r.Message = "recognizer error: " + res.Error
		}
	case <-t.C:
		gaveUp = true
		r.Status, r.Message = StatusQueued, "recognizer offline (no answer); capture queued and will be sent when it is back"
	case <-ctx.Done():
		gaveUp = true
		r.Status, r.Message = StatusQueued, "request cancelled; capture queued"
	}
	return r
}

// keptFrames counts the kept frames of a burst's answer.
func keptFrames(fs []msg.EnrolFrame) int {
	n := 0
	for _, f := range fs {
		if f.Kept {
			n++
		}
	}
	return n
}

// burstFile is a queued burst: <dataset>/.queue/<name>/<hash>.burst.
type burstFile struct {
	V      int      `json:"v"`
	Frames [][]byte `json:"frames"`
}

// burstExt names a queued burst (a single frame is queued as .jpg).
const burstExt = ".burst"

// enqueue writes the capture atomically, once per content, and returns its
// path relative to the dataset: one frame as <dataset>/.queue/<name>/<hash>.jpg,
// a burst as one <hash>.burst file holding all its frames (resent whole).
func (e *Enroller) enqueue(name string, frames [][]byte) (string, error) {
	data, ext := frames[0], ".jpg"
	if len(frames) > 1 {
		b, err := json.Marshal(burstFile{V: 1, Frames: frames})
		if err != nil {
			return "", err
		}
		data, ext = b, burstExt
	}
	sum := sha256.Sum256(data)
	rel := filepath.Join(QueueDir, name, hex.EncodeToString(sum[:12])+ext)
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("refusing path %q", rel)
	}
	path := filepath.Join(e.o.Dataset, rel)
	if _, err := os.Stat(path); err == nil {
		return rel, nil // the same capture is already queued
	}
	return rel, fsx.WriteFileAtomic(path, data, 0o600)
}

// readQueued reads a queued capture's frames; an unreadable one errs.
func readQueued(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	frames := [][]byte{b}
	if strings.HasSuffix(path, burstExt) {
		var bf burstFile
		if err := json.Unmarshal(b, &bf); err != nil {
			return nil, fmt.Errorf("queued burst: %w", err)
		}
		if len(bf.Frames) == 0 || len(bf.Frames) > MaxBurst {
			return nil, fmt.Errorf("queued burst of %d frames", len(bf.Frames))
		}
		frames = bf.Frames
	}
	for i, f := range frames {
		if err := msg.CheckJPEG(f, msg.MaxFrameBytes); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return frames, nil
}

// queued lists queued captures as paths relative to the dataset, oldest first.
func (e *Enroller) queued() []string {
	root := filepath.Join(e.o.Dataset, QueueDir)
	people, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range people {
		if !p.IsDir() || !msg.ValidName(p.Name()) {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(root, p.Name()))
		for _, f := range files {
			n := f.Name()
			if f.Type().IsRegular() && (strings.HasSuffix(n, ".jpg") || strings.HasSuffix(n, burstExt)) && !strings.HasPrefix(n, ".") {
				out = append(out, filepath.Join(QueueDir, p.Name(), n))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return modTime(e.o.Dataset, out[i]).Before(modTime(e.o.Dataset, out[j])) })
	return out
}

func modTime(root, rel string) time.Time {
	st, err := os.Stat(filepath.Join(root, rel))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// expire drops queued images older than QueueMaxAge.
func (e *Enroller) expire() {
	for _, rel := range e.queued() {
		if t := modTime(e.o.Dataset, rel); !t.IsZero() && time.Since(t) > e.o.QueueMaxAge {
			if os.Remove(filepath.Join(e.o.Dataset, rel)) == nil {
				e.mu.Lock()
				delete(e.owner, rel)
				e.mu.Unlock()
				e.log.Warn("queued enrolment image expired unsent", "file", rel, "max_age", e.o.QueueMaxAge)
			}
		}
	}
}

// Queued returns how many images wait in the queue.
func (e *Enroller) Queued() int { return len(e.queued()) }

// Drain sends queued images, oldest first, until the queue is empty or the
// recognizer stops answering. Only one drain runs at a time; it returns how
// many images were sent and answered.
func (e *Enroller) Drain(ctx context.Context) int {
	if !e.draining.TryLock() {
		return 0
	}
	defer e.draining.Unlock()
	e.expire()
	done := 0
	for _, rel := range e.queued() {
		if ctx.Err() != nil {
			break
		}
		path := filepath.Join(e.o.Dataset, rel)
		frames, err := readQueued(path)
		var pe *fs.PathError
		if errors.As(err, &pe) {
			continue // gone meanwhile (a late answer), or not readable now: kept
		}
		name := filepath.Base(filepath.Dir(rel))
		if err != nil {
			e.log.Warn("dropping unreadable queued capture", "file", rel, "err", err)
			os.Remove(path)
			continue
		}
		e.mu.Lock()
		cred := e.owner[rel]
		e.mu.Unlock()
		// The capturing login's token if it still has a valid one; else
		// none, and the recognizer keeps the image pending.
		r := e.send(ctx, name, frames, true, token(cred))
		r.Captured, r.Sent = len(frames), len(frames)
		switch r.Status {
		case StatusQueued:
			e.log.Info("recognizer still not answering; queue kept", "queued", len(e.queued()))
			return done
		default:
			// Answered (saved, pending, or judged unusable): the
			// recognizer has it.
			os.Remove(path)
			e.mu.Lock()
			delete(e.owner, rel)
			e.mu.Unlock()
		}
		r.Message = "queued capture: " + r.Message
		e.report(r)
		done++
	}
	return done
}

// Run retries the queue every RetryInterval while a recognizer is online,
// until ctx ends. (A recognizer turning online also triggers Drain.)
func (e *Enroller) Run(ctx context.Context) {
	t := time.NewTicker(e.o.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if e.o.RecognizerOnline() && e.Queued() > 0 {
				e.Drain(ctx)
			} else {
				e.expire()
			}
		}
	}
}
