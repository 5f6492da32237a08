package msg

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"time"
)

func tinyJPEG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestMetaRoundTrip(t *testing.T) {
	src := tinyJPEG(t)
	when := time.Unix(1700000000, 123456789)
	out, err := EmbedMeta(src, FrameMeta{Camera: "door", Seq: 42, Captured: when})
	if err != nil {
		t.Fatal(err)
	}
	// Still a decodable JPEG.
	if _, err := jpeg.Decode(bytes.NewReader(out)); err != nil {
		t.Fatalf("JPEG with metadata does not decode: %v", err)
	}
	m, err := ExtractMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Camera != "door" || m.Seq != 42 || !m.Captured.Equal(when) {
		t.Fatalf("got %+v", m)
	}
	// Re-embedding replaces, not stacks.
	again, _ := EmbedMeta(out, FrameMeta{Camera: "door", Seq: 43, Captured: when})
	if len(again) != len(out) {
		t.Fatalf("re-embed grew the frame: %d -> %d", len(out), len(again))
	}
	if m, _ := ExtractMeta(again); m.Seq != 43 {
		t.Fatalf("seq after re-embed = %d", m.Seq)
	}
	if _, err := ExtractMeta(src); !errors.Is(err, ErrNoMeta) {
		t.Fatalf("plain JPEG: err = %v, want ErrNoMeta", err)
	}
}

func TestCheckJPEG(t *testing.T) {
	good := tinyJPEG(t)
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"ok", good, nil},
		{"empty", nil, ErrNotJPEG},
		{"random", []byte("hello world, not a jpeg"), ErrNotJPEG},
		{"truncated", good[:len(good)/2], ErrTruncated},
		{"too large", append(append([]byte{}, good...), make([]byte, 100)...), ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limit := len(good) + 10
			if err := CheckJPEG(c.b, limit); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"alice", "Lin-Manuel Miranda", "지민", "o.brien", "john_2"} {
		if !ValidName(n) {
			t.Errorf("ValidName(%q) = false", n)
		}
	}
	for _, n := range []string{"", "../etc", "a/b", ".hidden", "a\\b", "unknown", "Unknown", " lead", "trail ", strings.Repeat("x", 65), "a\x00b", "tab\there"} {
		if ValidName(n) {
			t.Errorf("ValidName(%q) = true", n)
		}
	}
}

