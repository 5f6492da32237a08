package history

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/msg"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testFrame(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// person returns a random descriptor of norm ~1; jitter returns a sample of
// the same person at distance ~0.15.
func person(r *rand.Rand) face.Descriptor {
	var d face.Descriptor
	for i := range d {
		d[i] = float32(r.NormFloat64() / math.Sqrt(face.DescriptorLen))
	}
	return d
}

func jitter(r *rand.Rand, d face.Descriptor) face.Descriptor {
	for i := range d {
		d[i] += float32(r.NormFloat64() * 0.15 / math.Sqrt(face.DescriptorLen))
	}
	return d
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "history.db")
	}
	if pg != nil { // TestOnPostgres: the same tests on a database of their own
		cfg.DSN = pg.database(t)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func known(name string, d face.Descriptor) Seen {
	return Seen{Name: name, Distance: 0.41, Candidate: name, Box: [4]int{100, 60, 180, 140}, Descriptor: d}
}

func unknown(d face.Descriptor) Seen {
	return Seen{Name: msg.Unknown, Distance: 0.72, Candidate: "alice", Box: [4]int{20, 20, 80, 90}, Descriptor: d}
}

func TestRecordAndQuery(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{})
	r := rand.New(rand.NewSource(1))
	frame := testFrame(t)
	rec, err := s.Record(ctx, Observation{Camera: "door", Time: t0, Frame: frame, Faces: []Seen{known("alice", person(r)), known("bob", person(r))}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 2 || len(rec.Events[0].Crop) == 0 {
		t.Fatalf("recorded %+v", rec)
	}
	if _, err := s.Record(ctx, Observation{Camera: "yard", Time: t0.Add(time.Minute), Frame: frame, Faces: []Seen{known("alice", person(r))}}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, Query{Person: "alice"})
	if err != nil || len(evs) != 2 || evs[0].Camera != "yard" || !evs[0].Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("alice events %+v %v", evs, err)
	}
	evs, _ = s.Events(ctx, Query{Camera: "door"})
	if len(evs) != 2 {
		t.Fatalf("door events %+v", evs)
	}
	evs, _ = s.Events(ctx, Query{Since: t0.Add(time.Second), Until: t0.Add(time.Hour)})
	if len(evs) != 1 {
		t.Fatalf("time range %+v", evs)
	}
	evs, _ = s.Events(ctx, Query{Limit: 1})
	if len(evs) != 1 || evs[0].Camera != "yard" {
		t.Fatalf("limit %+v", evs)
	}
	crop, err := s.EventImage(ctx, rec.Events[0].ID, ImageCrop)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(crop))
	if err != nil {
		t.Fatal(err)
	}
	// box 80x80 with 25% margin on each side: 120x120.
	if b := img.Bounds(); b.Dx() != 120 || b.Dy() != 120 {
		t.Fatalf("crop %v", b)
	}
	fr, err := s.EventImage(ctx, rec.Events[0].ID, ImageFrame)
	if err != nil || !bytes.Equal(fr, frame) {
		t.Fatalf("frame: %v", err)
	}
	if _, err := s.EventImage(ctx, 999, ImageCrop); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing event: %v", err)
	}
	last, err := s.LatestEvent(ctx, "door", "bob")
	if err != nil || last.Name != "bob" {
		t.Fatalf("latest %+v %v", last, err)
	}
}

func TestDebounce(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{Debounce: 30 * time.Second})
	r := rand.New(rand.NewSource(2))
	frame := testFrame(t)
	alice := person(r)
	n := 0
	for i := 0; i < 20; i++ { // a frame every 5 s for 100 s
		rec, err := s.Record(ctx, Observation{Camera: "door", Time: t0.Add(time.Duration(i) * 5 * time.Second), Frame: frame, Faces: []Seen{known("alice", alice)}})
		if err != nil {
			t.Fatal(err)
		}
		n += len(rec.Events)
	}
	if n != 4 { // t=0, 30, 60, 90
		t.Fatalf("debounced events = %d, want 4", n)
	}
	// Another camera is debounced separately.
	rec, _ := s.Record(ctx, Observation{Camera: "yard", Time: t0.Add(95 * time.Second), Frame: frame, Faces: []Seen{known("alice", alice)}})
	if len(rec.Events) != 1 {
		t.Fatal("other camera debounced")
	}
}

