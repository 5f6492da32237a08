package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every flag docs/reference-flags.md lists for facemon-edge exists (the
// first column of its table), and every flag the edge has is listed.
func TestReferenceFlagsExist(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/reference-flags.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "## facemon-edge flags")
	if !ok {
		t.Fatal("no facemon-edge section in docs/reference-flags.md")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var usage bytes.Buffer
	if _, err := parseConfig([]string{"facemon-edge", "-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	have := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
		have[m[1]] = true
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		first, _, _ := strings.Cut(line[1:], "|")
		for _, m := range regexp.MustCompile("`--([a-z0-9-]+)`").FindAllStringSubmatch(first, -1) {
			documented[m[1]] = true
			if !have[m[1]] {
				t.Errorf("docs/reference-flags.md lists --%s, which facemon-edge does not have", m[1])
			}
		}
	}
	for f := range have {
		if !documented[f] {
			t.Errorf("facemon-edge --%s is not in docs/reference-flags.md", f)
		}
	}
	if len(documented) < 20 {
		t.Fatalf("only %d flags found in the docs table", len(documented))
	}
}
