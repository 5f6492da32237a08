// Package tlsx makes TLS one flag away for facemon: it generates a small
// local certificate authority and a server certificate signed by it (Go's
// crypto/x509, ECDSA P-256, no openssl), and builds the client and server
// tls.Config values the components use.
//
// A home install trusts its own CA: the recognizer serves MQTT over TLS and
// HTTPS with server.pem/server.key, and every client (edge on a Pi, Home
// Assistant, mosquitto_sub) is given ca.pem with --ca.
package tlsx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/facemon/facemon/shared/fsx"
)

// File names inside the tls directory.
const (
	CAFile     = "ca.pem"
	CAKeyFile  = "ca.key"
	CertFile   = "server.pem"
	KeyFile    = "server.key"
	DefaultDir = "tls"
)

// Validity of generated certificates.
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	ServerValidity = 825 * 24 * time.Hour // the longest Apple platforms accept
)

// CA is a certificate authority able to sign server certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
}

// NewCA generates a CA named name, valid for CAValidity from now.
func NewCA(name string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"facemon"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}, nil
}

// LoadCA reads a CA certificate and its key (PEM files).
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("CA %s, %s: %w", certFile, keyFile, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", certFile, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || !cert.IsCA {
		return nil, fmt.Errorf("CA %s: not an ECDSA certificate authority", certFile)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", pair.Certificate[0])}, nil
}

// KeyPEM returns the CA key, PEM-encoded.
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEM(ca.Key) }

// Issue signs a server (and client) certificate for hosts: DNS names and
// IP addresses ("localhost", "pi.lan", "192.168.1.10", "::1"). It returns the
// certificate chain (leaf, then CA) and the key, both PEM-encoded.
func (ca *CA) Issue(hosts []string, now time.Time) (certPEM, keyPEMOut []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("tlsx: no host names for the certificate")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"facemon"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return append(pemBlock("CERTIFICATE", der), ca.CertPEM...), kp, nil
}

// ValidHost checks one --host entry: an IP address or a DNS name.
func ValidHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return fmt.Errorf("host %q: not an IP address or DNS name", h)
	}
	for i, label := range strings.Split(h, ".") {
		if len(label) > 63 || label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q: not an IP address or DNS name", h)
		}
		for _, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || (r == '*' && i == 0 && label == "*")
			if !ok {
				return fmt.Errorf("host %q: not an IP address or DNS name", h)
			}
		}
	}
	return nil
}

// DefaultHosts are the names a certificate covers when none are given: the
// machine's host name (and host.local), localhost and the loopback
// addresses.
func DefaultHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && ValidHost(h) == nil && h != "localhost" {
		hosts = append([]string{h}, hosts...)
		if !strings.Contains(h, ".") {
			hosts = append(hosts, h+".local")
		}
	}
	return hosts
}

// ServerConfig loads a certificate chain and key (PEM files) for a TLS
// server (MQTT on 8883, HTTPS). With clientCA set, clients must present a
// certificate signed by it.
func ServerConfig(certFile, keyFile, clientCA string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls key pair %s, %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pool, err := LoadPool(clientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig builds the configuration of a TLS client: caFile ("" = the
// system roots) is the CA to trust, certFile/keyFile an optional client
// certificate. serverName, when set, overrides the name checked against the
// server's certificate (default: the host dialled).
func ClientConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pool, err := LoadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("tls: a client certificate needs both --tls-cert and --tls-key")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client key pair %s, %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// LoadPool reads a PEM file of CA certificates.
func LoadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--ca %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// Files are the paths of a generated set.
type Files struct {
	Dir, CA, CAKey, Cert, Key string
}

// FilesIn returns the paths inside dir.
func FilesIn(dir string) Files {
	return Files{Dir: dir, CA: filepath.Join(dir, CAFile), CAKey: filepath.Join(dir, CAKeyFile),
		Cert: filepath.Join(dir, CertFile), Key: filepath.Join(dir, KeyFile)}
}

// Generate writes a CA (unless dir already holds one, which is reused so
// clients that trust it keep working) and a new server certificate for
// hosts into dir (mode 0700; files 0600, written atomically). It reports
// whether a new CA was made.
func Generate(dir string, hosts []string, now time.Time) (f Files, newCA bool, err error) {
	return GenerateNamed(dir, "server", hosts, now)
}

// GenerateNamed is Generate writing the certificate to dir/<name>.pem and
// its key to dir/<name>.key, e.g. for an edge's HTTPS dashboard, without
// touching the server's.
func GenerateNamed(dir, name string, hosts []string, now time.Time) (f Files, newCA bool, err error) {
	if !validName(name) {
		return Files{}, false, fmt.Errorf("certificate name %q: want letters, digits, '-', '_' or '.'", name)
	}
	for _, h := range hosts {
		if err := ValidHost(h); err != nil {
			return Files{}, false, err
		}
	}
	f = FilesIn(dir)
	f.Cert, f.Key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, false, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return f, false, err
	}
	var ca *CA
	_, errC := os.Stat(f.CA)
	_, errK := os.Stat(f.CAKey)
	switch {
	case errC == nil && errK == nil:
		if ca, err = LoadCA(f.CA, f.CAKey); err != nil {
			return f, false, err
		}
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
		if ca, err = NewCA("facemon local CA", now); err != nil {
			return f, false, err
		}
		kp, err := ca.KeyPEM()
		if err != nil {
			return f, false, err
		}
		if err := fsx.WriteFileAtomic(f.CAKey, kp, 0o600); err != nil {
			return f, false, err
		}
		if err := fsx.WriteFileAtomic(f.CA, ca.CertPEM, 0o600); err != nil {
			return f, false, err
		}
		newCA = true
	default:
		return f, false, fmt.Errorf("%s: only one of %s and %s exists; remove it or restore the other", dir, CAFile, CAKeyFile)
	}
	cert, key, err := ca.Issue(hosts, now)
	if err != nil {
		return f, newCA, err
	}
	if err := fsx.WriteFileAtomic(f.Key, key, 0o600); err != nil {
		return f, newCA, err
	}
	if err := fsx.WriteFileAtomic(f.Cert, cert, 0o600); err != nil {
		return f, newCA, err
	}
	return f, newCA, nil
}

func validName(n string) bool {
	if n == "" || len(n) > 64 || n[0] == '.' || n == "ca" {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}
