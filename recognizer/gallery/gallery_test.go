package gallery

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/msg"
)

// at returns a descriptor at distance dist from the origin along axis i.
func at(i int, dist float64) face.Descriptor {
	var d face.Descriptor
	d[i] = float32(dist)
	return d
}

func TestFairVoteCloserOneSampleBeatsManySamples(t *testing.T) {
	// The measured case: the true person (1 sample) is at 0.497, another
	// person has 5 samples all within 0.6 but farther away.
	// Both the nearest-photo and the centroid scoring must get it right.
	g := New()
	query := face.Descriptor{}
	must(t, g.Add("true_person", Sample{Descriptor: at(0, 0.497)}))
	for i := 1; i <= 5; i++ { // a tight cluster of 5 photos ~0.55 away
		x := at(1, 0.55)
		x[10+i] = 0.05
		must(t, g.Add("popular", Sample{Descriptor: x}))
	}
	for _, rule := range []Rule{{Threshold: 0.6}, {Threshold: 0.6, Centroid: true}, DefaultRule} {
		m := g.Match(query, rule)
		if m.Name != "true_person" {
			t.Fatalf("%+v: named %q (votes %d, dist %.3f), want true_person", rule, m.Name, m.Votes, m.Distance)
		}
		if math.Abs(m.Distance-0.497) > 1e-6 || m.Votes != 1 {
			t.Fatalf("%+v: distance %.4f votes %d", rule, m.Distance, m.Votes)
		}
	}
}

func TestThresholds(t *testing.T) {
	g := New()
	must(t, g.Add("alice", Sample{Descriptor: at(0, 0.5)}))
	cases := []struct {
		name string
		rule Rule
		thr  float64 // alice's own threshold
		want string
	}{
		{"global default names", DefaultRule, 0, "alice"},
		{"strict global rejects", Rule{Threshold: 0.45}, 0, msg.Unknown},
		{"per-person overrides global (stricter)", DefaultRule, 0.4, msg.Unknown},
		{"per-person overrides global (looser)", Rule{Threshold: 0.45}, 0.55, "alice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g.Person("alice").Threshold = c.thr
			m := g.Match(face.Descriptor{}, c.rule)
			if m.Name != c.want || m.Candidate != "alice" {
				t.Fatalf("got %+v, want %s", m, c.want)
			}
		})
	}
}

func TestMarginRejectsAmbiguous(t *testing.T) {
	g := New()
	must(t, g.Add("a", Sample{Descriptor: at(0, 0.40)}))
	must(t, g.Add("b", Sample{Descriptor: at(1, 0.42)}))
	if m := g.Match(face.Descriptor{}, Rule{Margin: 0.05}); m.Known() {
		t.Fatalf("ambiguous match named %q", m.Name)
	}
	if m := g.Match(face.Descriptor{}, Rule{}); m.Name != "a" {
		t.Fatalf("without margin: %q", m.Name)
	}
}

func TestEmptyGallery(t *testing.T) {
	m := New().Match(face.Descriptor{}, DefaultRule)
	if m.Known() || m.Candidate != "" {
		t.Fatalf("%+v", m)
	}
}

func TestSaveLoadAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.json")
	g := New()
	must(t, g.Add("bob", Sample{Descriptor: at(3, 0.1), Source: "bob/1.jpg", Hash: "h"}))
	must(t, g.Add("alice", Sample{Descriptor: at(2, 0.2)}))
	must(t, g.Save(path))
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("gallery file mode %v (%v), want 0600: face templates are biometric data", st.Mode().Perm(), err)
	}
	got, err := Load(path)
	must(t, err)
	if p, s := got.Counts(); p != 2 || s != 2 || got.People[0].Name != "alice" {
		t.Fatalf("loaded %+v", got)
	}
	if got.Person("bob").Samples[0].Descriptor != at(3, 0.1) {
		t.Fatal("descriptor changed in round trip")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
	// Missing file: LoadOrEmpty gives an empty gallery, Load an ErrNotExist.
	if _, err := Load(filepath.Join(dir, "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	if g, err := LoadOrEmpty(filepath.Join(dir, "none.json")); err != nil || len(g.People) != 0 {
		t.Fatalf("LoadOrEmpty: %v", err)
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"garbage":   "not json",
		"version":   `{"v":9,"people":[]}`,
		"bad name":  `{"v":1,"people":[{"name":"../x","samples":[]}]}`,
		"dup":       `{"v":1,"people":[{"name":"a","samples":[]},{"name":"a","samples":[]}]}`,
		"threshold": `{"v":1,"people":[{"name":"a","threshold":-1,"samples":[]}]}`,
		"model":     `{"v":1,"model":"other","people":[]}`,
	}
	for name, body := range cases {
		p := filepath.Join(dir, name+".json")
		must(t, os.WriteFile(p, []byte(body), 0o644))
		if _, err := Load(p); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
}

func TestAddRejectsBadName(t *testing.T) {
	if err := New().Add("../etc/passwd", Sample{}); !errors.Is(err, msg.ErrBadName) {
		t.Fatalf("err = %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNegativeVetoesRepeatMistake(t *testing.T) {
	g := New()
	must(t, g.Add("alice", Sample{Descriptor: at(0, 0.45)}))
	stranger := at(1, 0.1) // 0.46 from alice: named alice
	if m := g.Match(stranger, DefaultRule); m.Name != "alice" {
		t.Fatalf("before correction: %q", m.Name)
	}
	must(t, g.AddNegative("alice", Sample{Descriptor: stranger}))
	if m := g.Match(stranger, DefaultRule); m.Known() {
		t.Fatalf("after correction still named %q", m.Name)
	}
	// A face nearer to alice's own sample than to the negative is still alice.
	if m := g.Match(at(0, 0.40), DefaultRule); m.Name != "alice" {
		t.Fatalf("alice herself: %q", m.Name)
	}
	if err := g.AddNegative("nobody", Sample{}); err == nil {
		t.Fatal("negative for unknown person accepted")
	}
	c := g.Clone()
	c.Person("alice").Negatives = nil
	if len(g.Person("alice").Negatives) != 1 {
		t.Fatal("Clone shares negatives")
	}
}

func TestCentroidScoring(t *testing.T) {
	// Two photos of bob either side of the query: each 0.56 away (over the
	// threshold), their mean 0.1 away: the centroid names him, the nearest
	// photo does not.
	g := New()
	a, b := at(5, 0.55), at(5, -0.55)
	a[0], b[0] = 0.1, 0.1
	must(t, g.Add("bob", Sample{Descriptor: a}))
	must(t, g.Add("bob", Sample{Descriptor: b}))
	if m := g.Match(face.Descriptor{}, Rule{Threshold: 0.5}); m.Known() {
		t.Fatalf("nearest scoring named %q at %.3f", m.Name, m.Distance)
	}
	m := g.Match(face.Descriptor{}, Rule{Threshold: 0.5, Centroid: true})
	if m.Name != "bob" || math.Abs(m.Distance-0.1) > 1e-6 {
		t.Fatalf("centroid scoring: %+v", m)
	}
	// One photo: the centroid is the photo.
	g2 := New()
	must(t, g2.Add("carol", Sample{Descriptor: at(1, 0.3)}))
	if m := g2.Match(face.Descriptor{}, Rule{Threshold: 0.5, Centroid: true}); m.Name != "carol" || math.Abs(m.Distance-0.3) > 1e-6 {
		t.Fatalf("single photo: %+v", m)
	}
}

// SampleNoise scores a face as if each person had a centroid of 2 photos:
// a centroid of more photos is nearer to everyone, so the same raw
// distance scores worse; people with 1 or 2 photos keep the raw distance.
func TestSampleNoise(t *testing.T) {
	const noise = 0.06
	r := Rule{Threshold: 0.5, Centroid: true, SampleNoise: noise}
	q := face.Descriptor{}
	for _, n := range []int{1, 2, 5, 8} {
		g := New()
		for i := 0; i < n; i++ {
			// n photos on a circle whose centre, their centroid, is 0.48
			// from the query.
			x := at(0, 0.48)
			if n > 1 {
				a := 2 * math.Pi * float64(i) / float64(n)
				x[1], x[2] = float32(0.2*math.Cos(a)), float32(0.2*math.Sin(a))
			}
			must(t, g.Add("p", Sample{Descriptor: x}))
		}
		raw := face.Distance(q, centroid(g.People[0].Samples))
		want := raw
		if n > 2 {
			want = math.Sqrt(raw*raw + noise*(0.5-1/float64(n)))
		}
		m := g.Match(q, r)
		if math.Abs(m.Distance-want) > 1e-6 {
			t.Fatalf("%d samples: distance %.4f, want %.4f (raw %.4f)", n, m.Distance, want, raw)
		}
		if s := g.Scores(q, r); math.Abs(s[0].Score-want) > 1e-6 {
			t.Fatalf("%d samples: Scores %.4f, want %.4f", n, s[0].Score, want)
		}
		if n > 2 && !(m.Distance > raw) {
			t.Fatalf("%d samples: calibrated %.4f, raw %.4f", n, m.Distance, raw)
		}
		// 0.48 raw names the person with up to 5 photos, not with 8
		// (sqrt(0.48² + 0.06·(1/2 − 1/8)) = 0.503).
		if got, wantKnown := m.Known(), n <= 5; got != wantKnown {
			t.Fatalf("%d samples at raw %.3f: named %v (score %.4f)", n, raw, got, m.Distance)
		}
	}
	// People are ranked by raw distance; the calibrated score only judges
	// the threshold. An 8-photo person at 0.45 (scored 0.473) beats a
	// 1-photo one at 0.46; at 0.48 (scored 0.503) they are the nearest but
	// over the threshold, so the face is unknown rather than the 1-photo
	// person's at 0.49.
	circle := func(g *Gallery, name string, n int, dist float64) {
		for i := 0; i < n; i++ {
			x := at(0, dist)
			if n > 1 {
				a := 2 * math.Pi * float64(i) / float64(n)
				x[1], x[2] = float32(0.2*math.Cos(a)), float32(0.2*math.Sin(a))
			}
			must(t, g.Add(name, Sample{Descriptor: x}))
		}
	}
	for _, c := range []struct {
		many, one float64
		want      string
	}{{0.45, 0.46, "many"}, {0.48, 0.49, msg.Unknown}} {
		g := New()
		circle(g, "many", 8, c.many)
		one := at(3, c.one)
		must(t, g.Add("one", Sample{Descriptor: one}))
		m := g.Match(q, r)
		if m.Name != c.want || m.Candidate != "many" || math.Abs(m.Second-c.one) > 1e-6 {
			t.Fatalf("8 photos at %.2f, 1 at %.2f: %+v, want %s", c.many, c.one, m, c.want)
		}
		if s := g.Scores(q, r); s[0].Name != "many" || math.Abs(s[0].Distance-c.many) > 1e-6 || !(s[0].Score > s[0].Distance) {
			t.Fatalf("Scores: %+v", s)
		}
	}
	// Nearest-sample scoring ignores it.
	g := New()
	must(t, g.Add("p", Sample{Descriptor: at(0, 0.4)}))
	must(t, g.Add("p", Sample{Descriptor: at(0, 0.45)}))
	must(t, g.Add("p", Sample{Descriptor: at(0, 0.47)}))
	if m := g.Match(q, Rule{Threshold: 0.5, SampleNoise: noise}); math.Abs(m.Distance-0.4) > 1e-6 {
		t.Fatalf("nearest scoring: %+v", m)
	}
}
