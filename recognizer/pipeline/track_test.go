package pipeline

import (
	"image"
	"testing"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
)

func fc(x int, axis int) face.Face {
	var d face.Descriptor
	d[axis] = 1
	return face.Face{Box: image.Rect(x, 100, x+80, 180), Descriptor: d}
}

func named(n string) gallery.Match { return gallery.Match{Name: n} }

// trackIDs links faces (with their matches) and returns their track ids.
func trackIDs(tr *Tracker, camera string, now time.Time, faces []face.Face, matches []gallery.Match) []int {
	trs := tr.UpdateTracks(camera, now, faces, matches)
	ids := make([]int, len(trs))
	for i, t := range trs {
		ids[i] = t.ID
	}
	return ids
}

// The confirmed name (and the known verdict) waits for 3 agreeing
// attempts; the shown name is tentative from the first.
func TestTrackNamedAfterAgreement(t *testing.T) {
	tr := NewTracker(DefaultTrack)
	now := time.Unix(1000, 0)
	var got, shown []string
	var tent []bool
	var verdicts []string
	for i := 0; i < 4; i++ {
		at := now.Add(time.Duration(i) * 100 * time.Millisecond)
		trs := tr.UpdateTracks("cam", at, []face.Face{fc(100+i*3, 0)}, []gallery.Match{named("alice")})
		verdicts = append(verdicts, tr.Verdict(trs[0], at))
		got = append(got, trs[0].Name())
		n, _, tn := trs[0].Shown(tr.Config())
		shown, tent = append(shown, n), append(tent, tn)
	}
	want := []string{msg.Unknown, msg.Unknown, "alice", "alice"}
	wantTent := []bool{true, true, false, false}
	wantVerdicts := []string{"", "", msg.VerdictKnown, ""}
	for i := range want {
		if got[i] != want[i] || shown[i] != "alice" || tent[i] != wantTent[i] || verdicts[i] != wantVerdicts[i] {
			t.Fatalf("frame %d: name %q shown %q tentative %v verdict %q; want %q, alice, %v, %q", i, got[i], shown[i], tent[i], verdicts[i], want[i], wantTent[i], wantVerdicts[i])
		}
	}
	// With NoTentative the first two frames show unknown.
	cfg := DefaultTrack
	cfg.NoTentative = true
	tr = NewTracker(cfg)
	for i := 0; i < 3; i++ {
		trs := tr.UpdateTracks("cam", now.Add(time.Duration(i)*100*time.Millisecond), []face.Face{fc(100+i*3, 0)}, []gallery.Match{named("alice")})
		n, _, tn := trs[0].Shown(tr.Config())
		if w := map[bool]string{true: "alice", false: msg.Unknown}[i == 2]; n != w || tn {
			t.Fatalf("NoTentative frame %d: shown %q tentative %v, want %q", i, n, tn, w)
		}
	}
}

// A stranger who matches bob on one attempt in ten is never named and
// gets one unknown verdict; bob is shown (tentatively) on an attempt that
// matched him (as the per-frame method would) and while his votes are not
// outnumbered by "unknown" ones (frames 0, 1 and 10 here), never after the
// unknown verdict.
func TestStrangerOccasionalNearMatchStaysUnknown(t *testing.T) {
	tr := NewTracker(DefaultTrack)
	now := time.Unix(1000, 0)
	unknownVerdicts := 0
	// 100 frames (10 s at 10 fps); every 10th frame the stranger matches bob.
	for i := 0; i < 100; i++ {
		m := named(msg.Unknown)
		if i%10 == 0 {
			m = named("bob")
		}
		at := now.Add(time.Duration(i) * 100 * time.Millisecond)
		trs := tr.UpdateTracks("cam", at, []face.Face{fc(200, 5)}, []gallery.Match{m})
		switch tr.Verdict(trs[0], at) {
		case msg.VerdictKnown:
			t.Fatalf("frame %d: known verdict for a stranger", i)
		case msg.VerdictUnknown:
			unknownVerdicts++
		}
		if trs[0].Name() != msg.Unknown {
			t.Fatalf("frame %d: stranger named %q", i, trs[0].Name())
		}
		n, _, tent := trs[0].Shown(tr.Config())
		if tentFrame := i <= 1 || i == 10; tentFrame && (n != "bob" || !tent) {
			t.Fatalf("frame %d: shown %q tentative %v, want bob, true", i, n, tent)
		} else if !tentFrame && n != msg.Unknown {
			t.Fatalf("frame %d: stranger shown as %q", i, n)
		}
	}
	if unknownVerdicts != 1 {
		t.Fatalf("%d unknown verdicts, want 1", unknownVerdicts)
	}
}

