// Package api is the recognizer's REST API: an http.Handler over small
// interfaces (People, Trainer, History, Dataset) so it can be wired to the
// gallery, the trainer and the history store, and tested with fakes.
//
// # REST API
//
// All bodies are JSON (request bodies at most 16 KiB); errors are
// {"error":"..."} with 400 (bad input or JSON), 401 (missing or wrong token,
// with WWW-Authenticate: Bearer), 403 (a browser's cross-site request), 404
// (no such person/event/group), 409 (conflict: group already named or
// dismissed, training already running, rename target exists), 413 (body too
// large), 415 (a POST/PUT, or a DELETE with a body, that is not
// Content-Type: application/json), 501 (feature not configured), 503 (no
// token configured and the API not explicitly opened) or 500. Person names
// follow the dataset rules (1-64 letters, digits, space, '_', '-', '.'; not
// "unknown").
//
// Every request under /api/, reads included, needs
// "Authorization: Bearer <token>": the recognizer's API token (compared in
// constant time) or a live person's session token. Without a configured
// token or sessions the API refuses everything with 503 unless
// Options.Open (serve --api-open) is set.
//
// Person sessions (no bearer token needed to log in; see sessions.go):
//
//	POST   /api/sessions                    {"password":"..","user":"admin"} (user optional)
//	       -> 201 {"token":"..","expires":"RFC3339"}; 401 wrong password,
//	       429 too many logins from this address (Retry-After), 503 no dashboard hash
//	GET    /api/sessions/current            (bearer: the session token) -> {"user":"admin","expires":".."}
//	DELETE /api/sessions/current            -> 204, the token ends at once
//
// A session ends at its expiry (serve --session-ttl), at logout and when
// the dashboard hash file changes (a new password).
//
// Pending enrolments (sent by an edge without a person's session):
//
//	GET    /api/pending                     {"pending":[{"id":"<24 hex>","name":"alice","camera":"door","created":"..","faces":1,"frames":1}]} (frames: a burst's kept frames, all enrolled by confirm)
//	GET    /api/pending/{id}/image.jpg
//	POST   /api/pending/{id}/confirm        {"name":"optional new name"} (body optional)
//	       -> 200 msg.EnrolResult (status saved), 422 when the face check fails
//	DELETE /api/pending/{id}                -> 204
//
// Suggestions (crops of confirmed tracks offered as new samples):
//
//	GET    /api/suggestions                 {"suggestions":[{"id":"<24 hex>","name":"alice","camera":"door","created":"..","quality":120.5,"distance":0.31}]}
//	GET    /api/suggestions/{id}/image.jpg
//	POST   /api/suggestions/{id}/accept     -> 200 msg.EnrolResult (status saved), 422 when the face check fails
//	DELETE /api/suggestions/{id}            -> 204
//
// No CORS header is ever sent, so no other web origin can read an answer,
// and the JSON content type keeps a cross-site page from sending a write
// without a preflight.
//
// People:
//
//	GET    /api/people                      {"people":[{"name":"alice","samples":12,"threshold":0.55}]}
//	                                        (threshold 0 = the global threshold)
//	GET    /api/people/{name}/samples       {"name":"alice","samples":[{"source":"alice/1.jpg","hash":"..","box":[x0,y0,x1,y1]}]}
//	PUT    /api/people/{name}/threshold     {"threshold":0.55}  (0 to reset, else 0.3-0.7)  -> 200 person
//	DELETE /api/people/{name}               -> 204
//	POST   /api/people/{name}/rename        {"name":"Alice B"}  -> 200 {"name":"Alice B"}
//
// Events (known people, newest first):
//
//	GET    /api/events?camera=&person=&since=&until=&limit=
//	       since/until: RFC 3339 or Unix seconds (since inclusive, until exclusive);
//	       limit 1-1000 (default 100)
//	       -> {"events":[{"id":1,"camera":"door","name":"alice","distance":0.41,
//	           "time":"..","box":[..],"size":1234,"crop_url":"..","frame_url":".."}]}
//	GET    /api/events/{id}/crop.jpg        face crop (image/jpeg)
//	GET    /api/events/{id}/frame.jpg       full frame (image/jpeg)
//	GET    /api/events/latest/crop.jpg?camera=&person=   newest matching crop (also frame.jpg)
//	POST   /api/events/{id}/not-this-person store the face as a negative of the
//	                                        person it was matched to -> 201 {"id":..,"person":..}
//
// Unknown faces (grouped; a repeat visitor is one group):
//
//	GET    /api/unknowns?state=open|named|dismissed|all&limit=&samples=
//	       -> {"groups":[{"id":3,"state":"open","count":7,"first":"..","last":"..",
//	           "cameras":["door"],"samples":[41,40],"crop_url":"..","sample_urls":[".."]}]}
//	GET    /api/unknowns/{group}            {"group":{..},"faces":[{"id":41,"camera":..,"time":..,"crop_url":..}]}
//	GET    /api/unknowns/{group}/crop.jpg   newest crop of the group
//	POST   /api/unknowns/{group}/name       {"name":"carol","train":true}
//	       adds the group's crops to the dataset as carol's images, marks the
//	       group named and, with "train", starts training
//	       -> 200 {"name":"carol","added":7,"paths":[..],"training":true}
//	POST   /api/unknowns/{group}/dismiss    -> 204
//	POST   /api/unknowns/{group}/merge      {"into":7}  moves the group's faces into
//	       open group 7 (one visitor split in two) -> 200 {"group":{..7}}
//	GET    /api/unknowns/faces/{id}/crop.jpg
//	POST   /api/unknowns/faces/{id}/name    {"name":"carol","train":false}  one face only
//
// Training:
//
//	POST   /api/train                       {"id":"optional request id"} (body optional) -> 202 {"id":".."}
//	GET    /api/train/status                msg.TrainStatus JSON; 404 before the first run
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/facemon/facemon/recognizer/history"
	"github.com/facemon/facemon/shared/httpauth"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Errors the interfaces return to select the HTTP status (history's
// ErrNotFound, ErrState and ErrInvalid are understood too).
var (
	ErrNotFound = errors.New("not found")       // 404
	ErrConflict = errors.New("conflict")        // 409
	ErrInvalid  = errors.New("invalid request") // 400
)

// Person is one enrolled person.
type Person struct {
	Name      string  `json:"name"`
	Samples   int     `json:"samples"`
	Threshold float64 `json:"threshold"` // 0: the global threshold
}

// Sample is one enrolled face of a person.
type Sample struct {
	Source string `json:"source"`
	Hash   string `json:"hash,omitempty"`
	Box    [4]int `json:"box"`
}

// People manages the gallery.
type People interface {
	People(ctx context.Context) ([]Person, error)
	Samples(ctx context.Context, name string) ([]Sample, error)
	SetThreshold(ctx context.Context, name string, threshold float64) error
	DeletePerson(ctx context.Context, name string) error
	RenamePerson(ctx context.Context, old, name string) error
}

// Trainer runs training.
type Trainer interface {
	// StartTraining starts a run in the background and returns (ErrConflict
	// when one is running). ctx carries request values but is never
	// cancelled; the run must not be tied to it.
	StartTraining(ctx context.Context, id string) error
	// TrainStatus returns the latest status, nil before the first run.
	TrainStatus(ctx context.Context) (*msg.TrainStatus, error)
}

// Dataset stores images of people for training.
type Dataset interface {
	// AddImages saves JPEG images as name's and returns their paths.
	AddImages(ctx context.Context, name string, jpegs [][]byte) ([]string, error)
}

// History is the event store (*history.Store implements it).
type History interface {
	Events(ctx context.Context, q history.Query) ([]history.Event, error)
	LatestEvent(ctx context.Context, camera, person string) (history.Event, error)
	EventImage(ctx context.Context, id int64, kind string) ([]byte, error)
	NotThisPerson(ctx context.Context, event int64) (history.Negative, error)
	Groups(ctx context.Context, q history.GroupQuery) ([]history.Group, error)
	Group(ctx context.Context, id int64) (history.Group, error)
	GroupUnknowns(ctx context.Context, group int64, withCrops bool) ([]history.Unknown, error)
	GroupCrop(ctx context.Context, group int64) ([]byte, error)
	Unknown(ctx context.Context, id int64) (history.Unknown, error)
	UnknownCrop(ctx context.Context, id int64) ([]byte, error)
	NameGroup(ctx context.Context, group int64, name string) ([]history.Unknown, error)
	NameUnknown(ctx context.Context, id int64, name string) (history.Unknown, error)
	DismissGroup(ctx context.Context, group int64) error
	MergeGroups(ctx context.Context, from, into int64) (history.Group, error)
}

// MaxBodyBytes bounds request bodies.
const MaxBodyBytes = 16 << 10

// Options configure the handler. Nil interfaces disable their routes (501).
type Options struct {
	People  People
	Trainer Trainer
	History History
	Dataset Dataset
	// Token is required as a Bearer token on every request.
	Token string
	// Open serves the API without a token when Token is empty (serve
	// --api-open); otherwise an empty Token refuses every request (503)
	// unless Sessions is set.
	Open bool
	// Sessions issues person sessions (POST /api/sessions); their tokens
	// are accepted as bearer tokens on every route (nil: no sessions).
	Sessions *Sessions
	// Pending holds enrolments from edges without a person's session.
	Pending Pending
	// Suggestions holds crops of confirmed tracks offered as samples.
	Suggestions Suggestions
	Logger      *slog.Logger
}

type server struct {
	o   Options
	log *slog.Logger
}

// New returns the API handler (routes under /api/).
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &server{o: o, log: o.Logger.With("component", "api")}
	mux := http.NewServeMux()
	route := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.wrap(h, true))
	}
	// Logging in needs no bearer token; the session routes check theirs.
	mux.Handle("POST /api/sessions", s.wrap(s.login, false))
	mux.Handle("GET /api/sessions/current", s.wrap(s.getSession, false))
	mux.Handle("DELETE /api/sessions/current", s.wrap(s.logout, false))

	route("GET /api/pending", s.pendingList)
	route("GET /api/pending/{id}/image.jpg", s.pendingImage)
	route("POST /api/pending/{id}/confirm", s.pendingConfirm)
	route("DELETE /api/pending/{id}", s.pendingDelete)
	route("GET /api/suggestions", s.suggestionList)
	route("GET /api/suggestions/{id}/image.jpg", s.suggestionImage)
	route("POST /api/suggestions/{id}/accept", s.suggestionAccept)
	route("DELETE /api/suggestions/{id}", s.suggestionDelete)
	route("GET /api/people", s.people)
	route("GET /api/people/{name}/samples", s.samples)
	route("PUT /api/people/{name}/threshold", s.setThreshold)
	route("DELETE /api/people/{name}", s.deletePerson)
	route("POST /api/people/{name}/rename", s.rename)

	route("GET /api/events", s.events)
	route("GET /api/events/latest/crop.jpg", s.latestImage(history.ImageCrop))
	route("GET /api/events/latest/frame.jpg", s.latestImage(history.ImageFrame))
	route("GET /api/events/{id}/crop.jpg", s.eventImage(history.ImageCrop))
	route("GET /api/events/{id}/frame.jpg", s.eventImage(history.ImageFrame))
	route("POST /api/events/{id}/not-this-person", s.notThisPerson)

	route("GET /api/unknowns", s.groups)
	route("GET /api/unknowns/{group}", s.group)
	route("GET /api/unknowns/{group}/crop.jpg", s.groupCrop)
	route("POST /api/unknowns/{group}/name", s.nameGroup)
	route("POST /api/unknowns/{group}/dismiss", s.dismiss)
	route("POST /api/unknowns/{group}/merge", s.merge)
	route("GET /api/unknowns/faces/{id}/crop.jpg", s.unknownCrop)
	route("POST /api/unknowns/faces/{id}/name", s.nameUnknown)

	route("POST /api/train", s.train)
	route("GET /api/train/status", s.trainStatus)
	route("/api/", func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("%w: no route %s %s", ErrNotFound, r.Method, r.URL.Path)
	})
	return s.recover(mux)
}

