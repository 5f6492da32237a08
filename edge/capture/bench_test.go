package capture

import (
	"bytes"
	"fmt"
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facemon/facemon/edge/capture/mjpeg"
)

// clipJPEGs returns n frames of the shared clip resized to w×h and encoded
// at quality 80, as an MJPEG camera would deliver them.
func clipJPEGs(b testing.TB, w, h, n int) [][]byte {
	b.Helper()
	vc, err := gocv.VideoCaptureFile(sharedVideo(b))
	if err != nil {
		b.Fatal(err)
	}
	defer vc.Close()
	img, small := gocv.NewMat(), gocv.NewMat()
	defer img.Close()
	defer small.Close()
	var out [][]byte
	for len(out) < n && vc.Read(&img) && !img.Empty() {
		gocv.Resize(img, &small, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, small, []int{gocv.IMWriteJpegQuality, 80})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, bytes.Clone(buf.GetBytes()))
		buf.Close()
	}
	return out
}

// BenchmarkFrame measures the edge's CPU per frame of an MJPEG camera:
// pass-through (split the byte stream, read the JPEG header, insert the
// metadata) against decode and re-encode (what the OpenCV path costs).
func BenchmarkFrame(b *testing.B) {
	for _, sz := range [][2]int{{640, 480}, {1280, 720}} {
		frames := clipJPEGs(b, sz[0], sz[1], 30)
		var stream bytes.Buffer
		for _, f := range frames {
			stream.Write(f)
		}
		for _, mode := range []string{"passthrough", "reencode"} {
			b.Run(fmt.Sprintf("%dx%d/%s", sz[0], sz[1], mode), func(b *testing.B) {
				c := &capturer{o: Options{Camera: "bench", Quality: 80}, reencode: mode == "reencode"}
				small := gocv.NewMat()
				defer small.Close()
				b.SetBytes(int64(stream.Len() / len(frames)))
				b.ResetTimer()
				for i := 0; i < b.N; {
					sp := mjpeg.NewSplitter(bytes.NewReader(stream.Bytes()), 4<<20)
					for ; i < b.N; i++ {
						j, err := sp.Next()
						if err != nil {
							break
						}
						if _, err := c.passOrEncode(j, &small, time.Now()); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
