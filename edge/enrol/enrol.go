// Package enrol adds faces to the recognizer's gallery from the edge's live
// camera: it sends the current raw frame as a msg.Enrol command on
// cam/<id>/enrol, with the recognizer session token of the dashboard login
// that asked for it, and waits for the recognizer's msg.EnrolResult on
// cam/<id>/result. Without a valid token the recognizer keeps the image as
// a pending enrolment (status "pending") that a logged-in person confirms:
// an edge's word alone never enrols anybody. The recognizer owns the dataset (it saves
// accepted images); the edge keeps an image only while the recognizer does
// not answer (offline, or no broker): in <dataset>/.queue/<name>/, named by
// its content hash so a capture is queued once, sent again once a recognizer
// comes online (with the capturing login's token while that login still has
// a valid one, else without: pending), removed when any answer arrives (even a late one), and
// dropped after QueueMaxAge. The recognizer, keyed by the same content hash,
// never stores one image twice, so a late answer or a resend does not
// duplicate a sample.
package enrol

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// MaxBurst bounds the frames of one burst.
const MaxBurst = 20

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

// Result is the outcome for one image.
type Result struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Status  string `json:"status"` // saved, no_face, several_faces, error, queued
	Faces   int    `json:"faces"`
	File    string `json:"file,omitempty"` // path relative to the dataset
	Message string `json:"message"`
	Resent  bool   `json:"resent,omitempty"` // sent from the queue
	// Pending is the recognizer's pending enrolment id (Status "pending":
	// sent without a valid person's session, kept until a person confirms
	// it in the dashboard's People view).
	Pending string `json:"pending,omitempty"`
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
	// BurstInterval spaces the frames of a burst (default 400ms).
	BurstInterval time.Duration
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
		o.BurstInterval = 400 * time.Millisecond
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

// Enrol sends burst frames (spaced by BurstInterval) of the live camera as
// images of name on cam/<id>/enrol, with cred's recognizer session token
// when it has one (without, the recognizer keeps them pending), and
// returns one result per frame.
func (e *Enroller) Enrol(ctx context.Context, name string, burst int, cred Credential) ([]Result, error) {
	if !msg.ValidName(name) {
		return nil, msg.ErrBadName
	}
	if burst < 1 || burst > MaxBurst {
		return nil, ErrBurst
	}
	var (
		wg      sync.WaitGroup
		results = make([]Result, burst)
		lastSeq uint64
		haveOne bool
	)
	for i := 0; i < burst; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				results = results[:i]
				i = burst
				continue
			case <-time.After(e.o.BurstInterval):
			}
		}
		f, ok := e.o.Frame()
		if !ok {
			if !haveOne {
				return nil, ErrNoFrame
			}
			results = results[:i]
			break
		}
		if haveOne && f.HasMeta && f.Seq == lastSeq {
			e.log.Debug("burst: camera gave no new frame", "seq", f.Seq)
		}
		lastSeq, haveOne = f.Seq, true
		wg.Add(1)
		go func(i int, img []byte) {
			defer wg.Done()
			results[i] = e.one(ctx, name, img, cred)
		}(i, f.JPEG)
	}
	wg.Wait()
	for _, r := range results {
		if r.Status == msg.EnrolSaved {
			go e.Drain(context.WithoutCancel(ctx))
			break
		}
	}
	return results, nil
}

// one sends a single image; an unanswered one is queued.
func (e *Enroller) one(ctx context.Context, name string, img []byte, cred Credential) Result {
	r := e.send(ctx, name, img, false, token(cred))
	if r.Status == StatusQueued {
		r = e.queueUnanswered(r, name, img, cred)
	}
	e.report(r)
	return r
}

// queueUnanswered queues the image of a request send gave up on, and
// remembers it so that a late answer removes the queued copy. An answer
// that arrived between send's timeout and now (handle marked it
// answeredLate) removes it at once.
func (e *Enroller) queueUnanswered(r Result, name string, img []byte, cred Credential) Result {
	rel, err := e.enqueue(name, img)
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

// send publishes one enrol command (with the session token tok, "" for
// none) and waits for its answer; it returns StatusQueued when the
// recognizer cannot be reached in time.
func (e *Enroller) send(ctx context.Context, name string, img []byte, resent bool, tok string) Result {
	id := ids.New()
	r := Result{ID: id, Name: name, Resent: resent}
	payload, err := json.Marshal(msg.Enrol{V: msg.Version, ID: id, Name: name, Camera: e.o.Camera, Image: img, Session: tok})
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
		r.Status, r.Message = StatusQueued, "broker unreachable; image queued and will be sent when the recognizer is back"
		return r
	}
	t := time.NewTimer(e.o.Timeout)
	defer t.Stop()
	select {
	case res := <-ch:
		r.Status, r.Faces = res.Status, res.Faces
		switch res.Status {
		case msg.EnrolSaved:
			r.Message, r.File = fmt.Sprintf("saved as %s", name), res.Path
		case msg.EnrolNoFace:
			r.Message = "no face found; nothing saved"
		case msg.EnrolSeveralFaces:
			r.Message = fmt.Sprintf("%d faces in view; only one person may be in the picture; nothing saved", res.Faces)
		case msg.EnrolPending:
			r.Pending = res.Pending
			r.Message = "PENDING: sent without a valid login session, so the recognizer keeps it until a logged-in person confirms it (People view, pending captures)"
		default:
			r.Status = msg.EnrolError
			r.Message = "recognizer error: " + res.Error
		}
	case <-t.C:
		gaveUp = true
		r.Status, r.Message = StatusQueued, "recognizer offline (no answer); image queued and will be sent when it is back"
	case <-ctx.Done():
		gaveUp = true
		r.Status, r.Message = StatusQueued, "request cancelled; image queued"
	}
	return r
}

// enqueue writes img atomically as <dataset>/.queue/<name>/<hash>.jpg
// (once per content) and returns the path relative to the dataset.
func (e *Enroller) enqueue(name string, img []byte) (string, error) {
	sum := sha256.Sum256(img)
	rel := filepath.Join(QueueDir, name, hex.EncodeToString(sum[:12])+".jpg")
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("refusing path %q", rel)
	}
	path := filepath.Join(e.o.Dataset, rel)
	if _, err := os.Stat(path); err == nil {
		return rel, nil // the same capture is already queued
	}
	return rel, fsx.WriteFileAtomic(path, img, 0o600)
}

// queued lists queued images as paths relative to the dataset, oldest first.
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
			if f.Type().IsRegular() && strings.HasSuffix(f.Name(), ".jpg") && !strings.HasPrefix(f.Name(), ".") {
				out = append(out, filepath.Join(QueueDir, p.Name(), f.Name()))
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
		img, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		name := filepath.Base(filepath.Dir(rel))
		if msg.CheckJPEG(img, msg.MaxFrameBytes) != nil {
			e.log.Warn("dropping unreadable queued image", "file", rel)
			os.Remove(path)
			continue
		}
		e.mu.Lock()
		cred := e.owner[rel]
		e.mu.Unlock()
		// The capturing login's token if it still has a valid one; else
		// none, and the recognizer keeps the image pending.
		r := e.send(ctx, name, img, true, token(cred))
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
		r.Message = "queued image: " + r.Message
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
