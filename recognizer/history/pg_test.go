//go:build unix

package history

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/facemon/facemon/shared/testx"
)

// pgServer gives each test (by name) a database of its own on one server.
type pgServer struct {
	srv   *testx.Postgres
	admin *sql.DB
	mu    sync.Mutex
	dbs   map[string]string
}

// pg is set while TestOnPostgres runs the store's tests against PostgreSQL.
var pg *pgServer

func (p *pgServer) database(t *testing.T) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if dsn, ok := p.dbs[t.Name()]; ok {
		return dsn
	}
	name := fmt.Sprintf("h%d", len(p.dbs))
	if _, err := p.admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatal(err)
	}
	dsn := strings.Replace(p.srv.DSN, "/postgres?", "/"+name+"?", 1)
	p.dbs[t.Name()] = dsn
	return dsn
}

// The store's tests again, on Debian's PostgreSQL (started here on
// 127.0.0.1, never skipped): what serve --db keeps for several recognizers
// behaves as the single-machine SQLite store does.
func TestOnPostgres(t *testing.T) {
	srv := testx.StartPostgres(t)
	admin, err := sql.Open("pgx", srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	pg = &pgServer{srv: srv, admin: admin, dbs: map[string]string{}}
	defer func() { pg = nil }()
	for name, f := range map[string]func(*testing.T){
		"RecordAndQuery": TestRecordAndQuery, "Debounce": TestDebounce, "Clustering": TestClustering,
		"NameDismissAndNegatives": TestNameDismissAndNegatives, "RetentionByAge": TestRetentionByAge,
		"RetentionBySize": TestRetentionBySize, "RejectsMalformed": TestRejectsMalformed,
		"DeletePersonErasesHistory": TestDeletePersonErasesHistory, "GroupBeyondNewestPage": TestGroupBeyondNewestPage,
		"MergeGroups": TestMergeGroups, "SeenGroupHint": TestSeenGroupHint,
	} {
		t.Run(name, f)
	}
}

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                             `SELECT 1`,
		`a = ? AND b IN (?,?)`:                 `a = $1 AND b IN ($2,$3)`,
		`state = 'open?' AND x = ?`:            `state = 'open?' AND x = $1`,
		`name = 'it''s' AND y = ? AND z = '?'`: `name = 'it''s' AND y = $1 AND z = '?'`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}
