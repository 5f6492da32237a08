// Package gallery holds the enrolled people and their face descriptors, and
// decides who a face is. Pure Go: it tests without cgo.
package gallery

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/shared/fsx"
	"github.com/facemon/facemon/shared/msg"
)

// Version of the gallery file format.
const Version = 1

// Sample is one enrolled face.
type Sample struct {
	Descriptor face.Descriptor `json:"descriptor"`
	Source     string          `json:"source"`         // image path relative to the dataset
	Hash       string          `json:"hash,omitempty"` // sha256 of the image bytes
	Box        [4]int          `json:"box"`
	// Problems lists failed quality checks (blurry, small, turned, badly lit).
	Problems []string `json:"problems,omitempty"`
}

// Person is one enrolled identity.
type Person struct {
	Name string `json:"name"`
	// Threshold overrides the global distance threshold for this person when > 0.
	Threshold float64  `json:"threshold,omitempty"`
	Samples   []Sample `json:"samples"`
	// Negatives are faces a user marked "not this person": a query nearer
	// to one of them than to the person's own samples is not given the name.
	Negatives []Sample `json:"negatives,omitempty"`
}

// Gallery is the set of enrolled people, as stored in the gallery file.
type Gallery struct {
	V       int       `json:"v"`
	Model   string    `json:"model"`
	Updated time.Time `json:"updated"`
	People  []Person  `json:"people"`
	// NoFace lists dataset images (by content hash) in which no face was
	// found, so re-training does not search them again (the CNN fallback is
	// slow).
	NoFace []NoFace `json:"no_face,omitempty"`
}

// NoFace is a dataset image without a usable face.
type NoFace struct {
	Source string `json:"source"`
	Hash   string `json:"hash"`
	// Detector is the scan that found no face (face.Analyzer.ScanKey); the
	// verdict is reused only by a run with the same one (empty: an older
	// gallery's, never reused).
	Detector string `json:"detector,omitempty"`
}

// Model names the descriptor model galleries are made with.
const Model = "dlib_face_recognition_resnet_model_v1"

// New returns an empty gallery.
func New() *Gallery { return &Gallery{V: Version, Model: Model} }

// Person returns the named person, or nil.
func (g *Gallery) Person(name string) *Person {
	for i := range g.People {
		if g.People[i].Name == name {
			return &g.People[i]
		}
	}
	return nil
}

// Add appends a sample to a person, creating the person when new.
func (g *Gallery) Add(name string, s Sample) error {
	if !msg.ValidName(name) {
		return fmt.Errorf("gallery: %q: %w", name, msg.ErrBadName)
	}
	if p := g.Person(name); p != nil {
		p.Samples = append(p.Samples, s)
		return nil
	}
	g.People = append(g.People, Person{Name: name, Samples: []Sample{s}})
	g.sort()
	return nil
}

// AddUnique adds a sample unless the person already has one with the same
// content hash (or, without a hash, the same source); it reports whether it
// added. Replaying an enrolment onto a gallery trained from a dataset that
// already held the image therefore does not count the image twice.
func (g *Gallery) AddUnique(name string, s Sample) (bool, error) {
	if p := g.Person(name); p != nil && p.has(s) {
		return false, nil
	}
	return true, g.Add(name, s)
}

func (p *Person) has(s Sample) bool {
	for _, o := range p.Samples {
		if (s.Hash != "" && o.Hash == s.Hash) || (s.Hash == "" && o.Source == s.Source) {
			return true
		}
	}
	return false
}

// Rename renames a person and rewrites their samples' dataset paths
// (from/x.jpg becomes to/x.jpg). When to already exists (a gallery trained
// while the dataset folder was being renamed) the samples are merged into
// it, without duplicates, and from's threshold and negatives are kept where
// to has none.
func (g *Gallery) Rename(from, to string) error {
	if !msg.ValidName(to) {
		return fmt.Errorf("gallery: %q: %w", to, msg.ErrBadName)
	}
	p := g.Person(from)
	if p == nil {
		return fmt.Errorf("gallery: no person %q", from)
	}
	moved := *p
	moved.Samples = append([]Sample(nil), p.Samples...)
	for i := range moved.Samples {
		if rel := moved.Samples[i].Source; strings.HasPrefix(rel, from+"/") {
			moved.Samples[i].Source = to + rel[len(from):]
		}
	}
	g.Remove(from)
	if q := g.Person(to); q != nil {
		for _, s := range moved.Samples {
			if !q.has(s) {
				q.Samples = append(q.Samples, s)
			}
		}
		if q.Threshold == 0 {
			q.Threshold = moved.Threshold
		}
		if len(q.Negatives) == 0 {
			q.Negatives = moved.Negatives
		}
		return nil
	}
	moved.Name = to
	g.People = append(g.People, moved)
	g.sort()
	return nil
}

