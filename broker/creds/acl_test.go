package creds

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/facemon/facemon/broker"
	"github.com/facemon/facemon/broker/auth"
	"github.com/facemon/facemon/broker/internal/testclient"
	"github.com/facemon/facemon/shared/mqttfilter"
)

const (
	waitTimeout = 10 * time.Second
	quietPeriod = 300 * time.Millisecond
)

// roleUser maps a role of Uses/Denials to the user the matrix tests use.
func roleUser(role string, viewAll bool) string {
	switch role {
	case RoleEdge:
		if viewAll {
			return "edge-garage" // created with --view-all
		}
		return "edge-door"
	case RoleHomeAssistant:
		return UserHomeAssistant
	default:
		return UserRecognizer
	}
}

// TestTemplatesAllowEveryUse checks the role templates against every topic
// the binaries use, and the denials, without a broker.
func TestTemplatesAllowEveryUse(t *testing.T) {
	for _, prefix := range []string{"", "site1/"} {
		tp := NewTopics(prefix, "")
		rules := func(spec Spec) *auth.Users {
			read, write, err := spec.Rules(tp)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("users:\n  - name: u\n    password: p\n    read:\n")
			for _, r := range read {
				fmt.Fprintf(&b, "      - %q\n", r)
			}
			b.WriteString("    write:\n")
			for _, w := range write {
				fmt.Fprintf(&b, "      - %q\n", w)
			}
			us, err := auth.Parse("t", []byte(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			return us
		}
		for _, u := range Uses(tp, "door", "garage", "vm-1a2b3c", "facemon-recognizers") {
			if u.ViewAll && u.Role != RoleEdge || u.Commands && u.Role != RoleHomeAssistant {
				t.Fatalf("bad use %+v", u)
			}
			us := rules(Spec{Role: u.Role, Camera: "door", ViewAll: u.ViewAll, Commands: u.Commands})
			ok := us.CanRead("u", u.Topic)
			if u.Publish {
				ok = us.CanWrite("u", u.Topic)
			}
			if !ok {
				t.Errorf("prefix %q: role %s may not %s %s (%s)", prefix, u.Role, verb(u.Publish), u.Topic, u.Where)
			}
		}
		for _, d := range Denials(tp, "door", "garage") {
			us := rules(Spec{Role: d.Role, Camera: "door"})
			ok := us.CanRead("u", d.Topic)
			if d.Publish {
				ok = us.CanWrite("u", d.Topic)
			}
			if ok {
				t.Errorf("prefix %q: %s: role %s may %s %s", prefix, d.Why, d.Role, verb(d.Publish), d.Topic)
			}
		}
		// Without a prefix nothing outside facemon's and HA's trees.
		if us := rules(Spec{Role: RoleRecognizer}); prefix != "" && us.CanRead("u", "cam/+/frames") {
			t.Error("prefixed recognizer reads unprefixed frames")
		}
	}
	if _, _, err := (Spec{Role: RoleEdge, Camera: "a/+"}).Rules(NewTopics("", "")); err == nil {
		t.Error("edge spec with a bad camera accepted")
	}
	if _, _, err := (Spec{Role: "toaster"}).Rules(NewTopics("", "")); err == nil {
		t.Error("unknown role accepted")
	}
}

func verb(publish bool) string {
	if publish {
		return "publish to"
	}
	return "subscribe to"
}

// matrixState is a state directory with the users the matrix needs.
type matrixState struct {
	dir   string
	admin string // admin password
}

func newMatrixState(t *testing.T) matrixState {
	t.Helper()
	o := testOpts(t, "door")
	c, err := Ensure(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := AddCamera(o, "garage", true); err != nil {
		t.Fatal(err)
	}
	return matrixState{dir: o.Dir, admin: c.DashboardPassword}
}

func (m matrixState) password(t *testing.T, user string) string {
	if user == UserAdmin {
		return m.admin
	}
	pw, err := Secret(m.dir, user)
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

var seq atomic.Int64

type client struct {
	paho.Client
	mu   sync.Mutex
	msgs map[string][]string // topic -> payloads
	lost chan error
}

func (c *client) got(topic, payload string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.msgs[topic] {
		if p == payload {
			return true
		}
	}
	return false
}

func dial(t *testing.T, url, user, pw, id string) (*client, error) {
	t.Helper()
	if id == "" {
		id = fmt.Sprintf("%s@test-%d", user, seq.Add(1))
		if user == "" {
			id = fmt.Sprintf("anon-%d", seq.Add(1))
		}
	}
	c := &client{msgs: map[string][]string{}, lost: make(chan error, 1)}
	o := testclient.Options(url, id, waitTimeout, c.lost).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			c.mu.Lock()
			c.msgs[m.Topic()] = append(c.msgs[m.Topic()], string(m.Payload()))
			c.mu.Unlock()
		})
	if user != "" {
		o.SetUsername(user).SetPassword(pw)
	}
	var err error
	if c.Client, err = testclient.Connect(t, o, waitTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

func (m matrixState) mustDial(t *testing.T, url, user string) *client {
	t.Helper()
	c, err := dial(t, url, user, m.password(t, user), "")
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	return c
}

// sub subscribes and returns the SUBACK code (0x80: refused).
func (c *client) sub(t *testing.T, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 0, nil)
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("subscribe %q: %v", filter, tok.Error())
	}
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code
	}
	t.Fatalf("subscribe %q: no result", filter)
	return 0
}

func (c *client) pub(t *testing.T, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 0, false, payload)
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("publish %q: %v", topic, tok.Error())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// concrete turns a filter into a topic it matches.
func concrete(filter string) string {
	f, _ := mqttfilter.StripShare(filter)
	parts := strings.Split(f, "/")
	for i, p := range parts {
		if p == "+" || p == "#" {
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/")
}

// runMatrix checks the legitimate uses and the attacks against a running
// broker at url that uses the state directory m.
func runMatrix(t *testing.T, url string, m matrixState, mosquitto bool) {
	tp := NewTopics("", "")
	// Mosquitto (use_username_as_clientid) allows one connection per user:
	// a second one closes the first. So connections of one user are
	// sequential here, and the admin watcher connects after this.
	t.Run("passwords", func(t *testing.T) {
		for _, u := range []string{UserRecognizer, UserHomeAssistant, "edge-door", "edge-garage", UserAdmin} {
			if c, err := dial(t, url, u, m.password(t, u), ""); err != nil {
				t.Errorf("%s with the right password refused: %v", u, err)
			} else {
				c.Disconnect(50)
			}
			if _, err := dial(t, url, u, m.password(t, u)+"x", ""); err == nil {
				t.Errorf("%s with a wrong password accepted", u)
			}
		}
		if _, err := dial(t, url, "nobody", "x", ""); err == nil {
			t.Error("unknown user accepted")
		}
		if _, err := dial(t, url, "", "", ""); err == nil {
			t.Error("anonymous client accepted")
		}
	})

	admin := m.mustDial(t, url, UserAdmin)
	if code := admin.sub(t, "#"); code > 2 {
		t.Fatalf("admin may not subscribe #: %#x", code)
	}
	clients := map[string]*client{}
	get := func(user string) *client {
		if c := clients[user]; c != nil {
			return c
		}
		clients[user] = m.mustDial(t, url, user)
		return clients[user]
	}

	t.Run("legitimate uses", func(t *testing.T) {
		for i, u := range Uses(tp, "door", "garage", "vm-1a2b3c", "facemon-recognizers") {
			if u.Commands {
				continue // the matrix's homeassistant has no --commands
			}
			user := roleUser(u.Role, u.ViewAll)
			topic := u.Topic
			if u.Role == RoleEdge && u.ViewAll {
				// Uses name camera door as "own", garage as remote; the
				// view-all user is edge-garage, so its remote is door.
				topic = strings.Replace(topic, "/garage/", "/door/", 1)
			} else if u.Role == RoleEdge && user == "edge-garage" {
				continue
			}
			c := get(user)
			payload := fmt.Sprintf("use-%d", i)
			if u.Publish {
				c.pub(t, topic, payload)
				waitFor(t, fmt.Sprintf("%s publishing %s (%s)", user, topic, u.Where), func() bool { return admin.got(topic, payload) })
				continue
			}
			if code := c.sub(t, topic); code > 2 {
				t.Errorf("%s may not subscribe %s (%s): code %#x", user, topic, u.Where, code)
				continue
			}
			ct := concrete(topic)
			admin.pub(t, ct, payload)
			waitFor(t, fmt.Sprintf("%s receiving %s via %s", user, ct, topic), func() bool { return c.got(ct, payload) })
		}
	})

	t.Run("attacks", func(t *testing.T) {
		for i, d := range Denials(tp, "door", "garage") {
			user := roleUser(d.Role, false)
			// A fresh connection each: a denied publish may cost the
			// connection (mochi, QoS 1) and must not leak subscriptions.
			if old := clients[user]; old != nil {
				old.Disconnect(50)
				delete(clients, user)
			}
			c := m.mustDial(t, url, user)
			payload := fmt.Sprintf("attack-%d", i)
			if d.Publish {
				c.pub(t, d.Topic, payload)
				// Marker through an allowed topic of the same user: when it
				// arrives, the attack would have arrived before it.
				marker := map[string]string{RoleEdge: tp.Space.Frames("door"), RoleHomeAssistant: "homeassistant/status", RoleRecognizer: tp.AlertTopic()}[d.Role]
				c.pub(t, marker, payload+"-marker")
				waitFor(t, "marker "+marker, func() bool { return admin.got(marker, payload+"-marker") })
				if admin.got(d.Topic, payload) {
					t.Errorf("%s: %s published %s", d.Why, user, d.Topic)
				}
				continue
			}
			code := c.sub(t, d.Topic)
			if mosquitto {
				t.Logf("mosquitto SUBACK for %s subscribing %s: %#x", user, d.Topic, code)
			} else if code != 0x80 {
				t.Errorf("%s: subscribe %s granted (%#x)", d.Why, d.Topic, code)
			}
			ct := concrete(d.Topic)
			admin.pub(t, ct, payload)
			time.Sleep(quietPeriod)
			if c.got(ct, payload) {
				t.Errorf("%s: %s received %s via %s (suback %#x)", d.Why, user, ct, d.Topic, code)
			}
		}
	})

	t.Run("client id takeover", func(t *testing.T) {
		recID := "recognizer@vm-a1b2c3"
		rec, err := dial(t, url, UserRecognizer, m.password(t, UserRecognizer), recID)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"edge-door", UserHomeAssistant} {
			c, err := dial(t, url, u, m.password(t, u), recID)
			if !mosquitto && err == nil {
				t.Errorf("%s connected with the recognizer's client id", u)
			}
			if c != nil {
				c.Disconnect(50)
			}
		}
		select {
		case err := <-rec.lost:
			t.Fatalf("the recognizer was disconnected by a client using its id: %v", err)
		case <-time.After(quietPeriod):
		}
		if !rec.IsConnectionOpen() {
			t.Fatal("recognizer connection closed")
		}
	})
}

func TestMatrixEmbeddedBroker(t *testing.T) {
	m := newMatrixState(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("broker log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	b, err := broker.New(broker.Options{TCPAddr: "127.0.0.1:0", UsersFile: UsersFile(m.dir), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	url := "tcp://" + b.Addr()
	runMatrix(t, url, m, false)

	t.Run("users added while running", func(t *testing.T) {
		cr, _, err := AddCamera(Options{Dir: m.dir, BcryptCost: 4}, "porch", false)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(waitTimeout)
		for {
			_, err := dial(t, url, cr.User, cr.Password, "")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("new user not accepted after the users file changed: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("anonymous from loopback with AllowAnonymous", func(t *testing.T) {
		b2, err := broker.New(broker.Options{TCPAddr: "127.0.0.1:0", UsersFile: UsersFile(m.dir), AllowAnonymous: true, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		if err := b2.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer b2.Close()
		if _, err := dial(t, "tcp://"+b2.Addr(), "", "", ""); err != nil {
			t.Errorf("anonymous loopback client refused with AllowAnonymous: %v", err)
		}
		if _, err := dial(t, "tcp://"+b2.Addr(), "edge-door", "wrong", ""); err == nil {
			t.Error("wrong password accepted with AllowAnonymous")
		}
		// Anonymous clients have an id space of their own: a user's id is
		// refused (issue 17.5), whichever form.
		for _, id := range []string{UserRecognizer + "@vm-a1b2c3", UserRecognizer, "edge-door@pi-a1b2c3"} {
			if c, err := dial(t, "tcp://"+b2.Addr(), "", "", id); err == nil {
				c.Disconnect(50)
				t.Errorf("anonymous client connected with user id %q", id)
			}
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestMatrixMosquitto runs the same matrix against a real Mosquitto using
// the exported password_file, acl_file and a facemon.conf on 127.0.0.1.
func TestMatrixMosquitto(t *testing.T) {
	bin := os.Getenv("FACEMON_MOSQUITTO")
	if bin == "" {
		bin = "/usr/sbin/mosquitto"
	}
	if _, err := os.Stat(bin); err != nil {
		// Under CI (scripts/deps.sh installs mosquitto) a missing broker
		// fails, like every other tool-dependent test.
		if os.Getenv("CI") != "" || os.Getenv("FACEMON_REQUIRE_MOSQUITTO") != "" {
			t.Fatalf("mosquitto: %v (scripts/deps.sh installs it)", err)
		}
		t.Logf("!!! no mosquitto at %s: the Mosquitto ACL matrix is NOT checked here !!!", bin)
		t.Skipf("no mosquitto at %s (apt install mosquitto; CI or FACEMON_REQUIRE_MOSQUITTO=1 makes this fatal)", bin)
	}
	m := newMatrixState(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	extra := "log_dest stderr\nlog_type all\npersistence false\n"
	if u, err := user.Current(); err == nil && os.Geteuid() == 0 {
		// Run as root, mosquitto switches to user "mosquitto", which cannot
		// read the 0600 files of the 0700 state directory.
		extra += "user " + u.Username + "\n"
	}
	if err := os.WriteFile(conf, []byte(MosquittoConfig(m.dir, "127.0.0.1", port)+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("mosquitto output:\n%s", out.String())
			mu.Unlock()
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not listening on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	runMatrix(t, "tcp://"+addr, m, true)
}

// TestUsersExample checks broker/users.example.yaml: each user's rules are
// exactly its role's template, so it allows every topic in Uses and none of
// the Denials (both checked against the templates above).
func TestUsersExample(t *testing.T) {
	const path = "../users.example.yaml"
	us, err := auth.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tp := NewTopics("", "")
	roles := map[string]bool{}
	for _, n := range us.Names() {
		u, _ := us.User(n)
		roles[u.Role] = true
		read, write, err := (Spec{Role: u.Role, Camera: u.Camera}).Rules(tp)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if strings.Join(u.Read, " ") != strings.Join(read, " ") || strings.Join(u.Write, " ") != strings.Join(write, " ") {
			t.Errorf("%s %s: example rules differ from the %s template:\n read  %v\n want  %v\n write %v\n want  %v", path, n, u.Role, u.Read, read, u.Write, write)
		}
	}
	for _, r := range []string{RoleEdge, RoleRecognizer, RoleHomeAssistant, RoleAdmin} {
		if !roles[r] {
			t.Errorf("%s has no %s user", path, r)
		}
	}
	// And directly: every use allowed for the example's users.
	for _, u := range Uses(tp, "door", "garage", "vm-1a2b3c", "facemon-recognizers") {
		if u.ViewAll || u.Commands {
			continue
		}
		name := roleUser(u.Role, false)
		ok := us.CanRead(name, u.Topic)
		if u.Publish {
			ok = us.CanWrite(name, u.Topic)
		}
		if !ok {
			t.Errorf("%s: %s may not %s %s (%s)", path, name, verb(u.Publish), u.Topic, u.Where)
		}
	}
	for _, d := range Denials(tp, "door", "garage") {
		name := roleUser(d.Role, false)
		ok := us.CanRead(name, d.Topic)
		if d.Publish {
			ok = us.CanWrite(name, d.Topic)
		}
		if ok {
			t.Errorf("%s: %s: %s may %s %s", path, d.Why, name, verb(d.Publish), d.Topic)
		}
	}
}
