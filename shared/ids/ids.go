// Package ids makes the identifiers both modules need: random request ids
// and MQTT-safe ids derived from host names.
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/facemon/facemon/shared/topic"
)

// New returns a random 16-hex-digit id.
func New() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Sanitize maps s onto a valid topic id ([A-Za-z0-9_.-], at most 64 bytes,
// no leading or trailing '-' or '.'); it returns fallback when nothing is
// left.
func Sanitize(s, fallback string) string {
	id := strings.Trim(Part(s, 64), "-.")
	if !topic.ValidID(id) {
		return fallback
	}
	return id
}

// Part maps s onto [A-Za-z0-9_.-] (any other character becomes '-'), at
// most n bytes, for building a longer id from pieces.
func Part(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// ClientIDSep separates the owning user from the rest of an MQTT client id:
// "<user>@<host>-<hex>". It cannot occur in user names or camera ids (both
// are [A-Za-z0-9_.-]; the broker refuses user names containing it), so no
// user's client ids are also another user's: "edge-door@pi-…" belongs to
// user edge-door only, whatever other users exist. An id starting with it
// (an empty owner, "@recognizer-pi-…") is an anonymous client's and never
// any user's.
const ClientIDSep = "@"

// ClientIDOwner returns the user name a client id claims: the part before
// the first ClientIDSep, or the whole id when it has none (a user may
// connect with its bare name as id). It is "" for an anonymous client's id.
func ClientIDOwner(id string) string {
	owner, _, _ := strings.Cut(id, ClientIDSep)
	return owner
}
