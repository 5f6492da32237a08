package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facemon/facemon/recognizer/api"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/ha"
	"github.com/facemon/facemon/recognizer/history"
	"github.com/facemon/facemon/recognizer/notify"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/shared/msg"
)

// Integrations configures history, alerts, Home Assistant and the API.
type Integrations struct {
	HistoryDB       string        // SQLite file ("" = <gallery dir>/history.db, "-" = off)
	HistoryMaxAge   time.Duration // retention by age (0 = default 30 days)
	HistoryMaxBytes int64         // retention by size (0 = default 1 GiB)
	HistoryDebounce time.Duration // least time between events of one person on one camera
	HAPrefix        string        // discovery prefix ("" = homeassistant, "-" = off)
	HAOffDelay      time.Duration
	PublicURL       string // this recognizer's HTTP base URL, for snapshot links
	AlertWebhook    string // optional webhook for unknown faces
	AlertCooldown   time.Duration
	APIToken        string // bearer token required on every API request
	APIOpen         bool   // serve the API without a token when APIToken is empty
	// DashboardHash is the dashboard password's bcrypt hash file
	// (creds.DashboardFile): POST /api/sessions checks logins against it
	// and a change of it ends every session ("" = no person sessions).
	DashboardHash    string
	SessionTTL       time.Duration // session lifetime (0 = api.DefaultSessionTTL)
	RetentionEvery   time.Duration
	HistoryQueueSize int
}

type integrations struct {
	store    *history.Store
	notifier *notify.Notifier
	ha       *ha.Publisher
	api      http.Handler
	rec      *history.Recorder
	unknowns *unknownTracks
}

// setupIntegrations opens the history store and builds the notifier, the
// Home Assistant publisher and the API. Background work starts in run.
func (s *Service) setupIntegrations() error {
	c := s.cfg.Integrations
	in := &integrations{unknowns: newUnknownTracks()}
	s.in = in
	if s.cfg.DB != "" {
		st, err := history.Open(history.Config{DSN: s.cfg.DB, Debounce: c.HistoryDebounce, MaxAge: c.HistoryMaxAge, MaxBytes: c.HistoryMaxBytes, Logger: s.log})
		if err != nil {
			return fmt.Errorf("history in --db: %w", err)
		}
		in.store = st
		s.log.Info("event history in the shared database")
	} else if c.HistoryDB != "-" {
		path := s.historyPath()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		st, err := history.Open(history.Config{Path: path, Debounce: c.HistoryDebounce, MaxAge: c.HistoryMaxAge, MaxBytes: c.HistoryMaxBytes, Logger: s.log})
		if err != nil {
			return fmt.Errorf("history %s: %w", path, err)
		}
		in.store = st
		s.log.Info("event history", "db", path)
	}
	n, err := notify.New(notify.Config{Space: s.space, Instance: s.cfg.Instance, Webhook: c.AlertWebhook, Cooldown: c.AlertCooldown, Logger: s.log}, publisher{s})
	if err != nil {
		return err
	}
	in.notifier = n
	if c.HAPrefix != "-" {
		p, err := ha.NewPublisher(ha.Config{Prefix: c.HAPrefix, Space: s.space, Instance: s.cfg.Instance, BaseURL: c.PublicURL, OffDelay: c.HAOffDelay}, publisher{s}, s.log)
		if err != nil {
			return err
		}
		in.ha = p
		s.OnGalleryChange(func() { p.SetPeople(names(s.Pipeline.Gallery())) })
		s.Pipeline.OnResult(func(r *pipeline.Result) { p.Observe(r.Identities) })
	}
	opts := api.Options{People: galleryPeople{s}, Trainer: apiTrainer{s}, Dataset: apiDataset{s}, Token: c.APIToken, Open: c.APIOpen, Logger: s.log}
	if c.DashboardHash != "" {
		sc := api.SessionConfig{HashFile: c.DashboardHash, TTL: c.SessionTTL}
		if s.db != nil { // --db: one sessions table for every recognizer
			sc.Store = dbSessions{db: s.db, max: api.DefaultMaxSessions, log: s.log.With("component", "sessions")}
		}
		s.sessions = api.NewSessions(sc)
		opts.Sessions = s.sessions
		if _, err := s.sessions.Passwords.Stamp(); err != nil {
			s.log.Warn("person sessions: no usable dashboard hash yet; logins answer 503 until it exists", "file", c.DashboardHash, "err", err)
		}
	}
	if s.cfg.Pending != "-" {
		p, err := openPending(s.cfg.Pending, s.log.With("component", "pending"))
		if err != nil {
			return err
		}
		s.pending = p
		opts.Pending = apiPending{s}
		s.log.Info("pending enrolments", "dir", s.cfg.Pending, "waiting", len(p.list()))
	}
	if s.cfg.Suggestions != "-" {
		st, err := openSuggestions(s.cfg.Suggestions, s.log.With("component", "suggestions"))
		if err != nil {
			return err
		}
		s.suggest = st
		opts.Suggestions = apiSuggestions{s}
		s.Pipeline.OnResult(s.observeSuggestions)
		s.log.Info("suggestions from confirmed tracks", "dir", s.cfg.Suggestions, "waiting", len(st.items))
	}
	switch {
	case c.APIToken == "" && c.APIOpen:
		s.log.Warn("REST API OPEN WITHOUT A TOKEN (--api-open): anyone who reaches the HTTP port reads faces, frames and events and can change the gallery")
	case c.APIToken == "" && s.sessions != nil:
		s.log.Warn("REST API without an API token: only person sessions (POST /api/sessions) are accepted")
	case c.APIToken == "":
		s.log.Warn("REST API disabled: no API token configured (--api-token-file); every /api/ request answers 503")
	}
	if in.store != nil {
		opts.History = apiHistory{in.store, s}
		in.rec = history.NewRecorder(in.store, c.HistoryQueueSize, func(r *history.Recorded) {
			for _, u := range r.Unknowns {
				in.unknowns.recorded(u.Camera, u.Track, u.Group)
				if u.Extra {
					continue // a further face of a track already reported
				}
				in.notifier.Unknown(notify.Alert{Camera: u.Camera, Time: u.Time, Distance: u.Distance, Candidate: u.Candidate,
					Group: u.Group, NewGroup: u.NewGroup, Box: u.Box, Crop: u.Crop})
			}
		})
		rec := in.rec
		for result, f := range map[string]func() uint64{"dropped": rec.Dropped, "failed": rec.Failed, "skipped": rec.Skipped} {
			s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "facemon_history_observations_lost_total",
				Help:        "Observations not recorded: dropped (queue full), failed (Record error), skipped (paused after a storage failure).",
				ConstLabels: prometheus.Labels{"result": result}}, func() float64 { return float64(f()) }))
		}
		s.Pipeline.OnResult(in.record)
	}
	in.api = api.New(opts)
	return nil
}

