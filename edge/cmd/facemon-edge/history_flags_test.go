package main

import (
	"io"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/rapi"
)

func TestParseConfigHistory(t *testing.T) {
	c, err := parseConfig([]string{"facemon-edge"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RecognizerURL != "" || c.APITimeout != rapi.DefaultTimeout {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseConfig([]string{"facemon-edge", "--recognizer-url", "http://127.0.0.1:9101", "--recognizer-timeout", "3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RecognizerURL != "http://127.0.0.1:9101" || c.APITimeout != 3*time.Second {
		t.Fatalf("parsed: %+v", c)
	}
	for _, bad := range [][]string{
		{"--recognizer-url", "127.0.0.1:9101"}, {"--recognizer-url", "ftp://h"}, {"--recognizer-url", "http://u:p@h"},
		{"--recognizer-url", "http://h/?q=1"}, {"--recognizer-timeout", "0s"},
		// The edge holds no REST API token any more (issue 17).
		{"--api-token", "x"}, {"--api-token-file", "f"},
	} {
		if _, err := parseConfig(append([]string{"facemon-edge"}, bad...), io.Discard); err == nil {
			t.Errorf("%v: want error", bad)
		}
	}
}
