package history

import (
	"context"
	"fmt"
	"strings"
)

// copyTables are the tables Copy moves, with their columns (ids included,
// so events keep their ids and unknown faces their groups).
var copyTables = []struct{ name, cols string }{
	{"ugroups", "id, n, centroid, first, last, state, name"},
	{"unknowns", "id, group_id, camera, t, distance, candidate, x0, y0, x1, y1, state, name, descriptor, size, crop"},
	{"events", "id, camera, name, distance, t, x0, y0, x1, y1, descriptor, size, crop, frame"},
	{"negatives", "id, person, descriptor, t, source"},
}

// CopyCounts says how many rows Copy stored per table.
type CopyCounts map[string]int

// CopyTo copies every row of s into dst (a single machine's SQLite
// history into the shared PostgreSQL one: facemon-recognizer db migrate).
// Rows whose id dst already has are skipped, so a second run adds nothing;
// dst's id sequences are moved past the copied ids.
func (s *Store) CopyTo(ctx context.Context, dst *Store, progress func(table string, n int)) (CopyCounts, error) {
	counts := CopyCounts{}
	dst.mu.Lock()
	defer dst.mu.Unlock()
	for _, tb := range copyTables {
		rows, err := s.db.QueryContext(ctx, `SELECT `+tb.cols+` FROM `+tb.name+` ORDER BY id`)
		if err != nil {
			return counts, fmt.Errorf("history: read %s: %w", tb.name, err)
		}
		ncol := strings.Count(tb.cols, ",") + 1
		ins := `INSERT INTO ` + tb.name + ` (` + tb.cols + `) VALUES (?` + strings.Repeat(",?", ncol-1) + `) ON CONFLICT (id) DO NOTHING`
		tx, err := dst.db.BeginTx(ctx, nil)
		if err != nil {
			rows.Close()
			return counts, err
		}
		for rows.Next() {
			vals := make([]any, ncol)
			ptrs := make([]any, ncol)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				tx.Rollback()
				return counts, err
			}
			res, err := tx.ExecContext(ctx, ins, vals...)
			if err != nil {
				rows.Close()
				tx.Rollback()
				return counts, fmt.Errorf("history: copy into %s: %w", tb.name, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				counts[tb.name]++
				if progress != nil && counts[tb.name]%500 == 0 {
					progress(tb.name, counts[tb.name])
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			tx.Rollback()
			return counts, err
		}
		if dst.db.pg {
			if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+tb.name+`', 'id'), COALESCE((SELECT max(id) FROM `+tb.name+`), 0) + 1, false)`); err != nil {
				tx.Rollback()
				return counts, fmt.Errorf("history: %s id sequence: %w", tb.name, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return counts, err
		}
		if progress != nil {
			progress(tb.name, counts[tb.name])
		}
	}
	dst.groups = map[int64]*cluster{}
	return counts, dst.loadGroups()
}
