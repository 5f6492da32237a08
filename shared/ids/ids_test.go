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
