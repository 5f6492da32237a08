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

func (o *Options) download(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, o.DownloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 512<<20))
}

// fetchBZ2 downloads base+name+".bz2" and installs the decompressed file.
func (o *Options) fetchBZ2(ctx context.Context, name string, want map[string]string) (string, error) {
	url := strings.TrimSuffix(o.BaseURL, "/") + "/" + name + ".bz2"
	o.logf("%s: downloading %s (timeout %s)", name, url, o.DownloadTimeout)
	data, err := o.download(ctx, url)
	if err != nil {
		return "", err
	}
	return writeAtomic(o.Dir, name, bzip2.NewReader(bytes.NewReader(data)), want)
}

func (o *Options) ensureCNN(ctx context.Context) (Source, error) {
	want := o.accepted(CNNDetector)
	var tried []string
	if !o.Offline {
		sum, err := o.fetchBZ2(ctx, CNNDetector, want)
		if err == nil {
			return Source{Variant: want[sum], Origin: strings.TrimSuffix(o.BaseURL, "/") + "/" + CNNDetector + ".bz2", SHA256: sum}, nil
		}
		o.logf("%s: download failed: %v", CNNDetector, err)
		tried = append(tried, "download: "+err.Error())
	} else {
		tried = append(tried, "download: offline")
	}
	if src, sum, err := o.fromDir(CNNDetector, want); err == nil {
		return Source{Variant: want[sum], Origin: src, SHA256: sum}, nil
	} else {
		tried = append(tried, err.Error())
	}
	return Source{}, fmt.Errorf("not provisioned (%s)", strings.Join(tried, "; "))
}

// fromDir copies name from o.From when it holds it with an accepted sum.
func (o *Options) fromDir(name string, want map[string]string) (string, string, error) {
	if o.From == "" {
		return "", "", errors.New("--from / " + EnvModelsFrom + " not set")
	}
	src := filepath.Join(o.From, name)
	if _, err := os.Stat(src); err != nil {
		return "", "", fmt.Errorf("--from: %w", err)
	}
	o.logf("%s: copying from %s", name, src)
	sum, err := copyFileAtomic(o.Dir, name, src, want)
	if err != nil {
		return "", "", fmt.Errorf("--from %s: %w", src, err)
	}
	return src, sum, nil
}

func (o *Options) ensureShape(ctx context.Context) (Source, error) {
	want := o.accepted(ShapePredictor)
	var tried []string
	switch {
	case o.Offline:
		tried = append(tried, "download: offline")
	case o.pin("sp5") == "":
		o.logf("%s: skipping the dlib.net download: no pinned sha256 for the 5-point model", ShapePredictor)
		tried = append(tried, "download: skipped (no pinned sha256)")
	default:
		sum, err := o.fetchBZ2(ctx, ShapePredictor, want)
		if err == nil {
			return Source{Variant: want[sum], Origin: strings.TrimSuffix(o.BaseURL, "/") + "/" + ShapePredictor + ".bz2", SHA256: sum}, nil
		}
		o.logf("%s: download failed: %v", ShapePredictor, err)
		tried = append(tried, "download: "+err.Error())
	}
	if src, sum, err := o.fromDir(ShapePredictor, want); err == nil {
		return Source{Variant: want[sum], Origin: src, SHA256: sum}, nil
	} else {
		if o.From != "" {
			o.logf("%s: %v", ShapePredictor, err)
		}
		tried = append(tried, err.Error())
	}
	o.logf("%s: copying %s under the 5-point name (dlib's chip alignment accepts 68 or 5 parts)", ShapePredictor, o.Debian68)
	sum, err := copyFileAtomic(o.Dir, ShapePredictor, o.Debian68, map[string]string{o.pin("debian68"): want[o.pin("debian68")]})
	if err == nil {
		return Source{Variant: want[sum], Origin: o.Debian68, SHA256: sum}, nil
	}
	tried = append(tried, "Debian libdlib-data: "+err.Error())
	return Source{}, fmt.Errorf("not provisioned (%s)", strings.Join(tried, "; "))
}

// faceAPIFiles is a verified pair of face-api weight files.
type faceAPIFiles struct{ manifest, bin, origin string }

func (o *Options) checkFaceAPIDir(dir string) (faceAPIFiles, error) {
	for _, d := range []string{dir, filepath.Join(dir, "model"), filepath.Join(dir, "package", "model")} {
		m, b := filepath.Join(d, FaceAPIManifest), filepath.Join(d, FaceAPIBin)
		if _, err := os.Stat(m); err != nil {
			continue
		}
		for _, p := range []string{m, b} {
			sum, _, err := fileSHA256(p)
			if err != nil {
				return faceAPIFiles{}, err
			}
			if want := o.pin(filepath.Base(p)); sum != want {
				return faceAPIFiles{}, fmt.Errorf("%s: sha256 %s, want %s (face-api %s)", p, sum, want, FaceAPIVersion)
			}
		}
		return faceAPIFiles{manifest: m, bin: b, origin: d}, nil
	}
	return faceAPIFiles{}, fmt.Errorf("%s: no %s (looked in ., model/, package/model/)", dir, FaceAPIManifest)
}

