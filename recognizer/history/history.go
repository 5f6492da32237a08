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
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL ("pgx"), for serve --db
	_ "modernc.org/sqlite"             // pure-Go SQLite driver ("sqlite")

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/redact"
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
	// DSN, when set, is a PostgreSQL URL (postgres://...) used instead of
	// Path: the history of several recognizers in one database (serve --db).
	DSN string
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
	db  *db
	log *slog.Logger

	mu       sync.Mutex           // serialises writes, guards the fields below
	lastSeen map[string]time.Time // camera\x00name -> last event, within Debounce
	seenNext int
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

// schemaPG is schema in PostgreSQL's words (identity ids, BYTEA, DOUBLE
// PRECISION; times stay Unix nanoseconds in BIGINT).
const schemaPG = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	camera TEXT NOT NULL,
	name TEXT NOT NULL,
	distance DOUBLE PRECISION NOT NULL,
	t BIGINT NOT NULL,
	x0 INTEGER NOT NULL, y0 INTEGER NOT NULL, x1 INTEGER NOT NULL, y1 INTEGER NOT NULL,
	descriptor BYTEA,
	size BIGINT NOT NULL,
	crop BYTEA,
	frame BYTEA
);
CREATE INDEX IF NOT EXISTS events_t ON events(t);
CREATE INDEX IF NOT EXISTS events_camera_t ON events(camera, t);
CREATE INDEX IF NOT EXISTS events_name_t ON events(name, t);
CREATE TABLE IF NOT EXISTS ugroups (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	n INTEGER NOT NULL,
	centroid BYTEA NOT NULL,
	first BIGINT NOT NULL,
	last BIGINT NOT NULL,
	state TEXT NOT NULL DEFAULT 'open',
	name TEXT
);
CREATE TABLE IF NOT EXISTS unknowns (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	group_id BIGINT NOT NULL,
	camera TEXT NOT NULL,
	t BIGINT NOT NULL,
	distance DOUBLE PRECISION NOT NULL,
	candidate TEXT NOT NULL,
	x0 INTEGER NOT NULL, y0 INTEGER NOT NULL, x1 INTEGER NOT NULL, y1 INTEGER NOT NULL,
	state TEXT NOT NULL DEFAULT 'open',
	name TEXT,
	descriptor BYTEA NOT NULL,
	size BIGINT NOT NULL,
	crop BYTEA
);
CREATE INDEX IF NOT EXISTS unknowns_t ON unknowns(t);
CREATE INDEX IF NOT EXISTS unknowns_group ON unknowns(group_id, t);
CREATE TABLE IF NOT EXISTS negatives (
	id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	person TEXT NOT NULL,
	descriptor BYTEA NOT NULL,
	t BIGINT NOT NULL,
	source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS negatives_person ON negatives(person);
INSERT INTO meta (k, v) VALUES ('schema', '1') ON CONFLICT DO NOTHING;
`

// Open opens (creating when missing) the database at cfg.Path, or the
// PostgreSQL database at cfg.DSN.
func Open(cfg Config) (*Store, error) {
	cfg.defaults()
	if cfg.DSN != "" {
		return openPG(cfg)
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: empty database path", ErrInvalid)
	}
	// Events hold face crops and frames (biometric data): the file is
	// created 0600, and SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("history: open %s: %w", cfg.Path, err)
	}
	f.Close()
	q := url.Values{}
	// auto_vacuum must come before the first table is created.
	for _, p := range []string{"auto_vacuum(INCREMENTAL)", "journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	sdb, err := sql.Open("sqlite", "file:"+cfg.Path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("history: open %s: %w", cfg.Path, err)
	}
	sdb.SetMaxOpenConns(4)
	if _, err := sdb.Exec(schema); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("history: create schema in %s: %w", cfg.Path, err)
	}
	return newStore(cfg, &db{DB: sdb})
}

// openPG opens the history in PostgreSQL (pgx's database/sql driver).
func openPG(cfg Config) (*Store, error) {
	sdb, err := sql.Open("pgx", cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("history: open %s: %w", redact.URL(cfg.DSN), err)
	}
	sdb.SetMaxOpenConns(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One schema creation at a time across recognizers starting together.
	conn, err := sdb.Conn(ctx)
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("history: connect to %s: %w", redact.URL(cfg.DSN), err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+schemaLockKey+`)`); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("history: schema lock: %w", err)
	}
	_, err = conn.ExecContext(ctx, schemaPG)
	conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+schemaLockKey+`)`)
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("history: create schema in %s: %w", redact.URL(cfg.DSN), err)
	}
	return newStore(cfg, &db{DB: sdb, pg: true})
}

// schemaLockKey is the advisory lock taken while creating the schema.
const schemaLockKey = "7312001"

func newStore(cfg Config, d *db) (*Store, error) {
	s := &Store{cfg: cfg, db: d, log: cfg.Logger.With("component", "history"), lastSeen: map[string]time.Time{}, groups: map[int64]*cluster{}}
	if err := s.loadGroups(); err != nil {
		d.Close()
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
