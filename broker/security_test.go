package broker

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/mqttx"
	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"
)

func TestNoUsersRefusesToStart(t *testing.T) {
	logger, _ := testLogger(t)
	_, err := New(Options{TCPAddr: "127.0.0.1:0", Logger: logger})
	if !errors.Is(err, ErrNoUsers) {
		t.Fatalf("New without users file or AllowAnonymous: %v, want ErrNoUsers", err)
	}
	if !strings.Contains(err.Error(), "users init") || !strings.Contains(err.Error(), "--allow-anonymous") {
		t.Errorf("error does not say how to create users: %v", err)
	}
}

func TestAnonymous(t *testing.T) {
	t.Run("refused with users file", func(t *testing.T) {
		b := startBroker(t, Options{UsersFile: writeUsers(t)})
		if _, err := newClient(t, b, clientOpts{}); err == nil {
			t.Fatal("anonymous connect succeeded without AllowAnonymous")
		}
	})
	t.Run("loopback accepted with AllowAnonymous", func(t *testing.T) {
		logger, buf := testLogger(t)
		b := startBroker(t, Options{UsersFile: writeUsers(t), AllowAnonymous: true, Logger: logger})
		if !strings.Contains(buf.String(), "ANONYMOUS MQTT CLIENTS ALLOWED") {
			t.Error("no loud warning for AllowAnonymous")
		}
		anon := mustClient(t, b, clientOpts{})
		var col collector
		mustSubscribe(t, anon, "#", &col)
		// Users are still checked.
		if _, err := newClient(t, b, clientOpts{user: "edge", password: "wrong"}); err == nil {
			t.Error("wrong password accepted with AllowAnonymous")
		}
		edge := mustClient(t, b, clientOpts{user: "edge", password: "edge-pw"})
		mustPublish(t, edge, "cam/pi1/frames", 1, "f")
		waitFor(t, "frame at anonymous subscriber", func() bool { return col.has("cam/pi1/frames", "f") })
	})
}

func TestClientIDBinding(t *testing.T) {
	logger, buf := testLogger(t)
	b := startBroker(t, Options{UsersFile: writeUsers(t), Logger: logger})
	rec := mustClient(t, b, clientOpts{user: "recognizer", password: "rec-pw", clientID: "recognizer@host-abc123"})
	for _, co := range []clientOpts{
		{user: "edge", password: "edge-pw", clientID: "recognizer@host-abc123"}, // takeover attempt
		{user: "edge", password: "edge-pw", clientID: "recognizer"},
		{user: "edge", password: "edge-pw", clientID: "edgex"},                    // not <user> or <user>@...
		{user: "spy", password: "spy-pw", clientID: "edge@pi1"},                   // even an all-topics user
		{user: "recognizer", password: "bad", clientID: "recognizer@host-abc123"}, // wrong password, own id
	} {
		if _, err := newClient(t, b, co); err == nil {
			t.Errorf("connect as %s with client id %q succeeded, want refusal", co.user, co.clientID)
		}
	}
	select {
	case err := <-rec.lost:
		t.Fatalf("recognizer lost its connection to a refused client: %v", err)
	case <-time.After(quietPeriod):
	}
	if !rec.IsConnectionOpen() {
		t.Fatal("recognizer disconnected")
	}
	if !strings.Contains(buf.String(), "client id does not belong to the user") {
		t.Errorf("no warn line for the refused client id:\n%s", buf.String())
	}
	// Own ids work: bare user name and <user>@suffix.
	mustClient(t, b, clientOpts{user: "edge", password: "edge-pw", clientID: "edge"})
	mustClient(t, b, clientOpts{user: "edge", password: "edge-pw", clientID: "edge@pi1-ffffff"})
}

func TestWebSocketOrigin(t *testing.T) {
	b := startBroker(t, Options{WSAddr: "127.0.0.1:0", AllowAnonymous: true, WSOrigins: []string{"https://ha.example:8123", "panel.example"}})
	b.mu.Lock()
	wsAddr := b.ws.Address()
	b.mu.Unlock()
	dial := func(origin, host string) (int, error) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: waitTimeout}
		url := "ws://" + wsAddr + "/"
		if host != "" {
			h.Set("Host", host) // gorilla takes Host from the header
		}
		c, resp, err := d.Dial(url, h)
		if c != nil {
			c.Close()
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, err
	}
	for _, c := range []struct {
		origin, host string
		want         int
	}{
		{"", "", http.StatusSwitchingProtocols},                                // non-browser client
		{"http://" + wsAddr, "", http.StatusSwitchingProtocols},                // same host
		{"https://ha.example:8123", "", http.StatusSwitchingProtocols},         // allow-listed origin
		{"http://panel.example", "", http.StatusSwitchingProtocols},            // allow-listed host, any scheme
		{"http://ha.example:8123", "", http.StatusForbidden},                   // scheme differs
		{"https://evil.example", "", http.StatusForbidden},                     // foreign
		{"null", "", http.StatusForbidden},                                     // sandboxed page
		{"http://evil.example", "evil.example", http.StatusSwitchingProtocols}, // Host header matches its own origin (DNS rebinding is out of scope; MQTT auth still applies)
	} {
		code, err := dial(c.origin, c.host)
		if code != c.want {
			t.Errorf("origin %q host %q: status %d (%v), want %d", c.origin, c.host, code, err, c.want)
		}
	}
	// A full MQTT session works through an allowed browser origin... via the
	// paho ws client (no Origin header), covered by TestWebSocket.
	if err := (&Options{WSOrigins: []string{"ftp//x"}, WSAddr: ":0", TCPAddr: ":0", MaxPacketSize: 1024, MaxClientWritesPending: 1, Logger: b.log}).Validate(); err == nil {
		t.Error("bad --ws-origin accepted")
	}
}

