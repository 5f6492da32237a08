//go:build cgo

package convert

/*
#cgo CXXFLAGS: -std=c++14 -O2
#cgo LDFLAGS: -ldlib -lcblas -llapack
#include <stdlib.h>
#include "convert.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Available reports whether this build can run the dlib conversion (cgo).
const Available = true

// FaceAPIToDlib converts face-api's face_recognition_model weights into dlib's
// dlib_face_recognition_resnet_model_v1.dat at outPath. The output is
// deterministic.
func FaceAPIToDlib(manifestPath, binPath, outPath string) error {
	params, err := LoadDlibParams(manifestPath, binPath)
	if err != nil {
		return err
	}
	return BuildDlibModel(params, outPath)
}

// BuildDlibModel fills dlib's network with flat parameters (see DlibParams)
// and serializes it to outPath.
func BuildDlibModel(params []float32, outPath string) error {
	if len(params) == 0 {
		return errors.New("no parameters")
	}
	cpath := C.CString(outPath)
	defer C.free(unsafe.Pointer(cpath))
	var errbuf [512]C.char
	rc := C.facemon_build_dlib_model((*C.float)(unsafe.Pointer(&params[0])), C.size_t(len(params)), cpath, &errbuf[0], C.size_t(len(errbuf)))
	if rc != 0 {
		return fmt.Errorf("build dlib model: %s", C.GoString(&errbuf[0]))
	}
	return nil
}

// ChipSize is the side of the aligned face chip dlib's recognition net takes.
const ChipSize = 150

// ChipAndDescriptor detects the largest face in an RGB image (3 bytes per
// pixel, row-major), aligns a 150x150 chip like go-face does
// (get_face_chip_details(shape, 150, 0.25)) and returns the chip (RGB bytes)
// and its 128-d descriptor computed with the models in modelDir (go-face
// file names). Used by the cross-implementation test.
func ChipAndDescriptor(modelDir string, rgb []byte, w, h int) ([]byte, []float32, error) {
	if len(rgb) != 3*w*h || w <= 0 || h <= 0 {
		return nil, nil, fmt.Errorf("rgb buffer is %d bytes, want %d", len(rgb), 3*w*h)
	}
	cdir := C.CString(modelDir)
	defer C.free(unsafe.Pointer(cdir))
	chip := make([]byte, ChipSize*ChipSize*3)
	descr := make([]float32, 128)
	var errbuf [512]C.char
	rc := C.facemon_chip_and_descriptor(cdir, (*C.uchar)(unsafe.Pointer(&rgb[0])), C.long(w), C.long(h),
		(*C.uchar)(unsafe.Pointer(&chip[0])), (*C.float)(unsafe.Pointer(&descr[0])), &errbuf[0], C.size_t(len(errbuf)))
	if rc != 0 {
		return nil, nil, fmt.Errorf("chip and descriptor: %s", C.GoString(&errbuf[0]))
	}
	return chip, descr, nil
}

// Descriptor computes the descriptor of an aligned 150x150 RGB chip.
func Descriptor(modelDir string, chip []byte) ([]float32, error) {
	if len(chip) != ChipSize*ChipSize*3 {
		return nil, fmt.Errorf("chip is %d bytes, want %d", len(chip), ChipSize*ChipSize*3)
	}
	cdir := C.CString(modelDir)
	defer C.free(unsafe.Pointer(cdir))
	descr := make([]float32, 128)
	var errbuf [512]C.char
	rc := C.facemon_descriptor(cdir, (*C.uchar)(unsafe.Pointer(&chip[0])), (*C.float)(unsafe.Pointer(&descr[0])), &errbuf[0], C.size_t(len(errbuf)))
	if rc != 0 {
		return nil, fmt.Errorf("descriptor: %s", C.GoString(&errbuf[0]))
	}
	return descr, nil
}