// httpError carries a status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errStatus(status int, format string, a ...any) error {
	return &httpError{status, fmt.Sprintf(format, a...)}
}

var errNotConfigured = errStatus(http.StatusNotImplemented, "not configured on this recognizer")

func (s *server) recover(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("api handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				httpauth.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func (s *server) wrap(h func(http.ResponseWriter, *http.Request) error, bearer bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.admit(w, r, bearer) {
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		if err := h(w, r); err != nil {
			status, text := s.classify(err)
			if status >= 500 && status != http.StatusNotImplemented {
				s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			httpauth.WriteJSON(w, status, map[string]string{"error": text})
		}
	})
}

// admit applies the API's access rules; it writes the refusal and returns
// false when the request may not go on.
func (s *server) admit(w http.ResponseWriter, r *http.Request, bearer bool) bool {
	if s.o.Token == "" && !s.o.Open && s.o.Sessions == nil {
		httpauth.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "REST API disabled: no API token configured on the recognizer (--api-token-file / --api-token; --api-open serves it without one)"})
		return false
	}
	// A browser says when a request comes from another site; nothing
	// legitimate does that (the dashboard goes through its edge's proxy).
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		httpauth.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused"})
		return false
	}
	if bearer && (s.o.Token != "" || !s.o.Open) {
		tok, ok := httpauth.Bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="facemon"`)
			httpauth.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing bearer token (send Authorization: Bearer TOKEN: the API token or a person's session token)"})
			return false
		}
		// The API token (compared in constant time) or a live session.
		if !httpauth.BearerOK(r, s.o.Token) && !s.sessionOK(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="facemon", error="invalid_token"`)
			httpauth.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "wrong bearer token (neither the API token nor a live session token)"})
			return false
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodDelete:
		if (r.ContentLength > 0 || r.Header.Get("Content-Type") != "") && !httpauth.IsJSON(r.Header.Get("Content-Type")) {
			httpauth.WriteJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
			return false
		}
	default:
		if !httpauth.IsJSON(r.Header.Get("Content-Type")) {
			httpauth.WriteJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
			return false
		}
	}
	return true
}

