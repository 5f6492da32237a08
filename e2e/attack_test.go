package e2e

// The attack suite (issue 9): the whole system on the credentials its own
// first run generates — on the embedded broker, and again on Mosquitto with
// the generated password_file/acl_file — first the legitimate flow (edge →
// recognizer → identities → dashboard after login → Capture → Train → Home
// Assistant sees discovery), then an attacker's attempts, each of which
// must be refused while the legitimate flow keeps working. Every process
// runs at debug log level, and no secret may appear in any log line.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/topic"
)

// attackRow is one line of the attack table the test logs.
type attackRow struct {
	attempt, result string
	took            time.Duration
}

type attackTable struct {
	mu   sync.Mutex
	rows []attackRow
}

func (a *attackTable) add(attempt, result string, took time.Duration) {
	a.mu.Lock()
	a.rows = append(a.rows, attackRow{attempt, result, took})
	a.mu.Unlock()
}

func (a *attackTable) log(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "| attempt | result | time |\n|---|---|---|\n")
	for _, r := range a.rows {
		fmt.Fprintf(&b, "| %s | %s | %v |\n", r.attempt, r.result, r.took.Round(time.Millisecond))
	}
	t.Logf("attack table (%s):\n%s", t.Name(), b.String())
}

// mqttTap records every message a client receives, by topic.
type mqttTap struct {
	mu  sync.Mutex
	got map[string][][]byte
}

func (m *mqttTap) handler(_ mqtt.Client, msg mqtt.Message) {
	m.mu.Lock()
	if m.got == nil {
		m.got = map[string][][]byte{}
	}
	m.got[msg.Topic()] = append(m.got[msg.Topic()], msg.Payload())
	m.mu.Unlock()
}

func (m *mqttTap) count(match func(string) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for tp, ps := range m.got {
		if match(tp) {
			n += len(ps)
		}
	}
	return n
}

func (m *mqttTap) payloads(tp string) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.got[tp]...)
}

// dialOnce connects once (no retry) and reports the broker's answer.
func dialOnce(url, user, pass, id string, tap *mqttTap) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetCleanSession(true)
	if tap != nil {
		o.SetDefaultPublishHandler(tap.handler)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

func subscribeTap(t *testing.T, c mqtt.Client, filter string, tap *mqttTap) {
	t.Helper()
	tok := c.Subscribe(filter, 1, tap.handler)
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("subscribe %s: timed out", filter)
	}
}

func publishWait(c mqtt.Client, tp string, payload []byte) {
	tok := c.Publish(tp, 1, false, payload)
	tok.WaitTimeout(5 * time.Second)
}

// secureState runs `facemon-recognizer users init` into a fresh state
// folder and returns it with the dashboard (admin) password from the
// banner and every generated secret.
func secureState(t *testing.T, cams ...string) (dir, admin string, secrets []string, banner string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "state")
	args := []string{"users", "init", "--state", dir}
	for _, c := range cams {
		args = append(args, "--camera", c)
	}
	out, err := exec.Command(filepath.Join(binDir, "facemon-recognizer"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("users init: %v\n%s", err, out)
	}
	// Not a terminal: the banner is in <state>/first-run-credentials.
	fr, err := os.ReadFile(filepath.Join(dir, "first-run-credentials"))
	if err != nil {
		t.Fatalf("users init to a non-terminal wrote no first-run file: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Dashboard login:\s+admin / (\S+)`).FindSubmatch(fr)
	if m == nil {
		t.Fatalf("no dashboard password in the first-run file:\n%s", fr)
	}
	admin = string(m[1])
	secrets = append(secrets, admin)
	for _, f := range []string{"api-token"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, strings.TrimSpace(string(b)))
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "secrets"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, "secrets", e.Name()))
		secrets = append(secrets, strings.TrimSpace(string(b)))
	}
	if len(secrets) < 5 {
		t.Fatalf("only %d secrets generated", len(secrets))
	}
	for _, s := range secrets {
		if bytes.Contains(out, []byte(s)) {
			t.Fatalf("users init printed a secret to a non-terminal:\n%s", out)
		}
	}
	// A second run generates nothing and prints nothing.
	out2, err := exec.Command(filepath.Join(binDir, "facemon-recognizer"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("users init again: %v\n%s", err, out2)
	}
	for _, s := range secrets {
		if bytes.Contains(out2, []byte(s)) {
			t.Fatalf("a second users init printed a secret again:\n%s", out2)
		}
	}
	return dir, admin, secrets, string(fr)
}

