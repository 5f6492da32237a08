package mqttx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/redact"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/tlsx"
)

func mosquittoBin(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			if _, err := exec.LookPath("mosquitto_passwd"); err == nil {
				return p
			}
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto / mosquitto_passwd not installed")
	}
	t.Skip("mosquitto not installed")
	return ""
}

// startTLSMosquitto runs mosquitto with a TLS listener only (no anonymous
// access, one user) and returns its port.
func startTLSMosquitto(t *testing.T, f tlsx.Files, user, pass string) int {
	return startMosquittoConf(t, f, user, pass, "")
}

// startMosquittoConf is startTLSMosquitto with extra listener settings.
func startMosquittoConf(t *testing.T, f tlsx.Files, user, pass, extra string) int {
	bin := mosquittoBin(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "password_file")
	if out, err := exec.Command("mosquitto_passwd", "-c", "-b", pw, user, pass).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	os.Chmod(pw, 0o600)
	port := testx.FreePort(t)
	conf := fmt.Sprintf("per_listener_settings false\nallow_anonymous false\npassword_file %s\npersistence false\n"+
		"listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n%s", pw, port, f.Cert, f.Key, extra)
	if os.Getuid() == 0 {
		conf = "user root\n" + conf // else mosquitto drops to "mosquitto", who cannot read the 0600 files
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs testx.Buffer
	cmd := exec.Command(bin, "-c", cf)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %d: %s", port, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTLSMosquitto connects over TLS to a real mosquitto with the CA from
// tlsx: the right CA and password work end to end; a wrong CA and a wrong
// password are refused with an error that says what to check; no password
// appears in any log line or error.
func TestTLSMosquitto(t *testing.T) {
	f, _, err := tlsx.Generate(filepath.Join(t.TempDir(), "tls"), []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const user, pass = "edge-door", "Corr3ct-Horse-pw"
	port := startTLSMosquitto(t, f, user, pass)

	var logs testx.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	connect := func(broker, caFile, pw string, wait time.Duration) (*Client, error) {
		cl, err := New(Options{Broker: broker, ClientID: DefaultClientID(user, "test"), Username: user, Password: pw,
			CAFile: caFile, Logger: log, MaxReconnectInterval: time.Second})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		err = cl.WaitConnected(ctx)
		if err != nil {
			cl.Close()
			return nil, err
		}
		return cl, nil
	}

	// The right CA, by IP address and by name; a message goes round.
	for _, host := range []string{"127.0.0.1", "localhost"} {
		url := fmt.Sprintf("ssl://%s:%s@%s:%d", user, pass, host, port) // password in the URL too: must not be logged
		cl, err := connect(url, f.CA, pass, 10*time.Second)
		if err != nil {
			t.Fatalf("%s with the right CA: %v\n%s", host, err, logs.String())
		}
		got := make(chan string, 1)
		cl.Subscribe("t/"+host, 1, func(_ string, p []byte) {
			select {
			case got <- string(p):
			default:
			}
		})
		deadline := time.After(5 * time.Second)
	loop:
		for {
			cl.Publish("t/"+host, 1, false, []byte("over tls"))
			select {
			case p := <-got:
				if p != "over tls" {
					t.Fatalf("got %q", p)
				}
				break loop
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatalf("%s: no message back over TLS", host)
			}
		}
		cl.Close()
	}
	tlsURL := fmt.Sprintf("mqtts://127.0.0.1:%d", port)

	// Another CA: refused, and the error says to give --ca.
	other, _, err := tlsx.Generate(filepath.Join(t.TempDir(), "tls"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = connect(tlsURL, other.CA, pass, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "unknown authority") || !strings.Contains(err.Error(), "--ca") {
		t.Errorf("wrong CA: %v", err)
	} else {
		t.Logf("wrong CA: %v", err)
	}
	// No --ca at all: the system roots do not know the local CA.
	if _, err = connect(tlsURL, "", pass, 2*time.Second); err == nil || !strings.Contains(err.Error(), "--ca") {
		t.Errorf("no CA: %v", err)
	}
	// Wrong password: refused by mosquitto, and said so.
	if _, err = connect(tlsURL, f.CA, "wrong-pass-123", 2*time.Second); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("wrong password: %v", err)
	} else {
		t.Logf("wrong password: %v", err)
	}
	// Plain MQTT to the TLS port: not connected (no hang, no crash).
	if _, err = connect(fmt.Sprintf("tcp://127.0.0.1:%d", port), "", pass, 2*time.Second); err == nil {
		t.Error("plain MQTT to a TLS listener connected")
	}
	// A CA file that is not there: New says so at once.
	if _, err := New(Options{Broker: tlsURL, ClientID: "x", CAFile: filepath.Join(t.TempDir(), "nope.pem")}); err == nil || !strings.Contains(err.Error(), "--ca") {
		t.Errorf("missing CA file: %v", err)
	}

	out := logs.String()
	if !strings.Contains(out, "mqtt connected") || !strings.Contains(out, "mqtt connection attempt failed") {
		t.Errorf("expected connect and failure lines in:\n%s", out)
	}
	for _, secret := range []string{pass, "wrong-pass-123"} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q logged:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "ssl://edge-door:"+redact.Mask+"@127.0.0.1") {
		t.Errorf("broker URL not logged redacted:\n%s", out)
	}
}

// TestClientCertificateMosquitto: a mosquitto listener that requires client
// certificates accepts mqttx with CertFile/KeyFile (a certificate from the
// same CA) and refuses it without one.
func TestClientCertificateMosquitto(t *testing.T) {
	f, _, err := tlsx.Generate(filepath.Join(t.TempDir(), "tls"), []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const user, pass = "recognizer", "Client-Cert-pw9"
	port := startMosquittoConf(t, f, user, pass, fmt.Sprintf("cafile %s\nrequire_certificate true\n", f.CA))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	try := func(cert, key string) error {
		cl, err := New(Options{Broker: fmt.Sprintf("ssl://127.0.0.1:%d", port), ClientID: DefaultClientID(user, "test"),
			Username: user, Password: pass, CAFile: f.CA, CertFile: cert, KeyFile: key, Logger: log})
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return cl.WaitConnected(ctx)
	}
	if err := try(f.Cert, f.Key); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	if err := try("", ""); err == nil {
		t.Error("connected without the required client certificate")
	}
	if err := try(f.Cert, ""); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("certificate without key: %v", err)
	}
}