// AddNegative records that the face d is not the named person.
func (g *Gallery) AddNegative(name string, s Sample) error {
	p := g.Person(name)
	if p == nil {
		return fmt.Errorf("gallery: no person %q", name)
	}
	p.Negatives = append(p.Negatives, s)
	return nil
}

// Remove deletes a person; it reports whether the person existed.
func (g *Gallery) Remove(name string) bool {
	for i := range g.People {
		if g.People[i].Name == name {
			g.People = append(g.People[:i], g.People[i+1:]...)
			return true
		}
	}
	return false
}

// Counts returns the number of people and of samples.
func (g *Gallery) Counts() (people, samples int) {
	for _, p := range g.People {
		samples += len(p.Samples)
	}
	return len(g.People), samples
}

func (g *Gallery) sort() {
	sort.Slice(g.People, func(i, j int) bool { return g.People[i].Name < g.People[j].Name })
}

// Validate checks a loaded gallery.
func (g *Gallery) Validate() error {
	if g.V != Version {
		return fmt.Errorf("gallery: unsupported version %d (want %d)", g.V, Version)
	}
	if g.Model != "" && g.Model != Model {
		return fmt.Errorf("gallery: made with model %q, this recognizer uses %q: re-train", g.Model, Model)
	}
	seen := map[string]bool{}
	for _, p := range g.People {
		if !msg.ValidName(p.Name) {
			return fmt.Errorf("gallery: person %q: %w", p.Name, msg.ErrBadName)
		}
		if seen[p.Name] {
			return fmt.Errorf("gallery: person %q listed twice", p.Name)
		}
		seen[p.Name] = true
		if p.Threshold < 0 || p.Threshold > 2 || math.IsNaN(p.Threshold) {
			return fmt.Errorf("gallery: person %q: threshold %v out of range [0,2]", p.Name, p.Threshold)
		}
		for i, s := range p.Samples {
			for _, v := range s.Descriptor {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("gallery: person %q sample %d: descriptor has NaN/Inf", p.Name, i)
				}
			}
		}
	}
	return nil
}

// Load reads a gallery file. A missing file is an error wrapping
// os.ErrNotExist.
func Load(path string) (*Gallery, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gallery: %w", err)
	}
	g := New()
	if err := json.Unmarshal(b, g); err != nil {
		return nil, fmt.Errorf("gallery %s: %w", path, err)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	g.sort()
	return g, nil
}

// Decode parses and validates a gallery document (the file's JSON).
func Decode(b []byte) (*Gallery, error) {
	g := New()
	if err := json.Unmarshal(b, g); err != nil {
		return nil, fmt.Errorf("gallery: %w", err)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	g.sort()
	return g, nil
}

// Encode returns the gallery document Save writes.
func (g *Gallery) Encode() ([]byte, error) {
	g.V, g.Model, g.Updated = Version, Model, time.Now().UTC()
	g.sort()
	return json.Marshal(g)
}

// LoadOrEmpty loads path, or returns an empty gallery when it does not exist.
func LoadOrEmpty(path string) (*Gallery, error) {
	g, err := Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return New(), nil
	}
	return g, err
}

// Save writes the gallery atomically (0600: face templates are biometric
// data): a temp file in the same directory,
// fsync, rename, fsync of the directory. Readers see the old or the new file,
// never a partial one.
func (g *Gallery) Save(path string) error {
	g.V, g.Model, g.Updated = Version, Model, time.Now().UTC()
	g.sort()
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return fsx.WriteFileAtomic(path, b, 0o600) // face templates: biometric data
}

// Clone returns a copy that can be changed without affecting g (which may be
// in use by matchers).
func (g *Gallery) Clone() *Gallery {
	c := *g
	c.People = make([]Person, len(g.People))
	for i, p := range g.People {
		p.Samples = append([]Sample(nil), p.Samples...)
		p.Negatives = append([]Sample(nil), p.Negatives...)
		c.People[i] = p
	}
	return &c
}
