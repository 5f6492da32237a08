package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facemon/facemon/shared/topic"
)

// smallFS mounts a 4 MiB tmpfs (the tests run as root, in CI too) and
// returns it with a function that fills it up and one that frees it.
func smallFS(t *testing.T) (dir string, fill, free func()) {
	t.Helper()
	dir = t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	filler := filepath.Join(dir, "filler")
	fill = func() {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
		f.Close()
	}
	free = func() { os.Remove(filler) }
	return dir, fill, free
}

// A full disk under the gallery and the dataset (issue 11): one clear
// error, nothing corrupted (the gallery on disk stays the old one, no
// half-written image), and everything works again once space returns.
func TestDiskFull(t *testing.T) {
	dir, fill, free := smallFS(t)
	gal := filepath.Join(dir, "gallery.json")
	old, err := os.ReadFile(gallery)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gal, old, 0o644); err != nil {
		t.Skipf("the e2e gallery (%d bytes) does not fit the test filesystem: %v", len(old), err)
	}
	faces := filepath.Join(shared, "testdata", "faces")
	train := func() (string, error) {
		cmd := exec.Command(filepath.Join(binDir, "facemon-recognizer"), "train", "--models", models,
			"--dataset", faces, "--gallery", gal, "--full")
		cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// Training onto a full disk.
	fill()
	out, err := train()
	if err == nil {
		t.Fatalf("training onto a full disk succeeded:\n%s", out)
	}
	if !strings.Contains(out, "no space left") {
		t.Errorf("the error does not say the disk is full:\n%s", lastLines(out, 5))
	}
	if now, _ := os.ReadFile(gal); !bytes.Equal(now, old) {
		t.Fatal("the gallery on disk changed after a failed training")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp*"))
	t.Logf("train on a full disk: %q; gallery unchanged; temp files left: %v", lastLines(out, 1), left)
	free()
	if out, err := train(); err != nil {
		t.Fatalf("training after space returned: %v\n%s", err, lastLines(out, 5))
	}

	// An enrolment into a full dataset.
	data := filepath.Join(dir, "dataset")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	url := "tcp://" + addr
	// Its own gallery: the enrolment below must not change the one the
	// other tests share.
	recGal := filepath.Join(t.TempDir(), "gallery.json")
	copyFile(t, gallery, recGal)
	startRecognizer(t, "rdisk", "--listen", addr, "--dataset", data, "--history", "-", "--gallery", recGal)
	waitTCP(t, addr, 30*time.Second)
	obs := observe(t, url)
	waitFor(t, 30*time.Second, "the recognizer online", func() bool {
		return obs.statusOf(topic.New("").Status(topic.KindRecognizer, "rdisk")) == topic.Online
	})
	time.Sleep(500 * time.Millisecond) // its command subscriptions follow the status
	answers := make(chan string, 10)
	cl, err := dialOnce(url, "", "", "diskfull", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(100)
	sp := topic.New("")
	cl.Subscribe(sp.EnrolResult(), 1, func(_ mqtt.Client, m mqtt.Message) { answers <- string(m.Payload()) }).WaitTimeout(5 * time.Second)
	img, err := os.ReadFile(filepath.Join(faces, "alex_lacamoire", "1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	enrol := func(id string) map[string]any {
		cl.Publish(sp.Command("enrol"), 1, false, []byte(fmt.Sprintf(`{"v":1,"id":"%s","name":"disk_test","image":"%s"}`, id, b64(img)))).WaitTimeout(5 * time.Second)
		select {
		case a := <-answers:
			var m map[string]any
			json.Unmarshal([]byte(a), &m)
			return m
		case <-time.After(60 * time.Second):
			t.Fatalf("no answer to enrolment %s", id)
			return nil
		}
	}
	fill()
	res := enrol("full")
	t.Logf("enrol into a full dataset: %v", res)
	if res["status"] == "saved" {
		t.Fatal("an enrolment into a full disk reported saved")
	}
	if msg, _ := res["message"].(string); !strings.Contains(fmt.Sprint(res), "no space left") {
		t.Errorf("the answer does not say the disk is full: %v %s", res, msg)
	}
	files, _ := filepath.Glob(filepath.Join(data, "disk_test", "*"))
	hidden, _ := filepath.Glob(filepath.Join(data, "disk_test", ".*"))
	files = append(files, hidden...)
	if len(files) != 0 {
		t.Errorf("a failed enrolment left files: %v", files)
	}
	free()
	if res := enrol("again"); res["status"] != "saved" {
		t.Fatalf("enrolment after space returned: %v", res)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