func (s *server) sessionOK(tok string) bool {
	_, ok := s.o.Sessions.Valid(tok)
	return ok
}

func (s *server) classify(err error) (int, string) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit)
	case errors.Is(err, ErrNotFound), errors.Is(err, history.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrConflict), errors.Is(err, history.ErrState):
		return http.StatusConflict, err.Error()
	case errors.Is(err, ErrInvalid), errors.Is(err, history.ErrInvalid), errors.Is(err, msg.ErrBadName):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

func writeJPEG(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "private, max-age=60")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(b) // a write error means the client went away; the status is sent
	return nil
}

// decode reads a JSON body into v: unknown fields, trailing data and empty
// bodies (unless allowEmpty) are rejected.
func decode(r *http.Request, v any, allowEmpty bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			if allowEmpty {
				return nil
			}
			return errStatus(http.StatusBadRequest, "empty body: want JSON")
		}
		return errStatus(http.StatusBadRequest, "bad JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errStatus(http.StatusBadRequest, "bad JSON: trailing data after the object")
	}
	return nil
}

func pathName(r *http.Request, key string) (string, error) {
	n := r.PathValue(key)
	if !msg.ValidName(n) {
		return "", errStatus(http.StatusBadRequest, "bad name %q: %v", n, msg.ErrBadName)
	}
	return n, nil
}

