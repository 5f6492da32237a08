package api

import (
	"context"
	"net/http"
	"time"

	"github.com/facemon/facemon/shared/httpauth"
	"github.com/facemon/facemon/shared/msg"
)

// Suggestion is a face crop of a confirmed track, offered to be added to
// the named person's samples.
type Suggestion struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Camera  string    `json:"camera"`
	Created time.Time `json:"created"`
	// Quality is the crop's face sharpness (variance of the Laplacian on
	// the face at 128 px; higher is sharper).
	Quality float64 `json:"quality"`
	// Distance is the crop's descriptor distance to the person's nearest
	// sample (higher: more new to the gallery).
	Distance float64 `json:"distance"`
}

// Suggestions manages suggestions. Unknown ids are ErrNotFound.
type Suggestions interface {
	List(ctx context.Context) ([]Suggestion, error)
	Image(ctx context.Context, id string) ([]byte, error)
	// Accept enrols the crop as a sample of its person, as an enrolment
	// command would, and removes it when saved.
	Accept(ctx context.Context, id string) (msg.EnrolResult, error)
	Delete(ctx context.Context, id string) error
}

func suggestionID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !ValidPendingID(id) { // the same form: 24 hex digits of the image's SHA-256
		return "", errStatus(http.StatusBadRequest, "bad suggestion id %q: want 24 hex digits", id)
	}
	return id, nil
}

func (s *server) suggestionList(w http.ResponseWriter, r *http.Request) error {
	if s.o.Suggestions == nil {
		return errNotConfigured
	}
	ss, err := s.o.Suggestions.List(r.Context())
	if err != nil {
		return err
	}
	if ss == nil {
		ss = []Suggestion{}
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"suggestions": ss})
	return nil
}

func (s *server) suggestionImage(w http.ResponseWriter, r *http.Request) error {
	if s.o.Suggestions == nil {
		return errNotConfigured
	}
	id, err := suggestionID(r)
	if err != nil {
		return err
	}
	b, err := s.o.Suggestions.Image(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJPEG(w, b)
}

func (s *server) suggestionAccept(w http.ResponseWriter, r *http.Request) error {
	if s.o.Suggestions == nil {
		return errNotConfigured
	}
	id, err := suggestionID(r)
	if err != nil {
		return err
	}
	res, err := s.o.Suggestions.Accept(r.Context(), id)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Status != msg.EnrolSaved {
		status = http.StatusUnprocessableEntity
	}
	s.log.Info("suggestion accepted", "id", id, "name", res.Name, "status", res.Status)
	httpauth.WriteJSON(w, status, res)
	return nil
}

func (s *server) suggestionDelete(w http.ResponseWriter, r *http.Request) error {
	if s.o.Suggestions == nil {
		return errNotConfigured
	}
	id, err := suggestionID(r)
	if err != nil {
		return err
	}
	if err := s.o.Suggestions.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
