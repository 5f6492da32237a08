package service

import (
	"fmt"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Busy refusals. A command is refused "busy" when its worker queue is full
// (EnrolQueue, PersonQueue) or, in front of that, when its subscription's
// queue (mqttx) is: a flood fills it faster than the handler decodes, and
// mqttx gives up the newest message to the OnFull handlers below. Either
// way the command is counted, logged and answered, never dropped silently.
// OnFull handlers run on paho's goroutine: a cheap look at the payload and
// a queued publish.

// enrolSubQueue bounds enrolment commands waiting to be decoded (each up to
// the broker's packet limit), in front of the EnrolQueue decoded ones.
const enrolSubQueue = 64

// Why a command is busy (the answer's error is "busy: " and this).
var (
	enrolQueueFull  = fmt.Sprintf("%d enrolments already queued; try again", EnrolQueue)
	personQueueFull = fmt.Sprintf("%d commands already queued; try again", PersonQueue)
)

const inboxFull = "too many commands arriving at once; try again"

// busyEnrol refuses a facemon/cmd/enrol command.
func (s *Service) busyEnrol(id, name, why string) {
	s.refused.WithLabelValues("enrol").Inc()
	s.log.Warn("enrol refused: busy", "id", id, "why", why)
	s.answerEnrol(msg.EnrolResult{V: msg.Version, ID: id, Name: name, Status: msg.EnrolError, Error: "busy: " + why})
}

// busyCamera refuses a cam/<id>/enrol or cam/<id>/train command (command
// msg.CommandEnrol or msg.CommandTrain) on the camera's result topic.
func (s *Service) busyCamera(camera, command, id, name, why string) {
	s.refused.WithLabelValues(command).Inc()
	s.log.Warn(command+" refused: busy", "camera", camera, "id", id, "why", why)
	res := msg.EnrolResult{V: msg.Version, ID: id, Name: name, Status: msg.EnrolError, Error: "busy: " + why}
	if command == msg.CommandTrain {
		res.Command, res.Name = msg.CommandTrain, ""
	}
	s.answerCamera(camera, res)
}

// busyPerson refuses a person command (delete, rename, threshold).
func (s *Service) busyPerson(verb, id, why string) {
	s.refused.WithLabelValues(verb).Inc()
	s.log.Warn("person command refused: busy", "command", verb, "id", id, "why", why)
	s.answerCommand(msg.CommandResult{V: msg.Version, ID: id, Command: verb, Error: "busy: " + why})
}

func (s *Service) overflowEnrol(_ string, payload []byte) {
	id, name := commandHead(payload)
	s.busyEnrol(id, name, inboxFull)
}

// overflowTrain logs a train command given up: the requests queued before
// it coalesce into one run that covers it (trainer.request).
func (s *Service) overflowTrain(_ string, payload []byte) {
	id, _ := commandHead(payload)
	s.refused.WithLabelValues("train").Inc()
	s.log.Warn("train command refused: too many arriving at once; a queued one covers it", "id", id)
}

// overflowCamera is OnFull for cam/+/enrol (command msg.CommandEnrol) or
// cam/+/train (msg.CommandTrain).
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
		s.busyCamera(camera, command, id, name, inboxFull)
	}
}

func (s *Service) overflowPerson(verb string) func(string, []byte) {
	return func(_ string, payload []byte) {
		id, _ := commandHead(payload)
		s.busyPerson(verb, id, inboxFull)
	}
}
