//go:build matprofile

package capture

import (
	"bytes"
	"context"
	"testing"

	"gocv.io/x/gocv"
)

// Built with -tags matprofile (make test does), gocv counts every Mat it
// creates and has not closed. Capturing, resizing and encoding frames, and
// reopening a looping file, must leave none behind.
func TestCaptureLeaksNoMats(t *testing.T) {
	src, err := ParseSource(sharedVideo(t))
	if err != nil {
		t.Fatal(err)
	}
	before := gocv.MatProfile.Count()
	for _, o := range []Options{
		{Source: src, FPS: 1000},
		{Source: src, FPS: 1000, Width: 320},
		{Source: src, FPS: 1000, Loop: true},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		o.Camera = "leak"
		err := Run(ctx, o, func(Frame) {
			n++
			if n == 400 { // past the clip's end, so Loop reopens it
				cancel()
			}
		})
		cancel()
		if err != nil && err != ErrEnded {
			t.Fatalf("run %+v: %v", o, err)
		}
		if n < 100 {
			t.Fatalf("only %d frames captured", n)
		}
	}
	if leaked := gocv.MatProfile.Count() - before; leaked != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d gocv Mats not closed:\n%s", leaked, b.String())
	}
}
