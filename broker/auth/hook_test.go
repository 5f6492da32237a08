package auth

import (
	"log/slog"
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

func connectPk(user, pw, id string) packets.Packet {
	var pk packets.Packet
	pk.Connect.UsernameFlag = user != ""
	pk.Connect.Username = []byte(user)
	pk.Connect.PasswordFlag = pw != ""
	pk.Connect.Password = []byte(pw)
	pk.Connect.ClientIdentifier = id
	return pk
}

func client(remote string) *mqtt.Client {
	cl := &mqtt.Client{}
	cl.Net.Remote = remote
	return cl
}

func TestHookAnonymous(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	cases := []struct {
		name   string
		users  *Users
		allow  bool
		remote string
		pk     packets.Packet
		want   bool
	}{
		{"anonymous refused by default", testUsers(t), false, "127.0.0.1:5000", connectPk("", "", "x"), false},
		{"anonymous loopback allowed", testUsers(t), true, "127.0.0.1:5000", connectPk("", "", "x"), true},
		{"anonymous ::1 allowed", nil, true, "[::1]:5000", connectPk("", "", "x"), true},
		{"anonymous mapped loopback allowed", nil, true, "[::ffff:127.0.0.1]:5000", connectPk("", "", "x"), true},
		{"anonymous LAN refused", testUsers(t), true, "192.168.1.20:5000", connectPk("", "", "x"), false},
		{"anonymous LAN refused without users", nil, true, "10.0.0.2:5000", connectPk("", "", "x"), false},
		{"anonymous unparsable remote refused", nil, true, "pipe", connectPk("", "", "x"), false},
		{"user without users file refused", nil, true, "127.0.0.1:5000", connectPk("edge", "edge-pw", "edge"), false},
		{"user from LAN", testUsers(t), false, "192.168.1.20:5000", connectPk("edge", "edge-pw", "edge@pi"), true},
		{"wrong password", testUsers(t), true, "127.0.0.1:5000", connectPk("edge", "nope", "edge@pi"), false},
		{"other user's id", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "recognizer@host-1"), false},
		{"other user's bare id", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "recognizer"), false},
		{"id of nobody", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "facemon-edge-pi"), false},
		{"id prefix without separator", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "edgeX"), false},
		{"old <user>-<suffix> id", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "edge-pi-a1b2c3"), false},
		{"user taking the anonymous id space", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "@edge-pi-a1b2c3"), false},
		// Anonymous loopback clients have an id space of their own.
		{"anonymous with an anonymous id", testUsers(t), true, "127.0.0.1:5000", connectPk("", "", "@recognizer-pi-a1b2c3"), true},
		{"anonymous with a server-assigned id", testUsers(t), true, "127.0.0.1:5000", connectPk("", "", ""), true},
		{"anonymous taking a user's id", testUsers(t), true, "127.0.0.1:5000", connectPk("", "", "recognizer@host-1"), false},
		{"anonymous taking a user's bare id", testUsers(t), true, "127.0.0.1:5000", connectPk("", "", "recognizer"), false},
		{"anonymous with a user-like id of nobody", testUsers(t), true, "127.0.0.1:5000", connectPk("", "", "mosq-abc"), true},
		{"server-assigned id", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", ""), true},
	}
	for _, c := range cases {
		h := NewHook(c.users, HookOptions{AllowAnonymous: c.allow, Logger: quiet})
		if got := h.OnConnectAuthenticate(client(c.remote), c.pk); got != c.want {
			t.Errorf("%s: OnConnectAuthenticate = %v, want %v", c.name, got, c.want)
		}
	}
	// ACLs: anonymous clients (only ever accepted from loopback) get all
	// topics with AllowAnonymous, nothing without.
	h := NewHook(testUsers(t), HookOptions{AllowAnonymous: true, Logger: quiet})
	if !h.OnACLCheck(client("127.0.0.1:1"), "cam/x/frames", true) || !h.OnACLCheck(client("127.0.0.1:1"), "#", false) {
		t.Error("anonymous loopback client denied with AllowAnonymous")
	}
	if h.OnACLCheck(client("192.168.1.2:1"), "#", false) {
		t.Error("anonymous LAN client allowed")
	}
	h = NewHook(testUsers(t), HookOptions{Logger: quiet})
	if h.OnACLCheck(client("127.0.0.1:1"), "cam/x/frames", true) {
		t.Error("anonymous client allowed without AllowAnonymous")
	}
}

func TestClientIDOwner(t *testing.T) {
	// Issue 17.5: with camera ids door and door-pi, edge door on host pi
	// (edge-door@pi-...) must not fall in user edge-door-pi's id space.
	us, err := Parse("u.yaml", []byte(`users:
  - name: edge-door
    password: a
    role: edge
    camera: door
  - name: edge-door-pi
    password: b
  - name: edge-door-2
    password: b
  - name: recognizer
    password: c
`))
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := us.User("edge-door"); u.Role != "edge" || u.Camera != "door" {
		t.Errorf("role/camera = %q/%q", u.Role, u.Camera)
	}
	for _, c := range []struct {
		user, id string
		want     bool
	}{
		{"edge-door", "edge-door", true},
		{"edge-door", "edge-door@pi-a1b2c3", true},
		{"edge-door-pi", "edge-door@pi-a1b2c3", false},
		{"edge-door-pi", "edge-door-pi@pi-a1b2c3", true},
		{"edge-door", "edge-door-pi@pi-a1b2c3", false},
		{"edge-door", "edge-door-pi", false},
		{"edge-door", "edge-door-2", false},
		{"edge-door-2", "edge-door-2@pi-a1b2c3", true},
		{"edge-door-2", "edge-door", false},
		{"recognizer", "recognizer@vm-0a0b0c", true},
		{"recognizer", "recognizer@", true},
		{"recognizer", "recognizer@a@b", true},
		// The old "<user>-<suffix>" form is refused (it was the shadowing one).
		{"edge-door", "edge-door-pi-a1b2c3", false},
		{"recognizer", "recognizer-vm-0a0b0c", false},
		{"recognizer", "facemon-recognizer-vm", false},
		{"recognizer", "@recognizer-vm-0a0b0c", false},
		{"recognizer", "", true},
	} {
		if got := us.ClientIDAllowed(c.user, c.id); got != c.want {
			t.Errorf("ClientIDAllowed(%q, %q) = %v, want %v", c.user, c.id, got, c.want)
		}
	}
	if o, ok := us.ClientIDOwner("@recognizer-vm"); ok || o != "" {
		t.Errorf("anonymous id owned by %q", o)
	}
	// A user name containing the separator is refused: it would make
	// "a@b@..." ambiguous between users "a" and "a@b".
	if _, err := Parse("u.yaml", []byte("users:\n  - name: a@b\n    password: x\n")); err == nil || !strings.Contains(err.Error(), "@") {
		t.Errorf("user name with '@': err = %v", err)
	}
}

// TestHookOldClientIDHint: an old-form id is refused with a line that says
// what the new form is.
func TestHookOldClientIDHint(t *testing.T) {
	var buf strings.Builder
	h := NewHook(testUsers(t), HookOptions{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if h.OnConnectAuthenticate(client("127.0.0.1:1"), connectPk("edge", "edge-pw", "edge-pi-a1b2c3")) {
		t.Fatal("old-form id accepted")
	}
	if !strings.Contains(buf.String(), "<user>@<suffix>") || !strings.Contains(buf.String(), "old") {
		t.Errorf("log: %s", buf.String())
	}
}
