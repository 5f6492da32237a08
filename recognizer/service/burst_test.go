//go:build cgo

package service_test

import (
	"bytes"
	"image"
	"image/jpeg"
	_ "image/png"
	"os"
	"strings"
	"testing"
	"time"

	xdraw "golang.org/x/image/draw"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/internal/cmykjpeg"
	"github.com/facemon/facemon/recognizer/internal/testenv"
	"github.com/facemon/facemon/recognizer/service"
	"github.com/facemon/facemon/shared/msg"
	"github.com/facemon/facemon/shared/testx"
)

// shrink re-encodes a shared photo with its longer side at most side px
// (enrol commands carry at most 2 MiB).
func shrink(t *testing.T, rel string, side int) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Testdata(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	if l := max(w, h); l > side {
		w, h = w*side/l, h*side/l
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), xdraw.Src, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func (h *harness) enrolResult(t *testing.T, id string) msg.EnrolResult {
	t.Helper()
	var r msg.EnrolResult
	testx.WaitFor(t, 60*time.Second, "enrol result "+id, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, e := range h.enrol {
			if e.ID == id {
				r = e
				return true
			}
		}
		return false
	})
	return r
}

// Through the service's enrol path with serve's grey HOG detector: a
// turned head (HOG finds none) enrols through the CNN fallback; a
// greyscale and a CMYK JPEG enrol; a burst keeps the distinct frames of
// the person and says why it dropped a duplicate, a frame without a face,
// a group frame and someone else.
func TestEnrolTurnedHeadGreyAndBurstWithServeDetector(t *testing.T) {
	h := startWith(t, func(c *service.Config) { c.Analyzer.Detector = face.HOGGrey })
	turned := shrink(t, "faces/jimin/3.jpg", 1024)
	h.publish(t, "enrol", msg.Enrol{V: 1, ID: "turned", Name: "jimin", Image: turned})
	if r := h.enrolResult(t, "turned"); r.Status != msg.EnrolSaved {
		t.Fatalf("turned head with grey HOG: %+v", r)
	}
	vs, err := cmykjpeg.Variants(shrink(t, "faces/obama/1.jpg", 800))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs[:2] { // grey-jpeg, cmyk-jpeg (enrolment takes JPEG)
		h.publish(t, "enrol", msg.Enrol{V: 1, ID: v.Name, Name: "obama_" + strings.ReplaceAll(v.Name, "-", "_"), Image: v.Data})
		if r := h.enrolResult(t, v.Name); r.Status != msg.EnrolSaved {
			t.Fatalf("%s: %+v", v.Name, r)
		}
	}
	o1 := shrink(t, "faces/obama/1.jpg", 640)
	burst := [][]byte{
		shrink(t, "faces/obama/2.jpg", 640),
		o1, // 2: the same frame again
		shrink(t, "noface/dogs.jpg", 640),
		shrink(t, "faces/obama/3.jpg", 640),
		shrink(t, "groups/two_people.jpg", 640),
		shrink(t, "faces/biden/1.jpg", 640),
		shrink(t, "faces/obama/5.jpg", 640),
	}
	h.publish(t, "enrol", msg.Enrol{V: 1, ID: "burst", Name: "obama", Image: o1, Burst: burst})
	r := h.enrolResult(t, "burst")
	for _, f := range r.Frames {
		t.Logf("frame %d kept=%v %s %v sharpness %.0f", f.Index, f.Kept, f.Reason, f.Warnings, f.Sharpness)
	}
	if r.Status != msg.EnrolSaved || len(r.Frames) != 8 {
		t.Fatalf("burst: %+v", r)
	}
	want := map[int]string{2: "near-duplicate", 3: "no face", 5: "2 faces", 6: "not the same person"}
	kept := 0
	for _, f := range r.Frames {
		if w, ok := want[f.Index]; ok {
			if f.Kept || !strings.HasPrefix(f.Reason, w) {
				t.Errorf("frame %d: kept=%v %q, want dropped as %q", f.Index, f.Kept, f.Reason, w)
			}
			continue
		}
		if f.Kept {
			kept++
			if f.Path == "" {
				t.Errorf("frame %d kept without a path", f.Index)
			}
		}
	}
	if kept < 3 || r.Faces != kept {
		t.Fatalf("kept %d obama frames (faces %d), want >= 3", kept, r.Faces)
	}
	testx.WaitFor(t, 10*time.Second, "obama's samples in the gallery", func() bool {
		p := h.svc.Pipeline.Gallery().Person("obama")
		return p != nil && len(p.Samples) == kept
	})
}
