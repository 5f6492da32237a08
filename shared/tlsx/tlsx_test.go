package tlsx

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshake runs one TLS handshake between a server using srv and a client
// using cli that dials addr as host, and returns the client's error.
func handshake(t *testing.T, srv, cli *tls.Config, host string) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if tc := c.(*tls.Conn); tc.Handshake() == nil {
			io.Copy(c, c) // echo until the client closes
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(host, port), cli)
	if err != nil {
		ln.Close()
		<-done
		return err
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	conn.Close()
	<-done
	return nil
}

func TestGenerateAndHandshake(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "tls")
	now := time.Now()
	f, newCA, err := Generate(dir, []string{"localhost", "127.0.0.1", "::1", "pi.lan"}, now)
	if err != nil || !newCA {
		t.Fatalf("Generate: %v newCA=%v", err, newCA)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v", st.Mode(), err)
	}
	for _, p := range []string{f.CA, f.CAKey, f.Cert, f.Key} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 || st.Size() == 0 {
			t.Fatalf("%s: %v %v", p, st.Mode(), err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	// The certificate: P-256, SANs, validity, signed by the CA.
	b, _ := os.ReadFile(f.Cert)
	blk, rest := pem.Decode(b)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(bytes.TrimSpace(rest)) == 0 {
		t.Error("server.pem has no CA certificate after the leaf")
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA || leaf.IsCA {
		t.Errorf("leaf: alg %v isCA %v", leaf.PublicKeyAlgorithm, leaf.IsCA)
	}
	if strings.Join(leaf.DNSNames, ",") != "localhost,pi.lan" || len(leaf.IPAddresses) != 2 {
		t.Errorf("SANs: %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if d := leaf.NotAfter.Sub(now); d < 800*24*time.Hour || d > 826*24*time.Hour {
		t.Errorf("validity %v", d)
	}
	pool, err := LoadPool(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "pi.lan"}); err != nil {
		t.Errorf("verify: %v", err)
	}

	srv, err := ServerConfig(f.Cert, f.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	good, err := ClientConfig(f.CA, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	// By IP address (IP SAN) and by name.
	if err := handshake(t, srv, good, "127.0.0.1"); err != nil {
		t.Errorf("127.0.0.1 with the right CA: %v", err)
	}
	if err := handshake(t, srv, good, "localhost"); err != nil {
		t.Errorf("localhost with the right CA: %v", err)
	}
	// A name the certificate does not hold.
	other := good.Clone()
	other.ServerName = "elsewhere.lan"
	if err := handshake(t, srv, other, "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "elsewhere.lan") {
		t.Errorf("wrong name: %v", err)
	}
	// Another CA: refused.
	f2, _, err := Generate(filepath.Join(t.TempDir(), "tls"), []string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := ClientConfig(f2.CA, "", "", "")
	if err := handshake(t, srv, wrong, "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("wrong CA: %v", err)
	}
	// No --ca: the system roots do not know our CA.
	sys, _ := ClientConfig("", "", "", "")
	if err := handshake(t, srv, sys, "127.0.0.1"); err == nil {
		t.Error("system roots accepted the local CA")
	}

	// Client certificates: required by the server when it has a client CA.
	mtls, err := ServerConfig(f.Cert, f.Key, f.CA)
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := ClientConfig(f.CA, f.Cert, f.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, mtls, withCert, "127.0.0.1"); err != nil {
		t.Errorf("client certificate: %v", err)
	}

	// A second run keeps the CA and issues a new server certificate.
	caBefore, _ := os.ReadFile(f.CA)
	certBefore, _ := os.ReadFile(f.Cert)
	f3, newCA, err := Generate(dir, []string{"127.0.0.1"}, now)
	if err != nil || newCA {
		t.Fatalf("second Generate: %v newCA=%v", err, newCA)
	}
	caAfter, _ := os.ReadFile(f3.CA)
	certAfter, _ := os.ReadFile(f3.Cert)
	if !bytes.Equal(caBefore, caAfter) || bytes.Equal(certBefore, certAfter) {
		t.Error("second run: CA not reused or certificate not renewed")
	}
	srv3, _ := ServerConfig(f3.Cert, f3.Key, "")
	if err := handshake(t, srv3, good, "127.0.0.1"); err != nil {
		t.Errorf("renewed certificate with the old ca.pem: %v", err)
	}
}

func TestMutualTLSRefusesWithoutClientCert(t *testing.T) {
	f, _, err := Generate(filepath.Join(t.TempDir(), "tls"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ServerConfig(f.Cert, f.Key, f.CA)
	cli, _ := ClientConfig(f.CA, "", "", "")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err == nil {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("no client certificate: %v", err)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadPool(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("missing CA file accepted")
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	if _, err := ClientConfig(junk, "", "", ""); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("junk CA: %v", err)
	}
	if _, err := ClientConfig("", "cert.pem", "", ""); err == nil {
		t.Error("client cert without key accepted")
	}
	if _, err := ServerConfig(junk, junk, ""); err == nil {
		t.Error("junk key pair accepted")
	}
	if _, _, err := Generate(filepath.Join(dir, "tls"), []string{"bad host!"}, time.Now()); err == nil {
		t.Error("bad host accepted")
	}
	// Half a CA is an error, not silently replaced.
	half := filepath.Join(dir, "half")
	os.MkdirAll(half, 0o700)
	os.WriteFile(filepath.Join(half, CAFile), []byte("x"), 0o600)
	if _, _, err := Generate(half, []string{"localhost"}, time.Now()); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Errorf("half CA: %v", err)
	}
	for _, h := range []string{"localhost", "pi.lan", "192.168.1.10", "::1", "fe80::1", "a-b.c", "*.example.org"} {
		if err := ValidHost(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	for _, h := range []string{"", "a..b", ".a", "a.", "-a", "a b", "x/y", "a.*.b", strings.Repeat("a", 64)} {
		if ValidHost(h) == nil {
			t.Errorf("%q accepted", h)
		}
	}
	for _, h := range DefaultHosts() {
		if ValidHost(h) != nil {
			t.Errorf("default host %q invalid", h)
		}
	}
}

func TestCommand(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	if code := Command([]string{"--state", state, "--host", "pi.lan, 192.168.1.10"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"new local CA", "pi.lan, 192.168.1.10", "--tls-cert " + filepath.Join(state, "tls", "server.pem"), "ssl://pi.lan:8883 --ca ca.pem"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, name := range []string{CAFile, CAKeyFile, CertFile, KeyFile} {
		if _, err := os.Stat(filepath.Join(state, "tls", name)); err != nil {
			t.Error(err)
		}
	}
	// A named certificate for an edge: same CA, the server's files untouched.
	srvBefore, _ := os.ReadFile(filepath.Join(state, "tls", CertFile))
	out.Reset()
	if code := Command([]string{"--state", state, "--host", "pi.lan", "--name", "edge-door"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--tls-cert edge-door.pem") {
		t.Fatalf("--name: %d %s %s", code, out.String(), errb.String())
	}
	srvAfter, _ := os.ReadFile(filepath.Join(state, "tls", CertFile))
	if !bytes.Equal(srvBefore, srvAfter) {
		t.Error("--name edge-door rewrote server.pem")
	}
	srv, err := ServerConfig(filepath.Join(state, "tls", "edge-door.pem"), filepath.Join(state, "tls", "edge-door.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := ClientConfig(filepath.Join(state, "tls", CAFile), "", "", "pi.lan")
	if err := handshake(t, srv, cli, "127.0.0.1"); err != nil {
		t.Errorf("edge certificate for pi.lan: %v", err)
	}
	for _, bad := range []string{"../x", "ca", "", ".hidden", "a b"} {
		if code := Command([]string{"--state", state, "--name", bad}, &out, &errb); code != 1 {
			t.Errorf("--name %q: exit %d", bad, code)
		}
	}
	out.Reset()
	if code := Command([]string{"--state", state}, &out, &errb); code != 0 || !strings.Contains(out.String(), "existing CA reused") {
		t.Errorf("second run: %d %s", code, out.String())
	}
	errb.Reset()
	if code := Command([]string{"--state", state, "--host", "no spaces allowed"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--host") {
		t.Errorf("bad host: %d %s", code, errb.String())
	}
	if code := Command([]string{"--host", ","}, &out, &errb); code != 2 {
		t.Errorf("empty host list: %d", code)
	}
	if code := Command([]string{"extra"}, &out, &errb); code != 2 {
		t.Errorf("extra argument: %d", code)
	}
	if code := Command([]string{"-h"}, &out, &errb); code != 0 {
		t.Errorf("-h: %d", code)
	}
	// An unwritable state directory: a clear error, exit 1.
	ro := filepath.Join(t.TempDir(), "ro")
	os.MkdirAll(ro, 0o500)
	errb.Reset()
	if os.Getuid() != 0 {
		if code := Command([]string{"--state", ro, "--host", "localhost"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "permission denied") {
			t.Errorf("read-only state: %d %s", code, errb.String())
		}
	}
}
