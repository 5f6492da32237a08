package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/facemon/facemon/recognizer/clusterdb"
	"github.com/facemon/facemon/recognizer/gallery"
	"github.com/facemon/facemon/recognizer/history"
	"github.com/facemon/facemon/shared/fsx"
	"github.com/facemon/facemon/shared/redact"
)

// DB implements `facemon-recognizer db migrate`: a single machine's gallery
// file, dataset folder and SQLite history into the shared PostgreSQL
// database that `serve --db` uses.
func DB(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "migrate" {
		fmt.Fprintln(env.Stderr, "usage: facemon-recognizer db migrate --db URL --gallery FILE --dataset DIR [--history FILE] [--force]")
		return errUsage
	}
	fs := newFlagSet(env, "db migrate", "db migrate --db URL --gallery FILE --dataset DIR [flags]")
	dsn := fs.String("db", os.Getenv("FACEMON_DB"), "PostgreSQL URL (env FACEMON_DB)")
	galPath := fs.String("gallery", "gallery.json", "the gallery file to move into the database")
	dataset := fs.String("dataset", "dataset", "the dataset folder whose images to move into the database")
	hist := fs.String("history", "", "SQLite history to copy (default: history.db beside the gallery; '-' = none)")
	force := fs.Bool("force", false, "replace a gallery the database already holds")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *dsn == "" {
		return fmt.Errorf("%w: --db is required", errUsage)
	}
	g, err := gallery.Load(*galPath)
	if err != nil {
		return err
	}
	db, err := clusterdb.Open(ctx, *dsn, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, v, err := db.Gallery(ctx); err == nil && v > 0 && !*force {
		return fmt.Errorf("%s already holds a gallery (version %d): --force replaces it with %s", redact.URL(*dsn), v, *galPath)
	} else if err != nil && !errors.Is(err, clusterdb.ErrNoGallery) {
		return err
	}
	n, err := db.UploadDataset(ctx, *dataset, func(n int) {
		if n%100 == 0 {
			fmt.Fprintf(env.Stderr, "\rimages: %d", n)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "dataset: %d images from %s\n", n, *dataset)
	doc, err := g.Encode()
	if err != nil {
		return err
	}
	v, err := db.UpdateGallery(ctx, func([]byte) ([]byte, error) { return doc, nil })
	if err != nil {
		return err
	}
	people, samples := g.Counts()
	fmt.Fprintf(env.Stdout, "gallery: %d people, %d samples from %s (version %d)\n", people, samples, *galPath, v)
	if *hist == "-" {
		return nil
	}
	path := *hist
	if path == "" {
		path = filepath.Join(filepath.Dir(*galPath), "history.db")
	}
	if _, err := os.Stat(path); err != nil {
		if *hist == "" && errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(env.Stdout, "history: none at %s\n", path)
			return nil
		}
		return fmt.Errorf("history: %w", err)
	}
	src, err := history.Open(history.Config{Path: path})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := history.Open(history.Config{DSN: *dsn})
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := src.CopyTo(ctx, dst, func(table string, n int) { fmt.Fprintf(env.Stderr, "\r%s: %d", table, n) })
	fmt.Fprintln(env.Stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "history: %d events, %d unknown faces in %d groups, %d negatives from %s\n",
		counts["events"], counts["unknowns"], counts["ugroups"], counts["negatives"], path)
	return nil
}

// openSharedForTraining takes the cluster's training lock and mirrors the
// shared dataset into dataset and the shared gallery into galPath (the
// previous gallery whose encodings training reuses).
func openSharedForTraining(ctx context.Context, dsn, dataset, galPath string, env Env) (*clusterdb.DB, error) {
	db, err := clusterdb.Open(ctx, dsn, nil)
	if err != nil {
		return nil, err
	}
	ok, err := db.TryLockTraining(ctx)
	if err == nil && !ok {
		err = errors.New("another recognizer is training on this database; its result is shared, try again when it is done")
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := os.MkdirAll(dataset, 0o700); err != nil {
		db.Close()
		return nil, err
	}
	added, removed, err := db.SyncDataset(ctx, dataset, slog.New(slog.NewTextHandler(env.Stderr, nil)))
	if err != nil {
		db.Close()
		return nil, err
	}
	fmt.Fprintf(env.Stdout, "dataset %s mirrored from the database (%d added, %d removed)\n", dataset, added, removed)
	if doc, _, err := db.Gallery(ctx); err == nil {
		if err := fsx.WriteFileAtomic(galPath, doc, 0o600); err != nil {
			db.Close()
			return nil, err
		}
	} else if !errors.Is(err, clusterdb.ErrNoGallery) {
		db.Close()
		return nil, err
	}
	return db, nil
}
