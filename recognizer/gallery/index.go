package gallery

import (
	"math"
	"sort"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/msg"
)

// Index is a gallery prepared for matching: each person's centroid is
// computed once, when the index is built, instead of on every match. It
// refers to the gallery's samples and does not follow later changes to
// the gallery: build a new one after every change (the pipeline does on
// SetGallery; the service's gallery writer changes a clone and sets it).
//
// Index.Match costs one distance per person (their centroid, or their
// only sample) plus one per sample and negative of the best-scoring
// person only, so it no longer grows with every person's samples; it
// gives the same Match as Rule.Decide over Scores.
type Index struct {
	people []indexed
}

type indexed struct {
	p        *Person
	centroid face.Descriptor // mean of the samples (people with two or more)
}

// NewIndex prepares g for matching. g must not change while the index is
// in use.
func NewIndex(g *Gallery) *Index {
	x := &Index{people: make([]indexed, 0, len(g.People))}
	for i := range g.People {
		p := &g.People[i]
		if len(p.Samples) == 0 {
			continue
		}
		ip := indexed{p: p}
		if len(p.Samples) > 1 {
			ip.centroid = centroid(p.Samples)
		}
		x.people = append(x.people, ip)
	}
	return x
}

// score is the distance that ranks people: the centroid distance
// (rule.Centroid, two or more samples) or the nearest sample's.
func (ip *indexed) score(d face.Descriptor, r Rule) float64 {
	if r.Centroid && len(ip.p.Samples) > 1 {
		return face.Distance(d, ip.centroid)
	}
	if len(ip.p.Samples) == 1 {
		return face.Distance(d, ip.p.Samples[0].Descriptor)
	}
	near, _ := ip.nearest(d, 0)
	return near
}

// nearest returns the nearest sample's distance and how many samples lie
// within thr.
func (ip *indexed) nearest(d face.Descriptor, thr float64) (float64, int) {
	near, within := math.Inf(1), 0
	for i := range ip.p.Samples {
		dist := face.Distance(d, ip.p.Samples[i].Descriptor)
		if dist < near {
			near = dist
		}
		if dist <= thr {
			within++
		}
	}
	return near, within
}

// full is the person's complete score.
func (ip *indexed) full(d face.Descriptor, r Rule) PersonScore {
	thr := r.thresholdFor(ip.p)
	ps := PersonScore{Name: ip.p.Name, Threshold: thr}
	ps.Nearest, ps.Within = ip.nearest(d, thr)
	ps.Distance = ps.Nearest
	if r.Centroid && len(ip.p.Samples) > 1 {
		ps.Distance = face.Distance(d, ip.centroid)
	}
	ps.Score = r.calibrated(ps.Distance, len(ip.p.Samples))
	for i := range ip.p.Negatives {
		if face.Distance(d, ip.p.Negatives[i].Descriptor) < ps.Nearest {
			ps.Vetoed = true
			break
		}
	}
	return ps
}

// Scores returns every person's score for d, nearest (by Distance) first.
func (x *Index) Scores(d face.Descriptor, r Rule) []PersonScore {
	out := make([]PersonScore, len(x.people))
	for i := range x.people {
		out[i] = x.people[i].full(d, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Distance < out[j].Distance })
	return out
}

// Match decides who d is: r.Decide(x.Scores(d, r)) without scoring every
// sample of every person. (On an exact tie of two people's scores the one
// first in the gallery's order wins.)
func (x *Index) Match(d face.Descriptor, r Rule) Match {
	m := Match{Name: msg.Unknown, Distance: math.Inf(1), Second: math.Inf(1)}
	best, bestScore := -1, math.Inf(1)
	for i := range x.people {
		s := x.people[i].score(d, r)
		switch {
		case best < 0 || s < bestScore:
			if best >= 0 {
				m.Second = bestScore
			}
			best, bestScore = i, s
		case s < m.Second:
			m.Second = s
		}
	}
	if best < 0 {
		return m
	}
	ps := x.people[best].full(d, r)
	second := m.Second
	m = r.Decide([]PersonScore{ps})
	m.Second = second
	if m.Known() && r.Margin > 0 && second-ps.Distance < r.Margin {
		m.Name = msg.Unknown
	}
	return m
}