// record stores a processed frame: known faces (the store debounces them)
// and an unknown face once per track, on the frame of its unknown verdict
// (the track stayed unknown for its whole budget), so a person who is
// named after a few frames never raises an unknown alert, and one track
// feeds one unknown group.
//
// A stranger who stays in view adds up to ExtraCrops further faces of the
// track to its group (see unknownTracks), without another alert.
func (in *integrations) record(r *pipeline.Result) {
	o := history.FromResult(r)
	kept := o.Faces[:0]
	for i, f := range o.Faces {
		if f.Name == msg.Unknown {
			if i >= len(r.Identities.Faces) {
				continue
			}
			mf := r.Identities.Faces[i]
			if mf.Verdict == msg.VerdictUnknown {
				in.unknowns.verdict(o.Camera, mf.Track, o.Time)
			} else if mf.Track == 0 || f.Descriptor == (face.Descriptor{}) {
				continue
			} else if ok, group := in.unknowns.extra(o.Camera, mf.Track, o.Time); ok {
				f.Extra, f.Group = true, group
			} else {
				continue
			}
		}
		if i < len(r.Identities.Faces) && r.Identities.Faces[i].Tentative {
			continue // shown, not yet agreed: no history event
		}
		kept = append(kept, f)
	}
	if len(kept) == 0 {
		return
	}
	o.Faces = kept
	in.rec.Submit(o)
}

