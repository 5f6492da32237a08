package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestHelpAndErrorsShowNoSecret: the token from the environment is not
// printed as a default by --help, and a bad URL with a password is refused
// without showing it.
func TestHelpAndErrorsShowNoSecret(t *testing.T) {
	t.Setenv("FACEMON_API_TOKEN", "tok-SECRET-1")
	var help bytes.Buffer
	if _, err := parseConfig([]string{"facemon-edge", "-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(help.String(), "-api-token") || !strings.Contains(help.String(), "-ca") {
		t.Fatalf("help lacks flags:\n%s", help.String())
	}
	if strings.Contains(help.String(), "SECRET") {
		t.Errorf("secret in --help:\n%s", help.String())
	}
	c, err := parseConfig([]string{"facemon-edge"}, &help)
	if err != nil || c.APIToken != "tok-SECRET-1" {
		t.Fatalf("token from env: %q %v", c.APIToken, err)
	}
	_, err = parseConfig([]string{"facemon-edge", "--broker", "http://u:brokerPW@h", "--recognizer-url", "http://u:apiPW@h:9101"}, &help)
	if err == nil {
		t.Fatal("bad URLs accepted")
	}
	if strings.Contains(err.Error(), "brokerPW") || strings.Contains(err.Error(), "apiPW") || !strings.Contains(err.Error(), "u:xxxxx@h") {
		t.Errorf("error text: %v", err)
	}
}
