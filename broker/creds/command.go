package creds

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/facemon/facemon/shared/firstrun"
)

// DefaultStateDir is the --state default of the users command: the state
// directory `make run` uses (relative to the working directory).
const DefaultStateDir = "var"

const commandUsage = `Usage: %[1]s <subcommand> [flags]

Manage facemon's MQTT users, dashboard password and API token in a state
directory (default %[2]s/, or $FACEMON_STATE). Passwords are shown once and
stored only as hashes, except client users' passwords in <state>/secrets/.
New secrets are printed only when stdout is a terminal; otherwise (a
journal, a container log, a pipe) they are written to
<state>/first-run-credentials (mode 0600) and only its name is printed.

  init [--camera ID]...         create whatever is missing (users recognizer,
                                admin, homeassistant, edge-<ID>; dashboard
                                password, API token, Mosquitto files)
  add camera ID [--view-all]    add the edge user edge-ID and print the command
                                line that runs that edge on another Pi
                                (--view-all: its dashboard may show every camera)
  add homeassistant [--commands]  add the homeassistant user (--commands: it
                                may also publish facemon/cmd/#)
  add recognizer NAME           add another recognizer user NAME
  list                          list users and their rules (no secrets)
  rotate NAME|admin|api-token   new password (admin: also the dashboard's) or token
  show NAME                     print a client user's stored password
  show --first-run              print <state>/first-run-credentials (delete it
                                once you have its secrets)

Adding an existing user updates its rules and keeps its password. A running
broker reloads users.yaml by itself; Mosquitto needs a reload (SIGHUP).

Flags (every subcommand):
`

