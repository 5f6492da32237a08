// Package pprofx mounts Go's runtime profiles (net/http/pprof) on a
// component's own mux behind the same guard as /metrics: loopback clients,
// or the metrics bearer token.
package pprofx

import (
	"net/http"
	"net/http/pprof"

	"github.com/facemon/facemon/shared/httpauth"
)

// Mount serves /debug/pprof/ (the index and every named profile),
// /debug/pprof/profile (CPU), /debug/pprof/trace, /debug/pprof/cmdline and
// /debug/pprof/symbol on mux, guarded like httpauth.Metrics with token.
//
// A CPU profile or trace runs for its ?seconds= (default 30 s): the
// server's WriteTimeout, if any, must be longer.
func Mount(mux *http.ServeMux, token string) {
	g := func(h http.HandlerFunc) http.Handler { return httpauth.LocalOrToken(h, token, "pprof") }
	mux.Handle("GET /debug/pprof/", g(pprof.Index))
	mux.Handle("GET /debug/pprof/cmdline", g(pprof.Cmdline))
	mux.Handle("GET /debug/pprof/profile", g(pprof.Profile))
	mux.Handle("GET /debug/pprof/symbol", g(pprof.Symbol))
	mux.Handle("GET /debug/pprof/trace", g(pprof.Trace))
}
