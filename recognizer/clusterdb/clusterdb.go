// Package clusterdb is the state several recognizers share in PostgreSQL
// (serve --db): the gallery document, the enrolled images (the dataset),
// change notifications (LISTEN/NOTIFY) and the cluster-wide training lock
// (an advisory lock). The history has its own tables (recognizer/history
// with Config.DSN) in the same database.
//
// Every recognizer keeps its gallery file and dataset folder as a local
// cache of these tables: a change made through any recognizer is written
// here first (the gallery under a row lock, so concurrent edits from two
// recognizers apply one after the other to the newest document), then
// NOTIFY tells the others, which fetch it within milliseconds.
package clusterdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/facemon/facemon/shared/redact"
)

// Notification channels.
const (
	ChanGallery = "facemon_gallery"
	ChanImages  = "facemon_images"
)

// Advisory lock keys (pg_advisory_lock's one-bigint form).
const (
	lockSchema = 7312002
	lockTrain  = 7312003
)

const schema = `
CREATE TABLE IF NOT EXISTS facemon_gallery (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	version BIGINT NOT NULL,
	doc BYTEA NOT NULL,
	updated TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS facemon_sessions (
	key BYTEA PRIMARY KEY,
	username TEXT NOT NULL,
	stamp TEXT NOT NULL,
	expires TIMESTAMPTZ NOT NULL,
	created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS facemon_images (
	path TEXT PRIMARY KEY,
	sha256 TEXT NOT NULL,
	data BYTEA NOT NULL,
	created TIMESTAMPTZ NOT NULL DEFAULT now()
);
`

// ErrNoGallery is returned by Gallery while no gallery was ever stored.
var ErrNoGallery = errors.New("clusterdb: no gallery stored yet")

// DB is the shared state. Safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	dsn  string
	log  *slog.Logger

	trainMu   sync.Mutex
	trainConn *pgxpool.Conn // holds the training lock while set
}

// Open connects and creates the tables when missing.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, redact.Errorf("--db: %w", err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("--db %s: %w", redact.URL(dsn), err)
	}
	d := &DB{pool: pool, dsn: dsn, log: log.With("component", "clusterdb")}
	if err := d.createSchema(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return d, nil
}

func (d *DB) createSchema(ctx context.Context) error {
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("--db %s: %w", redact.URL(d.dsn), err)
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockSchema); err != nil {
		return fmt.Errorf("clusterdb: schema lock: %w", err)
	}
	defer c.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, lockSchema)
	if _, err := c.Exec(ctx, schema); err != nil {
		return fmt.Errorf("clusterdb: create tables: %w", err)
	}
	return nil
}

// Close releases the training lock (if held) and the connections.
func (d *DB) Close() {
	d.UnlockTraining()
	d.pool.Close()
}

// Gallery returns the stored gallery document and its version.
func (d *DB) Gallery(ctx context.Context) ([]byte, int64, error) {
	var doc []byte
	var v int64
	err := d.pool.QueryRow(ctx, `SELECT doc, version FROM facemon_gallery WHERE id = 1`).Scan(&doc, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, ErrNoGallery
	}
	if err != nil {
		return nil, 0, fmt.Errorf("clusterdb: read gallery: %w", err)
	}
	return doc, v, nil
}

