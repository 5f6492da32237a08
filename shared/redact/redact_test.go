package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"tcp://user:pass@host:1883", "tcp://user:xxxxx@host:1883"},
		{"tcp://user@host:1883", "tcp://user@host:1883"},
		{"tcp://host:1883", "tcp://host:1883"},
		{"ssl://recognizer:s3cr%2Ft@broker.lan:8883", "ssl://recognizer:xxxxx@broker.lan:8883"},
		{"mqtts://a:b@h", "mqtts://a:xxxxx@h"},
		{"ws://u:p@h:8080/mqtt", "ws://u:xxxxx@h:8080/mqtt"},
		{"wss://u:p@h/mqtt", "wss://u:xxxxx@h/mqtt"},
		{"rtsp://admin:hunter2@192.168.1.20:554/Streaming/Channels/101", "rtsp://admin:xxxxx@192.168.1.20:554/Streaming/Channels/101"},
		{"http://u:p@h/x", "http://u:xxxxx@h/x"},
		{"https://u:p@h/x", "https://u:xxxxx@h/x"},
		// An unencoded '@' or ':' in the password: everything up to the last '@'.
		{"rtsp://admin:p@ss:w@cam/s", "rtsp://admin:xxxxx@cam/s"},
		// An empty password is still hidden as a password.
		{"tcp://u:@h", "tcp://u:xxxxx@h"},
		// Already redacted: unchanged.
		{"tcp://u:xxxxx@h", "tcp://u:xxxxx@h"},
		// Secrets in the query.
		{"https://hook.example/a?token=abc&x=1", "https://hook.example/a?token=xxxxx&x=1"},
		{"https://h/a?x=1&api_key=k;sig=s#frag", "https://h/a?x=1&api_key=xxxxx;sig=xxxxx#frag"},
		{"https://h/a?Password=p&access_token=t", "https://h/a?Password=xxxxx&access_token=xxxxx"},
		{"https://h/a?name=bob", "https://h/a?name=bob"},
		// In free text and error messages.
		{`Post "https://u:p@h/x": dial tcp 10.0.0.1:443: connect: connection refused`, `Post "https://u:xxxxx@h/x": dial tcp 10.0.0.1:443: connect: connection refused`},
		{"Error opening file: rtsp://a:b@cam/1 with api backend: 1900", "Error opening file: rtsp://a:xxxxx@cam/1 with api backend: 1900"},
		{"broker=tcp://u:p@h:1 other=ws://v:q@g", "broker=tcp://u:xxxxx@h:1 other=ws://v:xxxxx@g"},
		{"tcp://a:b@h1,tcp://c:d@h2", "tcp://a:xxxxx@h1,tcp://c:xxxxx@h2"},
		{"(tcp://a:b@h)", "(tcp://a:xxxxx@h)"},
		{"'rtsp://a:b@h'", "'rtsp://a:xxxxx@h'"},
		{"<http://a:b@h>", "<http://a:xxxxx@h>"},
		{"a 1tcp://u:p@h", "a 1tcp://u:xxxxx@h"},
		// Nothing to do.
		{"", ""},
		{"no url here: user:pass@host", "no url here: user:pass@host"},
		{"://u:p@h", "://u:p@h"},
		{"camera 0", "camera 0"},
		{"/dev/video0", "/dev/video0"},
	}
	for _, c := range cases {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// TestMatchesStdlib: for every URL net/url parses with a password, the
// password is gone and the rest is what URL.Redacted keeps.
func TestMatchesStdlib(t *testing.T) {
	for _, raw := range []string{
		"tcp://recognizer:Zx9-long_pass@127.0.0.1:1883",
		"rtsp://admin:%40dm1n@cam.lan:554/live",
		"wss://edge-door:pw@example.org/mqtt",
		"https://alice:wonder@example.org:8443/api/v1/hook",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := URL(raw), u.Redacted(); got != want {
			t.Errorf("URL(%q) = %q, url.Redacted %q", raw, got, want)
		}
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@ha.lan:8123/api/webhook/SECRETID": "https://ha.lan:8123",
		"http://h/x?token=t":                           "http://h",
		"::":                                           "(invalid URL)",
		"/relative":                                    "(invalid URL)",
	} {
		if got := Origin(in); got != want {
			t.Errorf("Origin(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Fatal("Error(nil) != nil")
	}
	plain := errors.New("no secret")
	if Error(plain) != plain {
		t.Error("an error without secret was wrapped")
	}
	base := &url.Error{Op: "Get", URL: "https://u:topsecret@h/x?token=tok123", Err: fs.ErrNotExist}
	err := Error(fmt.Errorf("fetch: %w", base))
	if s := err.Error(); strings.Contains(s, "topsecret") || strings.Contains(s, "tok123") || !strings.Contains(s, "https://u:xxxxx@h/x?token=xxxxx") {
		t.Errorf("redacted error: %q", s)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.As/Is lost the wrapped error")
	}
	if s := Errorf("open %s: %w", "rtsp://a:pw@c", os.ErrPermission).Error(); s != "open rtsp://a:xxxxx@c: permission denied" {
		t.Errorf("Errorf: %q", s)
	}
}

func TestURLErrorFromHTTPClient(t *testing.T) {
	// A real *url.Error from net/http: port 1 on loopback refuses.
	c := http.Client{Timeout: 2 * time.Second}
	_, err := c.Get("http://user:pw-in-url@127.0.0.1:1/api/webhook/HOOKID?token=tok")
	if err == nil {
		t.Fatal("request to port 1 succeeded")
	}
	for _, e := range []error{Error(err), URLError(err)} {
		s := e.Error()
		if strings.Contains(s, "pw-in-url") || strings.Contains(s, "tok") && !strings.Contains(s, "token=xxxxx") {
			t.Errorf("secret in %q", s)
		}
	}
	s := URLError(err).Error()
	if strings.Contains(s, "HOOKID") || !strings.Contains(s, "http://127.0.0.1:1/…") || !strings.Contains(s, "refused") {
		t.Errorf("URLError: %q", s)
	}
	if !errors.Is(URLError(err), err) {
		t.Error("URLError does not wrap")
	}
	if URLError(nil) != nil {
		t.Error("URLError(nil) != nil")
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

type nilStringer struct{ s *string }

func (n *nilStringer) String() string { return *n.s }

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewTextHandler(&buf, nil)))
	u, _ := url.Parse("ws://w:wpass@h/mqtt")
	var np *nilStringer
	log.With("broker", "tcp://u:p1@h").WithGroup("g").Info("connecting to ssl://x:p2@h",
		"err", errors.New(`Get "http://a:p3@h": refused`),
		"src", stringer("rtsp://b:p4@cam"),
		"url", u,
		slog.Group("sub", "hook", "https://h/x?token=p5"),
		"n", 3, "nil", np, "nilerr", error(nil))
	out := buf.String()
	for _, secret := range []string{"p1@", "p2@", "p3@", "p4@", "wpass", "p5"} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q in %s", secret, out)
		}
	}
	for _, want := range []string{"tcp://u:xxxxx@h", "ssl://x:xxxxx@h", "rtsp://b:xxxxx@cam", "ws://w:xxxxx@h/mqtt", "token=xxxxx", "g.n=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q missing from %s", want, out)
		}
	}
	if !Handler(slog.NewTextHandler(&buf, nil)).Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled")
	}
	h := Handler(slog.NewTextHandler(&buf, nil))
	if Handler(h) != h {
		t.Error("Handler wraps twice")
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{
		"tcp://user:pass@host:1883", "rtsp://a:b@c/d?token=e#f", `Get "https://u:p@h/": x`,
		"a://b,c://d:e@f", "://@", "x://:@", "h://a?b=&c", "1://u:p@h", "tcp://a:b@h1 tcp://c:d@h2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if String(out) != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, String(out))
		}
		if !strings.Contains(s, "://") && out != s {
			t.Fatalf("text without a URL changed: %q -> %q", s, out)
		}
		// Every URL net/url parses with a password loses it: the raw
		// ":password@" of its authority is gone from the output.
		u, err := url.Parse(s)
		if err != nil || u.User == nil || strings.ContainsAny(s, " \t\n\r\v\f\"'`<>") || strings.Count(s, "://") != 1 {
			return
		}
		auth := s[strings.Index(s, "://")+3:]
		auth, _, _ = strings.Cut(auth, "#")
		auth, _, _ = strings.Cut(auth, "?")
		auth, _, _ = strings.Cut(auth, "/")
		at := strings.LastIndexByte(auth, '@')
		if at < 0 {
			return
		}
		_, pass, ok := strings.Cut(auth[:at], ":")
		if ok && pass != Mask && strings.Contains(out, ":"+pass+"@") {
			t.Fatalf("password %q survives in %q (from %q)", pass, out, s)
		}
	})
}