func secret(t *testing.T, dir, user string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "secrets", user))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func smallJPEG() []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 64, 48)), nil)
	return b.Bytes()
}

// TestAttackSuite runs the system on its generated credentials and attacks
// it, on the embedded broker and on Mosquitto.
func TestAttackSuite(t *testing.T) {
	for _, kind := range []string{"embedded", "mosquitto"} {
		t.Run(kind, func(t *testing.T) { attackSuite(t, kind) })
	}
}

func attackSuite(t *testing.T, kind string) {
	state, admin, secrets, _ := secureState(t, "door", "garage")
	table := &attackTable{}
	defer table.log(t)

	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	url := "tcp://" + addr
	httpPort := freePort(t)
	apiBase := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	gal := filepath.Join(t.TempDir(), "gallery.json")
	copyFile(t, gallery, gal)
	// The dataset: the shared people, plus whatever Capture adds.
	dataset := linkedFaces(t)

	var procs []*proc
	recArgs := []string{"serve", "--models", models, "--gallery", gal, "--instance", "rsec", "--dataset", dataset,
		"--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--workers", "2", "--state", state, "--log-level", "debug"}
	if kind == "mosquitto" {
		procs = append(procs, startSecureMosquitto(t, state, port))
		recArgs = append(recArgs, "--broker", url)
	} else {
		recArgs = append(recArgs, "--listen", addr)
	}
	rec := start(t, "recognizer", "facemon-recognizer", recArgs...)
	procs = append(procs, rec)
	waitTCP(t, addr, 30*time.Second)
	edgePort := freePort(t)
	edgeURL := fmt.Sprintf("http://127.0.0.1:%d", edgePort)
	edge := start(t, "edge-door", "facemon-edge", "--broker", url, "--camera-id", "door",
		"--username", "edge-door", "--password-file", filepath.Join(state, "secrets", "edge-door"),
		"--login-file", filepath.Join(state, "dashboard.bcrypt"),
		"--state", t.TempDir(), "--recognizer-url", apiBase, "--dataset", dataset,
		"--source", video(t), "--loop", "--fps", "10", "--listen", fmt.Sprintf("127.0.0.1:%d", edgePort), "--log-level", "debug")
	procs = append(procs, edge)

	// The admin watches everything (on Mosquitto its client id becomes
	// "admin": one connection).
	watch := &mqttTap{}
	adm, err := dialOnce(url, "admin", admin, mqttx.DefaultClientID("admin", "e2e"), watch)
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	defer adm.Disconnect(100)
	subscribeTap(t, adm, "#", watch)
	sp := topic.New("")
	isIdent := func(cam string) func(string) bool { return func(tp string) bool { return tp == sp.Identities(cam) } }

	// --- The legitimate flow ---
	waitFor(t, 60*time.Second, "identities for camera door", func() bool { return watch.count(isIdent("door")) > 10 })
	named := 0
	for _, p := range watch.payloads(sp.Identities("door")) {
		if m, err := msg.DecodeIdentities(p); err == nil {
			for _, f := range m.Faces {
				if f.Name == performer {
					named++
				}
			}
		}
	}
	t.Logf("legitimate: %d identities for door so far, performer named in %d", watch.count(isIdent("door")), named)

	ha := &mqttTap{}
	haCl, err := dialOnce(url, "homeassistant", secret(t, state, "homeassistant"), mqttx.DefaultClientID("homeassistant", "e2e"), ha)
	if err != nil {
		t.Fatalf("Home Assistant user connect: %v", err)
	}
	subscribeTap(t, haCl, "homeassistant/#", ha)
	publishWait(haCl, "homeassistant/status", []byte("online"))
	waitFor(t, 20*time.Second, "Home Assistant discovery for door", func() bool {
		return ha.count(func(tp string) bool { return strings.HasPrefix(tp, "homeassistant/") && strings.Contains(tp, "door") }) > 0
	})
	haCl.Disconnect(100)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	csrf := dashboardLogin(t, browser, edgeURL, admin)
	if code := streamStatus(t, browser, edgeURL+"/video_feed", nil); code != http.StatusOK {
		t.Fatalf("/video_feed after login: %d", code)
	}
	code, body := postWith(t, browser, edgeURL+"/api/enrol", "application/json", `{"name":"attack_suite_visitor"}`, csrf)
	if code != http.StatusOK {
		t.Fatalf("Capture after login: %d %s", code, body)
	}
	t.Logf("legitimate Capture: %s", strings.TrimSpace(body))
	code, body = postWith(t, browser, edgeURL+"/api/train", "application/json", `{}`, csrf)
	if code != http.StatusAccepted {
		t.Fatalf("Train after login: %d %s", code, body)
	}
	waitFor(t, 180*time.Second, "training done (through the dashboard's proxy)", func() bool {
		var st msg.TrainStatus
		resp, err := browser.Get(edgeURL + "/rapi/train/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&st) == nil && st.State == "done"
	})

	// --- The attacks ---
	attempt := func(what string, f func() (refused bool, result string)) {
		t.Helper()
		start := time.Now()
		refused, result := f()
		table.add(what, result, time.Since(start))
		if !refused {
			t.Errorf("ATTACK SUCCEEDED: %s: %s", what, result)
		}
	}
	attempt("anonymous MQTT connect", func() (bool, string) {
		c, err := dialOnce(url, "", "", "anon-attacker", nil)
		if err == nil {
			c.Disconnect(0)
			return false, "accepted"
		}
		return true, "refused: " + err.Error()
	})
	attempt("MQTT connect as edge-door with a wrong password", func() (bool, string) {
		c, err := dialOnce(url, "edge-door", "guess-"+admin[:4], "edge-door@attacker", nil)
		if err == nil {
			c.Disconnect(0)
			return false, "accepted"
		}
		return true, "refused: " + err.Error()
	})
	doorPW := secret(t, state, "edge-door")
	attempt("edge door publishes cam/garage/frames", func() (bool, string) {
		c, err := dialOnce(url, "edge-door", doorPW, "edge-door@attacker", nil)
		if err != nil {
			return true, "connect refused: " + err.Error()
		}
		defer c.Disconnect(100)
		before := watch.count(func(tp string) bool { return tp == sp.Frames("garage") || tp == sp.Identities("garage") })
		for i := 0; i < 5; i++ {
			publishWait(c, sp.Frames("garage"), smallJPEG())
		}
		time.Sleep(2 * time.Second)
		if n := watch.count(func(tp string) bool { return tp == sp.Frames("garage") || tp == sp.Identities("garage") }) - before; n > 0 {
			return false, fmt.Sprintf("%d garage frames/identities delivered", n)
		}
		return true, "dropped by the broker: 0 of 5 frames delivered, no garage identities"
	})
	attempt("edge door subscribes cam/+/frames", func() (bool, string) {
		tap := &mqttTap{}
		c, err := dialOnce(url, "edge-door", doorPW, "edge-door@attacker", tap)
		if err != nil {
			return true, "connect refused: " + err.Error()
		}
		defer c.Disconnect(100)
		tok := c.Subscribe(sp.AllCameras(topic.Frames), 0, tap.handler)
		tok.WaitTimeout(5 * time.Second)
		time.Sleep(2 * time.Second)
		if n := tap.count(func(string) bool { return true }); n > 0 {
			return false, fmt.Sprintf("%d frames received", n)
		}
		return true, "subscription denied: 0 frames received in 2 s"
	})
	attempt("Home Assistant user takes the recognizer's client id", func() (bool, string) {
		lost := rec.grep("connection lost")
		identsBefore := watch.count(isIdent("door"))
		c, err := dialOnce(url, "homeassistant", secret(t, state, "homeassistant"), "recognizer", nil)
		if err == nil {
			defer c.Disconnect(100)
		}
		time.Sleep(2 * time.Second)
		if rec.grep("connection lost") > lost {
			return false, "the recognizer was disconnected"
		}
		if watch.count(isIdent("door")) <= identsBefore {
			return false, "identities stopped"
		}
		if err != nil {
			return true, "refused: " + err.Error() + "; recognizer stayed connected"
		}
		return true, "connected under its own id (Mosquitto sets the id to the user name); recognizer stayed connected"
	})
	for _, a := range []struct{ user, verb, payload string }{
		{"edge-door", "threshold", `{"v":1,"id":"atk-thr","name":"` + performer + `","threshold":0.7}`},
		{"edge-door", "delete", `{"v":1,"id":"atk-del","name":"` + performer + `"}`},
		{"homeassistant", "threshold", `{"v":1,"id":"atk-hathr","name":"` + performer + `","threshold":0.7}`},
		{"homeassistant", "delete", `{"v":1,"id":"atk-hadel","name":"` + performer + `"}`},
		{"homeassistant", "enrol", `{"v":1,"id":"atk-haenr","name":"mallory","image":"` + b64(smallJPEG()) + `"}`},
	} {
		attempt(fmt.Sprintf("%s publishes facemon/cmd/%s", a.user, a.verb), func() (bool, string) {
			c, err := dialOnce(url, a.user, secret(t, state, a.user), mqttx.DefaultClientID(a.user, "atk"), nil)
			if err != nil {
				return true, "connect refused: " + err.Error()
			}
			defer c.Disconnect(100)
			before := watch.count(func(tp string) bool { return tp == sp.Command(a.verb) })
			publishWait(c, sp.Command(a.verb), []byte(a.payload))
			time.Sleep(2 * time.Second)
			if n := watch.count(func(tp string) bool { return tp == sp.Command(a.verb) }) - before; n > 0 {
				return false, "command delivered"
			}
			if answered(watch, sp, a.payload) {
				return false, "the recognizer answered it"
			}
			return true, "dropped by the broker; no answer, gallery unchanged"
		})
	}
	// The same channel works for the admin, so the refusals above are the
	// ACL's doing and not a broken command path.
	adminThr := `{"v":1,"id":"admin-thr","name":"` + performer + `","threshold":0.5}`
	publishWait(adm, sp.Command("threshold"), []byte(adminThr))
	waitFor(t, 10*time.Second, "the admin's threshold command answered", func() bool { return answered(watch, sp, adminThr) })
	var people struct {
		People []struct {
			Name      string  `json:"name"`
			Threshold float64 `json:"threshold"`
		} `json:"people"`
	}
	tok := secrets[1]
	code, body, _ = httpDo(t, "GET", apiBase+"/api/people", "", "", "Authorization", "Bearer "+tok)
	if code != 200 || json.Unmarshal([]byte(body), &people) != nil {
		t.Fatalf("GET /api/people with the token: %d %s", code, body)
	}
	found := false
	for _, p := range people.People {
		if p.Name == performer {
			found = true
			if p.Threshold != 0.5 {
				t.Errorf("%s threshold %v, want the admin's 0.5 (an attacker's 0.7 must not land)", performer, p.Threshold)
			}
		}
	}
	if !found {
		t.Errorf("%s was deleted by an attacker's command", performer)
	}

	// HTTP: the REST API and the dashboard.
	var events struct {
		Events []struct {
			ID int64 `json:"id"`
		} `json:"events"`
	}
	waitFor(t, 60*time.Second, "an event in the history", func() bool {
		code, body, _ := httpDo(t, "GET", apiBase+"/api/events?limit=1", "", "", "Authorization", "Bearer "+tok)
		return code == 200 && json.Unmarshal([]byte(body), &events) == nil && len(events.Events) > 0
	})
	frameURL := fmt.Sprintf("%s/api/events/%d/frame.jpg", apiBase, events.Events[0].ID)
	attempt("GET /api/events/{id}/frame.jpg without a token", func() (bool, string) {
		code, _, _ := httpDo(t, "GET", frameURL, "", "")
		if code == 200 {
			return false, "200 with the frame"
		}
		okCode, _, _ := httpDo(t, "GET", frameURL, "", "", "Authorization", "Bearer "+tok)
		return code == 401 && okCode == 200, fmt.Sprintf("%d (with the token: %d)", code, okCode)
	})
	attempt("GET /api/people with a wrong token", func() (bool, string) {
		code, _, _ := httpDo(t, "GET", apiBase+"/api/people", "", "", "Authorization", "Bearer x"+tok)
		return code == 401, fmt.Sprint(code)
	})
	attempt("cross-site text/plain POST to /api/unknowns/1/name", func() (bool, string) {
		code, _, _ := httpDo(t, "POST", apiBase+"/api/unknowns/1/name", "text/plain", `{"name":"mallory"}`, "Origin", "http://evil.example")
		code2, _, _ := httpDo(t, "POST", apiBase+"/api/unknowns/1/name", "text/plain", `{"name":"mallory"}`,
			"Origin", "http://evil.example", "Authorization", "Bearer "+tok)
		return code >= 400 && code2 >= 400 && code2 != 404, fmt.Sprintf("%d without the token, %d even with it", code, code2)
	})
	attempt("cross-site text/plain POST to the dashboard's /api/enrol (with the session cookie)", func() (bool, string) {
		code, _ := postWith(t, browser, edgeURL+"/api/enrol", "text/plain", `{"name":"mallory"}`, "")
		return code >= 400, fmt.Sprint(code)
	})
	attempt("dashboard POST /api/train without the CSRF token", func() (bool, string) {
		code, _ := postWith(t, browser, edgeURL+"/api/train", "application/json", `{}`, "")
		return code == 403, fmt.Sprint(code)
	})
	attempt("/video_feed without a session", func() (bool, string) {
		code := streamStatus(t, http.DefaultClient, edgeURL+"/video_feed", nil)
		return code == 401 || code == 303 || code == 302, fmt.Sprint(code)
	})
	attempt("dashboard WebSocket without a session", func() (bool, string) {
		code := streamStatus(t, http.DefaultClient, edgeURL+"/ws", wsHeaders(edgeURL))
		return code == 401 || code == 403, fmt.Sprint(code)
	})
	attempt("/rapi/people without a session", func() (bool, string) {
		code := streamStatus(t, http.DefaultClient, edgeURL+"/rapi/people", nil)
		return code == 401 || code == 403, fmt.Sprint(code)
	})
	attempt("dashboard WebSocket with a session but a foreign Origin", func() (bool, string) {
		h := wsHeaders("http://evil.example")
		code := streamStatus(t, browser, edgeURL+"/ws", h)
		return code == 403, fmt.Sprint(code)
	})
	attempt("login brute force (20 wrong passwords)", func() (bool, string) {
		anon := &http.Client{Timeout: 10 * time.Second}
		for i := 1; i <= 20; i++ {
			code, _ := postWith(t, anon, edgeURL+"/api/login", "application/json", fmt.Sprintf(`{"password":"guess%d"}`, i), "")
			if code == http.StatusTooManyRequests {
				return true, fmt.Sprintf("429 from attempt %d", i)
			}
			if code == 200 {
				return false, "a guess logged in"
			}
		}
		return false, "no rate limit in 20 attempts"
	})

	// --- Still working after all that ---
	before := watch.count(isIdent("door"))
	waitFor(t, 20*time.Second, "identities still flowing after the attacks", func() bool { return watch.count(isIdent("door")) > before+10 })
	if code := streamStatus(t, browser, edgeURL+"/video_feed", nil); code != http.StatusOK {
		t.Errorf("/video_feed for the logged-in session after the attacks: %d", code)
	}
	code, body = postWith(t, browser, edgeURL+"/api/enrol", "application/json", `{"name":"attack_suite_visitor"}`, csrf)
	if code != http.StatusOK {
		t.Errorf("Capture after the attacks: %d %s", code, body)
	}

	// No secret in any log line of any process.
	for _, p := range procs {
		p.mu.Lock()
		lines := append([]string(nil), p.logs...)
		p.mu.Unlock()
		if len(lines) < 5 {
			t.Errorf("%s logged only %d lines: is its output captured?", p.name, len(lines))
		}
		for _, l := range lines {
			for _, s := range secrets {
				if strings.Contains(l, s) {
					t.Errorf("%s logged a secret: %q", p.name, l)
				}
			}
		}
	}
	table.add(fmt.Sprintf("secrets in %d processes' logs", len(procs)), "none found", 0)
}

func answered(watch *mqttTap, sp topic.Space, payload string) bool {
	var c struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(payload), &c)
	for _, tp := range []string{sp.Result(), sp.EnrolResult()} {
		for _, p := range watch.payloads(tp) {
			var r struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(p, &r) == nil && r.ID == c.ID {
				return true
			}
		}
	}
	return false
}

