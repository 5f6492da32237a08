// Package firstrun shows generated secrets (first-run passwords, rotated
// tokens) to a person without putting them in a log: they are printed when
// stdout is a terminal, and otherwise (systemd's journal, a container log,
// a pipe) saved in <state>/first-run-credentials (0600) while the log gets
// only where to find them.
package firstrun

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/facemon/facemon/shared/fsx"
)

// FileName is the file in the state directory that holds secrets which
// could not be shown on a terminal.
const FileName = "first-run-credentials"

// Path returns dir's first-run credentials file.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// IsTerminal reports whether w is a terminal (an *os.File on a tty).
// Anything else (a pipe, a regular file, /dev/null, a buffer) is not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f.Fd())
}

// Show gives text (which holds secrets) to a person: on a terminal stdout
// it is printed and Show returns "". Otherwise it is added to dir's
// first-run credentials file (created 0600 in a 0700 folder, rewritten
// atomically, earlier unread entries kept) and Show returns that file's
// path, for a log line such as Hint's. Nothing is written to stdout then.
func Show(stdout io.Writer, dir, text string) (string, error) {
	if IsTerminal(stdout) {
		_, err := io.WriteString(stdout, text)
		return "", err
	}
	path := Path(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("first-run credentials: %w", err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("first-run credentials: %w", err)
	}
	var b []byte
	if len(old) > 0 {
		b = append(old, '\n')
	}
	b = fmt.Appendf(b, "# written %s (stdout was not a terminal); delete this file once you have them\n", time.Now().UTC().Format(time.RFC3339))
	b = append(b, text...)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		b = append(b, '\n')
	}
	if err := fsx.WriteFileAtomic(path, b, 0o600); err != nil {
		return "", fmt.Errorf("first-run credentials: %w", err)
	}
	return path, nil
}

// Hint is the log line that says where saved credentials are: program is
// the users command ("facemon-recognizer users"), "" for none.
func Hint(program, dir string) string {
	if program == "" {
		return fmt.Sprintf("credentials created: read %s and delete it after", Path(dir))
	}
	return fmt.Sprintf("credentials created: run `%s show --first-run --state %s` (or read %s) and delete it after", program, dir, Path(dir))
}

// Read returns dir's first-run credentials file.
func Read(dir string) ([]byte, error) {
	b, err := os.ReadFile(Path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no first-run credentials in %s (they were shown on a terminal, or the file was deleted; `users rotate` makes new ones): %w", dir, err)
	}
	return b, err
}
