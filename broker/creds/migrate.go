package creds

import (
	"slices"

	"github.com/facemon/facemon/shared/topic"
)

// Rules of the role templates before issue 17 (the edge published
// facemon/cmd/enrol and facemon/cmd/train and read facemon/enrol/result;
// the recognizer did not read the cameras' own command topics). A
// generated user whose rules are exactly one of these is moved to the
// current template by Ensure, so an upgraded install gets least privilege
// at the edge too and its recognizer may read cam/+/enrol. Hand-edited
// rules are left alone.
func legacyRules(t Topics, e *entry) (spec Spec, ok bool) {
	sp := t.Space
	switch e.Role {
	case RoleEdge:
		if !topic.ValidID(e.Camera) {
			return Spec{}, false
		}
		read := []string{sp.Annotated(e.Camera), sp.Identities(e.Camera), sp.EnrolResult(), sp.TrainStatus(), sp.AllStatus()}
		write := []string{sp.Frames(e.Camera), sp.Status(topic.KindEdge, e.Camera), sp.Command("enrol"), sp.Command("train")}
		viewAll := append(slices.Clone(read), sp.AllCameras(topic.Frames), sp.AllCameras(topic.Annotated), sp.AllCameras(topic.Identities))
		switch {
		case slices.Equal(e.Write, write) && slices.Equal(e.Read, read):
			return Spec{Role: RoleEdge, Camera: e.Camera}, true
		case slices.Equal(e.Write, write) && slices.Equal(e.Read, viewAll):
			return Spec{Role: RoleEdge, Camera: e.Camera, ViewAll: true}, true
		}
	case RoleRecognizer:
		read := []string{sp.AllCameras(topic.Frames), t.facemon("cmd/#"), sp.AllStatus(), t.ha("status")}
		write := []string{sp.AllCameras(topic.Annotated), sp.AllCameras(topic.Identities), sp.Status(topic.KindRecognizer, "+"),
			sp.Result(), sp.EnrolResult(), sp.TrainStatus(), t.ha("#"), t.HAStateFilter(), t.AlertTopic()}
		if slices.Equal(e.Read, read) && slices.Equal(e.Write, write) && len(e.ReadWrite) == 0 {
			return Spec{Role: RoleRecognizer}, true
		}
	}
	return Spec{}, false
}

// migrateRules moves users with a pre-issue-17 template to the current one.
func (s *store) migrateRules(note func(format string, args ...any)) error {
	for i := range s.users {
		e := &s.users[i]
		spec, ok := legacyRules(s.opts.topics(), e)
		if !ok || len(e.ReadWrite) > 0 {
			continue
		}
		if err := s.setRules(e, spec); err != nil {
			return err
		}
		note("updated the rules of %s to the current %s template (edges enrol and train only on their own camera's topics, with a person's session)", e.Name, e.Role)
	}
	return nil
}
