// Package train builds a gallery from a dataset folder of <name>/*.jpg|png,
// one encoding per image, re-encoding only images whose content changed.
package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/quality"
	"github.com/facemon/facemon/shared/msg"
)

// Image is one dataset image.
type Image struct {
	Person string
	Path   string // absolute or as given
	Rel    string // relative to the dataset root
}

// Skip is an image left out, with the reason.
type Skip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Reasons for skipping an image.
const (
	ReasonNoFace     = "no face"
	ReasonManyFaces  = "several faces (use --largest to take the largest)"
	ReasonUnreadable = "unreadable image"
	ReasonBadName    = "invalid person folder name"
)

// Progress is reported after each image.
type Progress struct {
	Seen, Total, Encoded, Reused, Skipped int
	Current                               string
}

// Summary describes a finished training run.
type Summary struct {
	People    int
	Images    int
	Encodings int
	Reused    int // encodings taken from the previous gallery or the journal (same content hash)
	Resumed   int // records found in the encoding journal of an interrupted run
	CNN       int // faces found only by the CNN fallback
	Skipped   []Skip
	// Flagged lists enrolled images whose face failed a quality check
	// (blurry, small, turned, badly lit), when Options.Quality is set.
	Flagged  []Skip
	Duration time.Duration
	// NeedMore says, per person, how many more good photos would reach
	// Options.GoodPhotos (only people below it).
	NeedMore map[string]int
}

// Reasons counts skips by reason.
func (s *Summary) Reasons() map[string]int {
	m := map[string]int{}
	for _, sk := range s.Skipped {
		m[sk.Reason]++
	}
	return m
}

// Options configure a run.
type Options struct {
	Dataset  string
	Largest  bool // with several faces, use the largest instead of skipping
	Analyzer face.Analyzer
	Progress func(Progress) // called from one goroutine at a time
	// Quality, when set, checks every new face against these limits.
	Quality *quality.Limits
	// RejectLowQuality skips flagged faces instead of enrolling them.
	RejectLowQuality bool
	// GoodPhotos is the number of good photos per person to aim for (default 3).
	GoodPhotos int
	// Full re-encodes every image instead of reusing the previous gallery's
	// encodings; per-person thresholds and negatives are kept either way.
	Full bool
	// Journal, when set, is the encoding journal file (see JournalPath):
	// encodings are appended to it as they finish and reused from it by the
	// next run, so a killed run loses at most one batch. The caller removes
	// it after saving the gallery. Full restarts it.
	Journal string
}

// IsImage reports whether a file name has a supported image extension.
func IsImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// Scan lists the dataset's images, sorted. Hidden folders (such as an
// enrolment queue) are ignored; images directly in the root are reported as
// skipped since they name nobody.
func Scan(root string) ([]Image, []Skip, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	var imgs []Image
	var skips []Skip
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 { // a linked person folder counts
			if st, err := os.Stat(filepath.Join(root, name)); err == nil {
				isDir = st.IsDir()
			}
		}
		if !isDir {
			if IsImage(name) {
				skips = append(skips, Skip{Path: filepath.Join(root, name), Reason: "not in a <name>/ folder"})
			}
			continue
		}
		if !msg.ValidName(name) {
			skips = append(skips, Skip{Path: filepath.Join(root, name), Reason: ReasonBadName})
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, name))
		if err != nil {
			return nil, nil, fmt.Errorf("dataset: %w", err)
		}
		for _, f := range files {
			if f.IsDir() || strings.HasPrefix(f.Name(), ".") || !IsImage(f.Name()) {
				continue
			}
			imgs = append(imgs, Image{Person: name, Path: filepath.Join(root, name, f.Name()), Rel: name + "/" + f.Name()})
		}
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Rel < imgs[j].Rel })
	return imgs, skips, nil
}

// Hash returns the hex sha256 of b.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

type outcome struct {
	img    Image
	hash   string
	sample gallery.Sample
	flags  []string
	skip   string
	reused bool
	cnn    bool
	det    string // o.Analyzer.ScanKey()
}

