package history

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"

	"modernc.org/sqlite"
)

// BackupSQLite copies the SQLite database src into a new file dst with
// SQLite's online backup API (sqlite3_backup_*): the copy is one consistent
// snapshot even while a recognizer keeps writing src (WAL mode), unlike a
// copy of the files. dst must not exist. It copies in one step, reading
// one snapshot of the WAL database, so writers are never held up (the
// history is opened in WAL mode).
func BackupSQLite(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("history backup: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("history backup: %s already exists", dst)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	sdb, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("history backup: open %s: %w", src, err)
	}
	defer sdb.Close()
	conn, err := sdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("history backup: open %s: %w", src, err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(interface {
			NewBackup(dstURI string) (*sqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("the SQLite driver (%T) has no online backup", dc)
		}
		b, err := c.NewBackup("file:" + dst)
		if err != nil {
			return err
		}
		// One step: in WAL mode the copy reads one snapshot while writers
		// go on. Copying in small steps restarts from scratch after every
		// write by another connection, so under steady writes it never
		// finished (seen in CI: 10 minutes).
		if _, err := b.Step(-1); err != nil {
			b.Finish()
			return err
		}
		return b.Finish()
	})
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("history backup of %s: %w", src, err)
	}
	return os.Chmod(dst, 0o600)
}
