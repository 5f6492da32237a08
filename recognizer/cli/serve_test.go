package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestHelpPrintsNoSecret: secrets given in the environment never appear as
// flag defaults in --help (flag.PrintDefaults prints a non-empty default).
func TestHelpPrintsNoSecret(t *testing.T) {
	t.Setenv("FACEMON_API_TOKEN", "tok-SECRET-1")
	t.Setenv("FACEMON_MQTT_PASSWORD", "pw-SECRET-2")
	t.Setenv("FACEMON_BROKER", "tcp://u:pw-SECRET-3@h:1883")
	var out, errb bytes.Buffer
	err := Serve(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"-h"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve -h: %v", err)
	}
	help := errb.String() + out.String()
	if !strings.Contains(help, "-api-token") || !strings.Contains(help, "env FACEMON_API_TOKEN") {
		t.Fatalf("help lacks the flags:\n%s", help)
	}
	if strings.Contains(help, "SECRET") {
		t.Errorf("secret in --help:\n%s", help)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("FACEMON_T_A", "from-env")
	t.Setenv("FACEMON_T_B", "from-env")
	t.Setenv("FACEMON_T_C", "")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	a := fs.String("a", "", "")
	b := fs.String("b", "", "")
	c := fs.String("c", "dflt", "")
	if err := fs.Parse([]string{"-b", "given"}); err != nil {
		t.Fatal(err)
	}
	fromEnv(fs, map[string]envVar{"a": {"FACEMON_T_A", a}, "b": {"FACEMON_T_B", b}, "c": {"FACEMON_T_C", c}})
	if *a != "from-env" || *b != "given" || *c != "dflt" {
		t.Errorf("a=%q b=%q c=%q", *a, *b, *c)
	}
}
