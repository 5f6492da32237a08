// Package ttl keeps maps of last-seen times bounded. A debounce or
// cool-down map keyed by camera (or camera and name) only needs the
// entries younger than its window; Sweep drops the others, amortized, so
// a stream of distinct keys (cameras that come and go) costs only the keys
// seen within one window.
package ttl

import "time"

// minSweep is the map size below which Sweep does nothing.
const minSweep = 64

// Sweep deletes the entries of m older than window at now when m has
// grown to *next entries, then sets *next to twice what is left (at least
// 64): the cost stays O(1) per insert, amortized. Call it after inserting.
func Sweep[K comparable](m map[K]time.Time, now time.Time, window time.Duration, next *int) {
	if len(m) < max(*next, minSweep) {
		return
	}
	for k, t := range m {
		if d := now.Sub(t); d >= window || d <= -window {
			delete(m, k)
		}
	}
	*next = max(2*len(m), minSweep)
}
