package face

// facemon fork: detection and description on decoded pixels, so a caller
// that already decoded a frame (e.g. with OpenCV) does not pay for a second
// JPEG decode, can skip the ResNet for faces it already knows, and runs the
// ResNet once per frame over all chips.

// #include <stdlib.h>
// #include <stdint.h>
// #include "facerec.h"
import "C"
import (
	"fmt"
	"image"
	"unsafe"
)

// PixelFormat is the channel order of a packed 8-bit, 3-channel buffer.
type PixelFormat int

const (
	// RGB is red, green, blue (Go's image.RGBA without alpha).
	RGB PixelFormat = iota
	// BGR is OpenCV's order (a gocv Mat of type CV_8UC3).
	BGR
)

// Image is a decoded frame: Height rows of Stride bytes, each row Width
// pixels of 3 bytes in Format order. Pix is only read, during the call.
type Image struct {
	Pix           []byte
	Width, Height int
	Stride        int // bytes per row; 0 means 3*Width
	Format        PixelFormat
}

// maxSide bounds images handed to dlib (its HOG pyramid on larger images
// needs gigabytes).
const maxSide = 1 << 14

func (im Image) check() (stride int, err error) {
	stride = im.Stride
	if stride == 0 {
		stride = 3 * im.Width
	}
	switch {
	case im.Width <= 0 || im.Height <= 0 || im.Width > maxSide || im.Height > maxSide:
		return 0, InputError(fmt.Sprintf("go-face: image size %dx%d out of range", im.Width, im.Height))
	case im.Format != RGB && im.Format != BGR:
		return 0, InputError(fmt.Sprintf("go-face: unknown pixel format %d", im.Format))
	case stride < 3*im.Width:
		return 0, InputError(fmt.Sprintf("go-face: stride %d < 3*width %d", stride, 3*im.Width))
	case len(im.Pix) < stride*(im.Height-1)+3*im.Width:
		return 0, InputError(fmt.Sprintf("go-face: %d bytes for %dx%d (stride %d)", len(im.Pix), im.Width, im.Height, stride))
	}
	return stride, nil
}

// Detect returns the face boxes in img, sorted. With cnn false it runs the
// HOG detector on img upsampled upsample times (0..2; each doubles the size
// and finds faces half as large, at 4x the cost); with cnn true the MMOD
// CNN detector (loaded on first use).
func (rec *Recognizer) Detect(img Image, upsample int, cnn bool) ([]image.Rectangle, error) {
	typ := 0
	if cnn {
		typ = 1
	}
	return rec.detect(img, upsample, typ, false)
}

// DetectGrey runs the HOG detector on the grey version of img (one
// gradient per pixel instead of the largest of three: faster, and boxes
// may differ slightly from Detect's).
func (rec *Recognizer) DetectGrey(img Image, upsample int) ([]image.Rectangle, error) {
	return rec.detect(img, upsample, 2, false)
}

// DetectFast is Detect (grey false) or DetectGrey (grey true) with a
// cheaper HOG detector for scanning whole frames: three of the frontal
// detector's five filters (front, left and right looking faces; not the two
// for heads tilted sideways) over an image pyramid with 4/5 scale steps
// instead of 5/6. About two thirds of the cost (12 vs 18 ms on a 640x360
// frame); on facemon's test photos it finds 99 % of the faces Detect does.
func (rec *Recognizer) DetectFast(img Image, upsample int, grey bool) ([]image.Rectangle, error) {
	typ := 0
	if grey {
		typ = 2
	}
	return rec.detect(img, upsample, typ, true)
}

