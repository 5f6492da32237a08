package dlib_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"sync"
	"testing"

	xdraw "golang.org/x/image/draw"

	"github.com/facemon/facemon/recognizer/face"
	"github.com/facemon/facemon/recognizer/face/dlib"
	"github.com/facemon/facemon/recognizer/internal/testenv"
)

// frame640 loads a shared photo and fits it into a 640x480 JPEG frame.
func frame640(b *testing.B, rel string) []byte {
	b.Helper()
	f, err := os.Open(testenv.Testdata(b, rel))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		b.Fatal(err)
	}
	dst := image.NewRGBA(image.Rect(0, 0, 640, 480))
	sb := src.Bounds()
	scale := min(640/float64(sb.Dx()), 480/float64(sb.Dy()))
	w, h := int(float64(sb.Dx())*scale), int(float64(sb.Dy())*scale)
	xdraw.ApproxBiLinear.Scale(dst, image.Rect((640-w)/2, (480-h)/2, (640-w)/2+w, (480-h)/2+h), src, sb, xdraw.Src, nil)
	var buf bytes.Buffer
	jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90})
	return buf.Bytes()
}

var blasOnce sync.Once

func logBLAS(b *testing.B) {
	blasOnce.Do(func() {
		b.Logf("BLAS in use: %s; OPENBLAS_NUM_THREADS=%q", dlib.BLAS(), os.Getenv("OPENBLAS_NUM_THREADS"))
	})
}

func benchRecognize(b *testing.B, rel string, wantFaces int) {
	e := openEngine(b)
	logBLAS(b)
	frame := frame640(b, rel)
	faces, err := e.Recognize(frame, face.HOG)
	if err != nil || len(faces) != wantFaces {
		b.Fatalf("%s at 640x480: %d faces (want %d), err %v", rel, len(faces), wantFaces, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Recognize(frame, face.HOG); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/frame")
}

// Detection alone (no face): the HOG cost of a 640x480 frame.
func BenchmarkRecognize640x480NoFace(b *testing.B) { benchRecognize(b, "noface/dogs.jpg", 0) }

// One face: detection + landmarks + descriptor.
func BenchmarkRecognize640x480OneFace(b *testing.B) { benchRecognize(b, "faces/obama/1.jpg", 1) }

// Two faces.
func BenchmarkRecognize640x480TwoFaces(b *testing.B) { benchRecognize(b, "groups/two_people.jpg", 2) }

// Descriptor cost per face: a 150x150 aligned chip (upsampled to 300x300 for
// the detector) is dominated by landmarks + the ResNet forward pass.
func BenchmarkDescriptorChip(b *testing.B) {
	e := openEngine(b)
	logBLAS(b)
	data, err := os.ReadFile(testenv.Testdata(b, "faces", "john_salley", "1.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := face.DefaultPrep.Prepare(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if fs, err := e.Recognize(p.JPEG, face.HOG); err != nil || len(fs) != 1 {
			b.Fatalf("%d faces, %v", len(fs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/face")
}

// Pool throughput on one-face 640x480 frames with 1 and 2 engines.
func BenchmarkPool1Worker(b *testing.B)  { benchPool(b, 1) }
func BenchmarkPool2Workers(b *testing.B) { benchPool(b, 2) }

func benchPool(b *testing.B, n int) {
	logBLAS(b)
	pool, err := face.NewPool(n, dlib.Opener(testenv.Models(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	frame := frame640(b, "faces/obama/1.jpg")
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	jobs := make(chan struct{})
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				pool.Do(ctx, func(e face.Engine) error { _, err := e.Recognize(frame, face.HOG); return err })
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// The landmark models compared: one 640x480 frame with one face (detection
// + landmarks + descriptor), and loading an engine.
func BenchmarkLandmarks(b *testing.B) {
	logBLAS(b)
	frame := frame640(b, "faces/obama/1.jpg")
	for _, n := range []int{68, 5} {
		cfg := dlib.Config{Dir: testenv.Models(b), Landmarks: n}
		b.Run(fmt.Sprintf("OneFace%d", n), func(b *testing.B) {
			e, err := dlib.OpenConfig(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			if fs, err := e.Recognize(frame, face.HOG); err != nil || len(fs) != 1 || len(fs[0].Landmarks) != n {
				b.Fatalf("%d faces, %v", len(fs), err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.Recognize(frame, face.HOG); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/frame")
		})
		b.Run(fmt.Sprintf("Open%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				e, err := dlib.OpenConfig(cfg)
				if err != nil {
					b.Fatal(err)
				}
				e.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
		})
	}
}

// Wide-scan cost: the full HOG detector against the fast one on a 640x360
// grey-path frame (the size of the shared video).
func BenchmarkDetect640x360Full(b *testing.B) { benchDetect(b, face.HOGGrey) }
func BenchmarkDetect640x360Fast(b *testing.B) { benchDetect(b, face.HOGGreyFast) }

func benchDetect(b *testing.B, det face.Detector) {
	logBLAS(b)
	e := openEngine(b)
	img, err := jpeg.Decode(bytes.NewReader(frame640(b, "groups/two_people.jpg")))
	if err != nil {
		b.Fatal(err)
	}
	px := make([]byte, 0, 640*360*3)
	for y := 60; y < 420; y++ {
		for x := 0; x < 640; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			px = append(px, byte(r>>8), byte(g>>8), byte(bl>>8))
		}
	}
	p := face.Pixels{Pix: px, Width: 640, Height: 360}
	if bs, err := e.Detect(p, det, 0); err != nil || len(bs) != 2 {
		b.Fatalf("%v: %v faces, %v; want 2", det, bs, err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := e.Detect(p, det, 0); err != nil {
			b.Fatal(err)
		}
	}
}
