// Package history keeps what the recognizer saw in an SQLite database
// (pure-Go driver modernc.org/sqlite, so it builds with CGO_ENABLED=0):
//
//   - events: recognitions of known people, debounced per person per camera
//     (default 30 s), each with a JPEG crop of the face, the full frame, the
//     distance and the face descriptor (so a wrong match can later be stored
//     as a "not this person" negative);
//   - unknown faces: every unknown face with its crop and descriptor, grouped
//     by incremental distance clustering so a repeat visitor is one group;
//   - negatives: "not this person" corrections (person, descriptor) for the
//     decision rule.
//
// # Storage
//
// Crops and frames are stored as BLOBs in the database rather than as files
// beside it. A row and its images are then written in one transaction, so a
// crash can leave neither an event pointing at a missing file nor orphan
// files that no retention pass knows about; the store is one file (plus its
// WAL) to back up or delete; and size accounting is exact (a size column per
// row). Images are the last columns and are only read by the image getters,
// so listing queries do not touch them. The database runs in WAL mode with
// synchronous=FULL (a committed write survives a crash or power loss) and
// incremental auto-vacuum, so space freed by retention is returned to the
// file system.
//
// # Retention
//
// Retain deletes events and unknown faces older than MaxAge, then the oldest
// ones (events and unknowns together, by time) until the stored image and
// descriptor bytes fit in MaxBytes. RunRetention calls it periodically.
package history

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver ("sqlite")

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// Defaults.
const (
	DefaultDebounce      = 30 * time.Second
	DefaultClusterRadius = 0.5
	DefaultMaxAge        = 30 * 24 * time.Hour
	DefaultMaxBytes      = 1 << 30
	DefaultLimit         = 100
	MaxLimit             = 1000
)

// Errors.
var (
	ErrNotFound = errors.New("history: not found")
	// ErrState is returned when naming or dismissing a group or unknown face
	// that is no longer open.
	ErrState = errors.New("history: already named or dismissed")
	// ErrInvalid wraps every rejected input.
	ErrInvalid = errors.New("history: invalid input")
)

