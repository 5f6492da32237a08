package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Commands from an edge on its own camera's topics (issue 17, C1). The
// broker lets an edge publish only cam/<its id>/enrol and train, so the
// camera id in the topic is the sender's; what it may do depends on the
// person's session token it carries, never on the edge credential alone:
//
//   - cam/<id>/enrol with a live session: enrolled as facemon/cmd/enrol is.
//     Without one (none, expired, revoked, an old password): kept as a
//     pending enrolment a person confirms or discards (REST /api/pending).
//   - cam/<id>/train with a live session: training is requested. Without
//     one: refused.
//
// Answers go to cam/<id>/result. The handlers never block: decoding and
// the session check are cheap, face work goes to the bounded enrolment
// workers.

// answerCamera publishes res on cam/<camera>/result.
func (s *Service) answerCamera(camera string, res msg.EnrolResult) {
	if !topic.ValidID(camera) {
		return
	}
	b, _ := json.Marshal(res)
	if err := s.out.Publish(s.space.CamResult(camera), 1, false, b); err != nil {
		s.log.Warn("camera answer not sent", "camera", camera, "id", res.ID, "err", err)
	}
}

// sessionValid reports whether tok is a live person's session.
func (s *Service) sessionValid(tok string) bool {
	_, ok := s.sessions.Valid(tok)
	return ok
}

// cameraOf returns the camera of a cam/<id>/<kind> topic.
func (s *Service) cameraOf(t, kind string) (string, error) {
	id, k, err := s.space.ParseCamera(t)
	if err != nil {
		return "", err
	}
	if k != kind {
		return "", fmt.Errorf("topic %q: not a %s topic", t, kind)
	}
	return id, nil
}

func (s *Service) handleCamEnrol(t string, payload []byte) {
	camera, err := s.cameraOf(t, topic.Enrol)
	if err != nil {
		s.log.Warn("enrol on a bad topic ignored", "topic", t, "err", err)
		return
	}
	cmd, res := s.decodeEnrol(payload)
	if cmd == nil {
		s.answerCamera(camera, res)
		return
	}
	if cmd.Camera != "" && cmd.Camera != camera {
		s.log.Warn("enrol refused: camera field differs from the topic", "camera", camera, "field", cmd.Camera, "id", cmd.ID)
		s.answerCamera(camera, msg.EnrolResult{V: msg.Version, ID: cmd.ID, Name: cmd.Name, Status: msg.EnrolError,
			Error: fmt.Sprintf("camera %q differs from the topic's camera %q", cmd.Camera, camera)})
		return
	}
	cmd.Camera = camera
	tok := cmd.Session
	cmd.Session = "" // the token goes no further
	person := tok != "" && s.sessionValid(tok)
	ok := s.enrolWork.submit(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, enrolWait)
		defer cancel()
		var res msg.EnrolResult
		if person || cmd.CheckOnly {
			res = s.enrol(ctx, cmd) // a check only counts faces, enrols nothing
		} else {
			res = s.enrolPending(ctx, cmd, tok != "")
		}
		if res.Status == msg.EnrolError {
			s.log.Warn("enrol refused", "camera", camera, "id", res.ID, "name", res.Name, "err", res.Error)
		}
		s.answerCamera(camera, res)
	})
	if !ok {
		s.busyCamera(camera, msg.CommandEnrol, cmd.ID, cmd.Name, enrolQueueFull)
	}
}

