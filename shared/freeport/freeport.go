// Package freeport hands out free TCP ports on 127.0.0.1 for tests and
// benchmarks that start servers on loopback.
package freeport

import (
	"errors"
	"net"
	"sync"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Port returns a TCP port on 127.0.0.1 that was free a moment ago and that
// this process has not been handed before: the kernel may give the port
// just released to the next bind, so two calls in a row could otherwise
// return the same port (CI once saw a broker's TCP and TLS listeners get
// one port).
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, errors.New("freeport: no TCP port on 127.0.0.1 that was not handed out before")
}
