package gallery

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/facemon/facemon/recognizer/face"
)

// refScores is Gallery.Scores as it was before the Index (every person's
// centroid recomputed on every call): the reference the Index must agree
// with, and the "old" side of BenchmarkMatch.
func refScores(g *Gallery, d face.Descriptor, r Rule) []PersonScore {
	out := make([]PersonScore, 0, len(g.People))
	for _, p := range g.People {
		if len(p.Samples) == 0 {
			continue
		}
		thr := r.thresholdFor(&p)
		ps := PersonScore{Name: p.Name, Nearest: math.Inf(1), Threshold: thr}
		for i := range p.Samples {
			dist := face.Distance(d, p.Samples[i].Descriptor)
			if dist < ps.Nearest {
				ps.Nearest = dist
			}
			if dist <= thr {
				ps.Within++
			}
		}
		ps.Distance = ps.Nearest
		if r.Centroid && len(p.Samples) > 1 {
			ps.Distance = face.Distance(d, centroid(p.Samples))
		}
		ps.Score = ps.Distance
		if n := float64(len(p.Samples)); r.Centroid && r.SampleNoise > 0 && n > 2 {
			ps.Score = math.Sqrt(ps.Distance*ps.Distance + r.SampleNoise*(0.5-1/n))
		}
		for i := range p.Negatives {
			if face.Distance(d, p.Negatives[i].Descriptor) < ps.Nearest {
				ps.Vetoed = true
				break
			}
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Distance < out[j].Distance })
	return out
}

func refMatch(g *Gallery, d face.Descriptor, r Rule) Match { return r.Decide(refScores(g, d, r)) }

// synth makes a gallery shaped like a dlib one: people's centres about
// 0.9 apart, their photos about 0.4 from each other (dlib's same-person
// distances on LFW), some per-person thresholds and negatives, a person
// with one photo; and queries: new photos of the people and strangers.
func synth(rng *rand.Rand, people, perPerson int) (*Gallery, []face.Descriptor) {
	noise := func(c face.Descriptor, s float64) face.Descriptor {
		for i := range c {
			c[i] += float32(rng.NormFloat64() * s)
		}
		return c
	}
	g := New()
	var centres []face.Descriptor
	var queries []face.Descriptor
	for p := 0; p < people; p++ {
		c := noise(face.Descriptor{}, 0.056)
		centres = append(centres, c)
		n := perPerson
		if p == 1 {
			n = 1
		}
		for s := 0; s < n; s++ {
			g.Add(fmt.Sprintf("p%03d", p), Sample{Descriptor: noise(c, 0.025), Source: fmt.Sprintf("p%03d/%d.jpg", p, s)})
		}
		queries = append(queries, noise(c, 0.025), noise(c, 0.035))
	}
	for i := range g.People {
		switch i % 4 {
		case 1:
			g.People[i].Threshold = 0.42
		case 2:
			// a "not this person" face near this person (a lookalike)
			g.People[i].Negatives = []Sample{{Descriptor: noise(g.People[i].Samples[0].Descriptor, 0.02)}}
		}
	}
	for s := 0; s < people; s++ {
		queries = append(queries, noise(face.Descriptor{}, 0.056)) // strangers
		// halfway between two people
		a, b := centres[rng.IntN(len(centres))], centres[rng.IntN(len(centres))]
		var m face.Descriptor
		for i := range m {
			m[i] = (a[i] + b[i]) / 2
		}
		queries = append(queries, noise(m, 0.01))
	}
	g.People = append(g.People, Person{Name: "empty"}) // no samples: never scored
	return g, queries
}

var testRules = []Rule{
	DefaultRule,
	{Threshold: 0.6},
	{Threshold: 0.5, Centroid: true, Margin: 0.05},
	{Threshold: 0.45, Centroid: true, MaxVotes: 3},
	{},
}

// TestIndexAgreesWithReference: the Index gives exactly the old answers
// (Match and Scores, every field) on thousands of queries.
func TestIndexAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	named := 0
	for _, shape := range [][2]int{{1, 1}, {2, 3}, {10, 1}, {10, 2}, {10, 10}, {30, 5}, {100, 10}} {
		g, queries := synth(rng, shape[0], shape[1])
		x := NewIndex(g)
		for _, r := range testRules {
			for qi, q := range queries {
				want, got := refMatch(g, q, r), x.Match(q, r)
				if !reflect.DeepEqual(want, got) {
					t.Fatalf("%v people x %v, rule %+v, query %d: Index.Match %+v, reference %+v", shape[0], shape[1], r, qi, got, want)
				}
				if gm := g.Match(q, r); !reflect.DeepEqual(want, gm) {
					t.Fatalf("Gallery.Match %+v, reference %+v", gm, want)
				}
				if ws, gs := refScores(g, q, r), x.Scores(q, r); !reflect.DeepEqual(ws, gs) {
					t.Fatalf("Scores differ: %+v vs %+v", gs, ws)
				}
				if got.Known() {
					named++
				}
			}
		}
	}
	if named == 0 {
		t.Fatal("no query was named: the synthetic set tests nothing")
	}
	if got := NewIndex(New()).Match(face.Descriptor{}, DefaultRule); got != refMatch(New(), face.Descriptor{}, DefaultRule) {
		t.Errorf("empty gallery: %+v", got)
	}
}

// BenchmarkMatch compares the old Scores+Decide (every centroid per match)
// with a prebuilt Index, on 10 people with 10, 100 and 1000 samples in all.
func BenchmarkMatch(b *testing.B) {
	for _, samples := range []int{10, 100, 1000} {
		rng := rand.New(rand.NewPCG(3, 4))
		g, queries := synth(rng, 10, samples/10)
		x := NewIndex(g)
		b.Run(fmt.Sprintf("samples=%d/old", samples), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				refMatch(g, queries[i%len(queries)], DefaultRule)
			}
		})
		b.Run(fmt.Sprintf("samples=%d/index", samples), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				x.Match(queries[i%len(queries)], DefaultRule)
			}
		})
	}
}
