package api

import (
	"context"
	"net/http"
	"time"

	"github.com/facemon/facemon/shared/httpauth"
	"github.com/facemon/facemon/shared/msg"
)

// PendingEnrolment is an enrolment an edge sent without a person's session
// (cam/<id>/enrol): kept until a person confirms or discards it.
type PendingEnrolment struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Camera  string    `json:"camera"`
	Created time.Time `json:"created"`
	Faces   int       `json:"faces"`
	// Frames is the number of images (a burst's kept frames; 1: one).
	Frames int `json:"frames,omitempty"`
}

// Pending manages pending enrolments. Unknown ids are ErrNotFound.
type Pending interface {
	List(ctx context.Context) ([]PendingEnrolment, error)
	Image(ctx context.Context, id string) ([]byte, error)
	// Confirm enrols the pending image as name ("" = the name it came
	// with), as an enrolment command would, and removes it when saved.
	Confirm(ctx context.Context, id, name string) (msg.EnrolResult, error)
	Delete(ctx context.Context, id string) error
}

// ValidPendingID reports whether id can be a pending enrolment's id (24
// lower-case hex digits: a prefix of the image's SHA-256).
func ValidPendingID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func pendingID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !ValidPendingID(id) {
		return "", errStatus(http.StatusBadRequest, "bad pending id %q: want 24 hex digits", id)
	}
	return id, nil
}

func (s *server) pendingList(w http.ResponseWriter, r *http.Request) error {
	if s.o.Pending == nil {
		return errNotConfigured
	}
	ps, err := s.o.Pending.List(r.Context())
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []PendingEnrolment{}
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"pending": ps})
	return nil
}

func (s *server) pendingImage(w http.ResponseWriter, r *http.Request) error {
	if s.o.Pending == nil {
		return errNotConfigured
	}
	id, err := pendingID(r)
	if err != nil {
		return err
	}
	b, err := s.o.Pending.Image(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJPEG(w, b)
}

func (s *server) pendingConfirm(w http.ResponseWriter, r *http.Request) error {
	if s.o.Pending == nil {
		return errNotConfigured
	}
	id, err := pendingID(r)
	if err != nil {
		return err
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := decode(r, &body, true); err != nil {
		return err
	}
	if body.Name != "" {
		if err := bodyName(body.Name); err != nil {
			return err
		}
	}
	res, err := s.o.Pending.Confirm(r.Context(), id, body.Name)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Status != msg.EnrolSaved {
		status = http.StatusUnprocessableEntity
	}
	s.log.Info("pending enrolment confirmed", "id", id, "name", res.Name, "status", res.Status)
	httpauth.WriteJSON(w, status, res)
	return nil
}

func (s *server) pendingDelete(w http.ResponseWriter, r *http.Request) error {
	if s.o.Pending == nil {
		return errNotConfigured
	}
	id, err := pendingID(r)
	if err != nil {
		return err
	}
	if err := s.o.Pending.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
