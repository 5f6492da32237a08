package mjpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/facemon/facemon/edge/internal/testjpeg"
)

// testJPEG encodes a w×h gradient whose colour depends on i.
func testJPEG(t testing.TB, w, h, i int) []byte { return testjpeg.Gradient(t, w, h, i) }

// withThumbnail inserts an APP1 segment holding a whole JPEG (EOI included)
// after SOI, as EXIF thumbnails do.
func withThumbnail(t testing.TB, j []byte) []byte {
	thumb := testJPEG(t, 8, 8, 9)
	seg := []byte{0xFF, 0xE1, byte((len(thumb) + 2) >> 8), byte(len(thumb) + 2)}
	out := append([]byte{0xFF, 0xD8}, seg...)
	out = append(out, thumb...)
	return append(out, j[2:]...)
}

func collect(t *testing.T, s *Splitter) ([][]byte, error) {
	t.Helper()
	var got [][]byte
	for i := 0; i < 100; i++ {
		b, err := s.Next()
		if errors.Is(err, ErrBadFrame) {
			continue
		}
		if err != nil {
			return got, err
		}
		got = append(got, b)
	}
	t.Fatal("no end")
	return nil, nil
}

func TestSplitter(t *testing.T) {
	a, b, c := testJPEG(t, 64, 48, 1), withThumbnail(t, testJPEG(t, 32, 24, 2)), testJPEG(t, 16, 16, 3)
	var stream bytes.Buffer
	stream.Write(a)
	stream.Write([]byte("\r\n--junk between frames--\r\n\xff\x00"))
	stream.Write(b)
	stream.Write(c)
	stream.Write([]byte{0, 0}) // trailing padding
	got, err := collect(t, NewSplitter(&stream, 1<<20))
	if err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
	if len(got) != 3 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) || !bytes.Equal(got[2], c) {
		t.Fatalf("got %d frames, want the 3 JPEGs byte for byte", len(got))
	}
	for i, g := range got {
		if _, err := jpeg.Decode(bytes.NewReader(g)); err != nil {
			t.Errorf("frame %d does not decode: %v", i, err)
		}
	}
}

func TestSplitterOneByteReads(t *testing.T) {
	a, b := testJPEG(t, 40, 30, 1), testJPEG(t, 40, 30, 2)
	r := io.MultiReader(bytes.NewReader(a), bytes.NewReader(b))
	got, err := collect(t, NewSplitter(oneByte{r}, 1<<20))
	if err != io.EOF || len(got) != 2 || !bytes.Equal(got[1], b) {
		t.Fatalf("got %d frames, %v", len(got), err)
	}
}

type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:1]) }

func TestSplitterBounds(t *testing.T) {
	big, small := testJPEG(t, 256, 256, 1), testJPEG(t, 8, 8, 2)
	s := NewSplitter(bytes.NewReader(append(append([]byte{}, big...), small...)), len(small)+10)
	_, err := s.Next()
	if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized frame: %v", err)
	}
	f, err := s.Next()
	if err != nil || !bytes.Equal(f, small) {
		t.Fatalf("after an oversized frame the next one must come through: %v", err)
	}

	// Truncated.
	_, err = NewSplitter(bytes.NewReader(small[:len(small)-5]), 1<<20).Next()
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated: %v", err)
	}

	// Garbage: an H.264 byte stream.
	h264 := append([]byte{0, 0, 0, 1, 0x67, 0x42}, bytes.Repeat([]byte{0x11, 0x22}, 40000)...)
	_, err = NewSplitter(bytes.NewReader(h264), 1<<20).Next()
	if !errors.Is(err, ErrNotMJPEG) || !strings.Contains(err.Error(), "H.264") {
		t.Fatalf("h264: %v", err)
	}
	// Short garbage, then EOF.
	_, err = NewSplitter(strings.NewReader("hello"), 1<<20).Next()
	if !errors.Is(err, ErrNotMJPEG) {
		t.Fatalf("text: %v", err)
	}
	// Empty stream: clean EOF.
	if _, err = NewSplitter(strings.NewReader(""), 1<<20).Next(); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
	// A corrupt segment structure.
	bad := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 1, 2, 0x42}, small...)
	s = NewSplitter(bytes.NewReader(bad), 1<<20)
	if _, err := s.Next(); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("corrupt: %v", err)
	}
	if f, err := s.Next(); err != nil || !bytes.Equal(f, small) {
		t.Fatalf("resync after a corrupt frame: %v", err)
	}
}

