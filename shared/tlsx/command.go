package tlsx

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// Command implements a `certs` subcommand:
//
//	certs [--state DIR] [--host name,ip,...]
//
// It writes DIR/tls/{ca.pem,ca.key,server.pem,server.key}, reusing an
// existing CA, and prints how to use them. It returns the exit status.
func Command(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "var", "state directory (as for the users command); the files go to DIR/tls/")
	name := fs.String("name", "server", "write the certificate as DIR/tls/NAME.pem and NAME.key (e.g. edge-door for a Pi's HTTPS dashboard; the CA is shared)")
	hostList := fs.String("host", strings.Join(DefaultHosts(), ","), "comma-separated DNS names and IP addresses clients use to reach this machine (the certificate's names)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: certs [--state DIR] [--host name,ip,...] [--name NAME]\n\n"+
			"Generates a local CA (once; reused later) and a server certificate signed by it, in DIR/tls/.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "certs: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var hosts []string
	for _, h := range strings.Split(*hostList, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		fmt.Fprintln(stderr, "certs: --host: give at least one name or address")
		return 2
	}
	for _, h := range hosts {
		if err := ValidHost(h); err != nil {
			fmt.Fprintf(stderr, "certs: --host: %v\n", err)
			return 2
		}
	}
	now := time.Now()
	f, newCA, err := GenerateNamed(filepath.Join(*state, DefaultDir), *name, hosts, now)
	if err != nil {
		fmt.Fprintf(stderr, "certs: %v\n", err)
		return 1
	}
	if newCA {
		fmt.Fprintf(stdout, "new local CA:        %s (give this file to every client)\n", f.CA)
		fmt.Fprintf(stdout, "CA key:              %s (keep it here; it signs new server certificates)\n", f.CAKey)
	} else {
		fmt.Fprintf(stdout, "existing CA reused:  %s (clients that trust it keep working)\n", f.CA)
	}
	fmt.Fprintf(stdout, "certificate:         %s for %s, valid until %s\n", f.Cert, strings.Join(hosts, ", "), now.Add(ServerValidity).Format("2006-01-02"))
	fmt.Fprintf(stdout, "key:                 %s\n\n", f.Key)
	if *name != "server" {
		fmt.Fprintf(stdout, "edge HTTPS:          copy both files and %s to the Pi, then facemon-edge --tls-cert %s.pem --tls-key %s.key --ca ca.pem ...\n", f.CA, *name, *name)
		return 0
	}
	fmt.Fprintf(stdout, "serve with TLS:      facemon-recognizer serve --tls-cert %s --tls-key %s ...\n", f.Cert, f.Key)
	fmt.Fprintf(stdout, "edge on another Pi:  copy %s there, then facemon-edge --broker ssl://%s:8883 --ca ca.pem ...\n", f.CA, hosts[0])
	fmt.Fprintf(stdout, "check by hand:       mosquitto_sub -h %s -p 8883 --cafile %s -t 'facemon/status/#' -u USER -P PASSWORD\n", hosts[0], f.CA)
	return 0
}
