package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facemon/facemon/shared/mqttx"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
	"github.com/facemon/facemon/shared/topic"
)

// idSeen is one identities message as the test's admin client received it.
type idSeen struct {
	cam, rec string
	seq      uint64
	at       time.Time // arrival at the test
	names    []string  // every face's name, tentative ones included
}

// clusterTap records identities, enrolment answers and status messages
// with their arrival times.
type clusterTap struct {
	mu     sync.Mutex
	ids    []idSeen
	enrol  map[string]time.Time // request id -> answer arrival
	status map[string][]statusSeen
}

type statusSeen struct {
	payload string
	at      time.Time
}

func (c *clusterTap) since(t time.Time) []idSeen {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []idSeen
	for _, m := range c.ids {
		if m.at.After(t) {
			out = append(out, m)
		}
	}
	return out
}

// statusAfter returns when tp was last set to payload after t (zero: not).
func (c *clusterTap) statusAfter(tp, payload string, t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.status[tp] {
		if s.payload == payload && s.at.After(t) {
			return s.at
		}
	}
	return time.Time{}
}

// owners maps each camera to the recognizers whose identities for it
// arrived in ms.
func owners(ms []idSeen) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, m := range ms {
		if out[m.cam] == nil {
			out[m.cam] = map[string]int{}
		}
		out[m.cam][m.rec]++
	}
	return out
}

// soleOwner returns the one recognizer of cam in o ("" if none or several).
func soleOwner(o map[string]map[string]int, cam string) string {
	if len(o[cam]) != 1 {
		return ""
	}
	for r := range o[cam] {
		return r
	}
	return ""
}

