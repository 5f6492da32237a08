package history

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// db is the store's database handle: SQLite (one machine, the default) or
// PostgreSQL (serve --db, shared by several recognizers). Queries are
// written once, with "?" placeholders and SQL both dialects speak
// (RETURNING, COALESCE, TRUE); for PostgreSQL the placeholders become $1,
// $2, ... on the way out.
type db struct {
	*sql.DB
	pg bool
}

// rebind turns "?" placeholders outside string literals into $n.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (d *db) q(s string) string {
	if d.pg {
		return rebind(s)
	}
	return s
}

func (d *db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.DB.ExecContext(ctx, d.q(q), args...)
}

func (d *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.DB.QueryContext(ctx, d.q(q), args...)
}

func (d *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, d.q(q), args...)
}

func (d *db) Query(q string, args ...any) (*sql.Rows, error) { return d.DB.Query(d.q(q), args...) }

func (d *db) BeginTx(ctx context.Context, o *sql.TxOptions) (*tx, error) {
	t, err := d.DB.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, pg: d.pg}, nil
}

// tx is a transaction of db, with the same placeholder rewriting.
type tx struct {
	*sql.Tx
	pg bool
}

func (t *tx) q(s string) string {
	if t.pg {
		return rebind(s)
	}
	return s
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.q(q), args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.q(q), args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.q(q), args...)
}

// least and greatest name the two-argument scalar min and max (SQLite's
// min/max with two arguments are scalar; PostgreSQL's are aggregates only).
func (t *tx) least() string {
	if t.pg {
		return "LEAST"
	}
	return "min"
}

func (t *tx) greatest() string {
	if t.pg {
		return "GREATEST"
	}
	return "max"
}
