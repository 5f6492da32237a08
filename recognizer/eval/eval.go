// Package eval measures recognition quality on labelled descriptors:
// leave-one-out identification, open-set identification with strangers
// across operating points, and LFW pair verification with k-fold
// cross-validation. Pure Go: descriptors come from a trained gallery.
package eval

import (
	"fmt"
	"io"
	"math"
	"math/rand"
	"sort"
	"strings"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/pipeline"
	"github.com/facemon/facemon/shared/msg"
)

// Item is one labelled face.
type Item struct {
	Person string
	Source string // dataset-relative image path
	Desc   face.Descriptor
}

// FromGallery lists every sample of g as an item.
func FromGallery(g *gallery.Gallery) []Item {
	var out []Item
	for _, p := range g.People {
		for _, s := range p.Samples {
			out = append(out, Item{Person: p.Name, Source: s.Source, Desc: s.Descriptor})
		}
	}
	return out
}

// ByPerson groups items by person, sorted by source for determinism.
func ByPerson(items []Item) map[string][]Item {
	m := map[string][]Item{}
	for _, it := range items {
		m[it.Person] = append(m[it.Person], it)
	}
	for _, v := range m {
		sort.Slice(v, func(i, j int) bool { return v[i].Source < v[j].Source })
	}
	return m
}

// Outcome counts decisions.
type Outcome struct {
	Queries, Correct, Wrong, Rejected int
	// Mistakes lists wrong names ("source: named X at d"), for reports.
	Mistakes []string
}

// Add records one decision for a query of person want.
func (o *Outcome) Add(want string, m gallery.Match) { o.add(want, "", m) }

func (o *Outcome) add(want, source string, m gallery.Match) {
	o.Queries++
	switch {
	case m.Name == want:
		o.Correct++
	case m.Known():
		o.Wrong++
		if source != "" && len(o.Mistakes) < 50 {
			o.Mistakes = append(o.Mistakes, fmt.Sprintf("%s: named %s at %.3f", source, m.Name, m.Distance))
		}
	default:
		o.Rejected++
	}
}

// Rate returns n / Queries.
func (o Outcome) Rate(n int) float64 {
	if o.Queries == 0 {
		return 0
	}
	return float64(n) / float64(o.Queries)
}

// LeaveOneOut queries each image of every person with at least minImages
// images against a gallery of all other images, and queries every image of
// each person against a gallery without that person (a stranger). It
// returns the enrolled and the stranger outcomes.
func LeaveOneOut(items []Item, minImages int, rule gallery.Rule) (enrolled, strangers Outcome) {
	people := ByPerson(items)
	for name, imgs := range people {
		if len(imgs) >= minImages {
			for i := range imgs {
				g := build(people, func(p string, j int) bool { return !(p == name && j == i) })
				enrolled.add(name, imgs[i].Source, g.Match(imgs[i].Desc, rule))
			}
		}
		g := build(people, func(p string, _ int) bool { return p != name })
		for _, it := range imgs {
			strangers.add(msg.Unknown, it.Source, g.Match(it.Desc, rule))
		}
	}
	return enrolled, strangers
}

func build(people map[string][]Item, keep func(person string, i int) bool) *gallery.Gallery {
	g := gallery.New()
	for name, imgs := range people {
		for i, it := range imgs {
			if keep(name, i) {
				g.Add(name, gallery.Sample{Descriptor: it.Desc, Source: it.Source})
			}
		}
	}
	return g
}

// Split is an open-set protocol: K enrolment images for each person with
// more than K images, the rest of their images as queries, and everyone with
// K or fewer images (plus impostors) as strangers.
type Split struct {
	Gallery   *gallery.Gallery
	Queries   []Item // enrolled people's other images
	Strangers []Item
}