func TestClustering(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{Debounce: -1})
	r := rand.New(rand.NewSource(3))
	frame := testFrame(t)
	visitors := []face.Descriptor{person(r), person(r), person(r)}
	for i := 0; i < 30; i++ {
		v := visitors[i%3]
		if _, err := s.Record(ctx, Observation{Camera: "door", Time: t0.Add(time.Duration(i) * time.Second), Frame: frame, Faces: []Seen{unknown(jitter(r, v))}}); err != nil {
			t.Fatal(err)
		}
	}
	gs, err := s.Groups(ctx, GroupQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 3 {
		t.Fatalf("%d groups, want 3: %+v", len(gs), gs)
	}
	for _, g := range gs {
		if g.Count != 10 || len(g.Samples) != 4 || len(g.Cameras) != 1 {
			t.Fatalf("group %+v", g)
		}
		us, err := s.GroupUnknowns(ctx, g.ID, false)
		if err != nil || len(us) != 10 {
			t.Fatalf("group unknowns %d %v", len(us), err)
		}
		// members of one group are one visitor
		var which = -1
		for vi, v := range visitors {
			if face.Distance(v, us[0].Descriptor) < 0.5 {
				which = vi
			}
		}
		for _, u := range us {
			if face.Distance(visitors[which], u.Descriptor) > 0.5 {
				t.Fatal("group mixes visitors")
			}
		}
	}
	// Reopen: the clusters come back from the database.
	path := s.cfg.Path
	s.Close()
	s2 := open(t, Config{Path: path})
	rec, err := s2.Record(ctx, Observation{Camera: "yard", Time: t0.Add(time.Hour), Frame: frame, Faces: []Seen{unknown(jitter(r, visitors[0]))}})
	if err != nil || rec.Unknowns[0].NewGroup {
		t.Fatalf("repeat visitor after reopen made a new group: %v", err)
	}
	gs, _ = s2.Groups(ctx, GroupQuery{})
	if len(gs) != 3 || gs[0].Count != 11 || len(gs[0].Cameras) != 2 {
		t.Fatalf("after reopen %+v", gs)
	}
}