// Config configures a Store.
type Config struct {
	// Path is the database file; its directory must exist.
	Path string
	// Debounce is the least time between two events of the same person on
	// the same camera (default 30 s; negative records every sighting).
	Debounce time.Duration
	// ClusterRadius is the largest distance from an unknown face to a
	// group's centroid for the face to join the group (default 0.5).
	ClusterRadius float64
	// MaxAge deletes events and unknowns older than this (default 30 days;
	// negative keeps them forever).
	MaxAge time.Duration
	// MaxBytes bounds the stored image and descriptor bytes (default 1 GiB;
	// negative: unbounded).
	MaxBytes int64
	// CropMargin widens face boxes for crops (default DefaultCropMargin).
	CropMargin float64
	// Now returns the current time (tests); default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Debounce == 0 {
		c.Debounce = DefaultDebounce
	}
	if c.ClusterRadius <= 0 {
		c.ClusterRadius = DefaultClusterRadius
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.CropMargin <= 0 {
		c.CropMargin = DefaultCropMargin
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Store is the event store. Its methods are safe for concurrent use.
type Store struct {
	cfg Config
	db  *sql.DB
	log *slog.Logger

	mu       sync.Mutex // serialises writes, guards the fields below
	lastSeen map[string]time.Time
	groups   map[int64]*cluster // open groups
}

type cluster struct {
	n        int
	centroid face.Descriptor
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
	id INTEGER PRIMARY KEY,
	camera TEXT NOT NULL,
	name TEXT NOT NULL,
	distance REAL NOT NULL,
	t INTEGER NOT NULL,
	x0 INTEGER NOT NULL, y0 INTEGER NOT NULL, x1 INTEGER NOT NULL, y1 INTEGER NOT NULL,
	descriptor BLOB,
	size INTEGER NOT NULL,
	crop BLOB,
	frame BLOB
);
CREATE INDEX IF NOT EXISTS events_t ON events(t);
CREATE INDEX IF NOT EXISTS events_camera_t ON events(camera, t);
CREATE INDEX IF NOT EXISTS events_name_t ON events(name, t);
CREATE TABLE IF NOT EXISTS ugroups (
	id INTEGER PRIMARY KEY,
	n INTEGER NOT NULL,
	centroid BLOB NOT NULL,
	first INTEGER NOT NULL,
	last INTEGER NOT NULL,
	state TEXT NOT NULL DEFAULT 'open',
	name TEXT
);
CREATE TABLE IF NOT EXISTS unknowns (
	id INTEGER PRIMARY KEY,
	group_id INTEGER NOT NULL,
	camera TEXT NOT NULL,
	t INTEGER NOT NULL,
	distance REAL NOT NULL,
	candidate TEXT NOT NULL,
	x0 INTEGER NOT NULL, y0 INTEGER NOT NULL, x1 INTEGER NOT NULL, y1 INTEGER NOT NULL,
	state TEXT NOT NULL DEFAULT 'open',
	name TEXT,
	descriptor BLOB NOT NULL,
	size INTEGER NOT NULL,
	crop BLOB
);
CREATE INDEX IF NOT EXISTS unknowns_t ON unknowns(t);
CREATE INDEX IF NOT EXISTS unknowns_group ON unknowns(group_id, t);
CREATE TABLE IF NOT EXISTS negatives (
	id INTEGER PRIMARY KEY,
	person TEXT NOT NULL,
	descriptor BLOB NOT NULL,
	t INTEGER NOT NULL,
	source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS negatives_person ON negatives(person);
INSERT OR IGNORE INTO meta (k, v) VALUES ('schema', '1');
`

// Open opens (creating when missing) the database at cfg.Path.
func Open(cfg Config) (*Store, error) {
	cfg.defaults()
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: empty database path", ErrInvalid)
	}
	q := url.Values{}
	// auto_vacuum must come before the first table is created.
	for _, p := range []string{"auto_vacuum(INCREMENTAL)", "journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+cfg.Path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("history: open %s: %w", cfg.Path, err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("history: create schema in %s: %w", cfg.Path, err)
	}
	s := &Store{cfg: cfg, db: db, log: cfg.Logger.With("component", "history"), lastSeen: map[string]time.Time{}, groups: map[int64]*cluster{}}
	if err := s.loadGroups(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Config returns the effective configuration.
func (s *Store) Config() Config { return s.cfg }

func (s *Store) loadGroups() error {
	rows, err := s.db.Query(`SELECT id, n, centroid FROM ugroups WHERE state = 'open'`)
	if err != nil {
		return fmt.Errorf("history: load groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var n int
		var b []byte
		if err := rows.Scan(&id, &n, &b); err != nil {
			return err
		}
		d, err := decodeDescriptor(b)
		if err != nil {
			return fmt.Errorf("history: group %d: %w", id, err)
		}
		s.groups[id] = &cluster{n: n, centroid: d}
	}
	return rows.Err()
}

// Seen is one face of an Observation.
type Seen struct {
	Name       string // person, or msg.Unknown
	Distance   float64
	Candidate  string // nearest person (unknown faces)
	Box        [4]int // x0, y0, x1, y1 in frame pixels
	Descriptor face.Descriptor
}

// Observation is one processed frame.
type Observation struct {
	Camera string
	Time   time.Time
	Frame  []byte // JPEG
	Faces  []Seen
}

// Validate checks an observation.
func (o *Observation) Validate() error {
	if !topic.ValidID(o.Camera) {
		return fmt.Errorf("%w: camera %q", ErrInvalid, o.Camera)
	}
	if o.Time.IsZero() {
		return fmt.Errorf("%w: zero time", ErrInvalid)
	}
	if len(o.Faces) > msg.MaxFaces {
		return fmt.Errorf("%w: %d faces", ErrInvalid, len(o.Faces))
	}
	if len(o.Faces) > 0 {
		if err := msg.CheckJPEG(o.Frame, 4*msg.MaxFrameBytes); err != nil {
			return fmt.Errorf("%w: frame: %v", ErrInvalid, err)
		}
	}
	for i, f := range o.Faces {
		if f.Name != msg.Unknown && !msg.ValidName(f.Name) {
			return fmt.Errorf("%w: face %d: name %q", ErrInvalid, i, f.Name)
		}
		if f.Candidate != "" && !msg.ValidName(f.Candidate) {
			return fmt.Errorf("%w: face %d: candidate %q", ErrInvalid, i, f.Candidate)
		}
		if math.IsNaN(f.Distance) || math.IsInf(f.Distance, 0) || f.Distance < 0 {
			return fmt.Errorf("%w: face %d: distance %v", ErrInvalid, i, f.Distance)
		}
		if f.Box[2] <= f.Box[0] || f.Box[3] <= f.Box[1] {
			return fmt.Errorf("%w: face %d: box %v", ErrInvalid, i, f.Box)
		}
		if err := checkDescriptor(f.Descriptor, f.Name == msg.Unknown); err != nil {
			return fmt.Errorf("%w: face %d: %v", ErrInvalid, i, err)
		}
	}
	return nil
}

func checkDescriptor(d face.Descriptor, required bool) error {
	zero := true
	for _, v := range d {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return errors.New("descriptor is not finite")
		}
		if v != 0 {
			zero = false
		}
	}
	if zero && required {
		return errors.New("descriptor missing")
	}
	return nil
}

// Event is one recorded recognition. Crop and Frame are only filled where
// documented.
type Event struct {
	ID       int64     `json:"id"`
	Camera   string    `json:"camera"`
	Name     string    `json:"name"`
	Distance float64   `json:"distance"`
	Time     time.Time `json:"time"`
	Box      [4]int    `json:"box"`
	Size     int64     `json:"size"`
	Crop     []byte    `json:"-"`
	Frame    []byte    `json:"-"`
}

// Unknown is one stored unknown face.
type Unknown struct {
	ID        int64     `json:"id"`
	Group     int64     `json:"group"`
	Camera    string    `json:"camera"`
	Time      time.Time `json:"time"`
	Distance  float64   `json:"distance"`
	Candidate string    `json:"candidate,omitempty"`
	Box       [4]int    `json:"box"`
	State     string    `json:"state"`
	Name      string    `json:"name,omitempty"`
	Size      int64     `json:"size"`
	// NewGroup is set by Record when this face started a new group.
	NewGroup   bool            `json:"-"`
	Descriptor face.Descriptor `json:"-"`
	Crop       []byte          `json:"-"`
}

// Group states.
const (
	StateOpen      = "open"
	StateNamed     = "named"
	StateDismissed = "dismissed"
)

// Recorded is what Record stored for one observation (crops included).
type Recorded struct {
	Events   []Event
	Unknowns []Unknown
}

func debounceKey(camera, name string) string { return camera + "\x00" + name }

// Record stores the events and unknown faces of one observation: known
// faces whose person was recorded on this camera less than Debounce ago are
// skipped; every unknown face is stored and clustered. It returns what it
// stored. Malformed observations are rejected with ErrInvalid.
func (s *Store) Record(ctx context.Context, o Observation) (*Recorded, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var known, unknown []int
	seenNow := map[string]bool{}
	for i, f := range o.Faces {
		if f.Name == msg.Unknown {
			unknown = append(unknown, i)
			continue
		}
		k := debounceKey(o.Camera, f.Name)
		if seenNow[k] {
			continue // the same name twice in one frame: keep the first
		}
		if last, ok := s.lastSeen[k]; ok && s.cfg.Debounce > 0 {
			if d := o.Time.Sub(last); d < s.cfg.Debounce && d > -s.cfg.Debounce {
				continue
			}
		}
		seenNow[k] = true
		known = append(known, i)
	}
	out := &Recorded{}
	if len(known) == 0 && len(unknown) == 0 {
		return out, nil
	}
	img, err := DecodeFrame(o.Frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	crop := func(box [4]int) []byte {
		c, err := CropImage(img, box, s.cfg.CropMargin)
		if err != nil {
			s.log.Debug("no crop", "camera", o.Camera, "box", box, "err", err)
			return nil
		}
		return c
	}
	t := o.Time.UTC()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("history: begin: %w", err)
	}
	defer tx.Rollback()
	for _, i := range known {
		f := o.Faces[i]
		c := crop(f.Box)
		desc := encodeDescriptor(f.Descriptor)
		size := int64(len(c) + len(o.Frame) + len(desc))
		res, err := tx.ExecContext(ctx, `INSERT INTO events (camera, name, distance, t, x0, y0, x1, y1, descriptor, size, crop, frame) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			o.Camera, f.Name, f.Distance, t.UnixNano(), f.Box[0], f.Box[1], f.Box[2], f.Box[3], desc, size, c, o.Frame)
		if err != nil {
			return nil, fmt.Errorf("history: insert event: %w", err)
		}
		id, _ := res.LastInsertId()
		out.Events = append(out.Events, Event{ID: id, Camera: o.Camera, Name: f.Name, Distance: f.Distance, Time: t, Box: f.Box, Size: size, Crop: c, Frame: o.Frame})
	}
	// Cluster against a copy of the open groups; the cache is updated only
	// after commit.
	touched := map[int64]*cluster{}
	get := func(id int64) *cluster {
		if c, ok := touched[id]; ok {
			return c
		}
		c := *s.groups[id]
		touched[id] = &c
		return &c
	}
	for _, i := range unknown {
		f := o.Faces[i]
		gid, ok := s.nearestGroup(f.Descriptor, touched)
		newGroup := !ok
		if newGroup {
			res, err := tx.ExecContext(ctx, `INSERT INTO ugroups (n, centroid, first, last) VALUES (1, ?, ?, ?)`, encodeDescriptor(f.Descriptor), t.UnixNano(), t.UnixNano())
			if err != nil {
				return nil, fmt.Errorf("history: insert group: %w", err)
			}
			gid, _ = res.LastInsertId()
			touched[gid] = &cluster{n: 1, centroid: f.Descriptor}
		} else {
			c := get(gid)
			c.n++
			for k := range c.centroid {
				c.centroid[k] += (f.Descriptor[k] - c.centroid[k]) / float32(c.n)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE ugroups SET n = ?, centroid = ?, last = max(last, ?), first = min(first, ?) WHERE id = ?`,
				c.n, encodeDescriptor(c.centroid), t.UnixNano(), t.UnixNano(), gid); err != nil {
				return nil, fmt.Errorf("history: update group: %w", err)
			}
		}
		c := crop(f.Box)
		desc := encodeDescriptor(f.Descriptor)
		size := int64(len(c) + len(desc))
		res, err := tx.ExecContext(ctx, `INSERT INTO unknowns (group_id, camera, t, distance, candidate, x0, y0, x1, y1, descriptor, size, crop) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			gid, o.Camera, t.UnixNano(), f.Distance, f.Candidate, f.Box[0], f.Box[1], f.Box[2], f.Box[3], desc, size, c)
		if err != nil {
			return nil, fmt.Errorf("history: insert unknown: %w", err)
		}
		id, _ := res.LastInsertId()
		out.Unknowns = append(out.Unknowns, Unknown{ID: id, Group: gid, Camera: o.Camera, Time: t, Distance: f.Distance, Candidate: f.Candidate,
			Box: f.Box, State: StateOpen, Size: size, NewGroup: newGroup, Descriptor: f.Descriptor, Crop: c})
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("history: commit: %w", err)
	}
	for _, e := range out.Events {
		s.lastSeen[debounceKey(e.Camera, e.Name)] = o.Time
	}
	for id, c := range touched {
		s.groups[id] = c
	}
	return out, nil
}

// nearestGroup returns the open group whose centroid is nearest to d, when
// within ClusterRadius. Groups in pending (this transaction) take
// precedence over the cache.
func (s *Store) nearestGroup(d face.Descriptor, pending map[int64]*cluster) (int64, bool) {
	best, bestD := int64(0), math.Inf(1)
	try := func(id int64, c *cluster) {
		if dist := face.Distance(d, c.centroid); dist < bestD {
			best, bestD = id, dist
		}
	}
	for id, c := range s.groups {
		if p, ok := pending[id]; ok {
			c = p
		}
		try(id, c)
	}
	for id, c := range pending {
		if _, ok := s.groups[id]; !ok {
			try(id, c)
		}
	}
	return best, bestD <= s.cfg.ClusterRadius
}

func encodeDescriptor(d face.Descriptor) []byte {
	b := make([]byte, 4*face.DescriptorLen)
	for i, v := range d {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func decodeDescriptor(b []byte) (face.Descriptor, error) {
	var d face.Descriptor
	if len(b) != 4*face.DescriptorLen {
		return d, fmt.Errorf("descriptor of %d bytes", len(b))
	}
	for i := range d {
		d[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return d, nil
}

// Query selects events. Zero fields do not filter.
type Query struct {
	Camera string
	Person string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Limit  int       // default DefaultLimit, at most MaxLimit
}

// Validate checks a query.
func (q *Query) Validate() error {
	if q.Camera != "" && !topic.ValidID(q.Camera) {
		return fmt.Errorf("%w: camera %q", ErrInvalid, q.Camera)
	}
	if q.Person != "" && !msg.ValidName(q.Person) {
		return fmt.Errorf("%w: person %q", ErrInvalid, q.Person)
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return fmt.Errorf("%w: limit %d not in [0,%d]", ErrInvalid, q.Limit, MaxLimit)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return fmt.Errorf("%w: until must be after since", ErrInvalid)
	}
	return nil
}

const eventCols = `id, camera, name, distance, t, x0, y0, x1, y1, size`

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var t int64
	err := sc.Scan(&e.ID, &e.Camera, &e.Name, &e.Distance, &t, &e.Box[0], &e.Box[1], &e.Box[2], &e.Box[3], &e.Size)
	e.Time = time.Unix(0, t).UTC()
	return e, err
}

// Events returns matching events, newest first, without images.
func (s *Store) Events(ctx context.Context, q Query) ([]Event, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	var where []string
	var args []any
	if q.Camera != "" {
		where, args = append(where, "camera = ?"), append(args, q.Camera)
	}
	if q.Person != "" {
		where, args = append(where, "name = ?"), append(args, q.Person)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "t >= ?"), append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "t < ?"), append(args, q.Until.UnixNano())
	}
	stmt := `SELECT ` + eventCols + ` FROM events`
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += " ORDER BY t DESC, id DESC LIMIT ?"
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("history: events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Event returns one event without images.
func (s *Store) Event(ctx context.Context, id int64) (Event, error) {
	e, err := scanEvent(s.db.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("%w: event %d", ErrNotFound, id)
	}
	return e, err
}

// Image kinds.
const (
	ImageCrop  = "crop"
	ImageFrame = "frame"
)

// EventImage returns an event's face crop (ImageCrop) or full frame
// (ImageFrame) as JPEG.
func (s *Store) EventImage(ctx context.Context, id int64, kind string) ([]byte, error) {
	if kind != ImageCrop && kind != ImageFrame {
		return nil, fmt.Errorf("%w: image kind %q", ErrInvalid, kind)
	}
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT `+kind+` FROM events WHERE id = ?`, id).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && len(b) == 0) {
		return nil, fmt.Errorf("%w: %s of event %d", ErrNotFound, kind, id)
	}
	return b, err
}

// LatestEvent returns the newest event of person on camera (either may be
// empty to match any).
func (s *Store) LatestEvent(ctx context.Context, camera, person string) (Event, error) {
	evs, err := s.Events(ctx, Query{Camera: camera, Person: person, Limit: 1})
	if err != nil {
		return Event{}, err
	}
	if len(evs) == 0 {
		return Event{}, fmt.Errorf("%w: no event for camera %q person %q", ErrNotFound, camera, person)
	}
	return evs[0], nil
}

// Group is a cluster of unknown faces.
type Group struct {
	ID      int64     `json:"id"`
	State   string    `json:"state"`
	Name    string    `json:"name,omitempty"`
	Count   int       `json:"count"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Cameras []string  `json:"cameras"`
	// Samples are the ids of the group's newest unknown faces (their crops
	// come from UnknownCrop).
	Samples []int64 `json:"samples"`
}

// GroupQuery selects groups.
type GroupQuery struct {
	State   string // default StateOpen; "all" for every state
	Limit   int    // default DefaultLimit, at most MaxLimit
	Samples int    // sample ids per group (default 4, at most 32)
}

// Groups returns unknown-face groups, most recently seen first.
func (s *Store) Groups(ctx context.Context, q GroupQuery) ([]Group, error) {
	switch q.State {
	case "":
		q.State = StateOpen
	case StateOpen, StateNamed, StateDismissed, "all":
	default:
		return nil, fmt.Errorf("%w: state %q", ErrInvalid, q.State)
	}
	if q.Limit < 0 || q.Limit > MaxLimit || q.Samples < 0 || q.Samples > 32 {
		return nil, fmt.Errorf("%w: limit %d or samples %d out of range", ErrInvalid, q.Limit, q.Samples)
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Samples == 0 {
		q.Samples = 4
	}
	stmt := `SELECT id, state, COALESCE(name, ''), n, first, last FROM ugroups`
	args := []any{}
	if q.State != "all" {
		stmt += ` WHERE state = ?`
		args = append(args, q.State)
	}
	stmt += ` ORDER BY last DESC, id DESC LIMIT ?`
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("history: groups: %w", err)
	}
	out := []Group{}
	for rows.Next() {
		var g Group
		var first, last int64
		if err := rows.Scan(&g.ID, &g.State, &g.Name, &g.Count, &first, &last); err != nil {
			rows.Close()
			return nil, err
		}
		g.First, g.Last = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		g := &out[i]
		g.Cameras, g.Samples = []string{}, []int64{}
		if err := s.strings(ctx, &g.Cameras, `SELECT DISTINCT camera FROM unknowns WHERE group_id = ? ORDER BY camera`, g.ID); err != nil {
			return nil, err
		}
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM unknowns WHERE group_id = ? ORDER BY t DESC, id DESC LIMIT ?`, g.ID, q.Samples)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			g.Samples = append(g.Samples, id)
		}
		rows.Close()
	}
	return out, nil
}

func (s *Store) strings(ctx context.Context, dst *[]string, stmt string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		*dst = append(*dst, v)
	}
	return rows.Err()
}

// Group returns one group.
func (s *Store) Group(ctx context.Context, id int64) (Group, error) {
	gs, err := s.Groups(ctx, GroupQuery{State: "all", Limit: MaxLimit})
	if err != nil {
		return Group{}, err
	}
	for _, g := range gs {
		if g.ID == id {
			return g, nil
		}
	}
	return Group{}, fmt.Errorf("%w: group %d", ErrNotFound, id)
}

const unknownCols = `id, group_id, camera, t, distance, candidate, x0, y0, x1, y1, state, COALESCE(name, ''), size, descriptor`

func scanUnknown(sc interface{ Scan(...any) error }, extra ...any) (Unknown, error) {
	var u Unknown
	var t int64
	var desc []byte
	dst := append([]any{&u.ID, &u.Group, &u.Camera, &t, &u.Distance, &u.Candidate, &u.Box[0], &u.Box[1], &u.Box[2], &u.Box[3], &u.State, &u.Name, &u.Size, &desc}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return u, err
	}
	u.Time = time.Unix(0, t).UTC()
	d, err := decodeDescriptor(desc)
	u.Descriptor = d
	return u, err
}

// GroupUnknowns returns a group's unknown faces (open and named ones),
// oldest first, with their crops when withCrops.
func (s *Store) GroupUnknowns(ctx context.Context, group int64, withCrops bool) ([]Unknown, error) {
	return s.groupUnknowns(ctx, s.db, group, withCrops)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) groupUnknowns(ctx context.Context, db querier, group int64, withCrops bool) ([]Unknown, error) {
	var exists int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ugroups WHERE id = ?`, group).Scan(&exists); err != nil {
		return nil, err
	}
	if exists == 0 {
		return nil, fmt.Errorf("%w: group %d", ErrNotFound, group)
	}
	cols := unknownCols
	if withCrops {
		cols += ", crop"
	}
	rows, err := db.QueryContext(ctx, `SELECT `+cols+` FROM unknowns WHERE group_id = ? ORDER BY t, id`, group)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Unknown{}
	for rows.Next() {
		var crop []byte
		var extra []any
		if withCrops {
			extra = []any{&crop}
		}
		u, err := scanUnknown(rows, extra...)
		if err != nil {
			return nil, err
		}
		u.Crop = crop
		out = append(out, u)
	}
	return out, rows.Err()
}

// Unknown returns one unknown face (with its crop).
func (s *Store) Unknown(ctx context.Context, id int64) (Unknown, error) {
	var crop []byte
	u, err := scanUnknown(s.db.QueryRowContext(ctx, `SELECT `+unknownCols+`, crop FROM unknowns WHERE id = ?`, id), &crop)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("%w: unknown face %d", ErrNotFound, id)
	}
	u.Crop = crop
	return u, err
}

// UnknownCrop returns the JPEG crop of an unknown face.
func (s *Store) UnknownCrop(ctx context.Context, id int64) ([]byte, error) {
	u, err := s.Unknown(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(u.Crop) == 0 {
		return nil, fmt.Errorf("%w: crop of unknown face %d", ErrNotFound, id)
	}
	return u.Crop, nil
}

// GroupCrop returns the crop of the newest face of a group.
func (s *Store) GroupCrop(ctx context.Context, group int64) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT crop FROM unknowns WHERE group_id = ? AND crop IS NOT NULL ORDER BY t DESC, id DESC LIMIT 1`, group).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: crop of group %d", ErrNotFound, group)
	}
	return b, err
}

// NameGroup marks an open group and its faces as person name and returns
// the faces with their crops, so the caller can add them to the dataset.
// The group no longer takes new faces.
func (s *Store) NameGroup(ctx context.Context, group int64, name string) ([]Unknown, error) {
	if !msg.ValidName(name) {
		return nil, fmt.Errorf("%w: name %q", ErrInvalid, name)
	}
	return s.closeGroup(ctx, group, StateNamed, name)
}

// DismissGroup marks an open group as dismissed (kept until retention, out
// of the open list; it takes no new faces).
func (s *Store) DismissGroup(ctx context.Context, group int64) error {
	_, err := s.closeGroup(ctx, group, StateDismissed, "")
	return err
}

func (s *Store) closeGroup(ctx context.Context, group int64, state, name string) ([]Unknown, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var cur string
	err = tx.QueryRowContext(ctx, `SELECT state FROM ugroups WHERE id = ?`, group).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: group %d", ErrNotFound, group)
	}
	if err != nil {
		return nil, err
	}
	if cur != StateOpen {
		return nil, fmt.Errorf("%w: group %d is %s", ErrState, group, cur)
	}
	var nameArg any
	if name != "" {
		nameArg = name
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ugroups SET state = ?, name = ? WHERE id = ?`, state, nameArg, group); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE unknowns SET state = ?, name = ? WHERE group_id = ? AND state = 'open'`, state, nameArg, group); err != nil {
		return nil, err
	}
	us, err := s.groupUnknowns(ctx, tx, group, state == StateNamed)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	delete(s.groups, group)
	return us, nil
}

// NameUnknown names a single open unknown face and takes it out of its
// group (whose centroid is recomputed from the faces left); it returns the
// face with its crop for the dataset.
func (s *Store) NameUnknown(ctx context.Context, id int64, name string) (Unknown, error) {
	if !msg.ValidName(name) {
		return Unknown{}, fmt.Errorf("%w: name %q", ErrInvalid, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Unknown{}, err
	}
	defer tx.Rollback()
	var crop []byte
	u, err := scanUnknown(tx.QueryRowContext(ctx, `SELECT `+unknownCols+`, crop FROM unknowns WHERE id = ?`, id), &crop)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("%w: unknown face %d", ErrNotFound, id)
	}
	if err != nil {
		return u, err
	}
	if u.State != StateOpen {
		return u, fmt.Errorf("%w: unknown face %d is %s", ErrState, id, u.State)
	}
	u.Crop, u.State, u.Name = crop, StateNamed, name
	if _, err := tx.ExecContext(ctx, `UPDATE unknowns SET state = 'named', name = ? WHERE id = ?`, name, id); err != nil {
		return u, err
	}
	gc, err := s.recomputeGroup(ctx, tx, u.Group)
	if err != nil {
		return u, err
	}
	if err := tx.Commit(); err != nil {
		return u, err
	}
	s.applyGroup(u.Group, gc)
	return u, nil
}

// recomputeGroup recomputes an open group's count and centroid from its
// open faces; a group left empty is deleted. It returns the new cluster
// (nil when deleted or not open).
func (s *Store) recomputeGroup(ctx context.Context, tx *sql.Tx, group int64) (*cluster, error) {
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM ugroups WHERE id = ?`, group).Scan(&state); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT descriptor FROM unknowns WHERE group_id = ? AND state = ?`, group, state)
	if err != nil {
		return nil, err
	}
	var sum [face.DescriptorLen]float64
	n := 0
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return nil, err
		}
		d, err := decodeDescriptor(b)
		if err != nil {
			rows.Close()
			return nil, err
		}
		for k, v := range d {
			sum[k] += float64(v)
		}
		n++
	}
	rows.Close()
	if n == 0 {
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM unknowns WHERE group_id = ?`, group).Scan(&left); err != nil {
			return nil, err
		}
		if left == 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM ugroups WHERE id = ?`, group)
			return nil, err
		}
		_, err := tx.ExecContext(ctx, `UPDATE ugroups SET n = 0 WHERE id = ?`, group)
		return nil, err
	}
	c := &cluster{n: n}
	for k := range sum {
		c.centroid[k] = float32(sum[k] / float64(n))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ugroups SET n = ?, centroid = ? WHERE id = ?`, n, encodeDescriptor(c.centroid), group); err != nil {
		return nil, err
	}
	if state != StateOpen {
		return nil, nil
	}
	return c, nil
}

