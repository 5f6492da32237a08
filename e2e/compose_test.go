package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// docker-compose.yml cannot run here (no Docker engine); check that it is
// valid YAML and that every flag it passes exists in the binary it runs.
func TestComposeMatchesBinaries(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, want := range []string{"broker", "recognizer", "edge"} {
		svc, ok := c.Services[want]
		if !ok {
			t.Fatalf("service %s missing", want)
		}
		if len(svc.Command) == 0 {
			t.Fatalf("service %s has no command", want)
		}
		checkFlags(t, "docker-compose.yml service "+want, svc.Command[0], svc.Command[1:])
	}
	if !strings.Contains(strings.Join(c.Services["recognizer"].Command, " "), "--broker tcp://broker:1883") {
		t.Error("recognizer does not use the broker service")
	}
	// The USB camera's override file: its edge's flags too.
	b, err = os.ReadFile(filepath.Join(repoRoot(), "docker-compose.usb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	c.Services = nil
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.usb.yml: %v", err)
	}
	svc, ok := c.Services["edge-usb"]
	if !ok || len(svc.Command) == 0 {
		t.Fatal("docker-compose.usb.yml: service edge-usb missing or without a command")
	}
	checkFlags(t, "docker-compose.usb.yml service edge-usb", svc.Command[0], svc.Command[1:])
}

// checkFlags fails the test for every --flag in args that the binary bin
// (from binDir) does not define; a first argument that is not a flag is
// taken as a subcommand.
func checkFlags(t *testing.T, where, bin string, args []string) {
	t.Helper()
	helpArgs := []string{"-h"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") { // subcommand
		helpArgs = []string{args[0], "-h"}
		args = args[1:]
	}
	out, _ := exec.Command(filepath.Join(binDir, bin), helpArgs...).CombinedOutput()
	help := string(out)
	if !strings.Contains(help, "-") {
		t.Fatalf("%s: %s %v printed no flags: %s", where, bin, helpArgs, help)
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		flag := strings.SplitN(strings.TrimLeft(a, "-"), "=", 2)[0]
		if !strings.Contains(help, "-"+flag+" ") && !strings.Contains(help, "-"+flag+"\n") && !strings.Contains(help, "-"+flag+"\t") {
			t.Errorf("%s: %s has no flag --%s\n%s", where, bin, flag, help)
		}
	}
}