// Command runs the users command (args without the program name, e.g.
// ["add", "camera", "door"]); program is how it is invoked ("facemon-broker
// users"), for messages. It returns the exit code.
func Command(ctx context.Context, program string, args []string, stdout, stderr io.Writer) int {
	_ = ctx
	def := DefaultStateDir
	if env := os.Getenv("FACEMON_STATE"); env != "" {
		def = env
	}
	var (
		opts    Options
		banner  BannerOptions
		cameras multiFlag
		viewAll bool
		cmds    bool
		first   bool
	)
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.Dir, "state", def, "state `directory` (env FACEMON_STATE)")
	fs.StringVar(&opts.Prefix, "prefix", "", "facemon topic `prefix` of new users' rules (the --topic-prefix of edge and recognizer)")
	fs.StringVar(&opts.HAPrefix, "ha-prefix", DefaultHAPrefix, "Home Assistant discovery `prefix` (the recognizer's --ha-prefix)")
	fs.StringVar(&banner.BrokerHost, "host", "", "broker `host` name other machines use, for printed command lines (default: this host name)")
	fs.IntVar(&banner.BrokerPort, "port", 1883, "broker `port` for printed command lines")
	fs.Var(&cameras, "camera", "init: also create the edge user for camera `ID` (repeatable)")
	fs.BoolVar(&viewAll, "view-all", false, "add camera: the edge may read every camera's frames and annotated frames")
	fs.BoolVar(&cmds, "commands", false, "add homeassistant: Home Assistant may publish facemon/cmd/#")
	fs.BoolVar(&first, "first-run", false, "show: print the secrets saved in <state>/"+firstrun.FileName+" (written when stdout was not a terminal)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, commandUsage, program, DefaultStateDir)
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	banner.Program, banner.StateFlag, banner.TopicPrefix = program, stateFlag(opts.Dir), opts.Prefix
	opts.Cameras = cameras
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "%s: %s\n\n", program, msg)
		fs.Usage()
		return 2
	}
	if len(pos) == 0 {
		return usage("missing subcommand")
	}
	want := func(n int) bool { return len(pos) == n }
	// secret shows text holding secrets: on a terminal, or in the
	// first-run file with only its name printed.
	secret := func(text string) int {
		hint, err := ShowSecret(stdout, opts.Dir, banner, text)
		if err != nil {
			return fail(err)
		}
		if hint != "" {
			fmt.Fprintln(stdout, hint)
		}
		return 0
	}
	switch pos[0] {
	case "init":
		if !want(1) {
			return usage("init takes no arguments (use --camera ID)")
		}
		c, err := Ensure(opts)
		if err != nil {
			return fail(err)
		}
		if c.Empty() {
			fmt.Fprintf(stdout, "%s is complete; nothing to create (`%s` lists the users)\n", opts.Dir, banner.cmd("list"))
			return 0
		}
		hint, err := c.Show(stdout, banner)
		if err != nil {
			return fail(err)
		}
		if hint != "" {
			fmt.Fprintln(stdout, hint)
		}
	case "add":
		if len(pos) < 2 {
			return usage("add what? camera ID, homeassistant or recognizer NAME")
		}
		var (
			cr      Credential
			created bool
		)
		switch pos[1] {
		case "camera":
			if !want(3) {
				return usage("usage: add camera ID [--view-all]")
			}
			cr, created, err = AddCamera(opts, pos[2], viewAll)
		case "homeassistant":
			if !want(2) {
				return usage("usage: add homeassistant [--commands]")
			}
			cr, created, err = AddHomeAssistant(opts, cmds)
		case "recognizer":
			if !want(3) {
				return usage("usage: add recognizer NAME")
			}
			cr, created, err = AddRecognizer(opts, pos[2])
		default:
			return usage(fmt.Sprintf("add %q: want camera, homeassistant or recognizer", pos[1]))
		}
		if err != nil {
			return fail(err)
		}
		if !created {
			fmt.Fprintf(stdout, "user %s exists: rules updated, password unchanged (`%s` prints it)\n", cr.User, banner.cmd("show "+cr.User))
			return 0
		}
		var sb strings.Builder
		switch cr.Role {
		case RoleEdge:
			PrintEdge(&sb, cr, banner)
		case RoleHomeAssistant:
			fmt.Fprintf(&sb, "Home Assistant MQTT: broker %s port %d, user %s, password %s\n", hostOr(banner), banner.BrokerPort, cr.User, cr.Password)
		default:
			fmt.Fprintf(&sb, "MQTT user %s, password %s\n  run: FACEMON_MQTT_PASSWORD=%s facemon-recognizer serve --broker tcp://%s:%d --username %s ...\n",
				cr.User, cr.Password, cr.Password, hostOr(banner), banner.BrokerPort, cr.User)
		}
		return secret(sb.String())
	case "list":
		if !want(1) {
			return usage("list takes no arguments")
		}
		infos, err := List(opts.Dir)
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tROLE\tCAMERA\tSECRET\tMOSQUITTO\tREAD\tWRITE")
		for _, u := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, orDash(u.Role), orDash(u.Camera), yesNo(u.Secret), yesNo(u.Mosquitto),
				strings.Join(u.Read, " "), strings.Join(u.Write, " "))
		}
		tw.Flush()
	case "rotate":
		if !want(2) {
			return usage("usage: rotate NAME|admin|api-token")
		}
		if pos[1] == "api-token" {
			tok, err := RotateAPIToken(opts)
			if err != nil {
				return fail(err)
			}
			return secret(fmt.Sprintf("new REST API token (in %s): %s\nrestart the recognizer (serve --api-token-file) and give it to what calls the REST API on the recognizer's machine (CLI, Home Assistant, scripts); never to an edge: it needs none\n", APITokenFile(opts.Dir), tok))
		}
		pw, err := Rotate(opts, pos[1])
		if err != nil {
			return fail(err)
		}
		if pos[1] == UserAdmin {
			return secret(fmt.Sprintf("new dashboard / MQTT admin password: admin / %s\n", pw))
		}
		return secret(fmt.Sprintf("new password of %s: %s\n(stored in %s; restart its process with it)\n", pos[1], pw, SecretFile(opts.Dir, pos[1])))
	case "show":
		if first {
			if !want(1) {
				return usage("usage: show --first-run (no NAME)")
			}
			b, err := firstrun.Read(opts.Dir)
			if err != nil {
				return fail(err)
			}
			stdout.Write(b)
			return 0
		}
		if !want(2) {
			return usage("usage: show NAME or show --first-run")
		}
		pw, err := Secret(opts.Dir, pos[1])
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, pw)
	default:
		return usage(fmt.Sprintf("unknown subcommand %q", pos[0]))
	}
	return 0
}

func hostOr(b BannerOptions) string {
	b.defaults()
	return b.BrokerHost
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func stateFlag(dir string) string {
	if dir == DefaultStateDir && os.Getenv("FACEMON_STATE") == "" {
		return ""
	}
	return dir
}

// parseInterleaved parses flags anywhere among the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