func TestNameDismissAndNegatives(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{})
	r := rand.New(rand.NewSource(4))
	frame := testFrame(t)
	a, b := person(r), person(r)
	for i := 0; i < 4; i++ {
		s.Record(ctx, Observation{Camera: "door", Time: t0.Add(time.Duration(i) * time.Second), Frame: frame, Faces: []Seen{unknown(jitter(r, a)), unknown(jitter(r, b))}})
	}
	gs, _ := s.Groups(ctx, GroupQuery{})
	if len(gs) != 2 {
		t.Fatalf("groups %+v", gs)
	}
	us, err := s.NameGroup(ctx, gs[0].ID, "carol")
	if err != nil || len(us) != 4 || len(us[0].Crop) == 0 || us[0].Name != "carol" {
		t.Fatalf("name group: %d %v", len(us), err)
	}
	if _, err := s.NameGroup(ctx, gs[0].ID, "carol"); !errors.Is(err, ErrState) {
		t.Fatalf("rename: %v", err)
	}
	if _, err := s.NameGroup(ctx, gs[1].ID, "bad/name"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	// a single unknown out of the other group
	other, _ := s.GroupUnknowns(ctx, gs[1].ID, false)
	u, err := s.NameUnknown(ctx, other[0].ID, "dave")
	if err != nil || len(u.Crop) == 0 {
		t.Fatal(err)
	}
	g, _ := s.Group(ctx, gs[1].ID)
	if g.Count != 3 {
		t.Fatalf("count after naming one: %+v", g)
	}
	if err := s.DismissGroup(ctx, gs[1].ID); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.Groups(ctx, GroupQuery{}); len(open) != 0 {
		t.Fatalf("open groups left: %+v", open)
	}
	if all, _ := s.Groups(ctx, GroupQuery{State: "all"}); len(all) != 2 {
		t.Fatalf("all groups: %+v", all)
	}
	// a new face of the named group's person starts a new group
	rec, _ := s.Record(ctx, Observation{Camera: "door", Time: t0.Add(time.Hour), Frame: frame, Faces: []Seen{unknown(jitter(r, a))}})
	if !rec.Unknowns[0].NewGroup {
		t.Fatal("closed group took a new face")
	}

	// negatives
	ev, _ := s.Record(ctx, Observation{Camera: "door", Time: t0, Frame: frame, Faces: []Seen{known("alice", b)}})
	n, err := s.NotThisPerson(ctx, ev.Events[0].ID)
	if err != nil || n.Person != "alice" || n.Descriptor != b {
		t.Fatalf("not this person: %+v %v", n, err)
	}
	if _, err := s.AddNegative(ctx, "bob", a, "api"); err != nil {
		t.Fatal(err)
	}
	if na, _ := s.Negatives(ctx, "alice"); len(na) != 1 {
		t.Fatalf("alice's negatives %v", na)
	}
	if nb, _ := s.Negatives(ctx, "bob"); len(nb) != 1 {
		t.Fatalf("bob's negatives %v", nb)
	}
	if _, err := s.AddNegative(ctx, "bob", face.Descriptor{}, ""); !errors.Is(err, ErrInvalid) {
		t.Fatal("zero descriptor accepted")
	}
	if err := s.RenamePerson(ctx, "alice", "alicia"); err != nil {
		t.Fatal(err)
	}
	if ns, _ := s.Negatives(ctx, "alicia"); len(ns) != 1 {
		t.Fatal("rename did not move negatives")
	}
	if evs, _ := s.Events(ctx, Query{Person: "alicia"}); len(evs) != 1 {
		t.Fatal("rename did not move events")
	}
}

func TestRetentionByAge(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: t0}
	s := open(t, Config{MaxAge: time.Hour, MaxBytes: -1, Debounce: -1, Now: c.now})
	r := rand.New(rand.NewSource(5))
	frame := testFrame(t)
	v := person(r)
	for i := 0; i < 6; i++ { // every 20 minutes, t0-100m .. t0
		at := t0.Add(time.Duration(i-5) * 20 * time.Minute)
		if _, err := s.Record(ctx, Observation{Camera: "door", Time: at, Frame: frame, Faces: []Seen{known("alice", person(r)), unknown(jitter(r, v))}}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Retain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// kept: t0-40m, -20m, 0 (the -60m one is exactly at the cutoff: kept)
	if st.Events != 2 || st.Unknowns != 2 {
		t.Fatalf("retain %+v", st)
	}
	u, _ := s.Usage(ctx)
	if u.Events != 4 || u.Unknowns != 4 || u.Bytes != st.Left {
		t.Fatalf("usage %+v left %d", u, st.Left)
	}
	gs, _ := s.Groups(ctx, GroupQuery{})
	if len(gs) != 1 || gs[0].Count != 4 {
		t.Fatalf("groups %+v", gs)
	}
	c.t = t0.Add(2 * time.Hour)
	s.Retain(ctx)
	u, _ = s.Usage(ctx)
	if u.Events != 0 || u.Unknowns != 0 || u.Groups != 0 || u.Bytes != 0 {
		t.Fatalf("usage after all expired %+v", u)
	}
}

func TestRetentionBySize(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{MaxAge: -1, Debounce: -1, MaxBytes: 1})
	r := rand.New(rand.NewSource(6))
	frame := testFrame(t)
	var sizes []int64
	for i := 0; i < 10; i++ {
		rec, err := s.Record(ctx, Observation{Camera: "door", Time: t0.Add(time.Duration(i) * time.Minute), Frame: frame, Faces: []Seen{known("alice", person(r))}})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, rec.Events[0].Size)
	}
	// allow the newest three
	s.cfg.MaxBytes = sizes[7] + sizes[8] + sizes[9]
	st, err := s.Retain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 7 || st.Left != s.cfg.MaxBytes {
		t.Fatalf("retain %+v", st)
	}
	evs, _ := s.Events(ctx, Query{})
	if len(evs) != 3 || !evs[2].Time.Equal(t0.Add(7*time.Minute)) {
		t.Fatalf("kept %+v", evs)
	}
	if st, _ := s.Retain(ctx); st.Events != 0 {
		t.Fatal("second pass deleted more")
	}
}

