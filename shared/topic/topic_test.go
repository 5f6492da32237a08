package topic

import "testing"

func TestBuildAndParse(t *testing.T) {
	for _, prefix := range []string{"", "site1", "a/b/"} {
		s := New(prefix)
		for _, kind := range []string{Frames, Annotated, Identities, Enrol, Train, ResultKind, Viewers} {
			tp := s.Camera("door-1", kind)
			id, k, err := s.ParseCamera(tp)
			if err != nil || id != "door-1" || k != kind {
				t.Fatalf("prefix %q: ParseCamera(%q) = %q %q %v", prefix, tp, id, k, err)
			}
		}
		for kind, tp := range map[string]string{Enrol: s.CamEnrol("d"), Train: s.CamTrain("d"), ResultKind: s.CamResult("d"), Viewers: s.Viewers("d")} {
			if id, k, err := s.ParseCamera(tp); err != nil || id != "d" || k != kind || tp != s.Camera("d", kind) {
				t.Fatalf("builder for %s: %q -> %q %q %v", kind, tp, id, k, err)
			}
		}
		kind, id, err := s.ParseStatus(s.Status(KindEdge, "pi.kitchen"))
		if err != nil || kind != KindEdge || id != "pi.kitchen" {
			t.Fatalf("ParseStatus: %q %q %v", kind, id, err)
		}
		verb, err := s.ParseCommand(s.Command("train"))
		if err != nil || verb != "train" {
			t.Fatalf("ParseCommand: %q %v", verb, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	s := New("")
	for _, bad := range []string{"", "cam/", "cam/x", "cam//frames", "cam/../frames", "cam/a b/frames", "cam/x/frames/extra", "other/x/frames"} {
		if _, _, err := s.ParseCamera(bad); err == nil {
			t.Errorf("ParseCamera(%q): want error", bad)
		}
	}
	if _, err := s.ParseCommand("facemon/cmd/a/b"); err == nil {
		t.Error("ParseCommand nested: want error")
	}
}

func TestValidID(t *testing.T) {
	good := []string{"0", "door", "pi-1.kitchen_2"}
	bad := []string{"", ".", "..", "a/b", "a+b", "a#", string(make([]byte, 65))}
	for _, g := range good {
		if !ValidID(g) {
			t.Errorf("ValidID(%q) = false", g)
		}
	}
	for _, b := range bad {
		if ValidID(b) {
			t.Errorf("ValidID(%q) = true", b)
		}
	}
}

func TestShared(t *testing.T) {
	if got := Shared("recognizers", New("").AllCameras(Frames)); got != "$share/recognizers/cam/+/frames" {
		t.Fatal(got)
	}
}

func FuzzParseCamera(f *testing.F) {
	f.Add("cam/x/frames")
	f.Add("p/cam/y/identities")
	f.Fuzz(func(t *testing.T, s string) {
		sp := New("")
		id, kind, err := sp.ParseCamera(s)
		if err == nil && sp.Camera(id, kind) != s {
			t.Fatalf("round trip %q -> %q %q", s, id, kind)
		}
	})
}

func TestKindOf(t *testing.T) {
	s := New("site1")
	for topic, want := range map[string]string{
		"site1/cam/door/frames":              "frames",
		"site1/cam/door/annotated":           "annotated",
		"site1/cam/x/viewers":                "viewers",
		"site1/cam/x/weird":                  "other",
		"site1/cam/bad id/frames":            "other",
		"site1/facemon/status/edge/door":     "status",
		"site1/facemon/cmd/enrol":            "cmd",
		"site1/facemon/train/status":         "train_status",
		"site1/facemon/enrol/result":         "enrol_result",
		"site1/facemon/result":               "result",
		"cam/door/frames":                    "other", // another prefix
		"homeassistant/camera/facemon/x/cfg": "other",
	} {
		if got := s.KindOf(topic); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", topic, got, want)
		}
	}
}
