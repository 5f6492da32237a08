package auth

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

func hash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func testUsers(t testing.TB) *Users {
	t.Helper()
	data := `users:
  - name: edge
    password_hash: "` + hash(t, "edge-pw") + `"
    write: [cam/+/frames, facemon/status/edge/+]
    read: [cam/+/annotated, cam/+/identities, facemon/status/#]
  - name: recognizer
    password_hash: '` + hash(t, "rec-pw") + `'
    read: [cam/+/frames]
    readwrite: [facemon/status/recognizer/+]
  - name: legacy
    password: plain-pw
    read: ["#"]
`
	us, err := Parse("users.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func TestParseAndCheck(t *testing.T) {
	us := testUsers(t)
	if got := strings.Join(us.Names(), ","); got != "edge,legacy,recognizer" {
		t.Errorf("Names = %s", got)
	}
	if got := strings.Join(us.PlaintextUsers(), ","); got != "legacy" {
		t.Errorf("PlaintextUsers = %s", got)
	}
	auth := []struct {
		user, pw string
		want     bool
	}{
		{"edge", "edge-pw", true},
		{"edge", "rec-pw", false},
		{"edge", "", false},
		{"recognizer", "rec-pw", true},
		{"legacy", "plain-pw", true},
		{"legacy", "plain-pw ", false},
		{"nobody", "edge-pw", false},
		{"", "", false},
	}
	for _, tt := range auth {
		if got := us.Authenticate(tt.user, []byte(tt.pw)); got != tt.want {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", tt.user, tt.pw, got, tt.want)
		}
	}
	acl := []struct {
		user, topic string
		write, want bool
	}{
		{"edge", "cam/pi1/frames", true, true},
		{"edge", "cam/pi1/annotated", true, false},
		{"edge", "cam/pi1/frames", false, false},
		{"edge", "cam/pi1/annotated", false, true},
		{"edge", "cam/+/annotated", false, true},
		{"edge", "cam/#", false, false},
		{"edge", "$share/g/cam/+/identities", false, true},
		{"edge", "$share/g", false, false},
		{"edge", "facemon/status/edge/pi1", true, true},
		{"edge", "facemon/status/recognizer/r1", true, false},
		{"edge", "facemon/status/#", false, true},
		{"edge", "facemon/status", false, true},
		{"edge", "facemon/cmd/x", false, false},
		{"edge", "cam/+/frames", true, false}, // wildcard topic name never writable
		{"recognizer", "cam/pi1/frames", false, true},
		{"recognizer", "$share/recognizers/cam/+/frames", false, true},
		{"recognizer", "facemon/status/recognizer/r1", true, true},
		{"recognizer", "facemon/status/recognizer/r1", false, true},
		{"recognizer", "cam/pi1/frames", true, false},
		{"legacy", "anything/at/all", false, true},
		{"legacy", "$SYS/broker/uptime", false, false},
		{"legacy", "a", true, false},
		{"nobody", "cam/pi1/frames", false, false},
		{"nobody", "cam/pi1/frames", true, false},
	}
	for _, tt := range acl {
		var got bool
		if tt.write {
			got = us.CanWrite(tt.user, tt.topic)
		} else {
			got = us.CanRead(tt.user, tt.topic)
		}
		if got != tt.want {
			t.Errorf("user %q topic %q write=%v: got %v want %v", tt.user, tt.topic, tt.write, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	h := hash(t, "x")
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "users file bad.yaml: file is empty"},
		{"no users", "users: []\n", "no users defined"},
		{"syntax", "users:\n  - name: a\n   password: [\n", "users file bad.yaml: yaml: line"},
		{"unknown top", "user:\n  - name: a\n", "line 1: field user not found"},
		{"unknown field", "users:\n  - name: a\n    pasword: x\n", `line 3: unknown user field "pasword"`},
		{"no name", "users:\n  - password: x\n", "line 2: user without a name"},
		{"dup", "users:\n  - name: a\n    password: x\n  - name: a\n    password: y\n", `line 4: duplicate user "a"`},
		{"no password", "users:\n  - name: a\n    read: [x]\n", `line 2: user "a": password_hash is required`},
		{"both", "users:\n  - name: a\n    password_hash: '" + h + "'\n    password: y\n", `line 4: user "a": set either`},
		{"bad hash", "users:\n  - name: a\n    password_hash: notahash\n", `line 3: user "a": password_hash is not a bcrypt hash`},
		{"hash in password", "users:\n  - name: a\n    password: '" + h + "'\n", `line 3: user "a": password looks like a bcrypt hash`},
		{"bad filter", "users:\n  - name: a\n    password: x\n    read:\n      - ok/#\n      - bad/#/x\n", `line 6: user "a": topic filter "bad/#/x"`},
		{"share in rule", "users:\n  - name: a\n    password: x\n    write: [$share/g/x]\n", `line 4: user "a": topic filter "$share/g/x"`},
		{"list not string", "users:\n  - name: a\n    password: x\n    read: [[x]]\n", "line 4: expected a string"},
		{"user not mapping", "users:\n  - a\n", "line 2: each user must be a mapping"},
		{"two docs", "users:\n  - name: a\n    password: x\n---\nfoo: 1\n", "line 4: only one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tt.data))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "bad.yaml") {
				t.Fatalf("error %q does not contain %q and the file name", err, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: err = %v", err)
	}
	// The shipped example must parse.
	us, err := LoadFile("../users.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// (Its rules are checked against every topic the binaries use in
	// package creds, TestUsersExample.)
	for _, n := range []string{"edge-door", "recognizer", "homeassistant", "admin"} {
		if _, ok := us.User(n); !ok {
			t.Errorf("example lacks user %q", n)
		}
	}
	if len(us.PlaintextUsers()) != 0 {
		t.Error("example should not use plaintext passwords")
	}
	p := filepath.Join(t.TempDir(), "u.yaml")
	if err := os.WriteFile(p, []byte("users:\n  - name: a\n    password: x\n    read: [a/#/b]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), p+": line 4") {
		t.Fatalf("err = %v, want file and line", err)
	}
}

func TestHook(t *testing.T) {
	h := NewHook(testUsers(t), HookOptions{Logger: slog.New(slog.DiscardHandler)})
	if !h.Provides(mqtt.OnConnectAuthenticate) || !h.Provides(mqtt.OnACLCheck) || h.Provides(mqtt.OnPublish) {
		t.Fatal("Provides wrong")
	}
	connect := func(user, pw string, will string) packets.Packet {
		var pk packets.Packet
		pk.Connect.ClientIdentifier = user + "@host-1"
		pk.Connect.UsernameFlag = user != ""
		pk.Connect.Username = []byte(user)
		pk.Connect.PasswordFlag = true
		pk.Connect.Password = []byte(pw)
		if will != "" {
			pk.Connect.WillFlag = true
			pk.Connect.WillTopic = will
		}
		return pk
	}
	cl := &mqtt.Client{}
	cases := []struct {
		pk   packets.Packet
		want bool
	}{
		{connect("edge", "edge-pw", ""), true},
		{connect("edge", "edge-pw", "facemon/status/edge/pi1"), true},
		{connect("edge", "edge-pw", "facemon/status/recognizer/r1"), false},
		{connect("edge", "bad", ""), false},
		{connect("", "", ""), false},
	}
	for i, c := range cases {
		if got := h.OnConnectAuthenticate(cl, c.pk); got != c.want {
			t.Errorf("case %d: OnConnectAuthenticate = %v, want %v", i, got, c.want)
		}
	}
	cl.Properties.Username = []byte("edge")
	if !h.OnACLCheck(cl, "cam/pi1/frames", true) || h.OnACLCheck(cl, "cam/pi1/frames", false) {
		t.Error("OnACLCheck wrong for edge")
	}
	cl.Properties.Username = nil
	if h.OnACLCheck(cl, "cam/pi1/frames", true) || h.OnACLCheck(cl, "#", false) {
		t.Error("anonymous client allowed")
	}
}