func FuzzSplitter(f *testing.F) {
	f.Add(testJPEG(f, 16, 16, 1))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xFF, 0xD9})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewSplitter(bytes.NewReader(b), 4096)
		for i := 0; i < 1000; i++ {
			fr, err := s.Next()
			if errors.Is(err, ErrBadFrame) {
				continue
			}
			if err != nil {
				return
			}
			if len(fr) > 4096 || fr[0] != 0xFF || fr[1] != 0xD8 || fr[len(fr)-2] != 0xFF || fr[len(fr)-1] != 0xD9 {
				t.Fatalf("bad frame % x", fr[:min(8, len(fr))])
			}
		}
	})
}

func writeFrames(t *testing.T, n int) (dir string, frames [][]byte) {
	return testjpeg.Dir(t, n, 48, 32)
}

func TestProcess(t *testing.T) {
	dir, frames := writeFrames(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Start(ctx, []string{"sh", "-c", `cd "$1" && cat f0.jpg f1.jpg f2.jpg && echo "camera gone" >&2 && exit 3`, "sh", dir}, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i, want := range frames {
		got, err := p.Next()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	_, err = p.Next()
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "camera gone") ||
		!strings.Contains(err.Error(), "after 3 frames") {
		t.Fatalf("end error %v: want exit status and stderr", err)
	}
}

func TestProcessStops(t *testing.T) {
	dir, _ := writeFrames(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	// An endless producer: the same frame every 20 ms.
	p, err := Start(ctx, []string{"sh", "-c", `while :; do cat "$1/f0.jpg"; sleep 0.02; done`, "sh", dir}, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := p.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			_, err = p.Next()
		}
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("producer did not stop with its context")
	}
	p.Close()
}

func TestProcessErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Start(ctx, []string{"facemon-no-such-camera-tool"}, 1<<20, nil); !errors.Is(err, ErrNoTool) {
		t.Fatalf("missing tool: %v", err)
	}
	p, err := Start(ctx, []string{"sh", "-c", "head -c 100000 /dev/zero"}, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Next(); !errors.Is(err, ErrNotMJPEG) {
		t.Fatalf("garbage producer: %v", err)
	}
	p.Close()
}

// mjpegServer serves frames as multipart/x-mixed-replace, declaring
// boundary decl and separating parts with --sep.
func mjpegServer(t *testing.T, frames [][]byte, decl, sep string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "cam" || p != "s3cret-pw" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+decl)
		mw := multipart.NewWriter(w)
		if err := mw.SetBoundary(sep); err != nil {
			t.Error(err)
		}
		for _, f := range frames {
			pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, "Content-Length": {fmt.Sprint(len(f))}})
			pw.Write(f)
			w.(http.Flusher).Flush()
		}
		mw.Close()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTP(t *testing.T) {
	_, frames := writeFrames(t, 4)
	for name, b := range map[string][2]string{"standard": {"frame", "frame"}, "dashed": {"--myboundary", "myboundary"}} {
		t.Run(name, func(t *testing.T) {
			srv := mjpegServer(t, frames, b[0], b[1])
			u := strings.Replace(srv.URL, "http://", "http://cam:s3cret-pw@", 1) + "/video"
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h, err := OpenHTTP(ctx, nil, u, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			for i, want := range frames {
				got, err := h.Next()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			if _, err := h.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("end: %v", err)
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	srv := mjpegServer(t, nil, "x", "x")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(srv.URL, "http://", "http://cam:wrong-pw@", 1)
	_, err := OpenHTTP(ctx, nil, u, 1<<20)
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("unauthorised: %v (must name the status, never the password)", err)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Write([]byte("...."))
	}))
	defer plain.Close()
	if _, err := OpenHTTP(ctx, nil, plain.URL, 1<<20); !errors.Is(err, ErrNotMultipart) {
		t.Fatalf("mp4 over http: %v", err)
	}
	// A part that is not a JPEG is skipped with ErrBadFrame.
	mixed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
		mw := multipart.NewWriter(w)
		mw.SetBoundary("b")
		pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain"}})
		pw.Write([]byte("not a picture"))
		pw, _ = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"image/jpeg"}})
		pw.Write(testJPEG(t, 8, 8, 1))
		mw.Close()
	}))
	defer mixed.Close()
	h, err := OpenHTTP(ctx, nil, mixed.URL, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Next(); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("text part: %v", err)
	}
	if _, err := h.Next(); err != nil {
		t.Fatalf("jpeg after text part: %v", err)
	}
}
