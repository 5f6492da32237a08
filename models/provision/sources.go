package provision

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func fileSHA256(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeAtomic writes dir/name from r through a temp file in dir, checks the
// content's sha256 against want (any key), fsyncs and renames it into place.
// On any failure the temp file is removed and dir/name is untouched.
func writeAtomic(dir, name string, r io.Reader, want map[string]string) (string, error) {
	return finishAtomic(dir, name, want, func(f *os.File) error {
		_, err := io.Copy(f, r)
		return err
	})
}

// finishAtomic creates a temp file next to dir/name, lets fill write it
// (through the open file, or by path: fill may reopen f.Name()), verifies,
// fsyncs and renames it. It returns the sha256.
func finishAtomic(dir, name string, want map[string]string, fill func(f *os.File) error) (sum string, err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		f = nil
		return "", err
	}
	f = nil
	sum, size, err := fileSHA256(tmp)
	if err != nil {
		return "", err
	}
	if _, ok := want[sum]; !ok {
		err = fmt.Errorf("result has sha256 %s (%d bytes), want %s", sum, size, joinSums(want))
		return "", err
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return "", err
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return "", err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return sum, nil
}

func copyFileAtomic(dir, name, src string, want map[string]string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	return writeAtomic(dir, name, in, want)
}

func joinSums(m map[string]string) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "(none)"
	}
	return strings.Join(ks, " or ")
}

func (o *Options) want(name string) map[string]string {
	return map[string]string{o.pin(name): describe(name)}
}

// needed lists the still-needed files in Files() order.
func needed(need map[string]bool) []string {
	var out []string
	for _, f := range Files() {
		if need[f.Name] {
			out = append(out, f.Name)
		}
	}
	return out
}

type (
	doneFunc func(name string, src Source)
	failFunc func(name, source string, err error)
)

// fromDir copies files from --from.
func (o *Options) fromDir(_ context.Context, need map[string]bool, done doneFunc, fail failFunc) {
	if o.From == "" {
		return
	}
	for _, name := range needed(need) {
		p := filepath.Join(o.From, name)
		sum, err := copyFileAtomic(o.Dir, name, p, o.want(name))
		if err != nil {
			fail(name, "--from "+o.From, err)
			continue
		}
		done(name, Source{Origin: p, SHA256: sum})
	}
}

// fromDebian copies libdlib-data's 68-point model.
func (o *Options) fromDebian(_ context.Context, need map[string]bool, done doneFunc, fail failFunc) {
	if !need[ShapePredictor68] {
		return
	}
	sum, err := copyFileAtomic(o.Dir, ShapePredictor68, o.Debian68, o.want(ShapePredictor68))
	if err != nil {
		fail(ShapePredictor68, "Debian libdlib-data", err)
		return
	}
	done(ShapePredictor68, Source{Origin: o.Debian68, SHA256: sum})
}

func (o *Options) cachedTarball() string { return filepath.Join(o.CacheDir, NPMTarball) }

// fromNPM reads the files out of the npm tarball: --tarball, else the cached
// one, else a fresh `npm pack` into the cache. A cached tarball that fails
// (corrupt, truncated) is packed again once.
func (o *Options) fromNPM(ctx context.Context, need map[string]bool, done doneFunc, fail failFunc) {
	source := "npm " + NPMPackage
	failAll := func(err error) {
		for _, name := range needed(need) {
			fail(name, source, err)
		}
	}
	if o.Tarball != "" {
		o.extractInto(o.Tarball, "--tarball "+o.Tarball, need, done, fail)
		return
	}
	cached := o.cachedTarball()
	if _, err := os.Stat(cached); err == nil {
		o.logf("reading the cached %s", cached)
		errs := o.extractInto(cached, cached, need, done, nil)
		if len(need) == 0 {
			return
		}
		if o.Offline {
			for name, err := range errs {
				fail(name, "cached "+cached, err)
			}
			return
		}
		o.logf("cached tarball %s failed (%v); packing it again", cached, errors.Join(mapErrs(errs)...))
		if err := os.Remove(cached); err != nil {
			failAll(err)
			return
		}
	}
	if o.Offline {
		failAll(errors.New("offline: no npm pack (and no cached " + NPMTarball + " in " + o.CacheDir + ")"))
		return
	}
	if err := o.npmPack(ctx); err != nil {
		failAll(err)
		return
	}
	o.extractInto(cached, "npm pack "+NPMPackage, need, done, fail)
}

func mapErrs(m map[string]error) []error {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var out []error
	for _, k := range ks {
		out = append(out, m[k])
	}
	return out
}