func TestIdentitiesRoundTrip(t *testing.T) {
	in := Identities{V: Version, Camera: "door", Seq: 7, Captured: time.Now().UTC(), Processed: time.Now().UTC(),
		Recognizer: "r1", Faces: []Face{{Name: "alice", Distance: 0.41, Box: [4]int{1, 2, 3, 4}, Votes: 2}, {Name: Unknown, Distance: 0.8}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeIdentities(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Faces[0].Name != "alice" || out.Faces[1].Name != Unknown || out.Seq != 7 {
		t.Fatalf("got %+v", out)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		"not json":    "{",
		"bad version": `{"v":2,"camera":"x","faces":[]}`,
		"no camera":   `{"v":1,"faces":[]}`,
		"bad name":    `{"v":1,"camera":"x","faces":[{"name":"../x","distance":0.1}]}`,
		"neg dist":    `{"v":1,"camera":"x","faces":[{"name":"a","distance":-1}]}`,
	}
	for name, payload := range cases {
		if _, err := DecodeIdentities([]byte(payload)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := DecodeIdentities(make([]byte, MaxJSONBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge payload: %v", err)
	}
	if _, err := DecodeEnrol([]byte(`{"v":1,"name":"../../x","image":""}`)); err == nil {
		t.Error("enrol with bad name accepted")
	}
	if _, err := DecodeEnrol([]byte(`{"v":1,"name":"bob","image":"aGVsbG8="}`)); err == nil {
		t.Error("enrol with non-JPEG accepted")
	}
	if tr, err := DecodeTrain(nil); err != nil || tr.V != Version {
		t.Errorf("empty train: %v %v", tr, err)
	}
	for _, bad := range []string{`{"v":1,"name":"../x"}`, `{"v":1,"name":"a","new_name":"b/c"}`, `{"v":1,"name":"a","threshold":3}`, `{"v":1}`} {
		if _, err := DecodePersonCmd([]byte(bad)); err == nil {
			t.Errorf("person command %s accepted", bad)
		}
	}
	if _, err := DecodeTrain([]byte(`{"v":1,"id":5}`)); err == nil {
		t.Error("train with numeric id accepted")
	}
}

func TestSessionField(t *testing.T) {
	tok := strings.Repeat("aZ9_-", 10)
	if tr, err := DecodeTrain([]byte(`{"id":"x","session":"` + tok + `"}`)); err != nil || tr.Session != tok {
		t.Fatalf("train with session: %+v %v", tr, err)
	}
	for _, bad := range []string{`"a b"`, `"a/b"`, `"` + strings.Repeat("a", MaxSessionLen+1) + `"`, `"é"`} {
		if _, err := DecodeTrain([]byte(`{"id":"x","session":` + bad + `}`)); !errors.Is(err, ErrBadSession) {
			t.Errorf("train session %s: %v, want ErrBadSession", bad, err)
		}
		if _, err := DecodeEnrol([]byte(`{"name":"bob","session":` + bad + `,"image":"/9j/2Q=="}`)); !errors.Is(err, ErrBadSession) {
			t.Errorf("enrol session %s: %v, want ErrBadSession", bad, err)
		}
	}
	if !ValidSession("") || !ValidSession(strings.Repeat("x", MaxSessionLen)) {
		t.Error("empty or maximal session refused")
	}
}

func TestCommandWithoutVersion(t *testing.T) {
	tr, err := DecodeTrain([]byte(`{"id":"x"}`))
	if err != nil || tr.V != Version || tr.ID != "x" {
		t.Fatalf("train without v: %+v %v", tr, err)
	}
	if tr, err := DecodeTrain([]byte(`{"v":null,"id":"y"}`)); err != nil || tr.V != Version {
		t.Fatalf("train with v null: %+v %v", tr, err)
	}
	pc, err := DecodePersonCmd([]byte(`{"id":"d","name":"alice"}`))
	if err != nil || pc.V != Version || pc.Name != "alice" {
		t.Fatalf("delete without v: %+v %v", pc, err)
	}
	j := tinyJPEG(t)
	b, _ := json.Marshal(map[string]any{"id": "e", "name": "bob", "image": j})
	en, err := DecodeEnrol(b)
	if err != nil || en.V != Version || en.Name != "bob" {
		t.Fatalf("enrol without v: %+v %v", en, err)
	}
	// An explicit version this build does not speak is refused, clearly.
	for _, bad := range []string{`{"v":2,"id":"x"}`, `{"v":0,"id":"x"}`, `{"v":-1}`} {
		_, err := DecodeTrain([]byte(bad))
		if !errors.Is(err, ErrBadVersion) || !strings.Contains(err.Error(), "v=") {
			t.Errorf("train %s: %v", bad, err)
		}
	}
	if _, err := DecodePersonCmd([]byte(`{"v":7,"name":"alice"}`)); !errors.Is(err, ErrBadVersion) {
		t.Errorf("person command v=7: %v", err)
	}
	b, _ = json.Marshal(map[string]any{"v": 3, "name": "bob", "image": j})
	if _, err := DecodeEnrol(b); !errors.Is(err, ErrBadVersion) {
		t.Errorf("enrol v=3: %v", err)
	}
	// Identities are produced by facemon itself and keep their strict check.
	if _, err := DecodeIdentities([]byte(`{"camera":"x","faces":[]}`)); !errors.Is(err, ErrBadVersion) {
		t.Errorf("identities without v: %v", err)
	}
}

func FuzzExtractMeta(f *testing.F) {
	j := tinyJPEG(f)
	withMeta, _ := EmbedMeta(j, FrameMeta{Camera: "c", Seq: 1, Captured: time.Unix(1, 0)})
	f.Add(withMeta)
	f.Add(j)
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ExtractMeta(b)
		_ = CheckJPEG(b, MaxFrameBytes)
		if out, err := EmbedMeta(b, FrameMeta{Camera: "c", Seq: 9, Captured: time.Unix(0, 5)}); err == nil {
			m, err := ExtractMeta(out)
			if err != nil || m.Seq != 9 || m.Captured.UnixNano() != 5 {
				t.Fatalf("embed then extract: %+v %v", m, err)
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"camera":"x","faces":[{"name":"a","distance":0.3,"box":[0,0,1,1]}]}`))
	f.Add([]byte(`{"v":1,"id":"r","name":"bob","image":"/9j/2Q=="}`))
	f.Add([]byte(`{"id":"x"}`))
	f.Add([]byte(`{"id":"x","session":"abc_-Z9"}`))
	f.Add([]byte(`{"id":"x","session":"a b"}`))
	f.Add([]byte(`{"v":2,"id":"x","name":"bob"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := DecodeIdentities(b); err == nil {
			if m.Validate() != nil {
				t.Fatal("decoded message does not validate")
			}
		}
		if m, err := DecodeEnrol(b); err == nil && m.V != Version {
			t.Fatalf("enrol with v=%d accepted", m.V)
		}
		if m, err := DecodeTrain(b); err == nil && (m.V != Version || !ValidSession(m.Session)) {
			t.Fatalf("train with v=%d or bad session accepted", m.V)
		}
		if m, err := DecodeEnrol(b); err == nil && !ValidSession(m.Session) {
			t.Fatal("enrol with a bad session accepted")
		}
		if m, err := DecodePersonCmd(b); err == nil && (!ValidName(m.Name) || m.V != Version) {
			t.Fatalf("person command with bad name %q or v=%d accepted", m.Name, m.V)
		}
	})
}
