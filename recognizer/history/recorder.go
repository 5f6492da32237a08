package history

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/facemon/facemon/recognizer/pipeline"
)

// FromResult turns a processed frame into an Observation (faces and
// descriptors are paired by index, as the pipeline emits them).
func FromResult(r *pipeline.Result) Observation {
	ids := r.Identities
	o := Observation{Camera: ids.Camera, Time: ids.Captured, Faces: make([]Seen, 0, len(ids.Faces))}
	if o.Time.IsZero() {
		o.Time = ids.Processed
	}
	if r.Frame != nil {
		o.Frame = r.Frame.JPEG
	}
	for i, f := range ids.Faces {
		s := Seen{Name: f.Name, Distance: f.Distance, Candidate: f.Candidate, Box: f.Box, Track: f.Track}
		if i < len(r.Faces) {
			s.Descriptor = r.Faces[i].Descriptor
		}
		o.Faces = append(o.Faces, s)
	}
	return o
}

// Recorder records observations on its own goroutine, so the pipeline's
// workers never wait for the disk: Submit queues (bounded) and drops, and
// counts, when the queue is full.
type Recorder struct {
	s       *Store
	q       chan Observation
	after   func(*Recorded)
	dropped atomic.Uint64
	failed  atomic.Uint64
	skipped atomic.Uint64
}

// Backoff after a storage failure (a full disk, an I/O error): observations
// are skipped (and counted) for a pause that doubles from recordPauseMin to
// recordPauseMax while failures go on, so a full disk costs one attempt and
// one log line per pause instead of a decode, crop and insert per frame.
const (
	recordPauseMin = time.Second
	recordPauseMax = time.Minute
)

// NewRecorder returns a recorder with a queue of size queue (default 32).
// after, when not nil, is called on the recorder goroutine with what each
// observation stored (e.g. to alert on unknown faces).
func NewRecorder(s *Store, queue int, after func(*Recorded)) *Recorder {
	if queue <= 0 {
		queue = 32
	}
	return &Recorder{s: s, q: make(chan Observation, queue), after: after}
}

// Submit queues o without blocking; it reports false when o was dropped.
// Observations without faces are ignored.
func (r *Recorder) Submit(o Observation) bool {
	if len(o.Faces) == 0 {
		return true
	}
	select {
	case r.q <- o:
		return true
	default:
		r.dropped.Add(1)
		return false
	}
}

// Hook is a pipeline.OnResult hook that submits each result.
func (r *Recorder) Hook(res *pipeline.Result) { r.Submit(FromResult(res)) }

// Dropped returns the observations dropped because the queue was full;
// Failed those Record rejected.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Failed returns the observations that could not be recorded.
func (r *Recorder) Failed() uint64 { return r.failed.Load() }

// Skipped returns the observations not attempted while recording was
// paused after a storage failure.
func (r *Recorder) Skipped() uint64 { return r.skipped.Load() }

// Run records queued observations until ctx ends.
func (r *Recorder) Run(ctx context.Context) error {
	var (
		pause    time.Duration
		until    time.Time
		failures int
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case o := <-r.q:
			if pause > 0 && time.Now().Before(until) {
				r.skipped.Add(1)
				continue
			}
			rec, err := r.s.Record(ctx, o)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.failed.Add(1)
				if errors.Is(err, ErrInvalid) {
					r.s.log.Warn("recording failed", "camera", o.Camera, "err", err)
					continue
				}
				failures++
				pause = min(max(2*pause, recordPauseMin), recordPauseMax)
				until = time.Now().Add(pause)
				r.s.log.Error("recording failed; history paused", "camera", o.Camera, "err", err, "pause", pause, "failures", failures)
				continue
			}
			if pause > 0 {
				r.s.log.Info("recording recovered", "failures", failures, "skipped", r.skipped.Load())
				pause, failures = 0, 0
			}
			if r.after != nil && (len(rec.Events) > 0 || len(rec.Unknowns) > 0) {
				r.after(rec)
			}
		}
	}
}