// extractInto extracts the needed members of tgz, reporting each file as
// done or failed (fail may be nil); it returns the failures.
func (o *Options) extractInto(tgz, origin string, need map[string]bool, done doneFunc, fail failFunc) map[string]error {
	sums, errs := o.extractTgz(tgz, need)
	for name, sum := range sums {
		done(name, Source{Origin: origin, SHA256: sum})
	}
	if fail != nil {
		for _, name := range needed(need) {
			if err, ok := errs[name]; ok {
				fail(name, origin, err)
			}
		}
	}
	return errs
}

// extractTgz reads tgz once and installs every needed file found under
// package/models/, verified. It returns the installed files' sums and an
// error for every needed file it could not install.
func (o *Options) extractTgz(tgz string, need map[string]bool) (map[string]string, map[string]error) {
	sums, errs := map[string]string{}, map[string]error{}
	failRest := func(err error) (map[string]string, map[string]error) {
		for name := range need {
			if _, ok := sums[name]; !ok {
				if _, ok := errs[name]; !ok {
					errs[name] = err
				}
			}
		}
		return sums, errs
	}
	f, err := os.Open(tgz)
	if err != nil {
		return failRest(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return failRest(fmt.Errorf("not a gzip tarball: %w", err))
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return failRest(fmt.Errorf("corrupt tarball: %w", err))
		}
		name := strings.TrimPrefix(h.Name, NPMMemberDir)
		if name == h.Name || !need[name] || h.Typeflag != tar.TypeReg {
			continue
		}
		if _, ok := sums[name]; ok {
			continue
		}
		sum, err := writeAtomic(o.Dir, name, tr, o.want(name))
		if err != nil {
			errs[name] = fmt.Errorf("member %s: %w", h.Name, err)
			continue
		}
		delete(errs, name)
		sums[name] = sum
	}
	return failRest(fmt.Errorf("no member %s<file>", NPMMemberDir))
}

// npmPack runs `npm pack` in a temp directory inside the cache and renames
// the tarball into place, so the cache never holds a partial one.
func (o *Options) npmPack(ctx context.Context) error {
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	tmp, err := os.MkdirTemp(o.CacheDir, ".npm-pack-*")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	o.logf("running `%s pack %s` into %s (about 100 MB; timeout %s)", o.NPM, NPMPackage, o.CacheDir, o.NPMTimeout)
	nctx, cancel := context.WithTimeout(ctx, o.NPMTimeout)
	defer cancel()
	cmd := exec.CommandContext(nctx, o.NPM, "pack", "--silent", NPMPackage)
	cmd.Dir = tmp
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm pack: %v: %s", err, redact(lastLines(stderr.String(), 5)))
	}
	p := filepath.Join(tmp, NPMTarball)
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("npm pack wrote no %s", NPMTarball)
	}
	return os.Rename(p, o.cachedTarball())
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

var userinfo = regexp.MustCompile(`://[^/@\s]+@`)

// redact removes URL userinfo (registry credentials) from npm's messages.
func redact(s string) string { return userinfo.ReplaceAllString(s, "://***@") }

// fromDlib downloads <name>.bz2 from dlib.net.
func (o *Options) fromDlib(ctx context.Context, need map[string]bool, done doneFunc, fail failFunc) {
	for _, name := range needed(need) {
		url := strings.TrimSuffix(o.BaseURL, "/") + "/" + name + ".bz2"
		if o.Offline {
			fail(name, url, errors.New("offline"))
			continue
		}
		o.logf("%s: downloading %s (timeout %s)", name, url, o.DownloadTimeout)
		sum, err := o.fetchBZ2(ctx, url, name)
		if err != nil {
			fail(name, url, err)
			continue
		}
		done(name, Source{Origin: url, SHA256: sum})
	}
}

func (o *Options) fetchBZ2(ctx context.Context, url, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.DownloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET: %s", resp.Status)
	}
	return writeAtomic(o.Dir, name, bzip2.NewReader(io.LimitReader(resp.Body, 256<<20)), o.want(name))
}

func readSources(dir string) map[string]Source {
	m := map[string]Source{}
	b, err := os.ReadFile(filepath.Join(dir, SourcesFile))
	if err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func writeSources(dir string, m map[string]Source) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	h := sha256.Sum256(b)
	sum := hex.EncodeToString(h[:])
	if _, err := writeAtomic(dir, SourcesFile, bytes.NewReader(b), map[string]string{sum: ""}); err != nil {
		return fmt.Errorf("%s: %w", SourcesFile, err)
	}
	return nil
}
