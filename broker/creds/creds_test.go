package creds

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facemon/facemon/broker/auth"
	"golang.org/x/crypto/bcrypt"
)

func testOpts(t *testing.T, cams ...string) Options {
	t.Helper()
	return Options{Dir: filepath.Join(t.TempDir(), "var"), Cameras: cams, BcryptCost: bcrypt.MinCost}
}

func loadUsers(t *testing.T, dir string) *auth.Users {
	t.Helper()
	us, err := auth.LoadFile(UsersFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func TestEnsureFresh(t *testing.T) {
	o := testOpts(t, "door", "garage")
	c, err := Ensure(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notes) != 0 || len(c.Rotated) != 0 {
		t.Errorf("fresh state has notes/rotations: %+v", c)
	}
	if c.DashboardPassword == "" || c.APIToken == "" {
		t.Fatalf("no dashboard password or token: %+v", c)
	}
	names := map[string]string{}
	for _, u := range c.Users {
		names[u.User] = u.Password
	}
	for _, n := range []string{"admin", "recognizer", "homeassistant", "edge-door", "edge-garage"} {
		if names[n] == "" {
			t.Errorf("user %s not created", n)
		}
	}
	if names["admin"] != c.DashboardPassword {
		t.Error("admin password is not the dashboard password")
	}
	us := loadUsers(t, o.Dir)
	for n, pw := range names {
		if !us.Authenticate(n, []byte(pw)) {
			t.Errorf("%s: printed password does not authenticate", n)
		}
		if u, _ := us.User(n); u.Role == "" {
			t.Errorf("%s has no role", n)
		}
	}
	if u, _ := us.User("edge-door"); u.Role != RoleEdge || u.Camera != "door" {
		t.Errorf("edge-door role/camera %q/%q", u.Role, u.Camera)
	}
	// Secrets: client users only.
	for _, n := range []string{"recognizer", "homeassistant", "edge-door"} {
		if pw, err := Secret(o.Dir, n); err != nil || pw != names[n] {
			t.Errorf("secret of %s = %q, %v", n, pw, err)
		}
	}
	if _, err := os.Stat(SecretFile(o.Dir, "admin")); !os.IsNotExist(err) {
		t.Errorf("admin password stored in plaintext (%v)", err)
	}
	if _, err := Secret(o.Dir, "admin"); err == nil || !strings.Contains(err.Error(), "rotate admin") {
		t.Errorf("Secret(admin) = %v", err)
	}
	dash, _ := os.ReadFile(DashboardFile(o.Dir))
	if bcrypt.CompareHashAndPassword(bytes.TrimSpace(dash), []byte(c.DashboardPassword)) != nil {
		t.Error("dashboard.bcrypt does not match the dashboard password")
	}
	if tok, _ := ReadSecretFile(APITokenFile(o.Dir)); tok != c.APIToken || len(tok) != 43 {
		t.Errorf("api-token %q (len %d)", tok, len(tok))
	}
	checkModes(t, o.Dir)

	// Mosquitto password file: every user with a matching $7$ hash.
	pf, err := os.ReadFile(filepath.Join(o.Dir, DirMosquitto, "password_file"))
	if err != nil {
		t.Fatal(err)
	}
	hashes := parsePasswordFile(pf)
	for n, pw := range names {
		if !CheckMosquittoHash(hashes[n], pw) {
			t.Errorf("mosquitto hash of %s does not verify: %q", n, hashes[n])
		}
	}

	// Banner: passwords and the edge command line, once.
	var b bytes.Buffer
	c.Banner(&b, BannerOptions{BrokerHost: "hub.lan"})
	for _, want := range []string{"admin / " + c.DashboardPassword, "user homeassistant, password " + names["homeassistant"],
		"FACEMON_MQTT_PASSWORD=" + names["edge-door"] + " facemon-edge --broker tcp://hub.lan:1883 --username edge-door --camera-id door --source 0",
		c.APIToken} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, b.String())
		}
	}

	// Second run: nothing new, nothing printed.
	c2, err := Ensure(o)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Empty() {
		t.Errorf("second Ensure generated %+v", c2)
	}
	b.Reset()
	c2.Banner(&b, BannerOptions{})
	if b.Len() != 0 {
		t.Errorf("empty banner printed %q", b.String())
	}
	if !loadUsers(t, o.Dir).Authenticate("edge-door", []byte(names["edge-door"])) {
		t.Error("second Ensure changed a password")
	}
}