func pathID(r *http.Request, key string) (int64, error) {
	v := r.PathValue(key)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, errStatus(http.StatusBadRequest, "bad %s %q: want a positive integer", key, v)
	}
	return id, nil
}

func bodyName(name string) error {
	if !msg.ValidName(name) {
		return errStatus(http.StatusBadRequest, "bad name %q: %v", name, msg.ErrBadName)
	}
	return nil
}

// ---- people

func (s *server) people(w http.ResponseWriter, r *http.Request) error {
	if s.o.People == nil {
		return errNotConfigured
	}
	ps, err := s.o.People.People(r.Context())
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []Person{}
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"people": ps})
	return nil
}

func (s *server) samples(w http.ResponseWriter, r *http.Request) error {
	if s.o.People == nil {
		return errNotConfigured
	}
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	ss, err := s.o.People.Samples(r.Context(), name)
	if err != nil {
		return err
	}
	if ss == nil {
		ss = []Sample{}
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"name": name, "samples": ss})
	return nil
}

func (s *server) setThreshold(w http.ResponseWriter, r *http.Request) error {
	if s.o.People == nil {
		return errNotConfigured
	}
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	var body struct {
		Threshold *float64 `json:"threshold"`
	}
	if err := decode(r, &body, false); err != nil {
		return err
	}
	if body.Threshold == nil || !(*body.Threshold == 0 || (*body.Threshold >= 0.3 && *body.Threshold <= 0.7)) {
		return errStatus(http.StatusBadRequest, "threshold must be a number in [0.3,0.7] (0 = global)")
	}
	if err := s.o.People.SetThreshold(r.Context(), name, *body.Threshold); err != nil {
		return err
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"name": name, "threshold": *body.Threshold})
	return nil
}

