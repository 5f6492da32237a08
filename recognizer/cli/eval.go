package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/facemon/facemon/recognizer/eval"
	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/train"
)

// Eval implements `facemon-recognizer eval`: recognition quality on a
// labelled dataset (and LFW), across operating points.
func Eval(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "eval", "eval --dataset DIR [--enrol 1,2,5] [--impostors DIR] [--lfw DIR] [flags]")
	var c common
	c.register(fs)
	dataset := fs.String("dataset", "", "labelled folder of <name>/*.jpg (people with more images than --enrol are enrolled, the rest are strangers)")
	enrolList := fs.String("enrol", "1,2,5", "comma-separated enrolment sizes K (images per enrolled person)")
	impostors := fs.String("impostors", "", "extra folder of <name>/*.jpg used only as strangers")
	lfw := fs.String("lfw", "", "LFW folder with pairs.tsv: report pair accuracy with k-fold cross-validation over its folds")
	cacheDir := fs.String("cache", "var/eval-cache", "folder for cached encodings (one gallery file per dataset)")
	var rf ruleFlags
	rf.register(fs)
	seed := fs.Int64("seed", 1, "seed for choosing enrolment images")
	household := fs.Int("household", 10, "people per gallery in the household protocol (0 = skip it)")
	rounds := fs.Int("rounds", 20, "random households per enrolment size")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dataset == "" && *lfw == "" {
		fs.Usage()
		return fmt.Errorf("%w: give --dataset and/or --lfw", errUsage)
	}
	var ks []int
	for _, f := range strings.Split(*enrolList, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			return fmt.Errorf("%w: --enrol %q: want positive integers", errUsage, *enrolList)
		}
		ks = append(ks, k)
	}
	a, err := c.analyzer()
	if err != nil {
		return err
	}
	a.CNNFallback = true
	pool, err := env.OpenPool(c.models, c.landmarks, c.workers)
	if err != nil {
		return err
	}
	defer pool.Close()
	shipped, err := rf.rule(fs)
	if err != nil {
		return err
	}
	out := env.Stdout
	encode := func(dir string) ([]eval.Item, error) {
		cache := filepath.Join(*cacheDir, strings.Trim(strings.ReplaceAll(filepath.Clean(dir), string(filepath.Separator), "_"), "._")+".json")
		prev, _ := gallery.LoadOrEmpty(cache)
		bar := newProgress(env.Stderr)
		g, sum, err := train.Run(ctx, pool, prev, train.Options{Dataset: dir, Largest: true, Analyzer: a, Progress: bar.update})
		bar.done()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(*cacheDir, 0o755); err == nil {
			g.Save(cache)
		}
		fmt.Fprintf(out, "encoded %s: %d people, %d faces (%d cached), %d skipped\n", dir, sum.People, sum.Encodings, sum.Reused, len(sum.Skipped))
		return eval.FromGallery(g), nil
	}
	rules := []gallery.Rule{{Margin: 0}, {Margin: 0.05}, {Centroid: true}}
	if *dataset != "" {
		items, err := encode(*dataset)
		if err != nil {
			return err
		}
		var imp []eval.Item
		if *impostors != "" {
			if imp, err = encode(*impostors); err != nil {
				return err
			}
		}
		enr, str := eval.LeaveOneOut(items, 3, shipped)
		fmt.Fprintf(out, "\nleave-one-out, people with >= 3 images, shipped rule (threshold %.2f, margin %.2f): %d/%d correct (%.1f%%), %d wrong, %d rejected; people left out of the gallery named: %d/%d (%.1f%%)\n",
			shipped.Threshold, shipped.Margin, enr.Correct, enr.Queries, 100*enr.Rate(enr.Correct), enr.Wrong, enr.Rejected, str.Wrong, str.Queries, 100*str.Rate(str.Wrong))
		for _, m := range enr.Mistakes {
			fmt.Fprintf(out, "  wrong: %s\n", m)
		}
		printHousehold(out, items, ks, *household, *rounds, shipped, *seed)
		for _, k := range ks {
			s := eval.MakeSplit(items, k, imp, *seed)
			people, _ := s.Gallery.Counts()
			fmt.Fprintf(out, "\nK=%d enrolment images: %d people enrolled, %d queries, %d stranger images\n", k, people, len(s.Queries), len(s.Strangers))
			for _, r := range rules {
				eval.PrintCurve(out, fmt.Sprintf(" margin %.2f centroid %v:", r.Margin, r.Centroid), eval.Sweep(s, r, 0.40, 0.62, 0.02))
			}
			p := eval.Evaluate(s, shipped)
			fmt.Fprintf(out, " shipped point: correct %.1f%%, wrong %.1f%%, rejected %.1f%%, stranger FAR %.2f%%\n",
				100*p.Enrolled.Rate(p.Enrolled.Correct), 100*p.Enrolled.Rate(p.Enrolled.Wrong), 100*p.Enrolled.Rate(p.Enrolled.Rejected), 100*p.FAR())
		}
	}
	if *lfw != "" {
		if err := evalLFW(out, *lfw, encode, ks, shipped, *seed, *household, *rounds); err != nil {
			return err
		}
	}
	return nil
}

