package creds

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/facemon/facemon/shared/firstrun"
)

// BannerOptions says how other machines reach this one, for the printed
// command lines.
type BannerOptions struct {
	// BrokerHost and BrokerPort are the MQTT broker as seen from other
	// machines (default: this host name, 1883).
	BrokerHost string
	BrokerPort int
	// Program is the command that manages users, shown in hints (default
	// "facemon-recognizer users").
	Program string
	// StateFlag is the --state argument to show in hints ("" = none).
	StateFlag string
	// TopicPrefix, if set, is added to the printed edge command line.
	TopicPrefix string
}

func (b *BannerOptions) defaults() {
	if b.BrokerHost == "" {
		b.BrokerHost, _ = os.Hostname()
		if b.BrokerHost == "" {
			b.BrokerHost = "<this-host>"
		}
	}
	if b.BrokerPort == 0 {
		b.BrokerPort = 1883
	}
	if b.Program == "" {
		b.Program = "facemon-recognizer users"
	}
}

func (b *BannerOptions) cmd(sub string) string {
	s := b.Program + " " + sub
	if b.StateFlag != "" {
		s += " --state " + b.StateFlag
	}
	return s
}

const rule = "=============================================================================="

// Show gives what Ensure generated to a person (see ShowSecret): printed
// when stdout is a terminal, otherwise saved in the state directory's
// first-run-credentials file; then it returns the line to log (where the
// file is), else "". Nothing generated: nothing shown, "".
func (c *Created) Show(stdout io.Writer, b BannerOptions) (string, error) {
	if c.Empty() {
		return "", nil
	}
	var sb strings.Builder
	c.Banner(&sb, b)
	return ShowSecret(stdout, c.Dir, b, sb.String())
}

// ShowSecret shows text holding secrets to a person: printed on stdout
// when it is a terminal (returns ""), otherwise added to dir's
// first-run-credentials file (0600, atomic), returning the hint to log or
// print instead, which names the file and `users show --first-run`. Under
// systemd or compose stdout is the journal or the container log, which
// must never hold a secret.
func ShowSecret(stdout io.Writer, dir string, b BannerOptions, text string) (string, error) {
	b.defaults()
	path, err := firstrun.Show(stdout, dir, text)
	if err != nil || path == "" {
		return "", err
	}
	return firstrun.Hint(b.Program, dir), nil
}

// Banner writes what Ensure generated, for a person to read once (Show
// decides where it goes; never to the log). It writes nothing if nothing
// was generated.
func (c *Created) Banner(w io.Writer, b BannerOptions) {
	if c.Empty() {
		return
	}
	b.defaults()
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p(rule)
	p(" facemon credentials (state directory %s) -- shown ONCE, write them down", c.Dir)
	p(rule)
	for _, n := range c.Notes {
		p(" upgrade: %s", n)
	}
	if len(c.Notes) > 0 {
		p("")
	}
	if c.DashboardPassword != "" {
		p(" Dashboard login:       admin / %s", c.DashboardPassword)
		p("   (also the MQTT admin user; stored only as a hash: `%s` for a new one)", b.cmd("rotate admin"))
	}
	if c.APIToken != "" {
		p(" REST API token:        %s", c.APIToken)
		p("   (file %s)", APITokenFile(c.Dir))
	}
	for _, list := range [][]Credential{c.Users, c.Rotated} {
		for _, u := range list {
			switch u.Role {
			case RoleAdmin:
			case RoleHomeAssistant:
				p(" Home Assistant MQTT:   broker %s port %d, user %s, password %s", b.BrokerHost, b.BrokerPort, u.User, u.Password)
			case RoleEdge:
				p(" Edge camera %-10s user %s, password %s", u.Camera+":", u.User, u.Password)
				p("   run it on its Pi:    %s", EdgeCommand(u, b))
			default:
				p(" MQTT user %-11s for this machine's %s (password in %s)", u.User, u.Role, SecretFile(c.Dir, u.User))
			}
		}
	}
	p("")
	p(" Client passwords are kept in %s/ (`%s` prints one again);", filepath.Join(c.Dir, DirSecrets), b.cmd("show NAME"))
	p(" `%s` adds an edge; `%s` lists the users.", b.cmd("add camera ID"), b.cmd("list"))
	p(" Mosquitto users for an external broker: %s/", filepath.Join(c.Dir, DirMosquitto))
	p(rule)
}

// EdgeCommand returns the command line that runs the edge for an edge
// credential on another machine.
func EdgeCommand(u Credential, b BannerOptions) string {
	b.defaults()
	s := fmt.Sprintf("FACEMON_MQTT_PASSWORD=%s facemon-edge --broker tcp://%s:%d --username %s --camera-id %s --source 0",
		u.Password, b.BrokerHost, b.BrokerPort, u.User, u.Camera)
	if b.TopicPrefix != "" {
		s += " --topic-prefix " + b.TopicPrefix
	}
	return s
}

// PrintEdge prints an edge's credentials with the command line and an
// env-file form.
func PrintEdge(w io.Writer, u Credential, b BannerOptions) {
	b.defaults()
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Edge for camera %q: MQTT user %s, password %s", u.Camera, u.User, u.Password)
	p("")
	p("Run it on the camera's Pi:")
	p("  %s", EdgeCommand(u, b))
	p("")
	p("or keep the password in an env file (readable only by you):")
	p("  umask 077; cat > ~/facemon-edge-%s.env <<'EOF'", u.Camera)
	p("  FACEMON_MQTT_USER=%s", u.User)
	p("  FACEMON_MQTT_PASSWORD=%s", u.Password)
	p("  EOF")
	prefix := ""
	if b.TopicPrefix != "" {
		prefix = " --topic-prefix " + b.TopicPrefix
	}
	p("  set -a; . ~/facemon-edge-%s.env; set +a; facemon-edge --broker tcp://%s:%d --camera-id %s --source 0%s",
		u.Camera, b.BrokerHost, b.BrokerPort, u.Camera, prefix)
	p("  (systemd: EnvironmentFile=/path/to/facemon-edge-%s.env)", u.Camera)
	p("")
	p("Shown once; `%s` prints the password again.", b.cmd("show "+u.User))
}