func (s *server) deletePerson(w http.ResponseWriter, r *http.Request) error {
	if s.o.People == nil {
		return errNotConfigured
	}
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	if err := s.o.People.DeletePerson(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) rename(w http.ResponseWriter, r *http.Request) error {
	if s.o.People == nil {
		return errNotConfigured
	}
	old, err := pathName(r, "name")
	if err != nil {
		return err
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := decode(r, &body, false); err != nil {
		return err
	}
	if err := bodyName(body.Name); err != nil {
		return err
	}
	if body.Name == old {
		return errStatus(http.StatusBadRequest, "new name is the old name")
	}
	if err := s.o.People.RenamePerson(r.Context(), old, body.Name); err != nil {
		return err
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]string{"name": body.Name})
	return nil
}

// ---- events

type eventJSON struct {
	history.Event
	CropURL  string `json:"crop_url"`
	FrameURL string `json:"frame_url"`
}

func parseTime(key, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, errStatus(http.StatusBadRequest, "bad %s %q: want RFC 3339 or Unix seconds", key, v)
}

func parseInt(key, v string, lo, hi int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errStatus(http.StatusBadRequest, "bad %s %q: want an integer in [%d,%d]", key, v, lo, hi)
	}
	return n, nil
}

func (s *server) events(w http.ResponseWriter, r *http.Request) error {
	if s.o.History == nil {
		return errNotConfigured
	}
	qv := r.URL.Query()
	q := history.Query{Camera: qv.Get("camera"), Person: qv.Get("person")}
	if q.Camera != "" && !topic.ValidID(q.Camera) {
		return errStatus(http.StatusBadRequest, "bad camera %q", q.Camera)
	}
	if q.Person != "" && !msg.ValidName(q.Person) {
		return errStatus(http.StatusBadRequest, "bad person %q: %v", q.Person, msg.ErrBadName)
	}
	var err error
	if q.Since, err = parseTime("since", qv.Get("since")); err != nil {
		return err
	}
	if q.Until, err = parseTime("until", qv.Get("until")); err != nil {
		return err
	}
	if q.Limit, err = parseInt("limit", qv.Get("limit"), 1, history.MaxLimit); err != nil {
		return err
	}
	evs, err := s.o.History.Events(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = eventJSON{e, fmt.Sprintf("/api/events/%d/crop.jpg", e.ID), fmt.Sprintf("/api/events/%d/frame.jpg", e.ID)}
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}

func (s *server) eventImage(kind string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.o.History == nil {
			return errNotConfigured
		}
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		b, err := s.o.History.EventImage(r.Context(), id, kind)
		if err != nil {
			return err
		}
		return writeJPEG(w, b)
	}
}

func (s *server) latestImage(kind string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.o.History == nil {
			return errNotConfigured
		}
		cam, person := r.URL.Query().Get("camera"), r.URL.Query().Get("person")
		if cam != "" && !topic.ValidID(cam) {
			return errStatus(http.StatusBadRequest, "bad camera %q", cam)
		}
		if person != "" && !msg.ValidName(person) {
			return errStatus(http.StatusBadRequest, "bad person %q: %v", person, msg.ErrBadName)
		}
		e, err := s.o.History.LatestEvent(r.Context(), cam, person)
		if err != nil {
			return err
		}
		b, err := s.o.History.EventImage(r.Context(), e.ID, kind)
		if err != nil {
			return err
		}
		return writeJPEG(w, b)
	}
}

