package eval

import (
	"math/rand"
	"sort"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/shared/msg"
)

// ConfirmedSetup is the "one photo plus N confirmed crops" household
// protocol (issue 20.3): how much accepting suggestions from confirmed
// tracks adds to a one-photo enrolment.
//
// Each round enrols n random people (those with at least 3 images) from
// one photo each. Each enrolled person's other photos are split at random:
// half (at least one) pass the camera, the rest are the queries. The
// people not enrolled are split in two: half pass the camera too
// (visitors), half are the stranger queries. Every camera photo is matched
// against the one-photo gallery with Confirm (the live rule); a photo it
// names X is offered as a suggestion of X, whoever it really is (the
// ground truth never picks the offers, as on a camera: a visitor named X
// is a wrong suggestion of X), unless it is a near-duplicate (nearer than
// MinDistance) of X's samples or of an offer of X already accepted. The
// first N offers of each person, in camera order, are accepted (a person
// clicking Accept on each, without judging them). Queries and strangers
// are then matched with each rule, for each N on the same rounds.
type ConfirmedSetup struct {
	People, Rounds int
	Ns             []int // crops accepted per person, e.g. 0, 1, 3, 5
	Confirm        gallery.Rule
	MinDistance    float64
	Seed           int64
}

// ConfirmedResult is one N's outcome per rule, and what was accepted.
type ConfirmedResult struct {
	N      int
	Points []Point
	// Accepted crops summed over rounds; Wrong of them were of someone
	// else (a visitor or another enrolled person named X by the gallery).
	Accepted, Wrong int
	// Offered counts the camera photos the gallery named (before the N cut
	// and near-duplicates); Duplicates the near-duplicates skipped.
	Offered, Duplicates int
}

// HouseholdConfirmed runs the protocol over rules.
func HouseholdConfirmed(items []Item, s ConfirmedSetup, rules []gallery.Rule) []ConfirmedResult {
	rnd := rand.New(rand.NewSource(s.Seed))
	people := ByPerson(items)
	var eligible []string
	for name, imgs := range people {
		if len(imgs) >= 3 {
			eligible = append(eligible, name)
		}
	}
	sort.Strings(eligible)
	out := make([]ConfirmedResult, len(s.Ns))
	for i, n := range s.Ns {
		out[i].N = n
		out[i].Points = make([]Point, len(rules))
		for j, r := range rules {
			out[i].Points[j].Rule = r
		}
	}
	if len(eligible) < s.People {
		return out
	}
	for round := 0; round < s.Rounds; round++ {
		g, chosen, rest := enrolRound(rnd, eligible, people, s.People, 1, nil, nil)
		var camera, queries []Item
		for _, name := range sortedKeys(rest) {
			imgs := rest[name] // shuffled by enrolRound
			h := max(1, len(imgs)/2)
			camera = append(camera, imgs[:h]...)
			queries = append(queries, imgs[h:]...)
		}
		var others []string
		for _, name := range sortedKeys(people) {
			if !chosen[name] {
				others = append(others, name)
			}
		}
		rnd.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		var strangers []Item
		for i, name := range others {
			if i%2 == 0 {
				camera = append(camera, people[name]...)
			} else {
				strangers = append(strangers, people[name]...)
			}
		}
		rnd.Shuffle(len(camera), func(i, j int) { camera[i], camera[j] = camera[j], camera[i] })
		// The offers, in camera order, per person named.
		idx := gallery.NewIndex(g)
		offers := map[string][]Item{}
		for _, c := range camera {
			if m := idx.Match(c.Desc, s.Confirm); m.Known() {
				offers[m.Name] = append(offers[m.Name], c)
			}
		}
		for i, n := range s.Ns {
			res := &out[i]
			gn := g.Clone()
			for _, name := range sortedKeys(offers) {
				taken := 0
				for _, c := range offers[name] {
					res.Offered++
					if taken >= n {
						continue
					}
					if nearest(gn.Person(name), c.Desc) < s.MinDistance {
						res.Duplicates++
						continue
					}
					gn.Add(name, gallery.Sample{Descriptor: c.Desc, Source: c.Source})
					taken++
					res.Accepted++
					if c.Person != name {
						res.Wrong++
					}
				}
			}
			ix := gallery.NewIndex(gn)
			for j, r := range rules {
				for _, q := range queries {
					res.Points[j].Enrolled.Add(q.Person, ix.Match(q.Desc, r))
				}
				for _, q := range strangers {
					res.Points[j].Strangers.Add(msg.Unknown, ix.Match(q.Desc, r))
				}
			}
		}
	}
	return out
}

func nearest(p *gallery.Person, d face.Descriptor) float64 {
	best := 1e9
	if p == nil {
		return best
	}
	for _, s := range p.Samples {
		if x := face.Distance(s.Descriptor, d); x < best {
			best = x
		}
	}
	return best
}
