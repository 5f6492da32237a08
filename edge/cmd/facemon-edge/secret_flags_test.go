package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestHelpAndErrorsShowNoSecret: the edge has no API token flag any more
// (issue 17), and a bad URL with a password is refused without showing it.
func TestHelpAndErrorsShowNoSecret(t *testing.T) {
	var help bytes.Buffer
	if _, err := parseConfig([]string{"facemon-edge", "-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if strings.Contains(help.String(), "-api-token") || !strings.Contains(help.String(), "-ca") {
		t.Fatalf("help lists an API token flag or lacks --ca:\n%s", help.String())
	}
	_, err := parseConfig([]string{"facemon-edge", "--broker", "http://u:brokerPW@h", "--recognizer-url", "http://u:apiPW@h:9101"}, &help)
	if err == nil {
		t.Fatal("bad URLs accepted")
	}
	if strings.Contains(err.Error(), "brokerPW") || strings.Contains(err.Error(), "apiPW") || !strings.Contains(err.Error(), "u:xxxxx@h") {
		t.Errorf("error text: %v", err)
	}
}
