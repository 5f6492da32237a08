package history

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func openWAL(t *testing.T, path string) *sql.DB {
	t.Helper()
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The online backup of a database that is being written: the copy passes
// SQLite's integrity check, holds every row committed before it started,
// and the writer was never refused.
func TestBackupSQLiteWhileWriting(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "history.db")
	db := openWAL(t, src)
	if _, err := db.Exec(`CREATE TABLE ev (id INTEGER PRIMARY KEY, blob BLOB)`); err != nil {
		t.Fatal(err)
	}
	pad := make([]byte, 4096) // enough pages for several backup steps
	for i := 0; i < 500; i++ {
		if _, err := db.Exec(`INSERT INTO ev (blob) VALUES (?)`, pad); err != nil {
			t.Fatal(err)
		}
	}
	var before int
	if err := db.QueryRow(`SELECT count(*) FROM ev`).Scan(&before); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var stop atomic.Bool
	var writes atomic.Int64
	var werr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := db.Exec(`INSERT INTO ev (blob) VALUES (?)`, pad); err != nil {
				werr.Store(err)
				return
			}
			writes.Add(1)
		}
	}()
	dst := filepath.Join(dir, "copy.db")
	err := BackupSQLite(context.Background(), src, dst)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if e := werr.Load(); e != nil {
		t.Fatalf("writer refused during the backup: %v", e)
	}
	st, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", st.Mode().Perm())
	}
	cp := openWAL(t, dst)
	var ok string
	if err := cp.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check of the copy: %q %v", ok, err)
	}
	var n int
	if err := cp.QueryRow(`SELECT count(*) FROM ev`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < before {
		t.Fatalf("copy has %d rows, %d were committed before the backup", n, before)
	}
	t.Logf("rows before %d, in the copy %d, written during the backup %d", before, n, writes.Load())
}

// A real history store round-trips: the copy opens as a Store.
func TestBackupSQLiteStore(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "history.db")
	s, err := Open(Config{Path: src})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dst := filepath.Join(dir, "copy.db")
	if err := BackupSQLite(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	c, err := Open(Config{Path: dst})
	if err != nil {
		t.Fatalf("the copy does not open as a history: %v", err)
	}
	c.Close()
}

func TestBackupSQLiteRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := BackupSQLite(context.Background(), filepath.Join(dir, "missing.db"), filepath.Join(dir, "x.db")); err == nil {
		t.Error("a missing source was backed up")
	}
	src := filepath.Join(dir, "h.db")
	db := openWAL(t, src)
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "exists.db")
	if err := os.WriteFile(dst, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := BackupSQLite(context.Background(), src, dst); err == nil {
		t.Error("an existing destination was overwritten")
	}
	if b, _ := os.ReadFile(dst); string(b) != "keep" {
		t.Errorf("existing destination changed: %q", b)
	}
}