// UpdateGallery applies f to the newest document (nil when none is stored)
// under the row's lock, stores what f returns as the next version and
// notifies every recognizer. f may run again if the transaction is retried,
// so it must not have side effects beyond its result.
func (d *DB) UpdateGallery(ctx context.Context, f func(cur []byte) ([]byte, error)) (int64, error) {
	tx, err := d.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return 0, fmt.Errorf("clusterdb: begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	// The row exists from the first update on; the first one creates it
	// (a concurrent first update waits on the primary key, then retries).
	if _, err := tx.Exec(ctx, `INSERT INTO facemon_gallery (id, version, doc) VALUES (1, 0, '') ON CONFLICT DO NOTHING`); err != nil {
		return 0, fmt.Errorf("clusterdb: gallery row: %w", err)
	}
	var cur []byte
	var v int64
	if err := tx.QueryRow(ctx, `SELECT doc, version FROM facemon_gallery WHERE id = 1 FOR UPDATE`).Scan(&cur, &v); err != nil {
		return 0, fmt.Errorf("clusterdb: lock gallery: %w", err)
	}
	if v == 0 {
		cur = nil
	}
	next, err := f(cur)
	if err != nil {
		return 0, err
	}
	v++
	if _, err := tx.Exec(ctx, `UPDATE facemon_gallery SET doc = $1, version = $2, updated = now() WHERE id = 1`, next, v); err != nil {
		return 0, fmt.Errorf("clusterdb: write gallery: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ChanGallery, strconv.FormatInt(v, 10)); err != nil {
		return 0, fmt.Errorf("clusterdb: notify: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("clusterdb: commit gallery: %w", err)
	}
	return v, nil
}

// Image is one enrolled image's path (dataset-relative, slash-separated)
// and content hash.
type Image struct {
	Path, SHA256 string
}

// PutImage stores an enrolled image (a path already stored is kept) and
// notifies.
func (d *DB) PutImage(ctx context.Context, path string, data []byte) error {
	sum := sha256.Sum256(data)
	_, err := d.pool.Exec(ctx, `WITH ins AS (INSERT INTO facemon_images (path, sha256, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1)
		SELECT pg_notify($4, $1) FROM ins`, path, hex.EncodeToString(sum[:]), data, ChanImages)
	if err != nil {
		return fmt.Errorf("clusterdb: store image %s: %w", path, err)
	}
	return nil
}

// Images lists the stored images.
func (d *DB) Images(ctx context.Context) ([]Image, error) {
	rows, err := d.pool.Query(ctx, `SELECT path, sha256 FROM facemon_images ORDER BY path`)
	if err != nil {
		return nil, fmt.Errorf("clusterdb: list images: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Image, error) {
		var im Image
		err := r.Scan(&im.Path, &im.SHA256)
		return im, err
	})
}

// ImageData returns one image's bytes.
func (d *DB) ImageData(ctx context.Context, path string) ([]byte, error) {
	var b []byte
	if err := d.pool.QueryRow(ctx, `SELECT data FROM facemon_images WHERE path = $1`, path).Scan(&b); err != nil {
		return nil, fmt.Errorf("clusterdb: read image %s: %w", path, err)
	}
	return b, nil
}

// likePrefix is a LIKE pattern for the paths under folder dir.
func likePrefix(dir string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(dir) + "/%"
}

// DeleteFolder deletes the images under dir (a person's folder) and
// notifies.
func (d *DB) DeleteFolder(ctx context.Context, dir string) error {
	_, err := d.pool.Exec(ctx, `WITH del AS (DELETE FROM facemon_images WHERE path LIKE $1 RETURNING 1)
		SELECT pg_notify($2, $3) FROM (SELECT 1 FROM del LIMIT 1) x`, likePrefix(dir), ChanImages, dir+"/")
	if err != nil {
		return fmt.Errorf("clusterdb: delete images of %s: %w", dir, err)
	}
	return nil
}

// RenameFolder moves the images under from to under to and notifies.
func (d *DB) RenameFolder(ctx context.Context, from, to string) error {
	_, err := d.pool.Exec(ctx, `WITH up AS (UPDATE facemon_images SET path = $2 || substr(path, length($1) + 1) WHERE path LIKE $3 RETURNING 1)
		SELECT pg_notify($4, $2) FROM (SELECT 1 FROM up LIMIT 1) x`, from+"/", to+"/", likePrefix(from), ChanImages)
	if err != nil {
		return fmt.Errorf("clusterdb: rename images %s -> %s: %w", from, to, err)
	}
	return nil
}

// TryLockTraining takes the cluster-wide training lock without waiting. It
// reports false while another recognizer trains. The lock is a session
// advisory lock on a connection of its own, so a recognizer that dies
// releases it with its connection.
func (d *DB) TryLockTraining(ctx context.Context) (bool, error) {
	d.trainMu.Lock()
	defer d.trainMu.Unlock()
	if d.trainConn != nil {
		return false, nil
	}
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("clusterdb: training lock: %w", err)
	}
	var ok bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockTrain).Scan(&ok); err != nil {
		c.Release()
		return false, fmt.Errorf("clusterdb: training lock: %w", err)
	}
	if !ok {
		c.Release()
		return false, nil
	}
	d.trainConn = c
	return true, nil
}

// UnlockTraining releases the training lock (no-op when not held).
func (d *DB) UnlockTraining() {
	d.trainMu.Lock()
	defer d.trainMu.Unlock()
	if d.trainConn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := d.trainConn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockTrain); err != nil {
		d.trainConn.Conn().Close(ctx) // closing the session releases it too
	}
	d.trainConn.Release()
	d.trainConn = nil
}

// Listen calls f(channel, payload) for every notification on the gallery
// and image channels until ctx ends, reconnecting (with backoff) when the
// connection drops; after each (re)connect it calls f(channel, "") for
// both channels, so the caller re-reads what it may have missed. f runs on
// Listen's goroutine.
func (d *DB) Listen(ctx context.Context, f func(channel, payload string)) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, f)
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("database notifications lost; reconnecting", "err", redact.Error(err), "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (d *DB) listenOnce(ctx context.Context, f func(channel, payload string)) error {
	conn, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{ChanGallery, ChanImages} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	f(ChanGallery, "")
	f(ChanImages, "")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		f(n.Channel, n.Payload)
	}
}

// StoredSession is a dashboard person's session as the cluster keeps it:
// by the SHA-256 of its token, never the token.
type StoredSession struct {
	User, Stamp string
	Expires     time.Time
}

// PutSession stores a session under key, dropping expired ones and, when
// more than max are live, the oldest.
func (d *DB) PutSession(ctx context.Context, key [32]byte, s StoredSession, max int) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("clusterdb: session: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `DELETE FROM facemon_sessions WHERE expires <= now()`); err != nil {
		return fmt.Errorf("clusterdb: session: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO facemon_sessions (key, username, stamp, expires) VALUES ($1, $2, $3, $4)`,
		key[:], s.User, s.Stamp, s.Expires); err != nil {
		return fmt.Errorf("clusterdb: session: %w", err)
	}
	if max > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM facemon_sessions WHERE key IN
			(SELECT key FROM facemon_sessions ORDER BY created DESC, key OFFSET $1)`, max); err != nil {
			return fmt.Errorf("clusterdb: session: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("clusterdb: session: %w", err)
	}
	return nil
}

// Session returns the live session stored under key (ok false when there
// is none or it expired at now).
func (d *DB) Session(ctx context.Context, key [32]byte, now time.Time) (s StoredSession, ok bool, err error) {
	err = d.pool.QueryRow(ctx, `SELECT username, stamp, expires FROM facemon_sessions WHERE key = $1 AND expires > $2`,
		key[:], now).Scan(&s.User, &s.Stamp, &s.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredSession{}, false, nil
	}
	if err != nil {
		return StoredSession{}, false, fmt.Errorf("clusterdb: session: %w", err)
	}
	return s, true, nil
}

// RevokeSession deletes the session stored under key.
func (d *DB) RevokeSession(ctx context.Context, key [32]byte) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM facemon_sessions WHERE key = $1`, key[:]); err != nil {
		return fmt.Errorf("clusterdb: session: %w", err)
	}
	return nil
}