func checkModes(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEnsureUpgrade(t *testing.T) {
	o := testOpts(t)
	c, err := Ensure(o)
	if err != nil {
		t.Fatal(err)
	}
	recPw := ""
	for _, u := range c.Users {
		if u.User == "recognizer" {
			recPw = u.Password
		}
	}
	// An older install: the token, the recognizer's secret and the
	// mosquitto files are gone, a camera is new, the dir is too open.
	for _, f := range []string{APITokenFile(o.Dir), SecretFile(o.Dir, "homeassistant"), filepath.Join(o.Dir, DirMosquitto, "password_file")} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(o.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o.Cameras = []string{"door"}
	c2, err := Ensure(o)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(c2.Notes, "\n")
	for _, want := range []string{"api-token", "homeassistant had no stored secret", "edge-door", "added recognizer to mosquitto/password_file"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if c2.APIToken == "" || len(c2.Rotated) != 1 || c2.Rotated[0].User != "homeassistant" || len(c2.Users) != 1 || c2.Users[0].User != "edge-door" {
		t.Errorf("upgrade result %+v", c2)
	}
	us := loadUsers(t, o.Dir)
	if !us.Authenticate("recognizer", []byte(recPw)) {
		t.Error("recognizer password changed on upgrade")
	}
	if !us.Authenticate("homeassistant", []byte(c2.Rotated[0].Password)) {
		t.Error("rotated homeassistant password not in users.yaml")
	}
	pf, _ := os.ReadFile(filepath.Join(o.Dir, DirMosquitto, "password_file"))
	h := parsePasswordFile(pf)
	if !CheckMosquittoHash(h["recognizer"], recPw) {
		t.Error("recognizer missing from the regenerated password_file")
	}
	if _, ok := h["admin"]; ok {
		t.Error("admin's mosquitto hash survived the deleted password_file (plaintext must not be kept)")
	}
	checkModes(t, o.Dir)

	// Lost dashboard.bcrypt: admin gets a new password, said so.
	if err := os.Remove(DashboardFile(o.Dir)); err != nil {
		t.Fatal(err)
	}
	c3, err := Ensure(o)
	if err != nil {
		t.Fatal(err)
	}
	if c3.DashboardPassword == "" || !loadUsers(t, o.Dir).Authenticate("admin", []byte(c3.DashboardPassword)) || len(c3.Notes) == 0 {
		t.Errorf("admin not regenerated: %+v", c3)
	}
}

func TestAddRotateShow(t *testing.T) {
	o := testOpts(t)
	if _, err := Ensure(o); err != nil {
		t.Fatal(err)
	}
	cr, created, err := AddCamera(o, "door", false)
	if err != nil || !created || cr.User != "edge-door" || cr.Password == "" {
		t.Fatalf("AddCamera = %+v %v %v", cr, created, err)
	}
	us := loadUsers(t, o.Dir)
	if us.CanRead("edge-door", "cam/+/frames") {
		t.Error("edge without --view-all reads every camera")
	}
	// Re-adding with --view-all updates the rules, keeps the password.
	cr2, created, err := AddCamera(o, "door", true)
	if err != nil || created || cr2.Password != "" {
		t.Fatalf("re-add = %+v %v %v", cr2, created, err)
	}
	us = loadUsers(t, o.Dir)
	if !us.CanRead("edge-door", "cam/+/frames") || !us.Authenticate("edge-door", []byte(cr.Password)) {
		t.Error("--view-all not applied or password changed")
	}
	if _, _, err := AddCamera(o, "bad/cam", false); err == nil {
		t.Error("bad camera id accepted")
	}
	if _, _, err := AddRecognizer(o, "edge-door"); err == nil {
		t.Error("AddRecognizer over an edge user accepted")
	}
	if _, _, err := AddRecognizer(o, "admin"); err == nil {
		t.Error("AddRecognizer admin accepted")
	}
	if _, _, err := AddHomeAssistant(o, true); err != nil {
		t.Fatal(err)
	}
	if !loadUsers(t, o.Dir).CanWrite("homeassistant", "facemon/cmd/threshold") {
		t.Error("--commands not applied")
	}

	pw, err := Rotate(o, "edge-door")
	if err != nil {
		t.Fatal(err)
	}
	us = loadUsers(t, o.Dir)
	if us.Authenticate("edge-door", []byte(cr.Password)) || !us.Authenticate("edge-door", []byte(pw)) {
		t.Error("rotate did not replace the password")
	}
	if s, _ := Secret(o.Dir, "edge-door"); s != pw {
		t.Error("rotate did not update the secret")
	}
	pf, _ := os.ReadFile(filepath.Join(o.Dir, DirMosquitto, "password_file"))
	if !CheckMosquittoHash(parsePasswordFile(pf)["edge-door"], pw) {
		t.Error("rotate did not rewrite the mosquitto hash")
	}
	apw, err := Rotate(o, "admin")
	if err != nil {
		t.Fatal(err)
	}
	dash, _ := os.ReadFile(DashboardFile(o.Dir))
	if bcrypt.CompareHashAndPassword(bytes.TrimSpace(dash), []byte(apw)) != nil || !loadUsers(t, o.Dir).Authenticate("admin", []byte(apw)) {
		t.Error("rotate admin did not update dashboard.bcrypt and users.yaml")
	}
	if _, err := Rotate(o, "nobody"); err == nil {
		t.Error("rotate of an unknown user succeeded")
	}
	old, _ := ReadSecretFile(APITokenFile(o.Dir))
	tok, err := RotateAPIToken(o)
	if cur, _ := ReadSecretFile(APITokenFile(o.Dir)); err != nil || tok == old || cur != tok {
		t.Error("RotateAPIToken did not write a new token")
	}
	infos, err := List(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 4 || infos[0].Name != "admin" || infos[0].Secret || !infos[1].Secret {
		t.Errorf("List = %+v", infos)
	}
	if _, err := List(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("List of an empty dir succeeded")
	}
	checkModes(t, o.Dir)
}

func TestMosquittoHash(t *testing.T) {
	h, err := MosquittoHash("s3cret", 0)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(h, "$")
	if len(parts) != 5 || parts[1] != "7" || parts[2] != "101" || len(parts[3]) != 16 || len(parts[4]) != 88 {
		t.Fatalf("hash %q: want $7$101$<16 b64 chars>$<88 b64 chars>", h)
	}
	if !CheckMosquittoHash(h, "s3cret") || CheckMosquittoHash(h, "s3creT") || CheckMosquittoHash("$6$x$y", "s3cret") {
		t.Error("CheckMosquittoHash wrong")
	}
	// Known answer: PBKDF2-HMAC-SHA512("password", "salt", 1 iteration, 64 bytes) (RFC 7914 style vector).
	got, err := mosquittoHash("password", []byte("salt"), 1)
	if err != nil {
		t.Fatal(err)
	}
	const want = "$7$1$c2FsdA==$hn9wzxreAs/zdSWZo6U9xK80x6ZpgVrl1RNVThyM8lLALUcKKFoFAbrZmb/pQ8CPBQI119aLHaVeY/c7YKV/zg=="
	if got != want {
		t.Errorf("known-answer hash:\n got %s\nwant %s", got, want)
	}
}

func TestCommand(t *testing.T) {
	o := testOpts(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Command(context.Background(), "facemon-broker users", append(args, "--state", o.Dir), &out, &errb)
		return code, out.String(), errb.String()
	}
	// stdout is not a terminal: the secrets go to the first-run file,
	// stdout only says where they are.
	hint := "show --first-run --state " + o.Dir
	code, out, errOut := run("init", "--camera", "door")
	if code != 0 || !strings.Contains(out, hint) || strings.Contains(out, "Dashboard login") {
		t.Fatalf("init: %d\n%s\n%s", code, out, errOut)
	}
	for _, u := range []string{"edge-door", "homeassistant", "recognizer"} {
		if pw, err := Secret(o.Dir, u); err != nil || strings.Contains(out, pw) {
			t.Errorf("init printed %s's password to a non-terminal (or %v):\n%s", u, err, out)
		}
	}
	firstRun := func() string {
		t.Helper()
		code, out, errOut := run("show", "--first-run")
		if code != 0 {
			t.Fatalf("show --first-run: %d %s", code, errOut)
		}
		return out
	}
	if fr := firstRun(); !strings.Contains(fr, "Dashboard login") || !strings.Contains(fr, "--camera-id door") {
		t.Fatalf("show --first-run:\n%s", fr)
	}
	if st, err := os.Stat(filepath.Join(o.Dir, "first-run-credentials")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("first-run file: %v %v", st, err)
	}
	if code, out, _ := run("init"); code != 0 || !strings.Contains(out, "nothing to create") {
		t.Errorf("second init: %d %s", code, out)
	}
	code, out, errOut = run("add", "camera", "garage", "--host", "hub.lan")
	if code != 0 {
		t.Fatalf("add camera: %d %s", code, errOut)
	}
	pw, err := Secret(o.Dir, "edge-garage")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, pw) || !strings.Contains(out, hint) {
		t.Errorf("add camera to a non-terminal:\n%s", out)
	}
	out = firstRun()
	for _, want := range []string{
		"FACEMON_MQTT_PASSWORD=" + pw + " facemon-edge --broker tcp://hub.lan:1883 --username edge-garage --camera-id garage --source 0",
		"FACEMON_MQTT_USER=edge-garage", "EnvironmentFile=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("add camera output lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ := run("show", "edge-garage"); code != 0 || strings.TrimSpace(out) != pw {
		t.Errorf("show: %d %q", code, out)
	}
	code, out, _ = run("list")
	if code != 0 || strings.Contains(out, pw) || !strings.Contains(out, "edge-garage") || !strings.Contains(out, "cam/garage/frames") {
		t.Errorf("list: %d\n%s", code, out)
	}
	if code, out, _ := run("rotate", "edge-garage"); code != 0 || strings.Contains(out, pw) {
		t.Errorf("rotate: %d %s", code, out)
	}
	pw2, _ := Secret(o.Dir, "edge-garage")
	if code, out, _ := run("rotate", "api-token"); code != 0 || !strings.Contains(out, hint) {
		t.Errorf("rotate api-token: %d %s", code, out)
	}
	tok, _ := os.ReadFile(APITokenFile(o.Dir))
	// Edges hold no API token (issue 17.1): the rotation says so and no
	// longer tells anyone to copy it to an edge.
	if fr := firstRun(); !strings.Contains(fr, "never to an edge") || strings.Contains(fr, "edges' --api-token-file") {
		t.Errorf("rotate api-token message:\n%s", fr)
	}
	if code, out, _ := run("rotate", "admin"); code != 0 || !strings.Contains(out, hint) || strings.Contains(out, "admin / ") {
		t.Errorf("rotate admin: %d %s", code, out)
	}
	if fr := firstRun(); !strings.Contains(fr, "new password of edge-garage: "+pw2) || !strings.Contains(fr, strings.TrimSpace(string(tok))) ||
		!strings.Contains(fr, "new dashboard / MQTT admin password: admin / ") || !strings.Contains(fr, "Dashboard login") {
		t.Errorf("first-run file after the rotations (want every secret not yet read):\n%s", fr)
	}
	if code, out, _ := run("add", "homeassistant", "--commands"); code != 0 || !strings.Contains(out, "rules updated") {
		t.Errorf("add homeassistant: %d %s", code, out)
	}
	if code, out, _ := run("add", "recognizer", "recognizer-pi2"); code != 0 || !strings.Contains(out, hint) {
		t.Errorf("add recognizer: %d %s", code, out)
	}
	if fr := firstRun(); !strings.Contains(fr, "--username recognizer-pi2") {
		t.Errorf("add recognizer: not in the first-run file:\n%s", fr)
	}
	for _, bad := range [][]string{{}, {"frobnicate"}, {"add"}, {"add", "camera"}, {"add", "toaster", "x"}, {"show"}, {"show", "--first-run", "admin"}, {"rotate"}, {"list", "x"}, {"init", "x"}} {
		if code, _, _ := run(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	for _, bad := range [][]string{{"show", "admin"}, {"show", "nobody"}, {"rotate", "nobody"}, {"add", "camera", "a/b"}} {
		if code, _, errOut := run(bad...); code != 1 || errOut == "" {
			t.Errorf("%v: exit %d, want 1 with a message", bad, code)
		}
	}
	// Read and deleted: show --first-run says so.
	if err := os.Remove(filepath.Join(o.Dir, "first-run-credentials")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("show", "--first-run"); code != 1 || !strings.Contains(errOut, "no first-run credentials") {
		t.Errorf("show --first-run without the file: %d %s", code, errOut)
	}
}

// TestConcurrentAdds: concurrent modifications (e.g. `users add` while the
// recognizer starts) must not lose each other's users.
func TestConcurrentAdds(t *testing.T) {
	o := testOpts(t)
	if _, err := Ensure(o); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, _, err := AddCamera(o, fmt.Sprintf("cam%d", i), false)
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	us := loadUsers(t, o.Dir)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("edge-cam%d", i)
		pw, err := Secret(o.Dir, name)
		if err != nil || !us.Authenticate(name, []byte(pw)) {
			t.Errorf("%s lost or inconsistent (%v)", name, err)
		}
	}
}

// TestEnsureMigratesLegacyRules: a state directory generated before issue
// 17 (the edge may publish facemon/cmd/enrol and train) gets the current
// templates on the next Ensure, in users.yaml and in the Mosquitto ACL.
func TestEnsureMigratesLegacyRules(t *testing.T) {
	o := testOpts(t)
	o.Cameras = []string{"door"}
	if _, err := Ensure(o); err != nil {
		t.Fatal(err)
	}
	p := UsersFile(o.Dir)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// Back to the old edge and recognizer rules.
	for _, r := range [][2]string{
		{"      - cam/door/result\n", "      - facemon/enrol/result\n"},
		{"      - cam/door/enrol\n      - cam/door/train\n      - cam/door/viewers\n", "      - facemon/cmd/enrol\n      - facemon/cmd/train\n"},
		{"      - cam/+/enrol\n      - cam/+/train\n      - cam/+/viewers\n", ""},
		{"      - cam/+/result\n", ""},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("users.yaml lacks %q:\n%s", r[0], s)
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if us := loadUsers(t, o.Dir); !us.CanWrite("edge-door", "facemon/cmd/enrol") {
		t.Fatal("legacy rules not in place")
	}
	c, err := Ensure(o)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(c.Notes, "\n")
	for _, want := range []string{"updated the rules of edge-door", "updated the rules of recognizer"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	us := loadUsers(t, o.Dir)
	if us.CanWrite("edge-door", "facemon/cmd/enrol") || us.CanWrite("edge-door", "facemon/cmd/train") || us.CanRead("edge-door", "facemon/enrol/result") {
		t.Error("edge-door keeps the legacy command rules")
	}
	if !us.CanWrite("edge-door", "cam/door/enrol") || !us.CanRead("recognizer", "cam/+/enrol") || !us.CanWrite("recognizer", "cam/door/result") {
		t.Error("migrated users lack the new rules")
	}
	acl, _ := os.ReadFile(filepath.Join(o.Dir, DirMosquitto, "acl_file"))
	if strings.Contains(string(acl), "facemon/cmd/enrol") || !strings.Contains(string(acl), "topic write cam/door/enrol") {
		t.Errorf("mosquitto acl_file not migrated:\n%s", acl)
	}
	// Hand-edited rules are kept.
	s = strings.Replace(string(mustRead(t, p)), "      - cam/door/viewers\n", "      - cam/door/viewers\n      - cam/door/custom\n", 1)
	os.WriteFile(p, []byte(s), 0o600)
	if _, err := Ensure(o); err != nil {
		t.Fatal(err)
	}
	if !loadUsers(t, o.Dir).CanWrite("edge-door", "cam/door/custom") {
		t.Error("hand-edited rule dropped")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