// enrolPending keeps an enrolment without a person's session as pending,
// after checking it holds exactly one face (nothing else could be enrolled
// later anyway).
func (s *Service) enrolPending(ctx context.Context, cmd *msg.Enrol, hadToken bool) msg.EnrolResult {
	res := msg.EnrolResult{V: msg.Version, ID: cmd.ID, Name: cmd.Name}
	if s.pending == nil {
		res.Status, res.Error = msg.EnrolRefused, "enrolment needs a logged-in person's session, and this recognizer keeps no pending enrolments"
		return res
	}
	if len(cmd.Burst) > 0 {
		return s.enrolPendingBurst(ctx, cmd, hadToken)
	}
	r, err := s.analyzeEnrol(ctx, cmd.Image)
	if err != nil {
		res.Status, res.Error = msg.EnrolError, err.Error()
		return res
	}
	res.Faces = len(r.Faces)
	switch len(r.Faces) {
	case 0:
		res.Status = msg.EnrolNoFace
		return res
	case 1:
	default:
		res.Status = msg.EnrolSeveralFaces
		return res
	}
	m, dup, err := s.pending.add(cmd.Name, cmd.Camera, cmd.ID, len(r.Faces), cmd.Image)
	if err != nil {
		res.Status, res.Error = msg.EnrolError, err.Error()
		if errors.Is(err, ErrPendingFull) {
			res.Status = msg.EnrolRefused
		}
		return res
	}
	s.log.Info("enrolment kept pending until a person confirms it", "camera", cmd.Camera, "name", cmd.Name, "pending", m.ID, "duplicate", dup, "why", whyPending(hadToken))
	res.Status, res.Pending = msg.EnrolPending, m.ID
	return res
}

func whyPending(hadToken bool) string {
	if hadToken {
		return "session token not valid (expired, logged out or an old password)"
	}
	return "no session token"
}

// enrolPendingBurst keeps a burst without a person's session as one
// pending enrolment holding every frame the selection kept (the answer
// lists every frame's fate, as for an enrolled burst); confirming it
// enrols them all.
func (s *Service) enrolPendingBurst(ctx context.Context, cmd *msg.Enrol, hadToken bool) msg.EnrolResult {
	b, res, done := s.selectBurst(ctx, cmd, s.burstRule())
	if done {
		return res
	}
	m, dup, err := s.pending.add(cmd.Name, cmd.Camera, cmd.ID, 1, b.keptImages()...)
	if err != nil {
		res.Status, res.Error = msg.EnrolError, err.Error()
		if errors.Is(err, ErrPendingFull) {
			res.Status = msg.EnrolRefused
		}
		return res
	}
	s.log.Info("burst kept pending until a person confirms it", "camera", cmd.Camera, "name", cmd.Name, "pending", m.ID,
		"frames", len(b.imgs), "kept", b.kept, "duplicate", dup, "why", whyPending(hadToken))
	res.Status, res.Pending, res.Faces = msg.EnrolPending, m.ID, b.kept
	return res
}

func (s *Service) handleCamTrain(t string, payload []byte) {
	camera, err := s.cameraOf(t, topic.Train)
	if err != nil {
		s.log.Warn("train on a bad topic ignored", "topic", t, "err", err)
		return
	}
	cmd, err := msg.DecodeTrain(payload)
	if err != nil {
		id, _ := commandHead(payload)
		s.log.Warn("malformed train command refused", "camera", camera, "id", id, "err", err)
		s.answerCamera(camera, msg.EnrolResult{V: msg.Version, ID: id, Command: msg.CommandTrain, Status: msg.EnrolError, Error: err.Error()})
		return
	}
	if cmd.Session == "" || !s.sessionValid(cmd.Session) {
		why := "no session token"
		if cmd.Session != "" {
			why = "session token not valid (expired, logged out or an old password)"
		}
		s.log.Warn("train refused: needs a logged-in person's session", "camera", camera, "id", cmd.ID, "why", why)
		s.answerCamera(camera, msg.EnrolResult{V: msg.Version, ID: cmd.ID, Command: msg.CommandTrain, Status: msg.EnrolRefused,
			Error: "training needs a logged-in person's session: " + why})
		return
	}
	s.log.Info("training requested by a person", "camera", camera, "id", cmd.ID)
	s.trainer.request(cmd.ID)
	s.answerCamera(camera, msg.EnrolResult{V: msg.Version, ID: cmd.ID, Command: msg.CommandTrain, Status: msg.TrainAccepted})
}
