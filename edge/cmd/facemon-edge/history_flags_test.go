package main

import (
	"io"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/rapi"
)

func TestParseConfigHistory(t *testing.T) {
	t.Setenv("FACEMON_API_TOKEN", "")
	c, err := parseConfig([]string{"facemon-edge"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RecognizerURL != "" || c.APIToken != "" || c.APITimeout != rapi.DefaultTimeout {
		t.Fatalf("defaults: %+v", c)
	}
	t.Setenv("FACEMON_API_TOKEN", "from-env")
	c, err = parseConfig([]string{"facemon-edge", "--recognizer-url", "http://127.0.0.1:9101", "--recognizer-timeout", "3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RecognizerURL != "http://127.0.0.1:9101" || c.APIToken != "from-env" || c.APITimeout != 3*time.Second {
		t.Fatalf("parsed: %+v", c)
	}
	for _, bad := range [][]string{
		{"--recognizer-url", "127.0.0.1:9101"}, {"--recognizer-url", "ftp://h"}, {"--recognizer-url", "http://u:p@h"},
		{"--recognizer-url", "http://h/?q=1"}, {"--recognizer-timeout", "0s"}, {"--api-token", "a\nb"},
	} {
		if _, err := parseConfig(append([]string{"facemon-edge"}, bad...), io.Discard); err == nil {
			t.Errorf("%v: want error", bad)
		}
	}
}