func TestUsersReload(t *testing.T) {
	logger, buf := testLogger(t)
	p := writeUsers(t)
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, Options{UsersFile: p, UsersPoll: 50 * time.Millisecond, Logger: logger})
	mustClient(t, b, clientOpts{user: "edge", password: "edge-pw"})
	// A broken file is logged and the old users stay.
	if err := os.WriteFile(p, []byte("users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload error logged", func() bool { return strings.Contains(buf.String(), "cannot be loaded; keeping the previous users") })
	edge := mustClient(t, b, clientOpts{user: "edge", password: "edge-pw"})
	// A new file replaces the users: "newbie" added, "edge" removed, the
	// recognizer's password rotated, "spy" unchanged.
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	rec := mustClient(t, b, clientOpts{user: "recognizer", password: "rec-pw"})
	keep := mustClient(t, b, clientOpts{user: "spy", password: "spy-pw"})
	spyEntry := string(orig[strings.Index(string(orig), "  - name: spy"):])
	if err := os.WriteFile(p, []byte("users:\n  - name: newbie\n    password_hash: \""+hash("new-pw")+"\"\n    read: [\"#\"]\n"+
		"  - name: recognizer\n    password_hash: \""+hash("rec-pw-2")+"\"\n    read: [\"#\"]\n"+spyEntry), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload", func() bool { return strings.Contains(buf.String(), "mqtt users reloaded") })
	mustClient(t, b, clientOpts{user: "newbie", password: "new-pw"})
	if _, err := newClient(t, b, clientOpts{user: "edge", password: "edge-pw"}); err == nil {
		t.Error("removed user still accepted after reload")
	}
	if _, err := newClient(t, b, clientOpts{user: "recognizer", password: "rec-pw"}); err == nil {
		t.Error("old password still accepted after rotation")
	}
	mustClient(t, b, clientOpts{user: "recognizer", password: "rec-pw-2"})
	// The sessions of the removed user and of the rotated password end; the
	// unchanged user's stays.
	for name, c := range map[string]*testClient{"edge (removed)": edge, "recognizer (rotated)": rec} {
		select {
		case <-c.lost:
		case <-time.After(waitTimeout):
			t.Errorf("%s: still connected after the reload", name)
		}
	}
	select {
	case err := <-keep.lost:
		t.Errorf("unchanged user disconnected: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if !strings.Contains(buf.String(), "its user was removed or its password changed") {
		t.Error("disconnect not logged")
	}
}

// TestClientIDsCannotShadow (issue 17.5): with cameras door and door-pi,
// user edge-door's default client id on host pi (edge-door@pi-...) is not
// in user edge-door-pi's id space, so both edges connect and stay
// connected; the old "<user>-<suffix>" form is refused with a hint; an
// anonymous loopback client never takes a user's id, and facemon's
// anonymous ids ("@...") are accepted.
func TestClientIDsCannotShadow(t *testing.T) {
	h := func(pw string) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(users, []byte(`users:
  - name: edge-door
    password_hash: "`+h("door-pw")+`"
    write: [cam/door/frames]
  - name: edge-door-pi
    password_hash: "`+h("doorpi-pw")+`"
    write: [cam/door-pi/frames]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	logger, buf := testLogger(t)
	b := startBroker(t, Options{UsersFile: users, AllowAnonymous: true, Logger: logger})
	// What edge door on host "pi" would build, whatever this host is called.
	doorID := "edge-door@pi-a1b2c3"
	if real := mqttx.DefaultClientID("edge-door", "edge-door"); !strings.HasPrefix(real, "edge-door@") {
		t.Fatalf("DefaultClientID(edge-door) = %q", real)
	}
	doorPi := mustClient(t, b, clientOpts{user: "edge-door-pi", password: "doorpi-pw", clientID: mqttx.DefaultClientID("edge-door-pi", "x")})
	door := mustClient(t, b, clientOpts{user: "edge-door", password: "door-pw", clientID: doorID})
	if _, err := newClient(t, b, clientOpts{user: "edge-door-pi", password: "doorpi-pw", clientID: doorID}); err == nil {
		t.Error("edge-door-pi took edge-door's client id")
	}
	if _, err := newClient(t, b, clientOpts{user: "edge-door", password: "door-pw", clientID: "edge-door-pi-a1b2c3"}); err == nil {
		t.Error("old-form id edge-door-pi-a1b2c3 accepted for edge-door")
	}
	if !strings.Contains(buf.String(), "old <user>-<suffix> form") {
		t.Errorf("no hint about the old id form:\n%s", buf.String())
	}
	for _, id := range []string{doorID, "edge-door", "edge-door-pi@x"} {
		if _, err := newClient(t, b, clientOpts{clientID: id}); err == nil {
			t.Errorf("anonymous client took user id %q", id)
		}
	}
	anon := mustClient(t, b, clientOpts{clientID: mqttx.DefaultClientID("", "recognizer")})
	time.Sleep(quietPeriod)
	for name, c := range map[string]*testClient{"edge-door": door, "edge-door-pi": doorPi, "anonymous": anon} {
		select {
		case err := <-c.lost:
			t.Errorf("%s lost its connection: %v", name, err)
		default:
		}
		if !c.IsConnectionOpen() {
			t.Errorf("%s disconnected", name)
		}
	}
}
