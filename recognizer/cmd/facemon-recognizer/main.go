// Command facemon-recognizer trains a face gallery, identifies faces in
// images, and serves recognition over MQTT.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/facemon/facemon/broker/creds"
	"github.com/facemon/facemon/recognizer/annotate"
	"github.com/facemon/facemon/recognizer/bench"
	"github.com/facemon/facemon/recognizer/cli"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/shared/redact"
	"github.com/facemon/facemon/shared/tlsx"
)

func main() {
	singleThreadBLAS()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: facemon-recognizer <command> [flags]

commands:
  train     build a gallery from a dataset folder of <name>/*.jpg|png
  identify  name the faces in images against a gallery (JSON lines)
  encode    print the 128-D descriptor of every face in images (JSON lines)
  serve     recognize camera frames over MQTT (embedded broker unless --broker)
  eval      measure recognition quality on a labelled dataset and LFW
  certs     generate a local CA and a TLS server certificate (--state DIR, --host names)
  users     create and manage MQTT users, dashboard password, API token (users -h)
  db        db migrate: move a single machine's gallery, dataset and history into PostgreSQL (serve --db)
  backup    one tar of gallery, history (SQLite online backup), dataset and pending enrolments
  bench     measure the pipeline against the naive per-frame method on a video

Run 'facemon-recognizer <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	env := cli.Env{Stdout: stdout, Stderr: stderr, OpenPool: openPool, Annotator: annotate.JPEG, Codec: annotate.Codec{}}
	var err error
	switch args[1] {
	case "train":
		err = cli.Train(ctx, env, args[2:])
	case "identify":
		err = cli.Identify(ctx, env, args[2:])
	case "encode":
		err = cli.Encode(ctx, env, args[2:])
	case "serve":
		err = cli.Serve(ctx, env, args[2:])
	case "eval":
		err = cli.Eval(ctx, env, args[2:])
	case "db":
		err = cli.DB(ctx, env, args[2:])
	case "backup":
		err = cli.Backup(ctx, env, args[2:])
	case "certs":
		return tlsx.Command(args[2:], stdout, stderr)
	case "users":
		return creds.Command(ctx, "facemon-recognizer users", args[2:], stdout, stderr)
	case "bench":
		err = bench.Main(ctx, args[2:], stdout, stderr, cli.DefaultModelDir(), func(dir string, n int) (*face.Pool, error) {
			return openPool(dir, cli.DefaultLandmarks(), n)
		})
		if errors.Is(err, bench.ErrUsage) {
			fmt.Fprintf(stderr, "facemon-recognizer bench: %v\n", err)
			return 2
		}
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[1], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "facemon-recognizer %s: %v\n", args[1], redact.Error(err))
	}
	return cli.ExitCode(err)
}

func openPool(dir string, landmarks, n int) (*face.Pool, error) {
	return face.NewPool(n, dlib.ConfigOpener(dlib.Config{Dir: dir, Landmarks: landmarks}))
}

// singleThreadBLAS re-executes the program with OPENBLAS_NUM_THREADS=1 when
// it is unset. OpenBLAS reads it once, when the library loads (before main),
// and its own threads fight the engine pool: measured here, two engines gave
// 39-41 frames/s with one BLAS thread each and 23 frames/s with OpenBLAS's
// default threading. Set OPENBLAS_NUM_THREADS yourself to choose otherwise.
//
// It sets MALLOC_ARENA_MAX=2 the same way (read by glibc when the process
// starts): glibc gives every new OS thread that mallocs its own arena, up
// to 8 per core, and the Go runtime starts threads for cgo calls over a
// process's life, so dlib's and OpenCV's per-frame buffers spread over
// more and more arenas, each keeping its peak resident: measured in `bench
// --live` and the soak, arenas = threads + 1 (8 -> 13 in the first
// seconds, 188 -> 242 MiB in them) and a late new thread stepped the
// soak's RSS by 5.5 MiB with the Go heap flat. Set MALLOC_ARENA_MAX
// yourself to choose otherwise.
func singleThreadBLAS() {
	changed := false
	for _, kv := range [][2]string{{"OPENBLAS_NUM_THREADS", "1"}, {"MALLOC_ARENA_MAX", "2"}} {
		if os.Getenv(kv[0]) == "" {
			os.Setenv(kv[0], kv[1])
			changed = true
		}
	}
	if !changed {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	syscall.Exec(exe, os.Args, os.Environ()) // returns only on failure: go on as we are
}
