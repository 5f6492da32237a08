package history

// Unknown faces and their groups: listing, naming, dismissing, regrouping.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/msg"
)

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
	ID      int64  // only this group (0: any)
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
	stmt := `SELECT id, state, COALESCE(name, ''), n, first, last FROM ugroups WHERE TRUE`
	args := []any{}
	if q.State != "all" {
		stmt += ` AND state = ?`
		args = append(args, q.State)
	}
	if q.ID != 0 {
		stmt += ` AND id = ?`
		args = append(args, q.ID)
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
	gs, err := s.Groups(ctx, GroupQuery{State: "all", ID: id, Limit: 1})
	if err != nil {
		return Group{}, err
	}
	if len(gs) == 0 {
		return Group{}, fmt.Errorf("%w: group %d", ErrNotFound, id)
	}
	return gs[0], nil
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
func (s *Store) recomputeGroup(ctx context.Context, tx *tx, group int64) (*cluster, error) {
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

// MergeGroups moves every face of group from into group into (the
// Unknowns view's "same person": one visitor split across two groups).
// Both must be open. into then covers both groups' faces, first and last
// times and centroid; from is deleted. It returns the merged group.
func (s *Store) MergeGroups(ctx context.Context, from, into int64) (Group, error) {
	if from == into {
		return Group{}, fmt.Errorf("%w: merging group %d into itself", ErrInvalid, from)
	}
	s.mu.Lock()
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, id := range []int64{from, into} {
			var cur string
			err := tx.QueryRowContext(ctx, `SELECT state FROM ugroups WHERE id = ?`, id).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: group %d", ErrNotFound, id)
			}
			if err != nil {
				return err
			}
			if cur != StateOpen {
				return fmt.Errorf("%w: group %d is %s", ErrState, id, cur)
			}
		}
		for _, st := range []struct {
			q    string
			args []any
		}{
			{`UPDATE ugroups SET first = ` + tx.least() + `(first, (SELECT first FROM ugroups WHERE id = ?)),
				last = ` + tx.greatest() + `(last, (SELECT last FROM ugroups WHERE id = ?)) WHERE id = ?`, []any{from, from, into}},
			{`UPDATE unknowns SET group_id = ? WHERE group_id = ?`, []any{into, from}},
			{`DELETE FROM ugroups WHERE id = ?`, []any{from}},
		} {
			if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
				return err
			}
		}
		c, err := s.recomputeGroup(ctx, tx, into)
		if err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		delete(s.groups, from)
		s.applyGroup(into, c)
		return nil
	}()
	s.mu.Unlock()
	if err != nil {
		return Group{}, err
	}
	s.log.Info("unknown-face groups merged", "from", from, "into", into)
	return s.Group(ctx, into)
}
