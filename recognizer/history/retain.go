package history

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Usage is what the store holds.
type Usage struct {
	Events   int   `json:"events"`
	Unknowns int   `json:"unknowns"`
	Groups   int   `json:"groups"`
	Bytes    int64 `json:"bytes"` // image and descriptor bytes, as bounded by MaxBytes
}

// Usage returns the current counts and stored bytes.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM events), (SELECT count(*) FROM unknowns), (SELECT count(*) FROM ugroups),
		(SELECT COALESCE(sum(size), 0) FROM events) + (SELECT COALESCE(sum(size), 0) FROM unknowns)`).
		Scan(&u.Events, &u.Unknowns, &u.Groups, &u.Bytes)
	return u, err
}

// RetainStats reports one retention pass.
type RetainStats struct {
	Events   int   // events deleted
	Unknowns int   // unknown faces deleted
	Freed    int64 // bytes deleted
	Left     int64 // bytes left
}

// Retain deletes events and unknown faces older than MaxAge, then the
// oldest ones until at most MaxBytes are stored. Groups left without faces
// are deleted; the others keep their centroid.
func (s *Store) Retain(ctx context.Context) (RetainStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st RetainStats
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return st, err
	}
	defer tx.Rollback()
	del := func(table string, ids []int64) error {
		for len(ids) > 0 {
			n := min(len(ids), 500)
			args := make([]any, n)
			for i := range args {
				args[i] = ids[i]
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id IN (?`+strings.Repeat(",?", n-1)+`)`, args...); err != nil {
				return fmt.Errorf("history: retention: %w", err)
			}
			ids = ids[n:]
		}
		return nil
	}
	if s.cfg.MaxAge > 0 {
		cutoff := s.cfg.Now().Add(-s.cfg.MaxAge).UnixNano()
		for _, table := range []string{"events", "unknowns"} {
			var n int
			var b int64
			if err := tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(size), 0) FROM `+table+` WHERE t < ?`, cutoff).Scan(&n, &b); err != nil {
				return st, err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE t < ?`, cutoff); err != nil {
				return st, fmt.Errorf("history: retention: %w", err)
			}
			if table == "events" {
				st.Events += n
			} else {
				st.Unknowns += n
			}
			st.Freed += b
		}
	}
	var total int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COALESCE(sum(size), 0) FROM events) + (SELECT COALESCE(sum(size), 0) FROM unknowns)`).Scan(&total); err != nil {
		return st, err
	}
	if s.cfg.MaxBytes > 0 && total > s.cfg.MaxBytes {
		rows, err := tx.QueryContext(ctx, `SELECT 0 AS k, id, size, t FROM events UNION ALL SELECT 1 AS k, id, size, t FROM unknowns ORDER BY t, k, id`)
		if err != nil {
			return st, err
		}
		var evIDs, unIDs []int64
		for total > s.cfg.MaxBytes && rows.Next() {
			var k int
			var id, size, t int64
			if err := rows.Scan(&k, &id, &size, &t); err != nil {
				rows.Close()
				return st, err
			}
			if k == 0 {
				evIDs = append(evIDs, id)
			} else {
				unIDs = append(unIDs, id)
			}
			total -= size
			st.Freed += size
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, err
		}
		if err := del("events", evIDs); err != nil {
			return st, err
		}
		if err := del("unknowns", unIDs); err != nil {
			return st, err
		}
		st.Events += len(evIDs)
		st.Unknowns += len(unIDs)
	}
	st.Left = total
	if st.Unknowns > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ugroups WHERE NOT EXISTS (SELECT 1 FROM unknowns WHERE unknowns.group_id = ugroups.id)`); err != nil {
			return st, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ugroups SET n = (SELECT count(*) FROM unknowns WHERE unknowns.group_id = ugroups.id AND unknowns.state = ugroups.state)`); err != nil {
			return st, err
		}
	}
	if err := tx.Commit(); err != nil {
		return st, err
	}
	if st.Unknowns > 0 {
		s.groups = map[int64]*cluster{}
		if err := s.loadGroups(); err != nil {
			return st, err
		}
	}
	if st.Events+st.Unknowns > 0 && !s.db.pg { // PostgreSQL's autovacuum does this
		if _, err := s.db.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
			s.log.Warn("incremental vacuum failed", "err", err)
		}
	}
	return st, nil
}

// RunRetention calls Retain now and then every interval (default 10
// minutes) until ctx ends.
func (s *Store) RunRetention(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st, err := s.Retain(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("retention failed", "err", err)
		case st.Events+st.Unknowns > 0:
			s.log.Info("retention", "events", st.Events, "unknowns", st.Unknowns, "freed", st.Freed, "left", st.Left)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
