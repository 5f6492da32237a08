// Command facemon-broker runs facemon's MQTT broker.
//
//	facemon-broker [flags]              run the broker
//	facemon-broker hash-password        read a password on stdin, print its bcrypt hash
//	facemon-broker users ...            manage users (see package creds)
//
// Run with -h for the flags.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/facemon/facemon/broker"
	"github.com/facemon/facemon/broker/creds"
	"golang.org/x/crypto/bcrypt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args)
	stop()
	os.Exit(code)
}

// run runs the command with the process's standard streams and returns the
// exit code.
func run(ctx context.Context, args []string) int {
	return runIO(ctx, args, os.Stdin, os.Stdout, os.Stderr, nil)
}

// runIO is run with explicit streams. If started is not nil it receives the
// broker's bound TCP address once listening (for tests).
func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, started chan<- string) int {
	name := "facemon-broker"
	if len(args) > 0 {
		args = args[1:]
	}
	if len(args) > 0 && args[0] == "hash-password" {
		return hashPassword(args[1:], stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "users" {
		return creds.Command(ctx, name+" users", args[1:], stdout, stderr)
	}

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen     = fs.String("listen", broker.DefaultTCPAddr, "plain MQTT `address` to listen on (host:port)")
		ws         = fs.String("ws", "", "MQTT-over-WebSocket listen `address` (host:port; empty: disabled)")
		tlsListen  = fs.String("tls-listen", "", "MQTT-over-TLS listen `address` (host:port; empty: disabled; needs --tls-cert and --tls-key)")
		tlsCert    = fs.String("tls-cert", "", "TLS certificate chain `file` (PEM)")
		tlsKey     = fs.String("tls-key", "", "TLS private key `file` (PEM)")
		maxPacket  = fs.Uint("max-packet", broker.DefaultMaxPacketSize, "largest MQTT packet accepted from a client, in `bytes`; bigger ones disconnect the client")
		maxPending = fs.Int("max-pending", broker.DefaultMaxClientWritesPending, "outbound queue length per client (`messages`); messages to a client whose queue is full are dropped")
		users      = fs.String("users", "", "YAML users `file` (see users.example.yaml); or use --state")
		state      = fs.String("state", "", "state `directory`: creates the users (and dashboard password, API token, Mosquitto files) on first start, prints them once, and uses DIR/users.yaml")
		allowAnon  = fs.Bool("allow-anonymous", false, "also accept clients without a username, from loopback addresses only, with access to every topic (development; logged loudly)")
		cameras    multiFlag
		wsOrigins  multiFlag
		host       = fs.String("host", "", "with --state: host name other machines use to reach this broker, for the printed edge command line (default: this host name)")
		logLevel   = fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	)
	fs.Var(&cameras, "camera", "with --state: create the edge user edge-`ID` too (repeatable)")
	fs.Var(&wsOrigins, "ws-origin", "extra browser `origin` allowed on the WebSocket listener (scheme://host[:port], host[:port] or *; repeatable or comma-separated); by default only the request's own host, and clients sending no Origin")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage:
  %[1]s [flags]          run the facemon MQTT broker (stops on SIGINT/SIGTERM)
  %[1]s hash-password    read a password from stdin, print a bcrypt hash for the users file
  %[1]s users ...        create and manage users (%[1]s users -h)

Without --users or --state the broker refuses to start unless --allow-anonymous.

Flags:
`, name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "%s: --log-level: %v\n", name, err)
		return 2
	}
	if *maxPacket > broker.MaxPacketSizeLimit {
		fmt.Fprintf(stderr, "%s: --max-packet %d exceeds the MQTT maximum %d\n", name, *maxPacket, broker.MaxPacketSizeLimit)
		return 2
	}
	if *maxPending < 1 || *maxPending > broker.MaxClientWritesPendingLimit {
		fmt.Fprintf(stderr, "%s: --max-pending must be in [1, %d]\n", name, broker.MaxClientWritesPendingLimit)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *state != "" {
		if *users != "" {
			fmt.Fprintf(stderr, "%s: give --users or --state, not both\n", name)
			return 2
		}
		created, err := creds.Ensure(creds.Options{Dir: *state, Cameras: cameras})
		if err != nil {
			logger.Error("cannot set up the state directory", "state", *state, "error", err)
			return 1
		}
		port := 1883
		if _, p, err := net.SplitHostPort(*listen); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				port = n
			}
		}
		// Secrets go to a terminal or to <state>/first-run-credentials,
		// never to the journal or a container log.
		hint, err := created.Show(stdout, creds.BannerOptions{BrokerHost: *host, BrokerPort: port, Program: name + " users", StateFlag: *state})
		if err != nil {
			logger.Error("cannot save the first-run credentials", "state", *state, "error", err)
			return 1
		}
		if hint != "" {
			logger.Warn(hint)
		}
		*users = creds.UsersFile(*state)
	} else if len(cameras) > 0 || *host != "" {
		fmt.Fprintf(stderr, "%s: --camera and --host need --state\n", name)
		return 2
	}

	b, err := broker.New(broker.Options{
		TCPAddr:                *listen,
		WSAddr:                 *ws,
		TLSAddr:                *tlsListen,
		TLSCert:                *tlsCert,
		TLSKey:                 *tlsKey,
		MaxPacketSize:          uint32(*maxPacket),
		MaxClientWritesPending: int32(*maxPending),
		UsersFile:              *users,
		AllowAnonymous:         *allowAnon,
		WSOrigins:              wsOrigins,
		Logger:                 logger,
	})
	if err != nil {
		logger.Error("invalid configuration", "error", err)
		return 1
	}
	if err := b.Start(ctx); err != nil {
		logger.Error("cannot start broker", "error", err)
		return 1
	}
	if started != nil {
		started <- b.Addr()
	}
	<-ctx.Done()
	logger.Info("shutting down", "reason", context.Cause(ctx))
	if err := b.Close(); err != nil {
		logger.Error("close", "error", err)
		return 1
	}
	return 0
}

// hashPassword implements the hash-password subcommand.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("facemon-broker hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost (%d-%d)", bcrypt.MinCost, bcrypt.MaxCost))
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: facemon-broker hash-password [--cost N] < password

Reads one password line from stdin (a trailing newline is removed) and prints
its bcrypt hash, for the password_hash field of the users file, e.g.
  printf '%%s\n' 'secret' | facemon-broker hash-password

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "hash-password: read stdin: %v\n", err)
		return 1
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if pw == "" {
		fmt.Fprintln(stderr, "hash-password: empty password on stdin")
		return 1
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		fmt.Fprintf(stderr, "hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, string(h))
	return 0
}

// multiFlag is a repeatable flag; each value may also be comma-separated.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}