// MakeSplit builds a split with enrolment size k. Enrolment images are
// chosen with a seeded shuffle so runs are reproducible.
func MakeSplit(items []Item, k int, impostors []Item, seed int64) Split {
	rnd := rand.New(rand.NewSource(seed))
	people := ByPerson(items)
	names := make([]string, 0, len(people))
	for n := range people {
		names = append(names, n)
	}
	sort.Strings(names)
	s := Split{Gallery: gallery.New()}
	for _, n := range names {
		imgs := append([]Item(nil), people[n]...)
		if len(imgs) <= k {
			s.Strangers = append(s.Strangers, imgs...)
			continue
		}
		rnd.Shuffle(len(imgs), func(i, j int) { imgs[i], imgs[j] = imgs[j], imgs[i] })
		for _, it := range imgs[:k] {
			s.Gallery.Add(n, gallery.Sample{Descriptor: it.Desc, Source: it.Source})
		}
		s.Queries = append(s.Queries, imgs[k:]...)
	}
	s.Strangers = append(s.Strangers, impostors...)
	return s
}

// Point is one operating point of a rule.
type Point struct {
	Rule      gallery.Rule
	Enrolled  Outcome // queries of enrolled people
	Strangers Outcome // stranger queries (Correct = stayed unknown)
}

// FAR is the share of strangers given a name.
func (p Point) FAR() float64 { return p.Strangers.Rate(p.Strangers.Wrong) }

// Evaluate runs the rule over a split.
func Evaluate(s Split, r gallery.Rule) Point {
	p := Point{Rule: r}
	for _, q := range s.Queries {
		p.Enrolled.Add(q.Person, s.Gallery.Match(q.Desc, r))
	}
	for _, q := range s.Strangers {
		p.Strangers.Add(msg.Unknown, s.Gallery.Match(q.Desc, r))
	}
	return p
}

// Sweep evaluates rules with thresholds from lo to hi in steps, on top of base.
func Sweep(s Split, base gallery.Rule, lo, hi, step float64) []Point {
	var out []Point
	for t := lo; t <= hi+1e-9; t += step {
		r := base
		r.Threshold = math.Round(t*1000) / 1000
		out = append(out, Evaluate(s, r))
	}
	return out
}

// PrintCurve writes a table of operating points.
func PrintCurve(w io.Writer, title string, pts []Point) {
	fmt.Fprintf(w, "%s\n", title)
	fmt.Fprintf(w, "  %-9s %-7s %9s %9s %9s %12s\n", "threshold", "margin", "correct", "wrong", "rejected", "stranger-FAR")
	// (Rule.Centroid is shown in the title.)
	for _, p := range pts {
		fmt.Fprintf(w, "  %-9.3f %-7.3f %8.1f%% %8.1f%% %8.1f%% %11.2f%%\n", p.Rule.Threshold, p.Rule.Margin,
			100*p.Enrolled.Rate(p.Enrolled.Correct), 100*p.Enrolled.Rate(p.Enrolled.Wrong),
			100*p.Enrolled.Rate(p.Enrolled.Rejected), 100*p.FAR())
	}
	fmt.Fprintln(w, "  (correct/wrong/rejected over enrolled people's queries; stranger-FAR = strangers given a name)")
}

// Pair is one LFW verification pair.
type Pair struct {
	A, B face.Descriptor
	Same bool
	Fold int
}

// PairAccuracy runs k-fold cross-validation: for each fold, the threshold
// with the best accuracy on the other folds is applied to the fold. It
// returns the mean and standard deviation of the fold accuracies and the
// mean chosen threshold.
func PairAccuracy(pairs []Pair) (mean, std, thr float64, folds int) {
	byFold := map[int][]Pair{}
	for _, p := range pairs {
		byFold[p.Fold] = append(byFold[p.Fold], p)
	}
	var accs []float64
	for f, test := range byFold {
		var train []Pair
		for g, ps := range byFold {
			if g != f {
				train = append(train, ps...)
			}
		}
		t := bestThreshold(train)
		thr += t
		accs = append(accs, accuracy(test, t))
	}
	n := float64(len(accs))
	if n == 0 {
		return 0, 0, 0, 0
	}
	for _, a := range accs {
		mean += a
	}
	mean /= n
	for _, a := range accs {
		std += (a - mean) * (a - mean)
	}
	return mean, math.Sqrt(std / n), thr / n, len(accs)
}

func accuracy(ps []Pair, t float64) float64 {
	ok := 0
	for _, p := range ps {
		if (face.Distance(p.A, p.B) <= t) == p.Same {
			ok++
		}
	}
	return float64(ok) / float64(len(ps))
}

