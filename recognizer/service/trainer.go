package service

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/facemon/facemon/recognizer/train"
	"github.com/facemon/facemon/shared/msg"
)

// trainer runs training requests one at a time; requests that arrive while
// a run is in progress coalesce into a single follow-up run.
type trainer struct {
	s       *Service
	mu      sync.Mutex
	pending []string // request ids waiting for the next run
	kick    chan struct{}
}

func newTrainer(s *Service) *trainer { return &trainer{s: s, kick: make(chan struct{}, 1)} }

// request queues a training run for id.
func (t *trainer) request(id string) {
	t.mu.Lock()
	t.pending = append(t.pending, id)
	n := len(t.pending)
	t.mu.Unlock()
	if n > 1 {
		t.s.log.Info("training request coalesced with a queued one", "id", id, "queued", n)
	}
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *trainer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		}
		t.mu.Lock()
		ids := t.pending
		t.pending = nil
		t.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		if db := t.s.db; db != nil {
			ok, err := db.TryLockTraining(ctx)
			if err != nil || !ok {
				why := "another recognizer is training; its result is shared with every recognizer"
				if err != nil {
					why = err.Error()
				}
				t.s.log.Info("training not started here", "id", ids[0], "why", why)
				t.s.publishTrain(msg.TrainStatus{ID: ids[0], State: msg.TrainError, Error: "not started: " + why})
				continue
			}
			t.s.Train(ctx, ids[0])
			db.UnlockTraining()
			continue
		}
		t.s.Train(ctx, ids[0])
	}
}

// handleTrain is the MQTT handler for facemon/cmd/train.
func (s *Service) handleTrain(_ string, payload []byte) {
	cmd, err := msg.DecodeTrain(payload)
	if err != nil {
		s.log.Warn("malformed train command", "err", err)
		var head struct {
			ID string `json:"id"`
		}
		json.Unmarshal(payload, &head)
		if len(head.ID) > 128 {
			head.ID = head.ID[:128]
		}
		s.publishTrain(msg.TrainStatus{ID: head.ID, State: msg.TrainError, Error: err.Error()})
		return
	}
	s.trainer.request(cmd.ID)
}

func (s *Service) publishTrain(st msg.TrainStatus) {
	st.V, st.Time = msg.Version, time.Now().UTC()
	b, _ := json.Marshal(st)
	if s.client != nil {
		s.client.Publish(s.space.TrainStatus(), 1, true, b)
	}
	s.trainMu.Lock()
	s.lastTrain = st
	s.trainMu.Unlock()
}

// TrainStatus returns the latest training status.
func (s *Service) TrainStatus() msg.TrainStatus {
	s.trainMu.Lock()
	defer s.trainMu.Unlock()
	return s.lastTrain
}

// Train re-trains the gallery from the dataset folder. Recognition goes on
// with the old gallery meanwhile; the new one is swapped in atomically.
func (s *Service) Train(ctx context.Context, id string) {
	s.log.Info("training started", "id", id, "dataset", s.cfg.Dataset)
	s.publishTrain(msg.TrainStatus{ID: id, State: msg.TrainRunning})
	var last time.Time
	a := s.cfg.Analyzer
	a.CNNFallback = true
	prev := s.beginTraining()
	journal := train.JournalPath(s.cfg.Gallery)
	g, sum, err := train.Run(ctx, s.pool, prev, train.Options{Dataset: s.cfg.Dataset, Analyzer: a, Journal: journal, Progress: func(p train.Progress) {
		if time.Since(last) < 250*time.Millisecond && p.Seen != p.Total {
			return
		}
		last = time.Now()
		s.publishTrain(msg.TrainStatus{ID: id, State: msg.TrainRunning, Seen: p.Seen, Total: p.Total, Encoded: p.Encoded, Skipped: p.Skipped})
	}})
	if err != nil {
		s.abortTraining()
		s.log.Error("training failed", "id", id, "err", err)
		s.publishTrain(msg.TrainStatus{ID: id, State: msg.TrainError, Error: err.Error()})
		return
	}
	replayed, err := s.finishTraining(g)
	if err != nil {
		s.log.Error("saving trained gallery failed", "id", id, "err", err)
		s.publishTrain(msg.TrainStatus{ID: id, State: msg.TrainError, Error: err.Error()})
		return
	}
	if err := os.Remove(journal); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("encoding journal not removed", "err", err)
	}
	st := msg.TrainStatus{ID: id, State: msg.TrainDone, Seen: sum.Images, Total: sum.Images, Encoded: sum.Encodings,
		Skipped: len(sum.Skipped), Reasons: sum.Reasons(), People: sum.People, Encodings: sum.Encodings, DurationMS: sum.Duration.Milliseconds()}
	s.log.Info("training done", "id", id, "people", sum.People, "encodings", sum.Encodings, "reused", sum.Reused, "resumed", sum.Resumed, "edits_replayed", replayed, "skipped", len(sum.Skipped), "duration", sum.Duration)
	s.publishTrain(st)
}
