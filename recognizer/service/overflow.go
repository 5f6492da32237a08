package service

import (
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// A command subscription's queue (mqttx) sits in front of the command
// workers' queues: when a flood fills it, mqttx gives up the newest
// message. These OnFull handlers answer such a command "busy", as a full
// worker queue does, so no command vanishes without an answer. They run on
// paho's goroutine: a cheap look at the payload and a queued publish.

// enrolSubQueue bounds enrolment commands waiting to be decoded (each up to
// the broker's packet limit), in front of the EnrolQueue decoded ones.
const enrolSubQueue = 64

const busyInbox = "busy: too many commands arriving at once; try again"

func (s *Service) overflowEnrol(_ string, payload []byte) {
	id, name := commandHead(payload)
	s.refused.WithLabelValues("enrol").Inc()
	s.log.Warn("enrol refused: too many arriving at once", "id", id)
	s.answerEnrol(msg.EnrolResult{V: msg.Version, ID: id, Name: name, Status: msg.EnrolError, Error: busyInbox})
}

// overflowTrain logs a train command given up: the requests queued before
// it coalesce into one run that covers it (trainer.request).
func (s *Service) overflowTrain(_ string, payload []byte) {
	id, _ := commandHead(payload)
	s.refused.WithLabelValues("train").Inc()
	s.log.Warn("train command refused: too many arriving at once; a queued one covers it", "id", id)
}

// overflowCamera answers a cam/<id>/enrol or cam/<id>/train command given up
// on the camera's result topic.
func (s *Service) overflowCamera(command string) func(string, []byte) {
	kind := topic.Enrol
	if command == msg.CommandTrain {
		kind = topic.Train
	}
	return func(t string, payload []byte) {
		camera, err := s.cameraOf(t, kind)
		if err != nil {
			return // handleCam* would ignore it too
		}
		id, name := commandHead(payload)
		s.refused.WithLabelValues(command).Inc()
		s.log.Warn(command+" refused: too many arriving at once", "camera", camera, "id", id)
		res := msg.EnrolResult{V: msg.Version, ID: id, Name: name, Status: msg.EnrolError, Error: busyInbox}
		if command == msg.CommandTrain {
			res.Command, res.Name = msg.CommandTrain, ""
		}
		s.answerCamera(camera, res)
	}
}

func (s *Service) overflowPerson(verb string) func(string, []byte) {
	return func(_ string, payload []byte) {
		id, _ := commandHead(payload)
		s.refused.WithLabelValues(verb).Inc()
		s.log.Warn("person command refused: too many arriving at once", "command", verb, "id", id)
		s.answerCommand(msg.CommandResult{V: msg.Version, ID: id, Command: verb, Error: busyInbox})
	}
}
