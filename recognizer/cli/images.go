// Package cli implements facemon-recognizer's offline subcommands
// (train, identify, encode) on top of face, gallery and train.
package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/train"
)

// ExpandInputs turns IMAGE|DIR arguments into image paths; directories are
// walked recursively for .jpg/.jpeg/.png files, sorted.
func ExpandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			// Reported per image by the caller (as an error line), not fatal.
			out = append(out, a)
			continue
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && train.IsImage(d.Name()) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// analyzed is one input image's outcome.
type analyzed struct {
	path string
	res  *face.Result
	err  error
}

// analyzeAll runs the analyzer over paths with the pool, calling emit in
// input order.
func analyzeAll(ctx context.Context, pool *face.Pool, a face.Analyzer, paths []string, emit func(analyzed)) error {
	results := make([]chan analyzed, len(paths))
	for i := range results {
		results[i] = make(chan analyzed, 1)
	}
	sem := make(chan struct{}, pool.Size())
	var wg sync.WaitGroup
	go func() {
		for i, p := range paths {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] <- analyzed{path: p, err: ctx.Err()}
				continue
			}
			wg.Add(1)
			go func(i int, p string) {
				defer wg.Done()
				defer func() { <-sem }()
				results[i] <- analyzeOne(ctx, pool, a, p)
			}(i, p)
		}
	}()
	for i := range paths {
		emit(<-results[i])
	}
	wg.Wait()
	return ctx.Err()
}

func analyzeOne(ctx context.Context, pool *face.Pool, a face.Analyzer, path string) analyzed {
	f, err := os.Open(path)
	if err != nil {
		return analyzed{path: path, err: err}
	}
	data, err := face.ReadLimited(f, a.Prep.MaxBytes)
	f.Close()
	if err != nil {
		return analyzed{path: path, err: err}
	}
	var res *face.Result
	err = pool.Do(ctx, func(e face.Engine) error {
		var err error
		res, err = a.Analyze(e, data)
		return err
	})
	if err != nil {
		return analyzed{path: path, err: fmt.Errorf("%w", err)}
	}
	return analyzed{path: path, res: res}
}
