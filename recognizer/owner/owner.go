// Package owner assigns every camera to exactly one live recognizer by
// rendezvous (highest random weight) hashing over the set of recognizers
// announced online. Every recognizer computes the same answer from the same
// set, with no coordinator: the set is the recognizers' retained
// facemon/status/recognizer/<instance> messages, whose last will ("offline")
// removes a killed one. When a recognizer joins or leaves, only the cameras
// it gains or owned move (about 1/n of them), the others stay put.
package owner

import (
	"sort"
	"sync"
	"time"
)

// score is the rendezvous weight of member for camera: a 64-bit FNV-1a
// hash of both, finalised with splitmix64 so nearby names spread well. It
// is the same on every machine and in every process (no random seed).
func score(member, camera string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(member); i++ {
		h = (h ^ uint64(member[i])) * prime
	}
	h = (h ^ 0) * prime // separator: ("ab","c") and ("a","bc") differ
	for i := 0; i < len(camera); i++ {
		h = (h ^ uint64(camera[i])) * prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Owner returns the member that owns camera ("" for no members). Ties
// (vanishingly rare) go to the smaller name, so the answer never depends on
// the order of members.
func Owner(camera string, members []string) string {
	best, bestScore := "", uint64(0)
	for _, m := range members {
		s := score(m, camera)
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}

// Set is the live membership as one recognizer sees it: itself (always)
// and the others announced online. It is safe for concurrent use.
type Set struct {
	self string

	mu      sync.Mutex
	members map[string]bool
	seen    map[string]time.Time // when each other member last said "online"
	sorted  []string             // members, sorted; rebuilt on change
}

// NewSet returns the membership of recognizer self, alone so far.
func NewSet(self string) *Set {
	s := &Set{self: self, members: map[string]bool{self: true}, seen: map[string]time.Time{}}
	s.sorted = []string{self}
	return s
}

// Self returns this recognizer's instance id.
func (s *Set) Self() string { return s.self }

// MaxMembers bounds the membership, so a flood of forged status messages
// (from a client the broker lets publish them) costs a bounded map.
const MaxMembers = 1024

// Set records member's announced status and reports whether the
// membership changed. Its own entry never leaves: a stale retained
// "offline" of an earlier run of this instance does not remove it.
func (s *Set) Set(member string, online bool) bool {
	if member == s.self || member == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if online {
		s.seen[member] = time.Now()
	} else {
		delete(s.seen, member)
	}
	if s.members[member] == online {
		return false
	}
	if online {
		if len(s.members) >= MaxMembers {
			return false
		}
		s.members[member] = true
	} else {
		delete(s.members, member)
	}
	s.rebuild()
	return true
}

func (s *Set) rebuild() {
	s.sorted = s.sorted[:0:0]
	for m := range s.members {
		s.sorted = append(s.sorted, m)
	}
	sort.Strings(s.sorted)
}

// Expire removes the members whose last "online" is older than cutoff (a
// retained "online" left by a recognizer whose last will never fired, e.g.
// across a broker restart with persistence) and returns them. Live members
// say "online" again every heartbeat.
func (s *Set) Expire(cutoff time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []string
	for m, t := range s.seen {
		if t.Before(cutoff) {
			delete(s.seen, m)
			delete(s.members, m)
			gone = append(gone, m)
		}
	}
	if len(gone) > 0 {
		sort.Strings(gone)
		s.rebuild()
	}
	return gone
}

// Members returns the live members, sorted (self included).
func (s *Set) Members() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sorted...)
}

// Owner returns the member that owns camera.
func (s *Set) Owner(camera string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Owner(camera, s.sorted)
}

// Owns reports whether this recognizer owns camera.
func (s *Set) Owns(camera string) bool { return s.Owner(camera) == s.self }
