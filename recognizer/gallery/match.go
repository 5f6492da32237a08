package gallery

import (
	"fmt"
	"math"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/msg"
)

// DefaultThreshold is the shipped distance threshold (with centroid
// scoring). dlib's usual 0.6 on the nearest photo names far too many
// strangers: on LFW with households of 10 enrolled people and 2 photos each
// (dlib's original ResNet, 68-point landmarks), 0.6 names 8.8 % of
// strangers; the centroid of a person's photos at 0.50 names 0.64 % of
// strangers while naming 95.0 % of the household's photos correctly (see the
// README's quality section and `facemon-recognizer eval`).
const DefaultThreshold = 0.50

// Strictness levels move along the measured curve with one setting
// (centroid scoring; LFW households of 10 people with 2 photos each).
var Strictness = map[string]float64{
	"relaxed":  0.54, // 97.0 % named, 2.35 % of strangers named
	"balanced": 0.50, // 95.0 % named, 0.64 % of strangers named (default)
	"strict":   0.46, // 88.1 % named, 0.17 % of strangers named
	"paranoid": 0.42, // 72.5 % named, 0.04 % of strangers named
}

// ThresholdFor returns the threshold of a strictness level.
func ThresholdFor(level string) (float64, error) {
	t, ok := Strictness[level]
	if !ok {
		return 0, fmt.Errorf("unknown strictness %q (want relaxed, balanced, strict or paranoid)", level)
	}
	return t, nil
}

// Rule decides whether a face belongs to a person.
//
// Each person is scored by the distance to the centroid (mean descriptor) of
// their samples when Centroid is set and they have two or more (the shipped
// rule), else by the distance to their nearest sample. The best-scoring
// person is named when the score is within their own threshold (or the
// global one), no negative of theirs is nearer than their nearest sample,
// and, when Margin > 0, the second-best person scores at least Margin
// worse. Votes counts the winner's samples within the threshold (capped at
// MaxVotes) and is reported for confidence only.
type Rule struct {
	Threshold float64 // global threshold (Euclidean); 0 means DefaultThreshold
	Margin    float64 // required gap to the second-best person; 0 disables
	MaxVotes  int     // cap on votes per person; 0 means 5
	// Centroid scores a person with two or more samples by the distance to
	// the mean of their descriptors instead of the nearest sample: the mean
	// is a steadier template, and a stranger's lucky near miss to one photo
	// counts for less.
	Centroid bool
	// SampleNoise (centroid scoring only) is the squared distance one
	// photo's own noise adds to a distance: about half the mean squared
	// distance between two photos of one person. A centroid of n photos
	// carries 1/n of it, so the more samples a person has the nearer
	// everyone, strangers too, comes to their centroid: at a fixed
	// threshold a person enrolled from 8 photos names twice as many
	// strangers as one enrolled from 2. With SampleNoise set, the score
	// the threshold judges for a person with n > 2 samples is the
	// distance the face would have to a centroid of 2 photos,
	// sqrt(d² + SampleNoise·(1/2 − 1/n)), so one threshold holds about one
	// stranger rate however many samples a person has. People are still
	// ranked by their raw distance d, and people with 1 or 2 samples are
	// scored by it (0: raw distances throughout): lowering a 1-photo
	// person's score too would name them more often, but on look-alikes
	// (the shared K-pop photos) it made them win against the right person.
	SampleNoise float64
}

// DefaultRule is the shipped decision rule.
var DefaultRule = Rule{Threshold: DefaultThreshold, Centroid: true, SampleNoise: DefaultSampleNoise}

// DefaultSampleNoise is the shipped Rule.SampleNoise, measured on the LFW
// households (TestHouseholdBurst): at 0.50 it names 0.42 % and 0.41 % of
// strangers for people enrolled from 3 and 5 photos, as 2 photos do
// (0.44 %), and 0.44 % from one burst of 5 while naming 97.8 % of the
// household (raw distances: 0.60 %, 0.69 % and 0.60 %).
const DefaultSampleNoise = 0.06

// Match is the decision for one face.
type Match struct {
	Name      string  // person, or msg.Unknown
	Distance  float64 // Candidate's score, the distance the threshold judged (PersonScore.Score)
	Votes     int     // Candidate's samples within threshold (capped)
	Candidate string  // nearest person, even when Name is unknown
	Second    float64 // distance of the second-nearest person (Inf if none)
}

// Known reports whether the face was named.
func (m Match) Known() bool { return m.Name != msg.Unknown }

// PersonScore is one person's distance to a face.
type PersonScore struct {
	Name      string
	Nearest   float64
	Within    int     // samples within the person's threshold
	Distance  float64 // what ranks people: Nearest, or the centroid distance
	Score     float64 // what the rule compares with the threshold: Distance, calibrated (Rule.SampleNoise)
	Threshold float64
	Vetoed    bool // nearer to a "not this person" face than to the person
}

// Scores returns every person's nearest distance to d, nearest first.
func (g *Gallery) Scores(d face.Descriptor, r Rule) []PersonScore {
	return NewIndex(g).Scores(d, r)
}

func centroid(ss []Sample) face.Descriptor {
	var sum [face.DescriptorLen]float64
	for _, s := range ss {
		for i, v := range s.Descriptor {
			sum[i] += float64(v)
		}
	}
	var c face.Descriptor
	for i := range sum {
		c[i] = float32(sum[i] / float64(len(ss)))
	}
	return c
}

// calibrated is the score of distance d to a centroid of n samples under
// SampleNoise (d itself for n <= 2).
func (r Rule) calibrated(d float64, n int) float64 {
	if r.SampleNoise <= 0 || !r.Centroid || n <= 2 {
		return d
	}
	return math.Sqrt(d*d + r.SampleNoise*(0.5-1/float64(n)))
}

func (r Rule) thresholdFor(p *Person) float64 {
	if p.Threshold > 0 {
		return p.Threshold
	}
	if r.Threshold > 0 {
		return r.Threshold
	}
	return DefaultThreshold
}

// Match decides who d is. It computes every person's centroid: to match
// many faces against one gallery, build an Index once.
func (g *Gallery) Match(d face.Descriptor, r Rule) Match {
	return NewIndex(g).Match(d, r)
}

// Decide applies the rule to per-person scores sorted nearest first.
func (r Rule) Decide(scores []PersonScore) Match {
	m := Match{Name: msg.Unknown, Distance: math.Inf(1), Second: math.Inf(1)}
	if len(scores) == 0 {
		return m
	}
	best := scores[0]
	m.Candidate, m.Distance = best.Name, best.Score
	maxVotes := r.MaxVotes
	if maxVotes <= 0 {
		maxVotes = 5
	}
	m.Votes = min(best.Within, maxVotes)
	if len(scores) > 1 {
		m.Second = scores[1].Distance
	}
	if best.Score > best.Threshold || best.Vetoed {
		return m
	}
	if r.Margin > 0 && m.Second-best.Distance < r.Margin {
		return m
	}
	m.Name = best.Name
	return m
}