func (s *server) notThisPerson(w http.ResponseWriter, r *http.Request) error {
	if s.o.History == nil {
		return errNotConfigured
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := s.o.History.NotThisPerson(r.Context(), id)
	if err != nil {
		return err
	}
	httpauth.WriteJSON(w, http.StatusCreated, n)
	return nil
}

// ---- unknowns

type groupJSON struct {
	history.Group
	CropURL    string   `json:"crop_url"`
	SampleURLs []string `json:"sample_urls"`
}

func faceCropURL(id int64) string { return fmt.Sprintf("/api/unknowns/faces/%d/crop.jpg", id) }

func toGroupJSON(g history.Group) groupJSON {
	out := groupJSON{Group: g, CropURL: fmt.Sprintf("/api/unknowns/%d/crop.jpg", g.ID), SampleURLs: make([]string, len(g.Samples))}
	for i, id := range g.Samples {
		out.SampleURLs[i] = faceCropURL(id)
	}
	return out
}

func (s *server) groups(w http.ResponseWriter, r *http.Request) error {
	if s.o.History == nil {
		return errNotConfigured
	}
	qv := r.URL.Query()
	q := history.GroupQuery{State: qv.Get("state")}
	switch q.State {
	case "", history.StateOpen, history.StateNamed, history.StateDismissed, "all":
	default:
		return errStatus(http.StatusBadRequest, "bad state %q: want open, named, dismissed or all", q.State)
	}
	var err error
	if q.Limit, err = parseInt("limit", qv.Get("limit"), 1, history.MaxLimit); err != nil {
		return err
	}
	if q.Samples, err = parseInt("samples", qv.Get("samples"), 1, 32); err != nil {
		return err
	}
	gs, err := s.o.History.Groups(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]groupJSON, len(gs))
	for i, g := range gs {
		out[i] = toGroupJSON(g)
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"groups": out})
	return nil
}

type unknownJSON struct {
	history.Unknown
	CropURL string `json:"crop_url"`
}

func (s *server) group(w http.ResponseWriter, r *http.Request) error {
	if s.o.History == nil {
		return errNotConfigured
	}
	id, err := pathID(r, "group")
	if err != nil {
		return err
	}
	g, err := s.o.History.Group(r.Context(), id)
	if err != nil {
		return err
	}
	us, err := s.o.History.GroupUnknowns(r.Context(), id, false)
	if err != nil {
		return err
	}
	faces := make([]unknownJSON, len(us))
	for i, u := range us {
		faces[i] = unknownJSON{u, faceCropURL(u.ID)}
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"group": toGroupJSON(g), "faces": faces})
	return nil
}