func (rec *Recognizer) detect(img Image, upsample int, typ int, fast bool) ([]image.Rectangle, error) {
	if rec == nil || rec.ptr == nil {
		return nil, ErrClosed
	}
	stride, err := img.check()
	if err != nil {
		return nil, err
	}
	if upsample < 0 || upsample > 2 {
		return nil, InputError(fmt.Sprintf("go-face: upsample %d out of range 0..2", upsample))
	}
	bgr, fst := 0, 0
	if img.Format == BGR {
		bgr = 1
	}
	if fast {
		fst = 1
	}
	ret := C.facerec_detect(rec.ptr, (*C.uint8_t)(unsafe.Pointer(&img.Pix[0])), C.int(img.Width), C.int(img.Height), C.int(stride), C.int(bgr), C.int(upsample), C.int(typ), C.int(fst))
	defer C.free(unsafe.Pointer(ret))
	if ret.err_str != nil {
		defer C.free(unsafe.Pointer(ret.err_str))
		return nil, makeError(C.GoString(ret.err_str), int(ret.err_code))
	}
	n := int(ret.num_faces)
	if n == 0 {
		return nil, nil
	}
	defer C.free(unsafe.Pointer(ret.rectangles))
	r := unsafe.Slice((*C.long)(unsafe.Pointer(ret.rectangles)), n*rectLen)
	out := make([]image.Rectangle, n)
	for i := range out {
		out[i] = image.Rect(int(r[i*rectLen]), int(r[i*rectLen+1]), int(r[i*rectLen+2]), int(r[i*rectLen+3]))
	}
	return out, nil
}

// Describe returns, for each box (as Detect returns them), the face's
// landmarks and descriptor. The ResNet runs once over all boxes.
func (rec *Recognizer) Describe(img Image, boxes []image.Rectangle) ([]Face, error) {
	if rec == nil || rec.ptr == nil {
		return nil, ErrClosed
	}
	stride, err := img.check()
	if err != nil {
		return nil, err
	}
	if len(boxes) == 0 {
		return nil, nil
	}
	if len(boxes) > maxFaceLimit {
		return nil, InputError(fmt.Sprintf("go-face: %d boxes > %d", len(boxes), maxFaceLimit))
	}
	rects := make([]C.long, 0, len(boxes)*rectLen)
	for _, b := range boxes {
		if b.Empty() {
			return nil, InputError(fmt.Sprintf("go-face: empty box %v", b))
		}
		rects = append(rects, C.long(b.Min.X), C.long(b.Min.Y), C.long(b.Max.X), C.long(b.Max.Y))
	}
	bgr := 0
	if img.Format == BGR {
		bgr = 1
	}
	cr := (*C.long)(C.malloc(C.size_t(len(rects)) * C.size_t(unsafe.Sizeof(C.long(0)))))
	defer C.free(unsafe.Pointer(cr))
	copy(unsafe.Slice(cr, len(rects)), rects)
	ret := C.facerec_describe(rec.ptr, (*C.uint8_t)(unsafe.Pointer(&img.Pix[0])), C.int(img.Width), C.int(img.Height), C.int(stride), C.int(bgr), cr, C.int(len(boxes)))
	defer C.free(unsafe.Pointer(ret))
	if ret.err_str != nil {
		defer C.free(unsafe.Pointer(ret.err_str))
		return nil, makeError(C.GoString(ret.err_str), int(ret.err_code))
	}
	n := int(ret.num_faces)
	if n != len(boxes) {
		if n > 0 {
			C.free(unsafe.Pointer(ret.descriptors))
			C.free(unsafe.Pointer(ret.shapes))
		}
		return nil, UnknownError(fmt.Sprintf("go-face: %d descriptors for %d boxes", n, len(boxes)))
	}
	defer C.free(unsafe.Pointer(ret.descriptors))
	defer C.free(unsafe.Pointer(ret.shapes))
	ns := int(ret.num_shapes)
	d := unsafe.Slice((*float32)(unsafe.Pointer(ret.descriptors)), n*descrLen)
	s := unsafe.Slice((*C.long)(unsafe.Pointer(ret.shapes)), n*ns*shapeLen)
	out := make([]Face, n)
	for i := range out {
		out[i].Rectangle = boxes[i]
		copy(out[i].Descriptor[:], d[i*descrLen:(i+1)*descrLen])
		out[i].Shapes = make([]image.Point, ns)
		for j := 0; j < ns; j++ {
			out[i].Shapes[j] = image.Pt(int(s[(i*ns+j)*shapeLen]), int(s[(i*ns+j)*shapeLen+1]))
		}
	}
	return out, nil
}

// CNNLoaded reports whether the CNN detector has been loaded (it loads on
// first use).
func (rec *Recognizer) CNNLoaded() bool {
	if rec == nil || rec.ptr == nil {
		return false
	}
	return C.facerec_cnn_loaded(rec.ptr) != 0
}