func TestRejectsMalformed(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{})
	frame := testFrame(t)
	r := rand.New(rand.NewSource(7))
	good := known("alice", person(r))
	nan := good
	nan.Distance = math.NaN()
	badBox := good
	badBox.Box = [4]int{10, 10, 5, 20}
	nanDesc := unknown(person(r))
	nanDesc.Descriptor[3] = float32(math.Inf(1))
	cases := map[string]Observation{
		"camera":        {Camera: "a/b", Time: t0, Frame: frame, Faces: []Seen{good}},
		"time":          {Camera: "door", Frame: frame, Faces: []Seen{good}},
		"not jpeg":      {Camera: "door", Time: t0, Frame: []byte("hello world"), Faces: []Seen{good}},
		"corrupt jpeg":  {Camera: "door", Time: t0, Frame: append([]byte{0xFF, 0xD8, 1, 2, 3}, 0xFF, 0xD9), Faces: []Seen{good}},
		"name":          {Camera: "door", Time: t0, Frame: frame, Faces: []Seen{known("../x", good.Descriptor)}},
		"distance":      {Camera: "door", Time: t0, Frame: frame, Faces: []Seen{nan}},
		"box":           {Camera: "door", Time: t0, Frame: frame, Faces: []Seen{badBox}},
		"no descriptor": {Camera: "door", Time: t0, Frame: frame, Faces: []Seen{unknown(face.Descriptor{})}},
		"inf":           {Camera: "door", Time: t0, Frame: frame, Faces: []Seen{nanDesc}},
	}
	for name, o := range cases {
		if _, err := s.Record(ctx, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if u, _ := s.Usage(ctx); u.Events+u.Unknowns != 0 {
		t.Fatalf("malformed input stored: %+v", u)
	}
	// A box outside the frame is stored without a crop.
	off := good
	off.Box = [4]int{1000, 1000, 1100, 1100}
	rec, err := s.Record(ctx, Observation{Camera: "door", Time: t0, Frame: frame, Faces: []Seen{off}})
	if err != nil || len(rec.Events) != 1 || rec.Events[0].Crop != nil {
		t.Fatalf("off-frame box: %+v %v", rec, err)
	}
	for _, q := range []Query{{Camera: "x y"}, {Person: "unknown"}, {Limit: MaxLimit + 1}, {Since: t0, Until: t0}} {
		if _, err := s.Events(ctx, q); !errors.Is(err, ErrInvalid) {
			t.Errorf("query %+v accepted", q)
		}
	}
}

func TestRecorderDropsWhenFull(t *testing.T) {
	s := open(t, Config{})
	var got []*Recorded
	rc := NewRecorder(s, 1, func(r *Recorded) { got = append(got, r) })
	frame := testFrame(t)
	r := rand.New(rand.NewSource(8))
	o := Observation{Camera: "door", Time: t0, Frame: frame, Faces: []Seen{unknown(person(r))}}
	if !rc.Submit(o) || rc.Submit(o) || rc.Dropped() != 1 {
		t.Fatal("queue bound not enforced")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { rc.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if u, _ := s.Usage(ctx); u.Unknowns == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if len(got) != 1 {
		t.Fatalf("after hook calls %d", len(got))
	}
}

func TestCrop(t *testing.T) {
	frame := testFrame(t)
	c, err := Crop(frame, [4]int{300, 200, 340, 260}, 0.25) // runs off the corner: clipped
	if err != nil {
		t.Fatal(err)
	}
	img, _ := jpeg.Decode(bytes.NewReader(c))
	if b := img.Bounds(); b.Dx() != 30 || b.Dy() != 55 {
		t.Fatalf("clipped crop %v", b)
	}
	if _, err := Crop(frame, [4]int{0, 0, 0, 10}, 0.25); !errors.Is(err, ErrBadBox) {
		t.Fatal(err)
	}
	if _, err := Crop([]byte{0xFF, 0xD8, 0xFF, 0xD9}, [4]int{0, 0, 10, 10}, 0); err == nil {
		t.Fatal("corrupt frame cropped")
	}
}

// Deleting a person erases their events (with crops and frames), their
// negatives and the unknown-face groups named after them; keeping history
// keeps the events.
func TestDeletePersonErasesHistory(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{MaxBytes: -1, Debounce: -1})
	r := rand.New(rand.NewSource(9))
	frame := testFrame(t)
	a, b := person(r), person(r)
	for _, n := range []string{"alice", "bob"} {
		d := a
		if n == "bob" {
			d = b
		}
		if _, err := s.Record(ctx, Observation{Camera: "door", Time: t0, Frame: frame, Faces: []Seen{known(n, d)}}); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := s.Record(ctx, Observation{Camera: "door", Time: t0, Frame: frame, Faces: []Seen{unknown(person(r))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.NameGroup(ctx, rec.Unknowns[0].Group, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddNegative(ctx, "alice", b, "api"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePerson(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.Events(ctx, Query{Person: "bob"}); len(evs) != 1 {
		t.Fatalf("keep-history delete removed bob's events: %d left", len(evs))
	}
	if err := s.DeletePerson(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.Events(ctx, Query{Person: "alice"}); len(evs) != 0 {
		t.Fatalf("%d of alice's events left", len(evs))
	}
	if ns, _ := s.Negatives(ctx, "alice"); len(ns) != 0 {
		t.Fatalf("%d of alice's negatives left", len(ns))
	}
	if gs, _ := s.Groups(ctx, GroupQuery{State: "all"}); len(gs) != 0 {
		t.Fatalf("groups named alice left: %+v", gs)
	}
	var blobs int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE name = 'alice'`).Scan(&blobs); err != nil || blobs != 0 {
		t.Fatalf("alice rows with crops/frames: %d %v", blobs, err)
	}
}

// Group(id) finds any group, not only the newest MaxLimit.
func TestGroupBeyondNewestPage(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{MaxBytes: -1, Debounce: -1})
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < MaxLimit+50; i++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ugroups (n, centroid, first, last, state) VALUES (1, ?, ?, ?, 'dismissed')`,
			encodeDescriptor(face.Descriptor{1}), int64(i), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	g, err := s.Group(ctx, 1) // the oldest
	if err != nil || g.ID != 1 || g.State != StateDismissed {
		t.Fatalf("oldest group: %+v %v", g, err)
	}
	if _, err := s.Group(ctx, int64(MaxLimit+51)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing group: %v", err)
	}
}

// A storage failure pauses recording: one attempt (and one log line) per
// pause, the rest skipped and counted.
func TestRecorderBacksOffOnStorageFailure(t *testing.T) {
	s := open(t, Config{})
	rc := NewRecorder(s, 32, nil)
	r := rand.New(rand.NewSource(8))
	o := Observation{Camera: "door", Time: t0, Frame: testFrame(t), Faces: []Seen{unknown(person(r))}}
	s.db.Close() // every write now fails, as on a full or broken disk
	for i := 0; i < 20; i++ {
		if !rc.Submit(o) {
			t.Fatal("queue full")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for rc.Failed()+rc.Skipped() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("failed %d skipped %d", rc.Failed(), rc.Skipped())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if rc.Failed() != 1 || rc.Skipped() != 19 {
		t.Fatalf("failed %d, skipped %d: want 1 attempt, 19 skipped", rc.Failed(), rc.Skipped())
	}
}

// One visitor split across two groups is merged into one: every face
// moves, the merged group covers both time spans and cameras, the other
// group is gone, and a new face of either half joins the merged group.
func TestMergeGroups(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{Debounce: -1})
	r := rand.New(rand.NewSource(11))
	frame := testFrame(t)
	a, b, other := person(r), person(r), person(r)
	rec := func(cam string, sec int, d face.Descriptor) int64 {
		t.Helper()
		res, err := s.Record(ctx, Observation{Camera: cam, Time: t0.Add(time.Duration(sec) * time.Second), Frame: frame, Faces: []Seen{unknown(jitter(r, d))}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Unknowns[0].Group
	}
	ga := rec("door", 0, a)
	for i := 1; i < 4; i++ {
		rec("door", i, a)
	}
	gb := rec("yard", 100, b)
	rec("yard", 101, b)
	gOther := rec("door", 50, other)
	if ga == gb || ga == gOther {
		t.Fatal("test setup: groups not distinct")
	}
	g, err := s.MergeGroups(ctx, gb, ga)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != ga || g.Count != 6 || len(g.Cameras) != 2 || !g.First.Equal(t0) || !g.Last.Equal(t0.Add(101*time.Second)) {
		t.Fatalf("merged group %+v", g)
	}
	if _, err := s.Group(ctx, gb); !errors.Is(err, ErrNotFound) {
		t.Fatalf("merged-away group still there: %v", err)
	}
	us, err := s.GroupUnknowns(ctx, ga, false)
	if err != nil || len(us) != 6 {
		t.Fatalf("merged group has %d faces (%v)", len(us), err)
	}
	// The visitor's next face joins the merged group.
	if got := rec("yard", 200, a); got != ga {
		t.Fatalf("a new face of the visitor went to group %d, not the merged %d", got, ga)
	}
	// Refusals: itself, a missing group, a closed group.
	if _, err := s.MergeGroups(ctx, ga, ga); !errors.Is(err, ErrInvalid) {
		t.Fatalf("merge into itself: %v", err)
	}
	if _, err := s.MergeGroups(ctx, 9999, ga); !errors.Is(err, ErrNotFound) {
		t.Fatalf("merge of a missing group: %v", err)
	}
	if err := s.DismissGroup(ctx, gOther); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MergeGroups(ctx, gOther, ga); !errors.Is(err, ErrState) {
		t.Fatalf("merge of a dismissed group: %v", err)
	}
	if gs, _ := s.Groups(ctx, GroupQuery{}); len(gs) != 1 || gs[0].ID != ga {
		t.Fatalf("open groups after merging: %+v", gs)
	}
}

// Seen.Group puts a further face of a track into its open group even when
// another group is nearer; a group that is no longer open is ignored.
func TestSeenGroupHint(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{Debounce: -1})
	r := rand.New(rand.NewSource(12))
	frame := testFrame(t)
	a, b := person(r), person(r)
	rec := func(sec int, sn Seen) Unknown {
		t.Helper()
		res, err := s.Record(ctx, Observation{Camera: "door", Time: t0.Add(time.Duration(sec) * time.Second), Frame: frame, Faces: []Seen{sn}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Unknowns[0]
	}
	ga := rec(0, unknown(a)).Group
	gb := rec(1, unknown(b)).Group
	extra := unknown(jitter(r, b))
	extra.Group, extra.Extra, extra.Track = ga, true, 9
	u := rec(2, extra)
	if u.Group != ga || !u.Extra || u.Track != 9 {
		t.Fatalf("hinted face: %+v, want group %d, extra, track 9", u, ga)
	}
	if err := s.DismissGroup(ctx, ga); err != nil {
		t.Fatal(err)
	}
	if u := rec(3, extra); u.Group != gb {
		t.Fatalf("hint to a dismissed group: went to %d, want the nearest %d", u.Group, gb)
	}
}