// Run trains a gallery from o.Dataset with the pool's engines. prev (may be
// nil) supplies cached encodings by content hash and per-person thresholds.
func Run(ctx context.Context, pool *face.Pool, prev *gallery.Gallery, o Options) (*gallery.Gallery, *Summary, error) {
	start := time.Now()
	imgs, skips, err := Scan(o.Dataset)
	if err != nil {
		return nil, nil, err
	}
	cache := map[string]gallery.Sample{}
	noFace := map[string]bool{}
	if prev != nil && !o.Full {
		for _, nf := range prev.NoFace {
			noFace[nf.Hash+"\x00"+nf.Detector] = true
		}
		for _, p := range prev.People {
			for _, s := range p.Samples {
				if s.Hash != "" {
					cache[p.Name+"\x00"+s.Hash] = s
				}
			}
		}
	}
	var jr *journal
	resumed := 0
	if o.Journal != "" {
		if !o.Full {
			n, err := loadJournal(o.Journal, cache, noFace)
			if err != nil {
				return nil, nil, err
			}
			resumed = n
		}
		if jr, err = openJournal(o.Journal, o.Full); err != nil {
			return nil, nil, err
		}
		defer jr.close()
	}
	sum := &Summary{Images: len(imgs), Skipped: skips, Resumed: resumed}
	results := make([]outcome, len(imgs))
	jobs := make(chan int)
	var mu sync.Mutex
	prog := Progress{Total: len(imgs)}
	var wg sync.WaitGroup
	for w := 0; w < pool.Size(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out := encode(ctx, pool, imgs[i], cache, noFace, o)
				results[i] = out
				mu.Lock()
				jr.add(out)
				prog.Seen++
				prog.Current = imgs[i].Rel
				switch {
				case out.skip != "":
					prog.Skipped++
				case out.reused:
					prog.Reused++
					prog.Encoded++
				default:
					prog.Encoded++
				}
				if o.Progress != nil {
					o.Progress(prog)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range imgs {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := jr.close(); err != nil {
		return nil, nil, fmt.Errorf("encoding journal: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	g := gallery.New()
	good := map[string]int{}
	for _, out := range results {
		if len(out.flags) > 0 {
			reason := strings.Join(out.flags, "; ")
			if o.RejectLowQuality {
				out.skip = "low quality: " + reason
			} else {
				sum.Flagged = append(sum.Flagged, Skip{Path: out.img.Path, Reason: reason})
			}
		}
		if out.skip != "" {
			sum.Skipped = append(sum.Skipped, Skip{Path: out.img.Path, Reason: out.skip})
			if out.skip == ReasonNoFace {
				g.NoFace = append(g.NoFace, gallery.NoFace{Source: out.img.Rel, Hash: out.hash, Detector: out.det})
			}
			continue
		}
		if err := g.Add(out.img.Person, out.sample); err != nil {
			sum.Skipped = append(sum.Skipped, Skip{Path: out.img.Path, Reason: err.Error()})
			continue
		}
		sum.Encodings++
		if len(out.flags) == 0 {
			good[out.img.Person]++
		}
		if out.reused {
			sum.Reused++
		}
		if out.cnn {
			sum.CNN++
		}
	}
	if prev != nil {
		for i := range g.People {
			if p := prev.Person(g.People[i].Name); p != nil {
				g.People[i].Threshold = p.Threshold
				g.People[i].Negatives = p.Negatives
			}
		}
	}
	sum.People = len(g.People)
	if o.Quality != nil {
		target := o.GoodPhotos
		if target <= 0 {
			target = 3
		}
		sum.NeedMore = map[string]int{}
		for _, p := range g.People {
			if n := good[p.Name]; n < target {
				sum.NeedMore[p.Name] = target - n
			}
		}
	}
	sum.Duration = time.Since(start)
	return g, sum, nil
}

func encode(ctx context.Context, pool *face.Pool, img Image, cache map[string]gallery.Sample, noFace map[string]bool, o Options) outcome {
	out := outcome{img: img, det: o.Analyzer.ScanKey()}
	data, err := os.ReadFile(img.Path)
	if err != nil {
		out.skip = ReasonUnreadable + ": " + err.Error()
		return out
	}
	h := Hash(data)
	out.hash = h
	// "No face" is cached per scan: HOG's verdict says nothing about what
	// the CNN fallback finds.
	if noFace[h+"\x00"+out.det] {
		out.skip, out.reused = ReasonNoFace, true
		return out
	}
	if s, ok := cache[img.Person+"\x00"+h]; ok {
		s.Source = img.Rel
		out.sample, out.reused, out.flags = s, true, s.Problems
		return out
	}
	var res *face.Result
	err = pool.Do(ctx, func(e face.Engine) error {
		var err error
		res, err = o.Analyzer.Analyze(e, data)
		return err
	})
	if err != nil {
		out.skip = ReasonUnreadable + ": " + err.Error()
		return out
	}
	idx := 0
	switch n := len(res.Faces); {
	case n == 0:
		out.skip = ReasonNoFace
		return out
	case n > 1 && !o.Largest:
		out.skip = fmt.Sprintf("%d faces; %s", n, ReasonManyFaces)
		return out
	case n > 1:
		idx = face.Largest(res.Faces)
	}
	f := res.Faces[idx]
	out.cnn = res.UsedCNN
	out.sample = gallery.Sample{Descriptor: f.Descriptor, Source: img.Rel, Hash: h,
		Box: [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}}
	if o.Quality != nil {
		if q, err := quality.Assess(res.PreparedJPG, res.Scale, f, *o.Quality); err == nil {
			// Stored with the sample, so a later run that reuses the
			// encoding still knows (and --reject-low-quality still rejects).
			out.flags = q.Problems
			out.sample.Problems = q.Problems
		}
	}
	return out
}
