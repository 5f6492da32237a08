// Package testx holds helpers that the tests of several modules need: a
// goroutine-safe log buffer, a free port, polling for a condition, and
// finding and starting headless Chromium.
// Only _test.go files import it.
package testx

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/freeport"
)

// Buffer is a bytes.Buffer safe for concurrent use: a log sink for loggers
// whose goroutines may outlive the code that reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that this process has not been handed before (freeport.Port).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// WaitFor polls cond every 50 ms until it holds, failing the test when it
// still does not after within.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", within, what)
}
