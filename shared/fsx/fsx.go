// Package fsx writes files with user data so that a crash or kill -9 leaves
// either the old or the new content, never a partial file.
package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path via a temp file in the same
// directory: write, chmod, fsync, rename, fsync of the directory. Missing
// parent directories are created with DirMode(perm): a private 0600 file
// gets 0700 folders, a 0644 one 0755 folders.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirMode(perm)); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// DirMode is the mode of a folder made for files of mode perm: perm plus
// search permission wherever perm can read (0600 -> 0700, 0640 -> 0750,
// 0644 -> 0755).
func DirMode(perm os.FileMode) os.FileMode {
	perm = perm.Perm() | 0o700
	return perm | (perm&0o444)>>2
}

// Change is one mode MakePrivate changed.
type Change struct {
	Path     string
	Old, New os.FileMode
}

func (c Change) String() string { return fmt.Sprintf("%s %04o->%04o", c.Path, c.Old, c.New) }

// MakePrivate makes each path private to its owner: a regular file loses
// every group and other permission (0644 -> 0600), and a folder becomes
// 0700 along with every folder and regular file beneath it. It is what
// an upgrade runs over biometric data written by an older, more generous
// version. Missing paths are skipped; symbolic links are neither followed
// nor changed (their own modes mean nothing on Linux); only modes with
// group or other bits are changed. It returns what it changed; on errors
// it goes on with the other paths and returns them joined.
func MakePrivate(paths ...string) ([]Change, error) {
	var changes []Change
	var errs []error
	fix := func(p string, mode fs.FileMode) {
		var want fs.FileMode
		switch {
		case mode.IsDir():
			want = 0o700
		case mode.IsRegular():
			want = mode.Perm() &^ 0o077
		default:
			return
		}
		if mode.Perm()&0o077 == 0 {
			return
		}
		if err := os.Chmod(p, want); err != nil {
			errs = append(errs, err)
			return
		}
		changes = append(changes, Change{Path: p, Old: mode.Perm(), New: want})
	}
	for _, root := range paths {
		if root == "" {
			continue
		}
		st, err := os.Lstat(root)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !st.IsDir() {
			fix(root, st.Mode())
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, err)
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			fix(p, info.Mode())
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return changes, errors.Join(errs...)
}