func bestThreshold(ps []Pair) float64 {
	best, bestAcc := 0.6, -1.0
	for t := 0.30; t <= 0.80; t += 0.005 {
		if a := accuracy(ps, t); a > bestAcc {
			best, bestAcc = t, a
		}
	}
	return best
}

// ParsePairs reads LFW's pairs.tsv (img1, img2, same, fold; header line).
func ParsePairs(r io.Reader) ([][4]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out [][4]string
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(strings.TrimRight(line, "\r"), "\t")
		if i == 0 && len(f) > 0 && f[0] == "img1" {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("pairs line %d: want 4 tab-separated fields, got %d", i+1, len(f))
		}
		out = append(out, [4]string{f[0], f[1], f[2], f[3]})
	}
	return out, nil
}

// Household evaluates the rule on many small galleries, as a home
// installation has: each round enrols n random people (k images each) from
// those with more than k images, queries with their other images, and uses
// every image of everyone not enrolled that round as a stranger. Outcomes
// are summed over the rounds.
func Household(items []Item, n, k, rounds int, rules []gallery.Rule, seed int64) []Point {
	return HouseholdEnrolledAs(items, n, k, rounds, rules, seed, nil)
}

// HouseholdEnrolledAs is Household with the enrolled photos described by
// enrol (by Item.Source; a photo it lacks keeps its Desc) while queries
// keep theirs: e.g. jittered descriptors (dlib num_jitters) for the
// enrolment photos, plain ones for the live faces. Same seed, same rounds.
func HouseholdEnrolledAs(items []Item, n, k, rounds int, rules []gallery.Rule, seed int64, enrol map[string]face.Descriptor) []Point {
	return household(items, n, k, rounds, rules, seed, enrol, nil)
}

// HouseholdSelected is Household where each enrolled person's k photos
// are one enrolment burst and only those pick returns are enrolled (e.g.
// the frames quality.SelectBurst keeps); the queries are the person's
// other photos either way, so with the same seed it compares with
// Household (all k enrolled) on the same households and queries.
func HouseholdSelected(items []Item, n, k, rounds int, rules []gallery.Rule, seed int64, pick func(burst []Item) []Item) []Point {
	return household(items, n, k, rounds, rules, seed, nil, pick)
}

func household(items []Item, n, k, rounds int, rules []gallery.Rule, seed int64, enrol map[string]face.Descriptor, pick func([]Item) []Item) []Point {
	rnd := rand.New(rand.NewSource(seed))
	people := ByPerson(items)
	var eligible []string
	for name, imgs := range people {
		if len(imgs) > k {
			eligible = append(eligible, name)
		}
	}
	sort.Strings(eligible)
	pts := make([]Point, len(rules))
	for i, r := range rules {
		pts[i].Rule = r
	}
	if len(eligible) < n {
		return pts
	}
	for round := 0; round < rounds; round++ {
		g, chosen, rest := enrolRound(rnd, eligible, people, n, k, enrol, pick)
		var queries []Item
		for _, name := range sortedKeys(rest) {
			queries = append(queries, rest[name]...)
		}
		var strangers []Item
		for name, imgs := range people {
			if !chosen[name] {
				strangers = append(strangers, imgs...)
			}
		}
		for i, r := range rules {
			for _, q := range queries {
				pts[i].Enrolled.Add(q.Person, g.Match(q.Desc, r))
			}
			for _, q := range strangers {
				pts[i].Strangers.Add(msg.Unknown, g.Match(q.Desc, r))
			}
		}
	}
	return pts
}

// Grid returns rules for thresholds lo..hi (step) and the given margins.
func Grid(lo, hi, step float64, margins []float64) []gallery.Rule {
	var out []gallery.Rule
	for _, m := range margins {
		for t := lo; t <= hi+1e-9; t += step {
			out = append(out, gallery.Rule{Threshold: math.Round(t*1000) / 1000, Margin: m})
		}
	}
	return out
}