// dashboardLogin logs in with the dashboard password and returns the
// session's CSRF token.
func dashboardLogin(t *testing.T, c *http.Client, edgeURL, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"password": password})
	req, _ := http.NewRequest("POST", edgeURL+"/api/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", edgeURL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		CSRF string `json:"csrf"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.CSRF == "" {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	return out.CSRF
}

func postWith(t *testing.T, c *http.Client, url, ct, body, csrf string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// streamStatus opens a (possibly endless) response and returns its status.
func streamStatus(t *testing.T, c *http.Client, url string, hdr http.Header) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	cl := *c
	cl.Timeout = 10 * time.Second
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func wsHeaders(origin string) http.Header {
	return http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Origin":                {origin},
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// startSecureMosquitto runs Mosquitto on 127.0.0.1:port with the
// password_file and acl_file `users init` generated in state (and the
// generated facemon.conf's use_username_as_clientid), and waits for it.
func startSecureMosquitto(t *testing.T, state string, port int) *proc {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous false\npersistence false\n"+
		"password_file %s\nacl_file %s\nuse_username_as_clientid true\n%s", port,
		filepath.Join(state, "mosquitto", "password_file"), filepath.Join(state, "mosquitto", "acl_file"), runAsRoot())), 0o600)
	p := startExternal(t, "mosquitto", mosquittoBin(t), "-c", conf, "-v")
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	return p
}

// runAsRoot keeps mosquitto, started by root, from switching to the
// mosquitto user, which cannot read the test's 0700 state folder.
func runAsRoot() string {
	if os.Geteuid() == 0 {
		return "user root\n"
	}
	return ""
}

// TLS one flag away: a local CA and server certificate from the certs
// command; the embedded broker adds MQTT over TLS and the API is served
// over HTTPS; the edge connects with --ca and proxies to the HTTPS API. A
// client without the CA is refused.
func TestTLSWithCredentialsAndHTTPSAPI(t *testing.T) {
	state, admin, _, _ := secureState(t, "door")
	out, err := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "certs", "--state", state, "--host", "127.0.0.1,localhost").CombinedOutput()
	if err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	tlsDir := filepath.Join(state, "tls")
	ca := filepath.Join(tlsDir, "ca.pem")
	port, tlsPort, httpPort, edgePort := freePort(t), freePort(t), freePort(t), freePort(t)
	apiBase := fmt.Sprintf("https://127.0.0.1:%d", httpPort)
	start(t, "recognizer", "facemon-recognizer", "serve", "--models", models, "--gallery", gallery, "--instance", "rtls",
		"--dataset", t.TempDir(), "--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--workers", "2", "--state", state,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--tls-listen", fmt.Sprintf("127.0.0.1:%d", tlsPort),
		"--tls-cert", filepath.Join(tlsDir, "server.pem"), "--tls-key", filepath.Join(tlsDir, "server.key"))
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", tlsPort), 30*time.Second)
	tlsURL := fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort)
	edgeURL := fmt.Sprintf("http://127.0.0.1:%d", edgePort)
	start(t, "edge-door", "facemon-edge", "--broker", tlsURL, "--ca", ca, "--camera-id", "door",
		"--username", "edge-door", "--password-file", filepath.Join(state, "secrets", "edge-door"),
		"--login-file", filepath.Join(state, "dashboard.bcrypt"),
		"--state", t.TempDir(), "--recognizer-url", apiBase, "--dataset", t.TempDir(),
		"--source", video(t), "--loop", "--fps", "10", "--listen", fmt.Sprintf("127.0.0.1:%d", edgePort))

	ids := make(chan struct{}, 1000)
	cl, err := mqttx.New(mqttx.Options{Broker: tlsURL, CAFile: ca, Username: "admin", Password: admin,
		ClientID: mqttx.DefaultClientID("admin", "e2e")})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.Subscribe(topic.New("").Identities("door"), 1, func(string, []byte) {
		select {
		case ids <- struct{}{}:
		default:
		}
	})
	waitFor(t, 60*time.Second, "identities over MQTT/TLS", func() bool { return len(ids) >= 5 })

	// Without the CA the broker's certificate is not trusted.
	noCA, err := mqttx.New(mqttx.Options{Broker: tlsURL, Username: "admin", Password: admin,
		ClientID: mqttx.DefaultClientID("admin", "noca")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	if err := noCA.WaitConnected(ctx); err == nil {
		t.Error("a client without the CA connected over TLS")
	} else {
		t.Logf("client without --ca: %v", err)
	}
	cancel()
	noCA.Close()

	// The API over HTTPS through the dashboard's proxy.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	dashboardLogin(t, browser, edgeURL, admin)
	resp, err := browser.Get(edgeURL + "/rapi/people")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), performer) {
		t.Fatalf("/rapi/people over the HTTPS API: %d %s", resp.StatusCode, b)
	}
	// Plain HTTP to the HTTPS API port gets nowhere.
	if r, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/api/people", httpPort)); err == nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the HTTPS API port")
		}
	}
}
