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

func TestTrackNamedAfterAgreement(t *testing.T) {
	tr := NewTracker(DefaultTrack)
	now := time.Unix(1000, 0)
	var got []string
	for i := 0; i < 4; i++ {
		_, names := tr.Update("cam", now.Add(time.Duration(i)*100*time.Millisecond), []face.Face{fc(100+i*3, 0)}, []gallery.Match{named("alice")})
		got = append(got, names[0])
	}
	want := []string{msg.Unknown, msg.Unknown, "alice", "alice"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d: %q, want %q (all %v)", i, got[i], want[i], got)
		}
	}
}

func TestStrangerOccasionalNearMatchStaysUnknown(t *testing.T) {
	tr := NewTracker(DefaultTrack)
	now := time.Unix(1000, 0)
	// 100 frames (10 s at 10 fps); every 10th frame the stranger matches bob.
	for i := 0; i < 100; i++ {
		m := named(msg.Unknown)
		if i%10 == 0 {
			m = named("bob")
		}
		_, names := tr.Update("cam", now.Add(time.Duration(i)*100*time.Millisecond), []face.Face{fc(200, 5)}, []gallery.Match{m})
		if names[0] != msg.Unknown {
			t.Fatalf("frame %d: stranger named %q", i, names[0])
		}
	}
}

func TestTwoFacesTwoTracksAndGapEndsTrack(t *testing.T) {
	tr := NewTracker(DefaultTrack)
	now := time.Unix(1000, 0)
	ids1, _ := tr.Update("cam", now, []face.Face{fc(0, 0), fc(400, 1)}, []gallery.Match{named("a"), named("b")})
	ids2, _ := tr.Update("cam", now.Add(100*time.Millisecond), []face.Face{fc(402, 1), fc(3, 0)}, []gallery.Match{named("b"), named("a")})
	if ids1[0] != ids2[1] || ids1[1] != ids2[0] || ids1[0] == ids1[1] {
		t.Fatalf("tracks not kept apart: %v %v", ids1, ids2)
	}
	ids3, _ := tr.Update("cam", now.Add(5*time.Second), []face.Face{fc(0, 0)}, []gallery.Match{named("a")})
	if ids3[0] == ids1[0] {
		t.Fatal("track survived a 5 s gap")
	}
	// Cameras are independent.
	ids4, _ := tr.Update("other", now.Add(5*time.Second), []face.Face{fc(0, 0)}, []gallery.Match{named("a")})
	if ids4[0] == ids3[0] {
		t.Fatal("track shared across cameras")
	}
}

func TestAgreeOneIsPerFrame(t *testing.T) {
	tr := NewTracker(TrackConfig{Agree: 1, Window: 1, MaxGap: time.Second, MaxDistance: 0.5})
	_, names := tr.Update("cam", time.Unix(0, 0), []face.Face{fc(0, 0)}, []gallery.Match{named("a")})
	if names[0] != "a" {
		t.Fatal(names)
	}
}
