package history

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"time"

	"modernc.org/sqlite"
)

// BackupSQLite copies the SQLite database src into a new file dst with
// SQLite's online backup API (sqlite3_backup_*): the copy is one consistent
// snapshot even while a recognizer keeps writing src (WAL mode), unlike a
// copy of the files. dst must not exist. It copies 256 pages per step and
// sleeps briefly between steps, so writers are held up only briefly (a
// write between steps makes SQLite restart the copy from that snapshot).
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
		for {
			more, err := b.Step(256)
			if err != nil {
				b.Finish()
				return err
			}
			if !more {
				return b.Finish()
			}
			select {
			case <-ctx.Done():
				b.Finish()
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	})
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("history backup of %s: %w", src, err)
	}
	return os.Chmod(dst, 0o600)
}
