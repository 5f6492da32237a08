// Package netx holds facemon's one loopback check, used by the broker (which
// clients may connect anonymously) and by the HTTP servers (who may read
// /metrics without a token).
package netx

import (
	"net"
	"net/netip"
)

// IsLoopback reports whether a "host:port" (or bare host) address is a
// loopback address: 127.0.0.0/8, ::1, or an IPv4-mapped loopback
// (::ffff:127.0.0.1). Host names (even "localhost"), empty and malformed
// addresses are not loopback: the caller passes the TCP peer's address,
// never a header or a name.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return a.Unmap().IsLoopback()
}
