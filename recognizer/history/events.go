package history

// Reading events of known people and their images.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

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
