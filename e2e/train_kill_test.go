package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// checkGallery reads a gallery file the way the recognizer's loader does
// (version, model, names, 128-float descriptors without NaN) and returns its
// people and samples.
func checkGallery(t *testing.T, path string) (people, samples int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("gallery unreadable after kill -9: %v", err)
	}
	var g struct {
		V      int    `json:"v"`
		Model  string `json:"model"`
		People []struct {
			Name    string `json:"name"`
			Samples []struct {
				Descriptor []float64 `json:"descriptor"`
			} `json:"samples"`
		} `json:"people"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("gallery is not valid JSON after kill -9 (%d bytes): %v", len(b), err)
	}
	if g.V != 1 || g.Model != "dlib_face_recognition_resnet_model_v1" {
		t.Fatalf("gallery header v=%d model=%q", g.V, g.Model)
	}
	for _, p := range g.People {
		for _, s := range p.Samples {
			if len(s.Descriptor) != 128 {
				t.Fatalf("%s: descriptor of %d floats", p.Name, len(s.Descriptor))
			}
			for _, v := range s.Descriptor {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s: NaN in descriptor", p.Name)
				}
			}
		}
		samples += len(p.Samples)
	}
	return len(g.People), samples
}

// journalRecords counts the whole records in the encoding journal.
func journalRecords(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var r struct {
			H string `json:"h"`
		}
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.H != "" {
			n++
		}
	}
	return n
}

// TestTrainSurvivesKill9 kills a real `facemon-recognizer train` with
// SIGKILL at random points, several times: the gallery on disk is always the
// old one or the new one and loads, the encodings finished before each kill
// are kept, and the run that finally completes reuses them.
func TestTrainSurvivesKill9(t *testing.T) {
	faces := filepath.Join(shared, "testdata", "faces")
	ents, err := os.ReadDir(faces)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dataset, gal := filepath.Join(dir, "dataset"), filepath.Join(dir, "gallery.json")
	journal := filepath.Join(dir, ".gallery.json.encodings")
	os.MkdirAll(dataset, 0o755)
	link := func(name string) {
		if err := os.Symlink(filepath.Join(faces, name), filepath.Join(dataset, name)); err != nil {
			t.Fatal(err)
		}
	}
	train := func() *exec.Cmd {
		cmd := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "train", "--models", models, "--workers", "1",
			"--dataset", dataset, "--gallery", gal)
		cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
		return cmd
	}
	// The old gallery: one person.
	link(ents[0].Name())
	if out, err := train().CombinedOutput(); err != nil {
		t.Fatalf("first train: %v\n%s", err, out)
	}
	p0, oldSamples := checkGallery(t, gal)
	if p0 != 1 {
		t.Fatalf("old gallery has %d people", p0)
	}
	for _, e := range ents[1:] {
		link(e.Name())
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	const runs = 6
	kept := 0
	killed := 0
	for i := 0; i < runs; i++ {
		cmd := train()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Even runs die at a random moment (model loading, encoding, saving);
		// odd runs once their journal has grown, at a random moment after.
		after := time.Duration(300+rng.IntN(5700)) * time.Millisecond
		grow := i%2 == 1
		var timer <-chan time.Time
		if !grow {
			timer = time.After(after)
		}
		waitUntil := time.Now().Add(60 * time.Second)
	wait:
		for {
			select {
			case err := <-done:
				t.Logf("run %d finished before its kill (err %v)", i, err)
				i = runs
				break wait
			case <-timer:
				cmd.Process.Kill()
				<-done
				killed++
				break wait
			case <-time.After(50 * time.Millisecond):
				if grow && timer == nil && journalRecords(journal) > kept {
					after = time.Duration(rng.IntN(1500)) * time.Millisecond
					timer = time.After(after)
				}
				if time.Now().After(waitUntil) {
					t.Fatalf("run %d: the journal did not grow in 60 s:\n%s", i, out.String())
				}
			}
		}
		p, s := checkGallery(t, gal)
		if p != 1 && p != len(ents) {
			t.Fatalf("after run %d the gallery has %d people: neither the old (1) nor the new (%d)", i, p, len(ents))
		}
		n := journalRecords(journal)
		if p == 1 && (n < kept || grow && n <= kept) {
			t.Fatalf("run %d: journal went from %d to %d records", i, kept, n)
		}
		t.Logf("run %d killed %v after start/journal growth: gallery %d people/%d samples, journal %d records", i, after, p, s, n)
		kept = n
	}
	out, err := train().CombinedOutput()
	if err != nil {
		t.Fatalf("final train: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`\((\d+) reused from cache`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line:\n%s", out)
	}
	reused, _ := strconv.Atoi(string(m[1]))
	p, s := checkGallery(t, gal)
	if p != len(ents) || s != 102 {
		t.Fatalf("final gallery %d people / %d samples, want %d / 102", p, s, len(ents))
	}
	// The old gallery's person (cached there) plus every journaled encoding
	// is reused, not encoded again.
	if reused < kept+oldSamples {
		t.Fatalf("final run reused %d encodings; %d were journaled by the killed runs", reused, kept)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("journal left after a completed run: %v", err)
	}
	fmt.Fprintf(os.Stderr, "e2e: train kill -9: %d kills, %d encodings journaled, final run reused %d of 102\n", killed, kept, reused)
}
