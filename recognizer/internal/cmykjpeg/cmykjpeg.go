// Package cmykjpeg writes CMYK JPEGs with libjpeg, for tests: Go's
// image/jpeg encoder writes colour and greyscale JPEGs only, and CMYK ones
// (prepress scans, some phone and scanner software) must decode too.
package cmykjpeg

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

static int encode_cmyk(unsigned char *pix, int w, int h, int quality, unsigned char **out, unsigned long *outlen) {
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr err;
	c.err = jpeg_std_error(&err);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, out, outlen);
	c.image_width = w;
	c.image_height = h;
	c.input_components = 4;
	c.in_color_space = JCS_CMYK;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = pix + (size_t)c.next_scanline * w * 4;
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	return 0;
}
*/
import "C"

import (
	"errors"
	"image"
	"unsafe"
)

// Encode writes img as a 4-component CMYK JPEG with an Adobe marker, in the
// inverted convention Photoshop writes and Go's decoder and OpenCV read
// (stored value = 255 - ink).
func Encode(img image.Image, quality int) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, errors.New("cmykjpeg: empty image")
	}
	pix := C.malloc(C.size_t(w * h * 4))
	defer C.free(pix)
	buf := unsafe.Slice((*byte)(pix), w*h*4)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r8, g8, b8 := r>>8, g>>8, bl>>8
			m := max(r8, g8, b8) // 255 - black ink
			if m == 0 {
				buf[i], buf[i+1], buf[i+2], buf[i+3] = 255, 255, 255, 0
			} else {
				// ink c = (m-r)/m scaled; stored = 255 - ink
				buf[i] = byte(255 - (m-r8)*255/m)
				buf[i+1] = byte(255 - (m-g8)*255/m)
				buf[i+2] = byte(255 - (m-b8)*255/m)
				buf[i+3] = byte(m)
			}
			i += 4
		}
	}
	var out *C.uchar
	var n C.ulong
	C.encode_cmyk((*C.uchar)(pix), C.int(w), C.int(h), C.int(quality), &out, &n)
	if out == nil {
		return nil, errors.New("cmykjpeg: libjpeg wrote nothing")
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
}
