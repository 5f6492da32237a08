package ids

import (
	"strings"
	"testing"

	"github.com/facemon/facemon/shared/topic"
)

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"raspberrypi":            "raspberrypi",
		"my host.local":          "my-host.local",
		"":                       "x",
		"---":                    "x",
		"..":                     "x",
		"héllo":                  "h-llo",
		"a/b+c#":                 "a-b-c",
		strings.Repeat("a", 100): strings.Repeat("a", 64),
	} {
		if got := Sanitize(in, "x"); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		if got := Sanitize(in, "x"); !topic.ValidID(got) {
			t.Errorf("Sanitize(%q) = %q is not a valid id", in, got)
		}
	}
}

func TestNew(t *testing.T) {
	a, b := New(), New()
	if len(a) != 16 || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
}

func TestClientIDOwner(t *testing.T) {
	for id, want := range map[string]string{
		"edge-door":             "edge-door",
		"edge-door@pi-a1b2c3":   "edge-door",
		"edge-door-pi@x-a1b2c3": "edge-door-pi",
		"edge-door-pi-a1b2c3":   "edge-door-pi-a1b2c3", // the pre-"@" form claims a user of that whole name
		"@recognizer-pi-a1b2c3": "",
		"recognizer@vm@x":       "recognizer",
		"":                      "",
	} {
		if got := ClientIDOwner(id); got != want {
			t.Errorf("ClientIDOwner(%q) = %q, want %q", id, got, want)
		}
	}
	// The separator never occurs in an id Sanitize or Part makes (camera
	// ids, host parts), so a user name built from them cannot contain it.
	for _, s := range []string{"a@b", "@", "door@pi"} {
		if strings.Contains(Sanitize(s, "x"), ClientIDSep) || strings.Contains(Part(s, 64), ClientIDSep) {
			t.Errorf("%q: sanitized id keeps %q", s, ClientIDSep)
		}
	}
}
