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
	"strings"
	"testing"
)

func sumOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fixture builds a self-contained provisioning setup with small fake files
// whose sums are pinned through Options.pins.
type fixture struct {
	opts      Options
	log       bytes.Buffer
	converted int
	model     []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	fx := &fixture{model: []byte("fake dlib recognition model")}
	from := filepath.Join(root, "from")
	faceapi := filepath.Join(root, "faceapi", "model")
	for _, d := range []string{from, faceapi} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mmod := []byte("fake mmod detector")
	deb68 := []byte("fake 68-point shape predictor")
	manifest := []byte(`[{"paths":["face_recognition_model.bin"],"weights":[]}]`)
	bin := []byte("fake weights")
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(from, CNNDetector), mmod)
	write(filepath.Join(root, "deb68.dat"), deb68)
	write(filepath.Join(faceapi, FaceAPIManifest), manifest)
	write(filepath.Join(faceapi, FaceAPIBin), bin)
	fx.opts = Options{
		Dir:      filepath.Join(root, "models"),
		From:     from,
		FaceAPI:  filepath.Dir(faceapi),
		CacheDir: filepath.Join(root, "cache"),
		Offline:  true,
		Debian68: filepath.Join(root, "deb68.dat"),
		Log:      &fx.log,
		Convert: func(m, b, out string) error {
			fx.converted++
			return os.WriteFile(out, fx.model, 0o644)
		},
		pins: map[string]string{
			CNNDetector:      sumOf(mmod),
			"debian68":       sumOf(deb68),
			"sp5":            "",
			RecognitionModel: sumOf(fx.model),
			FaceAPIManifest:  sumOf(manifest),
			FaceAPIBin:       sumOf(bin),
		},
	}
	return fx
}

func (fx *fixture) verify() []Status {
	o := fx.opts
	return o.verify()
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("leftover temp file %s", e.Name())
		}
	}
}

func TestEnsureIdempotent(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if err := Ensure(ctx, fx.opts); err != nil {
		t.Fatalf("first Ensure: %v\n%s", err, fx.log.String())
	}
	for _, st := range fx.verify() {
		if !st.OK {
			t.Errorf("%s not OK after Ensure: %v", st.Name, st.Err)
		}
	}
	if fx.converted != 1 {
		t.Errorf("converter ran %d times, want 1", fx.converted)
	}
	srcs := readSources(fx.opts.Dir)
	if got := srcs[ShapePredictor].Origin; got != fx.opts.Debian68 {
		t.Errorf("SOURCES.json shape predictor origin = %q, want %q", got, fx.opts.Debian68)
	}
	mt := map[string]int64{}
	for _, n := range Files() {
		fi, err := os.Stat(filepath.Join(fx.opts.Dir, n))
		if err != nil {
			t.Fatal(err)
		}
		mt[n] = fi.ModTime().UnixNano()
	}

	fx.log.Reset()
	if err := Ensure(ctx, fx.opts); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if fx.converted != 1 {
		t.Errorf("second Ensure re-ran the converter")
	}
	for _, n := range Files() {
		fi, _ := os.Stat(filepath.Join(fx.opts.Dir, n))
		if fi.ModTime().UnixNano() != mt[n] {
			t.Errorf("second Ensure rewrote %s", n)
		}
	}
	if !strings.Contains(fx.log.String(), "ok") {
		t.Errorf("no progress lines: %q", fx.log.String())
	}
	noTempFiles(t, fx.opts.Dir)
}

func TestEnsureReplacesCorruptFile(t *testing.T) {
	fx := newFixture(t)
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(fx.opts.Dir, CNNDetector)
	if err := os.WriteFile(p, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, st := range fx.verify() {
		if st.Name == CNNDetector {
			if st.OK || !st.Present || st.Err == nil || !strings.Contains(st.Err.Error(), CNNDetector) {
				t.Fatalf("Verify of corrupt file: %+v", st)
			}
		}
	}
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatal(err)
	}
	if st := fx.verify()[0]; !st.OK {
		t.Fatalf("not repaired: %v", st.Err)
	}
}

