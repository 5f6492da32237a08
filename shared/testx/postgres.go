//go:build unix

package testx

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Postgres is a throw-away PostgreSQL server started by a test.
type Postgres struct {
	DSN     string // postgres://facemon@127.0.0.1:<port>/postgres?sslmode=disable
	Port    int
	DataDir string
	cmd     *exec.Cmd
}

// postgresBin finds Debian's PostgreSQL server programs (postgresql-15,
// installed by scripts/deps.sh): the newest /usr/lib/postgresql/*/bin with
// initdb in it, or $FACEMON_PG_BIN.
func postgresBin() (string, error) {
	if d := os.Getenv("FACEMON_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", fmt.Errorf("PostgreSQL server programs not found (/usr/lib/postgresql/*/bin/initdb): install Debian's postgresql-15 (scripts/deps.sh does)")
	}
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	return filepath.Dir(dirs[0]), nil
}

// StartPostgres runs initdb in a temporary directory and starts a server on
// a free port of 127.0.0.1 (trust authentication for user facemon, loopback
// only, fsync off), stopped and removed when the test ends. Run as root,
// the server runs as the "postgres" user (initdb refuses root). A missing
// PostgreSQL fails the test: it never skips.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "facemon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user (Debian's postgresql package creates it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(filepath.Join(bin, name), args...)
		c.Dir = dir
		c.Env = append(os.Environ(), "LC_ALL=C")
		if cred != nil {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return c
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "facemon", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := FreePort(t)
	p := &Postgres{Port: port, DataDir: data,
		DSN: fmt.Sprintf("postgres://facemon@127.0.0.1:%d/postgres?sslmode=disable", port)}
	var logBuf bytes.Buffer
	p.cmd = run("postgres", "-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=100")
	p.cmd.Stdout, p.cmd.Stderr = &logBuf, &logBuf
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("postgres exited: %v\n%s", err, logBuf.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			if out, err := run("pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "facemon", "-d", "postgres").CombinedOutput(); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("postgres not ready: %s", out)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not listen on 127.0.0.1:%d within 30 s\n%s", port, logBuf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// Kill stops the server at once (SIGKILL), for failure tests.
func (p *Postgres) Kill() { p.cmd.Process.Kill() }

// CPU returns the CPU time (user + system) the server has used so far: the
// postmaster and its live children (backends, checkpointer, WAL writer,
// ...), each with the CPU of its children already reaped (cutime, cstime),
// read from /proc (Linux).
func (p *Postgres) CPU() (time.Duration, error) {
	pm := p.cmd.Process.Pid
	total, _, err := procTimes(pm)
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm {
			continue
		}
		if c, ppid, err := procTimes(pid); err == nil && ppid == pm {
			total += c
		}
	}
	return total, nil
}

// procTimes reads utime+stime+cutime+cstime and the parent of pid.
func procTimes(pid int) (time.Duration, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, s)
	}
	f := strings.Fields(s[i+2:]) // from field 3 (state) on
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} { // fields 14-17: utime stime cutime cstime
		v, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += v
	}
	ppid, _ := strconv.Atoi(f[1])
	return time.Duration(ticks) * time.Second / 100, ppid, nil // USER_HZ = 100
}