// apiCall is an API request with the recognizer's API token that reports
// errors instead of failing (a recognizer may be down on purpose).
func apiCall(method, u, body string) (int, string, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+e2eAPIToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func apiPeople(api string) (map[string]bool, error) {
	code, body, err := apiCall("GET", "http://"+api+"/api/people", "")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("GET /api/people: %d %s", code, body)
	}
	var v struct {
		People []struct {
			Name string `json:"name"`
		} `json:"people"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range v.People {
		out[p.Name] = true
	}
	return out, nil
}

// procCPU is a process's user+system CPU time (/proc/<pid>/stat).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	ut, _ := strconv.ParseInt(f[11], 10, 64)                 // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)                 // field 15
	return time.Duration(ut+st) * time.Second / 100, nil     // USER_HZ is 100 on Linux
}

// scaleRec is one recognizer of the cluster: its own gallery cache and
// dataset mirror (kept across a restart), its MQTT user.
type scaleRec struct {
	name, user, api string
	gallery, data   string
	p               *proc
}

// TestScaleOutPostgresMosquitto runs the scale-out with the real parts
// (issue 19): Debian's PostgreSQL 15 and Mosquitto on the generated users
// and ACL, three recognizer processes with --db, six edges playing the
// shared video at 3 fps. It checks one owner per camera, failover on kill -9,
// propagation of an enrolment to the cameras of other recognizers, the
// whole system's events on every API, one training for two concurrent
// requests, and a restarted recognizer catching up; and it measures the
// recognizers' CPU per frame with three and with one recognizer for the
// same cameras. The table is printed at the end (t.Log and stderr).
func TestScaleOutPostgresMosquitto(t *testing.T) {
	began := time.Now()
	type row struct{ what, value, bound string }
	var table []row
	add := func(what, value, bound string) { table = append(table, row{what, value, bound}) }
	defer func() {
		var b strings.Builder
		fmt.Fprintf(&b, "scale-out, 3 recognizers x 6 cameras @ 3 fps, Mosquitto + PostgreSQL 15 (load %s):\n", loadAvg())
		for _, r := range table {
			fmt.Fprintf(&b, "  %-62s %-28s %s\n", r.what, r.value, r.bound)
		}
		fmt.Fprintf(&b, "  wall time %v\n", time.Since(began).Round(time.Second))
		t.Log(b.String())
		fmt.Fprint(os.Stderr, "e2e: "+b.String())
	}()

	pg := testx.StartPostgres(t)
	cams := []string{"cam1", "cam2", "cam3", "cam4", "cam5", "cam6"}
	state, admin, _, _ := secureState(t, cams...)
	recs := []*scaleRec{{name: "r1", user: "recognizer"}, {name: "r2", user: "r2"}, {name: "r3", user: "r3"}}
	for _, r := range recs[1:] {
		if out, err := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "users", "add", "recognizer", r.user, "--state", state).CombinedOutput(); err != nil {
			t.Fatalf("users add recognizer %s: %v\n%s", r.user, err, out)
		}
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous false\npersistence false\n"+
		"password_file %s\nacl_file %s\nuse_username_as_clientid true\n%s", port,
		filepath.Join(state, "mosquitto", "password_file"), filepath.Join(state, "mosquitto", "acl_file"), runAsRoot())), 0o600)
	startExternal(t, "mosquitto", mosquittoBin(t), "-c", conf)
	waitTCP(t, addr, 10*time.Second)
	brokerURL := "tcp://" + addr

	// The single machine's state moves into the database: the trained
	// gallery and the shared people's photos.
	out, err := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "db", "migrate", "--db", pg.DSN,
		"--gallery", gallery, "--dataset", linkedFaces(t), "--history", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("db migrate: %v\n%s", err, out)
	}
	t.Logf("db migrate: %s", strings.TrimSpace(string(out)))

	// The admin watches (one connection: Mosquitto binds client ids to users).
	tap := &clusterTap{enrol: map[string]time.Time{}, status: map[string][]statusSeen{}}
	adm, err := mqttx.New(mqttx.Options{Broker: brokerURL, ClientID: "admin", Username: "admin", Password: admin, MaxReconnectInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	sp := topic.New("")
	adm.Subscribe(sp.AllCameras(topic.Identities), 0, func(tp string, b []byte) {
		m, err := msg.DecodeIdentities(b)
		if err != nil {
			return
		}
		s := idSeen{cam: m.Camera, rec: m.Recognizer, seq: m.Seq, at: time.Now()}
		for _, f := range m.Faces {
			s.names = append(s.names, f.Name)
		}
		tap.mu.Lock()
		tap.ids = append(tap.ids, s)
		tap.mu.Unlock()
	})
	adm.Subscribe(sp.EnrolResult(), 1, func(_ string, b []byte) {
		var r msg.EnrolResult
		if json.Unmarshal(b, &r) == nil {
			tap.mu.Lock()
			tap.enrol[r.ID+"/"+r.Status] = time.Now()
			tap.mu.Unlock()
		}
	})
	adm.Subscribe(sp.AllStatus(), 1, func(tp string, b []byte) {
		tap.mu.Lock()
		tap.status[tp] = append(tap.status[tp], statusSeen{string(b), time.Now()})
		tap.mu.Unlock()
	})
	waitFor(t, 15*time.Second, "admin connected to mosquitto", adm.Connected)

	startRec := func(r *scaleRec) {
		if r.gallery == "" {
			dir := t.TempDir()
			r.gallery, r.data = filepath.Join(dir, "gallery.json"), filepath.Join(dir, "dataset")
			r.api = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		}
		r.p = start(t, r.name, "facemon-recognizer", "serve", "--models", models, "--gallery", r.gallery, "--dataset", r.data,
			"--instance", r.name, "--http", r.api, "--workers", "1", "--broker", brokerURL,
			"--username", r.user, "--password-file", filepath.Join(state, "secrets", r.user), "--state", "-",
			"--api-token-file", apiTokenFile, "--dashboard-hash", "-", "--db", pg.DSN, "--history-debounce", "2s")
	}
	for _, r := range recs {
		startRec(r)
	}
	members := func(r *scaleRec) int {
		if !r.p.running() {
			return -1
		}
		return int(metricOr(r.api, "facemon_recognizer_members", -1))
	}
	waitFor(t, 90*time.Second, "three recognizers, each seeing three members", func() bool {
		for _, r := range recs {
			if members(r) != 3 {
				return false
			}
		}
		return true
	})
	for _, c := range cams {
		start(t, "edge-"+c, "facemon-edge", "--broker", brokerURL, "--camera-id", c,
			"--username", "edge-"+c, "--password-file", filepath.Join(state, "secrets", "edge-"+c),
			"--login-file", filepath.Join(state, "dashboard.bcrypt"), "--dataset", t.TempDir(),
			"--source", video(t), "--loop", "--fps", "3", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	waitFor(t, 90*time.Second, "identities from every camera", func() bool {
		o := owners(tap.since(began))
		return len(o) == len(cams)
	})

	// (1) Steady state: each camera's identities come from one recognizer,
	// and no frame is processed twice.
	time.Sleep(3 * time.Second) // the start's hand-overs settle
	cost0 := clusterCost(t, recs)
	w0 := time.Now()
	time.Sleep(30 * time.Second)
	steady := tap.since(w0)
	cost1 := clusterCost(t, recs)
	own := owners(steady)
	owner := map[string]string{}
	perRec := map[string][]string{}
	for _, c := range cams {
		o := soleOwner(own, c)
		if o == "" {
			t.Errorf("camera %s: identities from %v in steady state (want exactly one recognizer)", c, own[c])
			continue
		}
		owner[c] = o
		perRec[o] = append(perRec[o], c)
	}
	dups := 0
	seen := map[string]bool{}
	for _, m := range steady {
		k := m.cam + "/" + strconv.FormatUint(m.seq, 10)
		if seen[k] {
			dups++
		}
		seen[k] = true
	}
	if dups > 0 {
		t.Errorf("%d frames processed twice in steady state", dups)
	}
	owned := 0.0
	for _, r := range recs {
		owned += metricOr(r.api, "facemon_recognizer_cameras_owned", 0)
	}
	if int(owned) != len(cams) {
		t.Errorf("facemon_recognizer_cameras_owned sums to %v over the recognizers, want %d", owned, len(cams))
	}
	add("(1) owners in steady state (30 s)", fmt.Sprint(perRec), "one per camera")
	add("(1) identities / frames processed twice in the window", fmt.Sprintf("%d / %d", len(steady), dups), "0 twice")
	cpu3, detail3 := cost1.delta(cost0)
	add("item 4: CPU per frame, 3 recognizers (sum)", fmt.Sprintf("%.1f ms", cpu3), detail3)
	if t.Failed() {
		t.FailNow()
	}

	// (3) Propagation: the performer is deleted through r1, then enrolled
	// again through the shared command topic (one recognizer carries it
	// out); every other recognizer uses him on its own cameras.
	code, body, err := apiCall("DELETE", "http://"+recs[0].api+"/api/people/"+performer, "")
	if err != nil || code != http.StatusNoContent {
		t.Fatalf("DELETE %s through r1: %d %s %v", performer, code, body, err)
	}
	tDel := time.Now()
	waitFor(t, 10*time.Second, "the delete in every recognizer's gallery", func() bool {
		for _, r := range recs {
			if p, err := apiPeople(r.api); err != nil || p[performer] {
				return false
			}
		}
		return true
	})
	add("delete via r1 -> gone from all 3 APIs", time.Since(tDel).Round(time.Millisecond).String(), "")
	// Tracks named before the delete keep the name until they are
	// described again (named budget) or end; wait for a quiet stretch.
	var lastNamed time.Time
	waitFor(t, 60*time.Second, "cameras no longer naming the deleted performer (3 s)", func() bool {
		for _, m := range tap.since(tDel) {
			if slices.Contains(m.names, performer) && m.at.After(lastNamed) {
				lastNamed = m.at
			}
		}
		return time.Since(lastNamed) > 3*time.Second && time.Since(tDel) > 3*time.Second
	})
	if !lastNamed.IsZero() {
		add("deleted person last shown on a camera, after the delete", lastNamed.Sub(tDel).Round(time.Millisecond).String(), "(tracks end)")
	}
	photo, err := os.ReadFile(filepath.Join(shared, "testdata", "faces", performer, "1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := json.Marshal(msg.Enrol{V: msg.Version, ID: "scale-enrol-1", Name: performer, Image: photo})
	tEnrol := time.Now()
	if err := adm.PublishWait(sp.Command("enrol"), 1, false, cmd, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "enrolment saved", func() bool {
		tap.mu.Lock()
		defer tap.mu.Unlock()
		return !tap.enrol["scale-enrol-1/"+msg.EnrolSaved].IsZero()
	})
	tap.mu.Lock()
	tSaved := tap.enrol["scale-enrol-1/"+msg.EnrolSaved]
	tap.mu.Unlock()
	enroller := ""
	for _, r := range recs {
		if r.p.grep(`"msg":"enrolled"`) > 0 || r.p.grep("msg=enrolled") > 0 {
			enroller = r.name
		}
	}
	add("enrol command -> saved answer", tSaved.Sub(tEnrol).Round(time.Millisecond).String(), "carried out by "+enroller)
	inGallery := map[string]time.Duration{}
	waitFor(t, 10*time.Second, "the enrolment in every recognizer's gallery", func() bool {
		for _, r := range recs {
			if _, ok := inGallery[r.name]; ok {
				continue
			}
			if p, err := apiPeople(r.api); err == nil && p[performer] {
				inGallery[r.name] = time.Since(tSaved)
			}
		}
		return len(inGallery) == len(recs)
	})
	var worstGal time.Duration
	for n, d := range inGallery {
		if n != enroller {
			worstGal = max(worstGal, d)
		}
	}
	add("(3) saved -> in every other recognizer's gallery (API poll 50 ms)", worstGal.Round(time.Millisecond).String(), "< 1 s")
	if worstGal > time.Second {
		t.Errorf("the enrolment reached the other recognizers' galleries after %v (bound 1 s)", worstGal)
	}
	named := map[string]time.Duration{}
	waitFor(t, 30*time.Second, "the enrolled performer named on every camera", func() bool {
		for _, m := range tap.since(tSaved) {
			if _, ok := named[m.cam]; !ok && slices.Contains(m.names, performer) {
				named[m.cam] = m.at.Sub(tSaved)
			}
		}
		return len(named) == len(cams)
	})
	var worstOther, worstOwn time.Duration
	var otherCams, ownCams []string
	for _, c := range cams {
		d := fmt.Sprintf("%s(%s) %v", c, owner[c], named[c].Round(time.Millisecond))
		if owner[c] != enroller {
			worstOther = max(worstOther, named[c])
			otherCams = append(otherCams, d)
		} else {
			worstOwn = max(worstOwn, named[c])
			ownCams = append(ownCams, d)
		}
	}
	// The name reaches the other recognizers' galleries in well under a
	// second (asserted above); a camera then names the face at its next
	// descriptor attempt of that track: while faces are tracked, detection
	// (and so a descriptor) runs on every 5th frame (--detect-every), 1.7 s
	// at these cameras' 3 fps, on the enroller's own cameras as well. The
	// 2 s target is a measurement here; the assertion is 4 s.
	add("(3) saved -> first frame naming him, cameras of other recognizers", worstOther.Round(time.Millisecond).String(), "target 2 s, bound 4 s; "+strings.Join(otherCams, ", "))
	if len(ownCams) > 0 {
		add("(3) saved -> first frame naming him, the enroller's own cameras", worstOwn.Round(time.Millisecond).String(), strings.Join(ownCams, ", "))
	}
	if len(otherCams) == 0 {
		t.Errorf("the enroller %s owns every camera: nothing to propagate to", enroller)
	}
	if worstOther > 4*time.Second {
		t.Errorf("the enrolled person was named on another recognizer's camera %v after the enrolment (bound 4 s)", worstOther)
	}

	// (4) Every API lists every camera's events (the performer's, recorded
	// by each camera's owner into the shared history).
	eventsFrom := func(api string) (map[string]int, error) {
		code, body, err := apiCall("GET", "http://"+api+"/api/events?limit=500", "")
		if err != nil || code != 200 {
			return nil, fmt.Errorf("events: %d %v", code, err)
		}
		var v struct {
			Events []struct {
				Camera string `json:"camera"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			return nil, err
		}
		out := map[string]int{}
		for _, e := range v.Events {
			out[e.Camera]++
		}
		return out, nil
	}
	var evs map[string]int
	waitFor(t, 45*time.Second, "every camera's events on every recognizer's API", func() bool {
		for _, r := range recs {
			e, err := eventsFrom(r.api)
			if err != nil || len(e) < len(cams) {
				return false
			}
			evs = e
		}
		return true
	})
	add("(4) events per camera, same on all 3 APIs", fmt.Sprint(evs), "every camera")

	// (2) Failover: kill -9 of the recognizer owning the most cameras.
	victim := recs[0]
	for _, r := range recs {
		if len(perRec[r.name]) > len(perRec[victim.name]) {
			victim = r
		}
	}
	moved := perRec[victim.name]
	tKill := time.Now()
	victim.p.kill()
	willAt := time.Time{}
	waitFor(t, 30*time.Second, "the victim's cameras served by the others", func() bool {
		if willAt.IsZero() {
			willAt = tap.statusAfter(sp.Status(topic.KindRecognizer, victim.name), topic.Offline, tKill)
		}
		o := owners(tap.since(tKill))
		for _, c := range moved {
			ok := false
			for r := range o[c] {
				if r != victim.name {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
		return true
	})
	var worstMove time.Duration
	var firsts []string
	for _, c := range moved {
		for _, m := range tap.since(tKill) {
			if m.cam == c && m.rec != victim.name {
				worstMove = max(worstMove, m.at.Sub(tKill))
				firsts = append(firsts, fmt.Sprintf("%s->%s %v", c, m.rec, m.at.Sub(tKill).Round(time.Millisecond)))
				break
			}
		}
	}
	if !willAt.IsZero() {
		add("(2) kill -9 -> Mosquitto delivers the last will (offline)", willAt.Sub(tKill).Round(time.Millisecond).String(), "")
	} else {
		add("(2) kill -9 -> Mosquitto delivers the last will (offline)", "not seen", "")
	}
	add(fmt.Sprintf("(2) kill -9 %s -> first identity from the new owner (worst)", victim.name), worstMove.Round(time.Millisecond).String(), "5 s; "+strings.Join(firsts, ", "))
	if worstMove > 5*time.Second {
		t.Errorf("failover took %v (bound 5 s: the will fires when the TCP connection drops)", worstMove)
	}
	time.Sleep(3 * time.Second)
	w1 := time.Now()
	time.Sleep(10 * time.Second)
	own2 := owners(tap.since(w1))
	for _, c := range cams {
		if o := soleOwner(own2, c); o == "" || o == victim.name {
			t.Errorf("after the failover camera %s: identities from %v (want one live recognizer)", c, own2[c])
		}
	}

	// (6) Changes while the victim is down: a rename and a threshold
	// through a live recognizer; restarted on its old (stale) gallery
	// file and dataset folder, it sees them at once.
	var live *scaleRec
	for _, r := range recs {
		if r != victim {
			live = r
			break
		}
	}
	if code, body, err := apiCall("POST", "http://"+live.api+"/api/people/obama/rename", `{"name":"barack_obama"}`); err != nil || code != 200 {
		t.Fatalf("rename through %s: %d %s %v", live.name, code, body, err)
	}
	if code, body, err := apiCall("PUT", "http://"+live.api+"/api/people/biden/threshold", `{"threshold":0.45}`); err != nil || code != 200 {
		t.Fatalf("threshold through %s: %d %s %v", live.name, code, body, err)
	}
	tRestart := time.Now()
	startRec(victim)
	waitFor(t, 60*time.Second, "the restarted recognizer's API", func() bool { _, err := apiPeople(victim.api); return err == nil })
	p, _ := apiPeople(victim.api)
	if !p["barack_obama"] || p["obama"] || !p[performer] {
		t.Errorf("restarted %s does not see the changes it missed: barack_obama %v, obama %v, %s %v", victim.name, p["barack_obama"], p["obama"], performer, p[performer])
	}
	if _, err := os.Stat(filepath.Join(victim.data, "barack_obama")); err != nil {
		t.Errorf("restarted %s's dataset mirror lacks the renamed folder: %v", victim.name, err)
	}
	if _, err := os.Stat(filepath.Join(victim.data, "obama")); err == nil {
		t.Errorf("restarted %s's dataset mirror still has the old folder obama", victim.name)
	}
	add("(6) restart of the killed recognizer -> API up with the missed changes", time.Since(tRestart).Round(time.Millisecond).String(), "rename, threshold, enrolment")
	waitFor(t, 60*time.Second, "the restarted recognizer gets its cameras back", func() bool {
		o := owners(tap.since(tRestart))
		for _, c := range moved {
			if o[c][victim.name] == 0 {
				return false
			}
		}
		return true
	})
	var worstBack time.Duration
	for _, c := range moved {
		for _, m := range tap.since(tRestart) {
			if m.cam == c && m.rec == victim.name {
				worstBack = max(worstBack, m.at.Sub(tRestart))
				break
			}
		}
	}
	add("(6) restart -> its cameras back (first identity, process start included)", worstBack.Round(time.Millisecond).String(), "")

	// (5) Two concurrent training requests, through two recognizers: one
	// training runs, the other is refused ("another recognizer is training").
	startedBefore, refusedBefore := 0, 0
	for _, r := range recs {
		startedBefore += r.p.grep("training started")
		refusedBefore += r.p.grep("training not started here")
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	tTrain := time.Now()
	for i, r := range recs[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, _ = apiCall("POST", "http://"+r.api+"/api/train", fmt.Sprintf(`{"id":"scale-train-%d"}`, i))
		}()
	}
	wg.Wait()
	if codes[0] != http.StatusAccepted || codes[1] != http.StatusAccepted {
		t.Fatalf("POST /api/train: %v", codes)
	}
	count := func(s string) int {
		n := 0
		for _, r := range recs {
			n += r.p.grep(s)
		}
		return n
	}
	waitFor(t, 180*time.Second, "one training done and one refused", func() bool {
		return count("training done") >= 1 && count("training not started here") > refusedBefore
	})
	trainDur := time.Since(tTrain)
	time.Sleep(2 * time.Second)
	started, refused := count("training started")-startedBefore, count("training not started here")-refusedBefore
	add("(5) two concurrent POST /api/train (r1, r2): runs / refused", fmt.Sprintf("%d / %d (done in %v)", started, refused, trainDur.Round(100*time.Millisecond)), "1 / 1")
	if started != 1 || refused != 1 {
		t.Errorf("two concurrent training requests: %d runs, %d refused (want 1 and 1)", started, refused)
	}
	waitFor(t, 10*time.Second, "every recognizer on the trained gallery", func() bool {
		for _, r := range recs {
			if p, err := apiPeople(r.api); err != nil || !p["barack_obama"] || !p[performer] {
				return false
			}
		}
		return true
	})

	// Item 4: the same six cameras on one recognizer (the others stopped
	// cleanly: their cameras move to the one left).
	one := recs[0]
	tStop := time.Now()
	for _, r := range recs[1:] {
		r.p.stop()
	}
	waitFor(t, 30*time.Second, "one recognizer serving every camera", func() bool {
		o := owners(tap.since(tStop.Add(time.Second)))
		for _, c := range cams {
			if soleOwner(o, c) != one.name {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * time.Second)
	c0 := clusterCost(t, recs[:1])
	time.Sleep(30 * time.Second)
	c1 := clusterCost(t, recs[:1])
	cpu1r, detail1 := c1.delta(c0)
	add("item 4: CPU per frame, 1 recognizer (same 6 cameras, 30 s)", fmt.Sprintf("%.1f ms", cpu1r), detail1)
	ratio := cpu3 / cpu1r
	add("item 4: duplicated work, CPU/frame 3 recognizers / 1", fmt.Sprintf("%.2f", ratio), "<= 1.10 (measured, not asserted)")
	if pgCPU, err := pg.CPU(); err == nil {
		add("PostgreSQL's own CPU, whole test (postmaster + backends alive at the end)", pgCPU.Round(time.Millisecond).String(), "")
	}
	if size, err := exec.Command("psql", pg.DSN, "-Atc", "SELECT pg_database_size(current_database()), (SELECT count(*) FROM events), "+
		"(SELECT coalesce(avg(length(frame)),0)::int FROM events), (SELECT coalesce(avg(length(crop)),0)::int FROM events)").Output(); err == nil {
		f := strings.Split(strings.TrimSpace(string(size)), "|")
		if len(f) == 4 {
			add("database size / events / mean frame, crop bytes per event", fmt.Sprintf("%s B / %s / %s, %s", f[0], f[1], f[2], f[3]), "(dataset images and gallery included)")
		}
	}
}

// cost is the recognizers' CPU time and processed frames at one moment.
type cost struct {
	cpu    time.Duration
	frames float64
	per    map[string]cost
}

// clusterCost sums the running recognizers' CPU time and processed frames.
func clusterCost(t *testing.T, recs []*scaleRec) cost {
	t.Helper()
	out := cost{per: map[string]cost{}}
	for _, r := range recs {
		if !r.p.running() {
			continue
		}
		c, err := procCPU(r.p.cmd.Process.Pid)
		if err != nil {
			t.Fatalf("cpu of %s: %v", r.name, err)
		}
		f := metric(t, r.api, "facemon_recognizer_frames_processed_total")
		out.cpu += c
		out.frames += f
		out.per[r.name] = cost{cpu: c, frames: f}
	}
	return out
}

// delta describes b-a: the total CPU per frame and each recognizer's share.
func (b cost) delta(a cost) (msPerFrame float64, detail string) {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(b.per)) {
		d := b.per[n].cpu - a.per[n].cpu
		parts = append(parts, fmt.Sprintf("%s %v/%.0f fr", n, d.Round(10*time.Millisecond), b.per[n].frames-a.per[n].frames))
	}
	return perFrame(b.cpu-a.cpu, b.frames-a.frames), fmt.Sprintf("%v / %.0f frames: %s", (b.cpu - a.cpu).Round(10*time.Millisecond), b.frames-a.frames, strings.Join(parts, ", "))
}

func perFrame(cpu time.Duration, frames float64) float64 {
	if frames <= 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / 1000 / frames
}

// metricOr reads a metric, or def when the endpoint does not answer.
func metricOr(addr, name string, def float64) float64 {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return def
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	found, sum := false, 0.0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) && len(l) > len(name) && (l[len(name)] == ' ' || l[len(name)] == '{') {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
			found = true
		}
	}
	if !found {
		return def
	}
	return sum
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