func TestTwoFacesTwoTracksAndGapEndsTrack(t *testing.T) {
	tr := NewTracker(DefaultTrack)
	now := time.Unix(1000, 0)
	ids1 := trackIDs(tr, "cam", now, []face.Face{fc(0, 0), fc(400, 1)}, []gallery.Match{named("a"), named("b")})
	ids2 := trackIDs(tr, "cam", now.Add(100*time.Millisecond), []face.Face{fc(402, 1), fc(3, 0)}, []gallery.Match{named("b"), named("a")})
	if ids1[0] != ids2[1] || ids1[1] != ids2[0] || ids1[0] == ids1[1] {
		t.Fatalf("tracks not kept apart: %v %v", ids1, ids2)
	}
	ids3 := trackIDs(tr, "cam", now.Add(5*time.Second), []face.Face{fc(0, 0)}, []gallery.Match{named("a")})
	if ids3[0] == ids1[0] {
		t.Fatal("track survived a 5 s gap")
	}
	// Cameras are independent.
	ids4 := trackIDs(tr, "other", now.Add(5*time.Second), []face.Face{fc(0, 0)}, []gallery.Match{named("a")})
	if ids4[0] == ids3[0] {
		t.Fatal("track shared across cameras")
	}
}

func TestAgreeOneIsPerFrame(t *testing.T) {
	tr := NewTracker(TrackConfig{Agree: 1, Window: 1, MaxGap: time.Second, MaxDistance: 0.5})
	trs := tr.UpdateTracks("cam", time.Unix(0, 0), []face.Face{fc(0, 0)}, []gallery.Match{named("a")})
	if trs[0].Name() != "a" {
		t.Fatal(trs[0].Name())
	}
}

func TestTrackCropsMergeAndClip(t *testing.T) {
	frame := image.Rect(0, 0, 640, 360)
	a := &Track{Box: image.Rect(0, 0, 80, 80)}       // at the corner: clipped
	b := &Track{Box: image.Rect(100, 0, 180, 80)}    // overlaps a's crop: merged
	c := &Track{Box: image.Rect(500, 200, 580, 280)} // apart
	got := trackCrops(frame, []*Track{a, b, c})
	if len(got) != 2 {
		t.Fatalf("crops %v, want 2", got)
	}
	if got[0] != image.Rect(0, 0, 240, 140) || got[1] != image.Rect(440, 140, 640, 340) {
		t.Fatalf("crops %v", got)
	}
}