// extractFaceAPITgz copies the two weight files out of an npm tarball into
// dstDir (atomically, verified).
func (o *Options) extractFaceAPITgz(tgz, dstDir string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tgz, err)
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	found := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tgz, err)
		}
		base := filepath.Base(h.Name)
		if (base != FaceAPIBin && base != FaceAPIManifest) || filepath.Base(filepath.Dir(h.Name)) != "model" {
			continue
		}
		if _, err := writeAtomic(dstDir, base, tr, map[string]string{o.pin(base): base}); err != nil {
			return fmt.Errorf("%s in %s: %w", h.Name, tgz, err)
		}
		found[base] = true
	}
	if !found[FaceAPIBin] || !found[FaceAPIManifest] {
		return fmt.Errorf("%s: model/%s or model/%s missing", tgz, FaceAPIBin, FaceAPIManifest)
	}
	return nil
}

func (o *Options) cacheFaceAPIDir() string {
	return filepath.Join(o.CacheDir, "face-api-"+FaceAPIVersion)
}

// faceAPIWeights finds verified face-api weights: --faceapi, the cache, npm pack.
func (o *Options) faceAPIWeights(ctx context.Context) (faceAPIFiles, error) {
	var tried []string
	if o.FaceAPI != "" {
		st, err := os.Stat(o.FaceAPI)
		switch {
		case err != nil:
			tried = append(tried, "--faceapi: "+err.Error())
		case st.IsDir():
			fa, err := o.checkFaceAPIDir(o.FaceAPI)
			if err == nil {
				return fa, nil
			}
			tried = append(tried, "--faceapi: "+err.Error())
		default:
			if err := o.extractFaceAPITgz(o.FaceAPI, o.cacheFaceAPIDir()); err != nil {
				tried = append(tried, "--faceapi: "+err.Error())
			} else if fa, err := o.checkFaceAPIDir(o.cacheFaceAPIDir()); err == nil {
				fa.origin = o.FaceAPI
				return fa, nil
			} else {
				tried = append(tried, err.Error())
			}
		}
		o.logf("%s: %s", RecognitionModel, tried[len(tried)-1])
	}
	if fa, err := o.checkFaceAPIDir(o.cacheFaceAPIDir()); err == nil {
		o.logf("%s: using cached face-api weights in %s", RecognitionModel, fa.origin)
		return fa, nil
	} else {
		tried = append(tried, "cache: "+err.Error())
	}
	if o.Offline {
		tried = append(tried, "npm pack: offline")
		return faceAPIFiles{}, errors.New(strings.Join(tried, "; "))
	}
	tmp, err := os.MkdirTemp("", "facemon-npm-*")
	if err != nil {
		return faceAPIFiles{}, err
	}
	defer os.RemoveAll(tmp)
	o.logf("%s: running `%s pack %s` (timeout %s)", RecognitionModel, o.NPM, FaceAPIPackage, o.NPMTimeout)
	nctx, cancel := context.WithTimeout(ctx, o.NPMTimeout)
	defer cancel()
	cmd := exec.CommandContext(nctx, o.NPM, "pack", "--silent", FaceAPIPackage)
	cmd.Dir = tmp
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tried = append(tried, fmt.Sprintf("npm pack: %v %s", err, strings.TrimSpace(stderr.String())))
		return faceAPIFiles{}, errors.New(strings.Join(tried, "; "))
	}
	tgzs, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	sort.Strings(tgzs)
	if len(tgzs) != 1 {
		tried = append(tried, fmt.Sprintf("npm pack produced %d tarballs", len(tgzs)))
		return faceAPIFiles{}, errors.New(strings.Join(tried, "; "))
	}
	if err := o.extractFaceAPITgz(tgzs[0], o.cacheFaceAPIDir()); err != nil {
		tried = append(tried, "npm pack: "+err.Error())
		return faceAPIFiles{}, errors.New(strings.Join(tried, "; "))
	}
	fa, err := o.checkFaceAPIDir(o.cacheFaceAPIDir())
	if err != nil {
		return faceAPIFiles{}, err
	}
	fa.origin = "npm pack " + FaceAPIPackage
	return fa, nil
}

func (o *Options) ensureRecognition(ctx context.Context) (Source, error) {
	if o.Convert == nil {
		return Source{}, errors.New("the face-api -> dlib conversion is not available in this build (needs cgo and libdlib-dev)")
	}
	fa, err := o.faceAPIWeights(ctx)
	if err != nil {
		return Source{}, fmt.Errorf("no face-api %s weights: %w", FaceAPIVersion, err)
	}
	want := o.accepted(RecognitionModel)
	o.logf("%s: converting face-api weights from %s", RecognitionModel, fa.origin)
	sum, err := finishAtomic(o.Dir, RecognitionModel, want, func(f *os.File) error {
		return o.Convert(fa.manifest, fa.bin, f.Name())
	})
	if err != nil {
		return Source{}, fmt.Errorf("conversion: %w", err)
	}
	return Source{Variant: want[sum], Origin: fa.origin, SHA256: sum}, nil
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
