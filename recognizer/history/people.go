package history

// Per-person data: "not this person" negatives, rename and delete.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/msg"
)

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
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO negatives (person, descriptor, t, source) VALUES (?,?,?,?) RETURNING id`, person, encodeDescriptor(d), now.UnixNano(), source).Scan(&id)
	if err != nil {
		return Negative{}, fmt.Errorf("history: add negative: %w", err)
	}
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
	err := s.execAll(ctx, [][]any{
		{`UPDATE events SET name = ? WHERE name = ?`, name, old},
		{`UPDATE negatives SET person = ? WHERE person = ?`, name, old},
	})
	if err != nil {
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
	stmts := [][]any{{`DELETE FROM negatives WHERE person = ?`, name}}
	if events {
		stmts = append(stmts,
			[]any{`DELETE FROM events WHERE name = ?`, name},
			[]any{`DELETE FROM unknowns WHERE name = ? OR group_id IN (SELECT id FROM ugroups WHERE name = ?)`, name, name},
			[]any{`DELETE FROM ugroups WHERE name = ?`, name})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.execAll(ctx, stmts); err != nil {
		return err
	}
	if events {
		for k := range s.lastSeen {
			if _, n, _ := strings.Cut(k, "\x00"); n == name {
				delete(s.lastSeen, k)
			}
		}
	}
	return nil
}

// execAll runs statements ({query, args...}) in one transaction; s.mu must
// be held.
func (s *Store) execAll(ctx context.Context, stmts [][]any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st[0].(string), st[1:]...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