func (s *Store) applyGroup(id int64, c *cluster) {
	if c == nil {
		delete(s.groups, id)
	} else {
		s.groups[id] = c
	}
}

// Negative is a "not this person" correction.
type Negative struct {
	ID         int64           `json:"id"`
	Person     string          `json:"person"`
	Time       time.Time       `json:"time"`
	Source     string          `json:"source"`
	Descriptor face.Descriptor `json:"-"`
}

// AddNegative stores that descriptor d is not person.
func (s *Store) AddNegative(ctx context.Context, person string, d face.Descriptor, source string) (Negative, error) {
	if !msg.ValidName(person) {
		return Negative{}, fmt.Errorf("%w: person %q", ErrInvalid, person)
	}
	if err := checkDescriptor(d, true); err != nil {
		return Negative{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(source) > 256 {
		return Negative{}, fmt.Errorf("%w: source longer than 256", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now().UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO negatives (person, descriptor, t, source) VALUES (?,?,?,?)`, person, encodeDescriptor(d), now.UnixNano(), source)
	if err != nil {
		return Negative{}, fmt.Errorf("history: add negative: %w", err)
	}
	id, _ := res.LastInsertId()
	return Negative{ID: id, Person: person, Time: now, Source: source, Descriptor: d}, nil
}

// NotThisPerson stores event id's face as a negative of the person it was
// matched to (the event stays).
func (s *Store) NotThisPerson(ctx context.Context, event int64) (Negative, error) {
	var name string
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT name, descriptor FROM events WHERE id = ?`, event).Scan(&name, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return Negative{}, fmt.Errorf("%w: event %d", ErrNotFound, event)
	}
	if err != nil {
		return Negative{}, err
	}
	d, err := decodeDescriptor(b)
	if err != nil {
		return Negative{}, fmt.Errorf("%w: event %d has no descriptor", ErrNotFound, event)
	}
	return s.AddNegative(ctx, name, d, fmt.Sprintf("event:%d", event))
}

// Negatives returns the corrections for person (all people when empty).
func (s *Store) Negatives(ctx context.Context, person string) ([]Negative, error) {
	stmt, args := `SELECT id, person, t, source, descriptor FROM negatives`, []any{}
	if person != "" {
		stmt, args = stmt+` WHERE person = ?`, append(args, person)
	}
	rows, err := s.db.QueryContext(ctx, stmt+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Negative{}
	for rows.Next() {
		var n Negative
		var t int64
		var b []byte
		if err := rows.Scan(&n.ID, &n.Person, &t, &n.Source, &b); err != nil {
			return nil, err
		}
		n.Time = time.Unix(0, t).UTC()
		if n.Descriptor, err = decodeDescriptor(b); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// RenamePerson renames a person's events and negatives (call it when the
// gallery renames a person).
func (s *Store) RenamePerson(ctx context.Context, old, name string) error {
	if !msg.ValidName(old) || !msg.ValidName(name) {
		return fmt.Errorf("%w: rename %q to %q", ErrInvalid, old, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range []string{`UPDATE events SET name = ? WHERE name = ?`, `UPDATE negatives SET person = ? WHERE person = ?`} {
		if _, err := tx.ExecContext(ctx, stmt, name, old); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for k, v := range s.lastSeen {
		if cam, n, _ := strings.Cut(k, "\x00"); n == old {
			delete(s.lastSeen, k)
			s.lastSeen[debounceKey(cam, name)] = v
		}
	}
	return nil
}

// DeletePerson removes a person's negatives; with events also their events
// (with their crops and frames) and the unknown-face groups named after them
// (with their faces).
func (s *Store) DeletePerson(ctx context.Context, name string, events bool) error {
	if !msg.ValidName(name) {
		return fmt.Errorf("%w: person %q", ErrInvalid, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM negatives WHERE person = ?`, name); err != nil {
		return err
	}
	if events {
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE name = ?`, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM unknowns WHERE name = ? OR group_id IN (SELECT id FROM ugroups WHERE name = ?)`, name, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ugroups WHERE name = ?`, name); err != nil {
			return err
		}
	}
	return tx.Commit()
}