// A face near the threshold (attempts alternate alice / unknown) is named
// by its mean descriptor once 2 of its first 3 attempts name alice; the
// vote alone needs 5 attempts. A mean that names someone only one attempt
// named does not name the track.
func TestMeanNamesTrackBeforeVote(t *testing.T) {
	now := time.Unix(1000, 0)
	attempt := func(cfg TrackConfig, votes []string, mean string) []string {
		tr := NewTracker(cfg)
		var names []string
		for i, v := range votes {
			at := now.Add(time.Duration(i) * 100 * time.Millisecond)
			f := fc(100+i*3, 0)
			trs := tr.Associate("cam", at, []image.Rectangle{f.Box})
			got := tr.ObserveMean("cam", trs[0], f.Descriptor, named(v), func(face.Descriptor) gallery.Match { return named(mean) })
			names = append(names, got.Name())
		}
		return names
	}
	u := msg.Unknown
	votes := []string{"alice", u, "alice", u, "alice"}
	check := func(what string, got, want []string) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: names %v, want %v", what, got, want)
			}
		}
	}
	check("mean naming", attempt(DefaultTrack, votes, "alice"), []string{u, u, "alice", "alice", "alice"})
	off := DefaultTrack
	off.NoMeanName = true
	check("vote only", attempt(off, votes, "alice"), []string{u, u, u, u, "alice"})
	// The mean names bob, whom one attempt named: not enough.
	check("mean without votes", attempt(DefaultTrack, []string{"bob", u, u, u}, "bob"), []string{u, u, u, u})
	// The mean says unknown: the vote decides.
	check("mean unknown", attempt(DefaultTrack, votes, u), []string{u, u, u, u, "alice"})
}

// A confirmed track whose face jumps farther than relink's two widths
// (the detector missed it while it moved, or a big jump between frames)
// continues as the same track with its confirmed name when the face's
// descriptor is close to the track's mean and the gallery names the same
// person: no tentative restart (unknown flicker). A face there that the
// gallery does not name as that person, or one far from the track's mean,
// starts a new track.
func TestConfirmedTrackSurvivesBigJump(t *testing.T) {
	now := time.Unix(1000, 0)
	confirmed := func() (*Tracker, int) {
		tr := NewTracker(DefaultTrack)
		var id int
		for i := 0; i < 4; i++ {
			trs := tr.UpdateTracks("cam", now.Add(time.Duration(i)*100*time.Millisecond), []face.Face{fc(100+i*3, 0)}, []gallery.Match{named("alice")})
			id = trs[0].ID
		}
		if trs := tr.Live("cam", now.Add(400*time.Millisecond)); len(trs) != 1 || trs[0].Name() != "alice" {
			t.Fatalf("setup: track not confirmed")
		}
		return tr, id
	}
	jump := now.Add(600 * time.Millisecond) // lost for 2 frames, then 400 px away (5 widths)

	tr, id := confirmed()
	trs := tr.UpdateTracks("cam", jump, []face.Face{fc(500, 0)}, []gallery.Match{named("alice")})
	name, _, tent := trs[0].Shown(tr.Config())
	if trs[0].ID != id || trs[0].Name() != "alice" || name != "alice" || tent {
		t.Fatalf("after the jump: track %d (want %d) name %q shown %q tentative %v; want the confirmed alice", trs[0].ID, id, trs[0].Name(), name, tent)
	}
	if v := tr.Verdict(trs[0], jump); v != msg.VerdictKnown && v != "" {
		t.Fatalf("verdict %q", v)
	}
	if n := len(tr.Live("cam", jump)); n != 1 {
		t.Fatalf("%d live tracks after the relink, want 1", n)
	}

	// Nearby, a pose farther from the track's mean than a plain relink
	// takes (0.5 > 3/4 of MaxDistance) but named alice by the gallery.
	tr, id = confirmed()
	turned := fc(200, 0)
	turned.Descriptor[1] = 0.5
	trs = tr.UpdateTracks("cam", jump, []face.Face{turned}, []gallery.Match{named("alice")})
	if trs[0].ID != id || trs[0].Name() != "alice" {
		t.Fatalf("a turned head named alice 100 px away: track %d (want %d) name %q", trs[0].ID, id, trs[0].Name())
	}

	tr, id = confirmed()
	trs = tr.UpdateTracks("cam", jump, []face.Face{fc(500, 0)}, []gallery.Match{named(msg.Unknown)})
	if trs[0].ID == id {
		t.Fatal("a far face the gallery does not name alice continued alice's track")
	}
	tr, id = confirmed()
	trs = tr.UpdateTracks("cam", jump, []face.Face{fc(500, 3)}, []gallery.Match{named("alice")})
	if trs[0].ID == id {
		t.Fatal("a far face with another descriptor continued alice's track")
	}
}
