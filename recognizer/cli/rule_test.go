package cli

import (
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/facemon/facemon/recognizer/gallery"
)

// The decision flags build the rule: defaults give gallery.DefaultRule,
// each flag moves its field, and out-of-range values are usage errors.
func TestRuleFlags(t *testing.T) {
	parse := func(args ...string) (gallery.Rule, error) {
		var r ruleFlags
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		r.register(fs)
		if err := fs.Parse(args); err != nil {
			return gallery.Rule{}, err
		}
		return r.rule(fs)
	}
	if got, err := parse(); err != nil || got != gallery.DefaultRule {
		t.Fatalf("defaults: %+v, %v; want %+v", got, err, gallery.DefaultRule)
	}
	got, err := parse("--sample-noise", "0", "--strictness", "strict", "--score", "nearest")
	if err != nil || got.SampleNoise != 0 || got.Threshold != gallery.Strictness["strict"] || got.Centroid {
		t.Fatalf("flags: %+v, %v", got, err)
	}
	if got, err := parse("--threshold", "0.45", "--strictness", "relaxed"); err != nil || got.Threshold != 0.45 {
		t.Fatalf("--threshold over --strictness: %+v, %v", got, err)
	}
	for _, bad := range [][]string{{"--sample-noise", "-0.01"}, {"--sample-noise", "0.3"}, {"--threshold", "0"}, {"--margin", "2"}, {"--score", "mean"}, {"--strictness", "lax"}} {
		if _, err := parse(bad...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
}