// Tracks compares two ways of naming a track (several faces of one person
// in a row, as the pipeline's tracker collects them) on household
// galleries: Mean matches the mean of the track's descriptors once;
// Vote matches each face and names the track when agree of them name the
// same person (the pipeline's --track-agree rule over the track's
// attempts). Each round enrols n random people with k images each (of
// those with at least k+size images), makes one track of size other
// images per enrolled person, and one track of size images per stranger
// (everyone else with at least size images). Hybrid is the pipeline's
// rule: the vote, or else the mean naming someone whom at least
// pipeline.MeanVotes(agree) of the faces name too.
func Tracks(items []Item, n, k, size, agree, rounds int, r gallery.Rule, seed int64) (mean, vote, hybrid Point) {
	rnd := rand.New(rand.NewSource(seed))
	people := ByPerson(items)
	var eligible, strangerPool []string
	for name, imgs := range people {
		if len(imgs) >= k+size {
			eligible = append(eligible, name)
		}
		if len(imgs) >= size {
			strangerPool = append(strangerPool, name)
		}
	}
	sort.Strings(eligible)
	sort.Strings(strangerPool)
	mean.Rule, vote.Rule, hybrid.Rule = r, r, r
	if len(eligible) < n || size < 1 || agree < 1 || agree > size {
		return mean, vote, hybrid
	}
	decide := func(g *gallery.Gallery, want string, track []Item, enrolled bool) {
		var sum [face.DescriptorLen]float64
		votes := map[string]int{}
		for _, it := range track {
			for i, v := range it.Desc {
				sum[i] += float64(v)
			}
			if m := g.Match(it.Desc, r); m.Known() {
				votes[m.Name]++
			}
		}
		var md face.Descriptor
		for i := range md {
			md[i] = float32(sum[i] / float64(len(track)))
		}
		vm := gallery.Match{Name: msg.Unknown}
		for name, c := range votes {
			if c >= agree && (vm.Name == msg.Unknown || c > votes[vm.Name]) {
				vm.Name = name
			}
		}
		mm := g.Match(md, r)
		hm := vm
		if hm.Name == msg.Unknown && mm.Known() && votes[mm.Name] >= pipeline.MeanVotes(agree) {
			hm = mm
		}
		if enrolled {
			mean.Enrolled.Add(want, mm)
			vote.Enrolled.Add(want, vm)
			hybrid.Enrolled.Add(want, hm)
		} else {
			mean.Strangers.Add(msg.Unknown, mm)
			vote.Strangers.Add(msg.Unknown, vm)
			hybrid.Strangers.Add(msg.Unknown, hm)
		}
	}
	for round := 0; round < rounds; round++ {
		g, chosen, rest := enrolRound(rnd, eligible, people, n, k, nil, nil)
		for _, name := range sortedKeys(rest) {
			decide(g, name, rest[name][:size], true)
		}
		for _, name := range strangerPool {
			if chosen[name] {
				continue
			}
			imgs := append([]Item(nil), people[name]...)
			rnd.Shuffle(len(imgs), func(i, j int) { imgs[i], imgs[j] = imgs[j], imgs[i] })
			decide(g, msg.Unknown, imgs[:size], false)
		}
	}
	return mean, vote, hybrid
}

// enrolRound picks n of the eligible people at random and enrols k random
// images of each; rest holds each chosen person's other images (shuffled).
func enrolRound(rnd *rand.Rand, eligible []string, people map[string][]Item, n, k int, enrol map[string]face.Descriptor, pick func([]Item) []Item) (g *gallery.Gallery, chosen map[string]bool, rest map[string][]Item) {
	g, chosen, rest = gallery.New(), map[string]bool{}, map[string][]Item{}
	for _, pi := range rnd.Perm(len(eligible))[:n] {
		name := eligible[pi]
		chosen[name] = true
		imgs := append([]Item(nil), people[name]...)
		rnd.Shuffle(len(imgs), func(i, j int) { imgs[i], imgs[j] = imgs[j], imgs[i] })
		burst := imgs[:k]
		if pick != nil {
			burst = pick(append([]Item(nil), burst...))
		}
		for _, it := range burst {
			d := it.Desc
			if e, ok := enrol[it.Source]; ok {
				d = e
			}
			g.Add(name, gallery.Sample{Descriptor: d, Source: it.Source})
		}
		rest[name] = imgs[k:]
	}
	return g, chosen, rest
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