func evalLFW(out io.Writer, dir string, encode func(string) ([]eval.Item, error), ks []int, shipped gallery.Rule, seed int64, household, rounds int) error {
	f, err := os.Open(filepath.Join(dir, "pairs.tsv"))
	if err != nil {
		return fmt.Errorf("lfw: %w", err)
	}
	rows, err := eval.ParsePairs(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("lfw: %w", err)
	}
	items, err := encode(dir)
	if err != nil {
		return err
	}
	byPath := map[string]face.Descriptor{}
	for _, it := range items {
		byPath[it.Source] = it.Desc
	}
	var pairs []eval.Pair
	missing := 0
	for _, r := range rows {
		a, okA := byPath[r[0]]
		b, okB := byPath[r[1]]
		fold, _ := strconv.Atoi(r[3])
		if !okA || !okB {
			missing++
			// No face found: count the pair as a decision against "same",
			// as a deployed system would (it cannot match what it cannot see).
			a, b = face.Descriptor{}, face.Descriptor{}
			b[0] = 10
		}
		pairs = append(pairs, eval.Pair{A: a, B: b, Same: r[2] == "1", Fold: fold})
	}
	mean, std, thr, n := eval.PairAccuracy(pairs)
	fmt.Fprintf(out, "\nLFW pairs: %d pairs, %d folds, %d pairs with an image without a detected face (scored as 'different')\n", len(pairs), n, missing)
	fmt.Fprintf(out, "LFW %d-fold cross-validated accuracy: %.2f%% ± %.2f%% (mean chosen threshold %.3f; dlib publishes 99.38%% on all 10 folds)\n", n, 100*mean, 100*std, thr)
	printHousehold(out, items, ks, household, rounds, shipped, seed)
	for _, k := range ks {
		s := eval.MakeSplit(items, k, nil, seed)
		people, _ := s.Gallery.Counts()
		fmt.Fprintf(out, "\nLFW open-set, all eligible people enrolled, K=%d: %d people enrolled, %d queries, %d stranger images\n", k, people, len(s.Queries), len(s.Strangers))
		for _, r := range []gallery.Rule{{Margin: 0}, {Centroid: true}} {
			eval.PrintCurve(out, fmt.Sprintf(" margin %.2f centroid %v:", r.Margin, r.Centroid), eval.Sweep(s, r, 0.40, 0.62, 0.02))
		}
	}
	return nil
}

// printHousehold prints the household-protocol curves: galleries of n
// people (k images each), everyone else as strangers, over many rounds.
func printHousehold(out io.Writer, items []eval.Item, ks []int, n, rounds int, shipped gallery.Rule, seed int64) {
	if n <= 0 {
		return
	}
	variants := []struct {
		name string
		base gallery.Rule
	}{
		{"nearest photo", gallery.Rule{}},
		{"nearest photo, margin 0.05", gallery.Rule{Margin: 0.05}},
		{"centroid of the person's photos", gallery.Rule{Centroid: true}},
	}
	for _, k := range ks {
		var rules []gallery.Rule
		for _, v := range variants {
			for _, r := range eval.Grid(0.40, 0.62, 0.02, []float64{v.base.Margin}) {
				r.Centroid = v.base.Centroid
				rules = append(rules, r)
			}
		}
		rules = append(rules, shipped)
		pts := eval.Household(items, n, k, rounds, rules, seed)
		if pts[0].Enrolled.Queries == 0 {
			fmt.Fprintf(out, "\nhousehold protocol, K=%d: fewer than %d people with more than %d images\n", k, n, k)
			continue
		}
		fmt.Fprintf(out, "\nhousehold protocol: %d rounds of %d enrolled people, K=%d images each; %d queries, %d stranger queries in all\n",
			rounds, n, k, pts[0].Enrolled.Queries, pts[0].Strangers.Queries)
		per := (len(pts) - 1) / len(variants)
		for i, v := range variants {
			eval.PrintCurve(out, " "+v.name+":", pts[i*per:(i+1)*per])
		}
		p := pts[len(pts)-1]
		fmt.Fprintf(out, " shipped point (threshold %.2f, margin %.2f): correct %.1f%%, wrong %.1f%%, rejected %.1f%%, stranger FAR %.2f%%\n",
			shipped.Threshold, shipped.Margin, 100*p.Enrolled.Rate(p.Enrolled.Correct), 100*p.Enrolled.Rate(p.Enrolled.Wrong),
			100*p.Enrolled.Rate(p.Enrolled.Rejected), 100*p.FAR())
	}
}
