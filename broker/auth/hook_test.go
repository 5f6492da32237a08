package auth

import (
	"log/slog"
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
		{"user from LAN", testUsers(t), false, "192.168.1.20:5000", connectPk("edge", "edge-pw", "edge-pi"), true},
		{"wrong password", testUsers(t), true, "127.0.0.1:5000", connectPk("edge", "nope", "edge-pi"), false},
		{"other user's id", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "recognizer-host-1"), false},
		{"id of nobody", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "facemon-edge-pi"), false},
		{"id prefix without dash", testUsers(t), false, "127.0.0.1:5000", connectPk("edge", "edge-pw", "edgeX"), false},
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
	us, err := Parse("u.yaml", []byte(`users:
  - name: edge-door
    password: a
    role: edge
    camera: door
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
		{"edge-door", "edge-door-pi-a1b2c3", true},
		{"edge-door", "edge-door-2", false}, // belongs to edge-door-2
		{"edge-door", "edge-door-2-pi-a1b2c3", false},
		{"edge-door-2", "edge-door-2-pi-a1b2c3", true},
		{"edge-door-2", "edge-door", false},
		{"recognizer", "recognizer-vm-0a0b0c", true},
		{"recognizer", "facemon-recognizer-vm", false},
		{"recognizer", "", true},
	} {
		if got := us.ClientIDAllowed(c.user, c.id); got != c.want {
			t.Errorf("ClientIDAllowed(%q, %q) = %v, want %v", c.user, c.id, got, c.want)
		}
	}
}
