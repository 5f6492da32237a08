#ifndef FACEMON_CONVERT_H
#define FACEMON_CONVERT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// facemon_build_dlib_model fills dlib's face recognition ResNet (go-face's
// anet_type) from `params` and serializes it to `out_path`.
//
// `params` holds every parameter in network order (input -> output):
//   con_:        filters in dlib layout [out][in][kh][kw], then the bias [out]
//   affine_:     gamma [k], then beta [k]
//   fc_no_bias:  weights [in][out] (row-major)
// `n` must equal the total parameter count. On failure a message is written to
// `err` (NUL-terminated, at most errlen bytes) and non-zero is returned.
int facemon_build_dlib_model(const float* params, size_t n, const char* out_path, char* err, size_t errlen);

// facemon_chip_and_descriptor detects the largest frontal face in the RGB
// image (w x h, 3 bytes per pixel, row-major), aligns a 150x150 chip with
// get_face_chip_details(shape, 150, 0.25) and computes its descriptor with the
// network in model_dir/dlib_face_recognition_resnet_model_v1.dat, using the
// landmarks model model_dir/shape_predictor_5_face_landmarks.dat.
// chip_out receives 150*150*3 bytes (RGB), descr_out 128 floats.
int facemon_chip_and_descriptor(const char* model_dir, const unsigned char* rgb, long w, long h,
                                unsigned char* chip_out, float* descr_out, char* err, size_t errlen);

// facemon_descriptor computes the descriptor of an already aligned 150x150 RGB chip.
int facemon_descriptor(const char* model_dir, const unsigned char* chip, float* descr_out, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