func TestHashMismatchNamesFile(t *testing.T) {
	fx := newFixture(t)
	// --from holds a corrupt detector: nothing else can provide it offline.
	if err := os.WriteFile(filepath.Join(fx.opts.From, CNNDetector), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Ensure(context.Background(), fx.opts)
	if err == nil {
		t.Fatal("Ensure succeeded with a corrupt source")
	}
	msg := err.Error()
	for _, want := range []string{CNNDetector, "sha256", "--from"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if _, err := os.Stat(filepath.Join(fx.opts.Dir, CNNDetector)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt file was installed (stat err %v)", err)
	}
	noTempFiles(t, fx.opts.Dir)
	// The other files are still provisioned.
	for _, st := range fx.verify()[1:] {
		if !st.OK {
			t.Errorf("%s: %v", st.Name, st.Err)
		}
	}
}

func TestMissingSourcesNameFileAndRemedy(t *testing.T) {
	fx := newFixture(t)
	fx.opts.From = ""
	fx.opts.FaceAPI = ""
	fx.opts.Debian68 = filepath.Join(t.TempDir(), "absent.dat")
	err := Ensure(context.Background(), fx.opts)
	if err == nil {
		t.Fatal("Ensure succeeded without sources")
	}
	for _, want := range []string{CNNDetector, ShapePredictor, RecognitionModel, "--faceapi", "libdlib-data", "--from"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestConvertUnavailable(t *testing.T) {
	fx := newFixture(t)
	fx.opts.Convert = nil
	err := Ensure(context.Background(), fx.opts)
	if err == nil || !strings.Contains(err.Error(), RecognitionModel) || !strings.Contains(err.Error(), "cgo") {
		t.Fatalf("err = %v", err)
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

func TestFaceAPITgz(t *testing.T) {
	fx := newFixture(t)
	// Build an npm-style tarball from the fixture's face-api dir.
	var buf bytes.Buffer
	writeTgz(t, &buf, map[string]string{
		"package/model/" + FaceAPIManifest: filepath.Join(fx.opts.FaceAPI, "model", FaceAPIManifest),
		"package/model/" + FaceAPIBin:      filepath.Join(fx.opts.FaceAPI, "model", FaceAPIBin),
	})
	tgz := filepath.Join(t.TempDir(), "face-api.tgz")
	if err := os.WriteFile(tgz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fx.opts.FaceAPI = tgz
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatalf("%v\n%s", err, fx.log.String())
	}
	// The weights are now cached: a second model dir converts without --faceapi.
	fx.opts.FaceAPI = ""
	fx.opts.Dir = filepath.Join(t.TempDir(), "m2")
	if err := Ensure(context.Background(), fx.opts); err != nil {
		t.Fatalf("from cache: %v\n%s", err, fx.log.String())
	}
	if fx.converted != 2 {
		t.Errorf("converted %d times, want 2", fx.converted)
	}
}

// TestRealFromDir provisions the real CNN detector from the shared model
// directory ($FACEMON_SHARED/models, default ../../shared/models relative to
// the module) when it is available.
func TestRealFromDir(t *testing.T) {
	shared := os.Getenv("FACEMON_SHARED")
	if shared == "" {
		wd, _ := os.Getwd()
		shared = filepath.Join(filepath.Dir(wd), "..", "..", "shared")
	}
	from := filepath.Join(shared, "models")
	if _, err := os.Stat(filepath.Join(from, CNNDetector)); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI set but %s missing: %v", from, err)
		}
		t.Skipf("shared models not found at %s (set FACEMON_SHARED)", from)
	}
	o := Options{Dir: t.TempDir(), From: from, Offline: true, Log: io.Discard}
	o.setDefaults()
	src, err := o.ensureCNN(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if src.SHA256 != CNNDetectorSHA256 {
		t.Fatalf("sha256 %s", src.SHA256)
	}
}
