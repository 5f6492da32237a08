// Package mqttfilter is facemon's one implementation of MQTT topic-filter
// syntax and matching (MQTT v5 §4.7): validation, "$share/<group>/"
// shared subscriptions, matching a topic name, and whether one filter
// covers another. The broker's ACL (broker/auth) and the client's message
// dispatch (shared/mqttx) both use it, so they cannot disagree on what a
// filter matches.
package mqttfilter

import (
	"errors"
	"fmt"
	"strings"
)

// sharePrefix is the MQTT v5 shared-subscription prefix: "$share/<group>/<filter>".
const sharePrefix = "$share/"

// ValidateFilter reports whether f is a syntactically valid MQTT topic filter
// (MQTT v5 §4.7): non-empty, no NUL, '#' only as the whole last level, '+'
// only as a whole level. Shared-subscription filters ("$share/...") are not
// accepted here; use StripShare first.
func ValidateFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	if strings.ContainsRune(f, 0) {
		return errors.New("topic filter contains NUL")
	}
	if strings.HasPrefix(f, sharePrefix) {
		return fmt.Errorf("topic filter %q: $share/ prefix is not allowed here", f)
	}
	for rest, more := f, true; more; {
		var l string
		l, rest, more = strings.Cut(rest, "/")
		switch {
		case l == "#":
			if more {
				return fmt.Errorf("topic filter %q: '#' must be the last level", f)
			}
		case l == "+":
		case strings.ContainsAny(l, "#+"):
			return fmt.Errorf("topic filter %q: wildcards must occupy a whole level", f)
		}
	}
	return nil
}

// ValidateTopic reports whether t is a valid MQTT topic name (as published):
// non-empty, no NUL, no wildcard characters.
func ValidateTopic(t string) error {
	if t == "" {
		return errors.New("empty topic name")
	}
	if strings.ContainsRune(t, 0) {
		return errors.New("topic name contains NUL")
	}
	if strings.ContainsAny(t, "#+") {
		return fmt.Errorf("topic name %q contains a wildcard", t)
	}
	return nil
}

// StripShare removes a "$share/<group>/" prefix from a subscription filter.
// It returns the remaining filter and true if f was a well-formed shared
// subscription, f itself and true if f is not shared, and ("", false) if f
// starts with "$share/" but is malformed (missing/empty/wildcard group or
// missing filter).
func StripShare(f string) (string, bool) {
	if !strings.HasPrefix(f, sharePrefix) {
		return f, true
	}
	rest := f[len(sharePrefix):]
	group, filter, ok := strings.Cut(rest, "/")
	if !ok || group == "" || filter == "" || strings.ContainsAny(group, "#+") {
		return "", false
	}
	return filter, true
}

// Match reports whether the topic name matches the topic filter according to
// the MQTT specification:
//   - "+" matches exactly one level (which may be empty);
//   - "#" (last level only) matches the parent level and any number of
//     child levels, so "x/#" matches "x", "x/" and "x/y/z";
//   - topics whose first level starts with '$' (e.g. "$SYS/...") are not
//     matched by a filter starting with a wildcard.
//
// An invalid filter or topic name (empty, NUL, wildcard characters) matches
// nothing.
func Match(filter, topic string) bool {
	if ValidateFilter(filter) != nil || ValidateTopic(topic) != nil {
		return false
	}
	if topic[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		switch {
		case fl == "#":
			return true
		case fl == "+" || fl == tl:
		default:
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// Topic exhausted; only a trailing "#" may remain ("x/#" matches "x").
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// MatchSubscription is Match for a subscription filter that may be a shared
// subscription: "$share/<group>/<filter>" matches what <filter> matches; a
// malformed shared filter (see StripShare) matches nothing.
func MatchSubscription(filter, topic string) bool {
	f, ok := StripShare(filter)
	return ok && Match(f, topic)
}

// Covers reports whether every topic matched by filter sub is also matched
// by filter rule, i.e. sub is a subset of rule. For a plain topic name (no
// wildcards) Covers(rule, topic) == Match(rule, topic). Both arguments must
// be valid filters (see ValidateFilter); otherwise Covers returns false.
func Covers(rule, sub string) bool {
	if ValidateFilter(rule) != nil || ValidateFilter(sub) != nil {
		return false
	}
	r := strings.Split(rule, "/")
	s := strings.Split(sub, "/")
	dollar := strings.HasPrefix(s[0], "$") // sub only matches $-topics
	for i := 0; ; i++ {
		if i == len(r) {
			return i == len(s)
		}
		if r[i] == "#" {
			return !(i == 0 && dollar)
		}
		if i == len(s) {
			// sub ended; rule still requires more levels (r[i] != "#").
			return false
		}
		switch {
		case r[i] == "+":
			if s[i] == "#" || (i == 0 && dollar) {
				return false
			}
		case s[i] == "+" || s[i] == "#":
			// A literal rule level cannot cover a wildcard level.
			return false
		case r[i] != s[i]:
			return false
		}
	}
}