func (in *integrations) run(ctx context.Context, s *Service) {
	var wg sync.WaitGroup
	if in.store != nil {
		every := s.cfg.Integrations.RetentionEvery
		if every == 0 {
			every = 10 * time.Minute
		}
		wg.Add(2)
		go func() { defer wg.Done(); in.store.RunRetention(ctx, every) }()
		go func() { defer wg.Done(); in.rec.Run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); in.notifier.Run(ctx) }()
	if in.ha != nil {
		s.client.Subscribe(in.ha.HAStatusTopic(), 1, in.ha.HandleHAStatus)
		s.Pipeline.OnCameraGone(in.ha.RemoveCamera)
		// A broker restarted without persistence has lost the retained
		// discovery configs: send them again on every reconnect.
		s.client.OnReconnect(func() {
			s.log.Info("mqtt reconnected; re-sending Home Assistant discovery")
			in.ha.PublishAll()
		})
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if s.client.WaitConnected(wctx) == nil {
				in.ha.SetPeople(names(s.Pipeline.Gallery()))
				in.ha.PublishAll()
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	if in.store != nil {
		in.store.Close()
	}
}

func names(g *gallery.Gallery) []string {
	out := make([]string, 0, len(g.People))
	for _, p := range g.People {
		out = append(out, p.Name)
	}
	return out
}

func apiErr(err error) error {
	switch {
	case errors.Is(err, ErrNoPerson):
		return fmt.Errorf("%w: %v", api.ErrNotFound, err)
	case errors.Is(err, ErrRefused):
		return fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	return err
}

// galleryPeople adapts the service's gallery to api.People.
type galleryPeople struct{ s *Service }

func (p galleryPeople) People(context.Context) ([]api.Person, error) {
	g := p.s.Pipeline.Gallery()
	out := make([]api.Person, 0, len(g.People))
	for _, x := range g.People {
		out = append(out, api.Person{Name: x.Name, Samples: len(x.Samples), Threshold: x.Threshold})
	}
	return out, nil
}

func (p galleryPeople) Samples(_ context.Context, name string) ([]api.Sample, error) {
	x := p.s.Pipeline.Gallery().Person(name)
	if x == nil {
		return nil, fmt.Errorf("%w: person %q", api.ErrNotFound, name)
	}
	out := make([]api.Sample, 0, len(x.Samples))
	for _, sm := range x.Samples {
		out = append(out, api.Sample{Source: sm.Source, Hash: sm.Hash, Box: sm.Box})
	}
	return out, nil
}

func (p galleryPeople) SetThreshold(_ context.Context, name string, t float64) error {
	return apiErr(p.s.SetThreshold(name, t))
}

func (p galleryPeople) DeletePerson(ctx context.Context, name string) error {
	if err := p.s.DeletePerson(name); err != nil {
		return apiErr(err)
	}
	return nil
}

func (p galleryPeople) RenamePerson(ctx context.Context, old, name string) error {
	if p.s.Pipeline.Gallery().Person(name) != nil {
		return fmt.Errorf("%w: person %q exists", api.ErrConflict, name)
	}
	return apiErr(p.s.RenamePerson(old, name))
}

// apiTrainer adapts training to api.Trainer.
type apiTrainer struct{ s *Service }

func (t apiTrainer) StartTraining(_ context.Context, id string) error {
	if t.s.TrainStatus().State == msg.TrainRunning {
		return fmt.Errorf("%w: training is running", api.ErrConflict)
	}
	t.s.trainer.request(id)
	return nil
}

func (t apiTrainer) TrainStatus(context.Context) (*msg.TrainStatus, error) {
	st := t.s.TrainStatus()
	if st.State == "" {
		return nil, nil
	}
	return &st, nil
}

// apiDataset saves named images into the dataset.
type apiDataset struct{ s *Service }

func (d apiDataset) AddImages(_ context.Context, name string, jpegs [][]byte) ([]string, error) {
	var out []string
	for _, j := range jpegs {
		rel, err := d.s.saveImage(name, j)
		if err != nil {
			return out, err
		}
		out = append(out, rel)
	}
	return out, nil
}

// apiHistory adds the gallery side of "not this person": the correction is
// stored in the history and as a negative of the person in the gallery, so
// the matcher stops repeating the mistake.
type apiHistory struct {
	*history.Store
	s *Service
}

func (h apiHistory) NotThisPerson(ctx context.Context, event int64) (history.Negative, error) {
	n, err := h.Store.NotThisPerson(ctx, event)
	if err != nil {
		return n, err
	}
	err = h.s.addNegative(n.Person, gallery.Sample{Descriptor: n.Descriptor, Source: n.Source})
	if errors.Is(err, ErrNoPerson) || (err != nil && h.s.Pipeline.Gallery().Person(n.Person) == nil) {
		return n, nil // person gone since: the history keeps the correction
	}
	return n, err
}