func (s *server) groupCrop(w http.ResponseWriter, r *http.Request) error {
	if s.o.History == nil {
		return errNotConfigured
	}
	id, err := pathID(r, "group")
	if err != nil {
		return err
	}
	b, err := s.o.History.GroupCrop(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJPEG(w, b)
}

func (s *server) unknownCrop(w http.ResponseWriter, r *http.Request) error {
	if s.o.History == nil {
		return errNotConfigured
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := s.o.History.UnknownCrop(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJPEG(w, b)
}

type nameBody struct {
	Name  string `json:"name"`
	Train bool   `json:"train"`
}

type nameResult struct {
	Name     string   `json:"name"`
	Added    int      `json:"added"`
	Paths    []string `json:"paths"`
	Training bool     `json:"training"`
	TrainErr string   `json:"train_error,omitempty"`
}

func (s *server) readName(r *http.Request) (nameBody, error) {
	var body nameBody
	if s.o.History == nil || s.o.Dataset == nil {
		return body, errNotConfigured
	}
	if err := decode(r, &body, false); err != nil {
		return body, err
	}
	if err := bodyName(body.Name); err != nil {
		return body, err
	}
	if body.Train && s.o.Trainer == nil {
		return body, errStatus(http.StatusNotImplemented, "training is not configured on this recognizer")
	}
	return body, nil
}

// addAndTrain saves crops to the dataset and optionally starts training.
func (s *server) addAndTrain(ctx context.Context, body nameBody, crops [][]byte) (nameResult, error) {
	res := nameResult{Name: body.Name, Paths: []string{}}
	if len(crops) > 0 {
		paths, err := s.o.Dataset.AddImages(ctx, body.Name, crops)
		if err != nil {
			return res, err
		}
		res.Added, res.Paths = len(paths), paths
	}
	return res, nil
}

func (s *server) startTraining(ctx context.Context, body nameBody, res *nameResult) {
	if !body.Train {
		return
	}
	if err := s.o.Trainer.StartTraining(context.WithoutCancel(ctx), "api-name-"+strconv.FormatInt(time.Now().UnixNano(), 36)); err != nil {
		res.TrainErr = err.Error()
		return
	}
	res.Training = true
}

func (s *server) nameGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "group")
	if err != nil {
		return err
	}
	body, err := s.readName(r)
	if err != nil {
		return err
	}
	g, err := s.o.History.Group(r.Context(), id)
	if err != nil {
		return err
	}
	if g.State != history.StateOpen {
		return fmt.Errorf("%w: group %d is %s", ErrConflict, id, g.State)
	}
	us, err := s.o.History.GroupUnknowns(r.Context(), id, true)
	if err != nil {
		return err
	}
	var crops [][]byte
	for _, u := range us {
		if u.State == history.StateOpen && len(u.Crop) > 0 {
			crops = append(crops, u.Crop)
		}
	}
	// Save first, then mark: a failed save leaves the group open to retry.
	res, err := s.addAndTrain(r.Context(), body, crops)
	if err != nil {
		return err
	}
	if _, err := s.o.History.NameGroup(r.Context(), id, body.Name); err != nil {
		return err
	}
	s.startTraining(r.Context(), body, &res)
	httpauth.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (s *server) nameUnknown(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	body, err := s.readName(r)
	if err != nil {
		return err
	}
	u, err := s.o.History.Unknown(r.Context(), id)
	if err != nil {
		return err
	}
	if u.State != history.StateOpen {
		return fmt.Errorf("%w: unknown face %d is %s", ErrConflict, id, u.State)
	}
	var crops [][]byte
	if len(u.Crop) > 0 {
		crops = [][]byte{u.Crop}
	}
	res, err := s.addAndTrain(r.Context(), body, crops)
	if err != nil {
		return err
	}
	if _, err := s.o.History.NameUnknown(r.Context(), id, body.Name); err != nil {
		return err
	}
	s.startTraining(r.Context(), body, &res)
	httpauth.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (s *server) dismiss(w http.ResponseWriter, r *http.Request) error {
	if s.o.History == nil {
		return errNotConfigured
	}
	id, err := pathID(r, "group")
	if err != nil {
		return err
	}
	if err := s.o.History.DismissGroup(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) merge(w http.ResponseWriter, r *http.Request) error {
	if s.o.History == nil {
		return errNotConfigured
	}
	id, err := pathID(r, "group")
	if err != nil {
		return err
	}
	var body struct {
		Into int64 `json:"into"`
	}
	if err := decode(r, &body, false); err != nil {
		return err
	}
	if body.Into <= 0 {
		return errStatus(http.StatusBadRequest, "into: want the id of the open group to merge into")
	}
	g, err := s.o.History.MergeGroups(r.Context(), id, body.Into)
	if err != nil {
		return err
	}
	httpauth.WriteJSON(w, http.StatusOK, map[string]any{"group": toGroupJSON(g)})
	return nil
}

// ---- training

func (s *server) train(w http.ResponseWriter, r *http.Request) error {
	if s.o.Trainer == nil {
		return errNotConfigured
	}
	var body struct {
		ID string `json:"id"`
	}
	if err := decode(r, &body, true); err != nil {
		return err
	}
	if len(body.ID) > 128 || strings.ContainsFunc(body.ID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errStatus(http.StatusBadRequest, "bad id: at most 128 printable characters")
	}
	if body.ID == "" {
		body.ID = "api-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if err := s.o.Trainer.StartTraining(context.WithoutCancel(r.Context()), body.ID); err != nil {
		return err
	}
	httpauth.WriteJSON(w, http.StatusAccepted, map[string]string{"id": body.ID})
	return nil
}

func (s *server) trainStatus(w http.ResponseWriter, r *http.Request) error {
	if s.o.Trainer == nil {
		return errNotConfigured
	}
	st, err := s.o.Trainer.TrainStatus(r.Context())
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("%w: no training has run yet", ErrNotFound)
	}
	httpauth.WriteJSON(w, http.StatusOK, st)
	return nil
}
