#include "convert.h"
#include "anet.h"

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <cstring>
#include <string>

using namespace dlib;

namespace {

void set_err2(char* err, size_t errlen, const std::string& msg) {
    if (err == nullptr || errlen == 0) return;
    size_t n = msg.size() < errlen - 1 ? msg.size() : errlen - 1;
    std::memcpy(err, msg.data(), n);
    err[n] = 0;
}

void copy_descr(const matrix<float,0,1>& d, float* out) {
    for (long i = 0; i < d.size(); ++i) out[i] = d(i);
}

} // namespace

extern "C" int facemon_chip_and_descriptor(const char* model_dir, const unsigned char* rgb, long w, long h,
                                           unsigned char* chip_out, float* descr_out, char* err, size_t errlen) {
    try {
        std::string dir = model_dir;
        shape_predictor sp;
        deserialize(dir + "/shape_predictor_5_face_landmarks.dat") >> sp;
        facemon::anet_type net;
        deserialize(dir + "/dlib_face_recognition_resnet_model_v1.dat") >> net;

        matrix<rgb_pixel> img(h, w);
        for (long r = 0; r < h; ++r)
            for (long c = 0; c < w; ++c) {
                const unsigned char* p = rgb + 3 * (r * w + c);
                img(r, c) = rgb_pixel(p[0], p[1], p[2]);
            }

        frontal_face_detector det = get_frontal_face_detector();
        std::vector<rectangle> faces = det(img);
        if (faces.empty()) {
            set_err2(err, errlen, "no face found");
            return 2;
        }
        rectangle best = faces[0];
        for (auto& f : faces)
            if (f.area() > best.area()) best = f;

        full_object_detection shape = sp(img, best);
        matrix<rgb_pixel> chip;
        extract_image_chip(img, get_face_chip_details(shape, 150, 0.25), chip);
        if (chip.nr() != 150 || chip.nc() != 150) {
            set_err2(err, errlen, "unexpected chip size");
            return 1;
        }
        for (long r = 0; r < 150; ++r)
            for (long c = 0; c < 150; ++c) {
                unsigned char* p = chip_out + 3 * (r * 150 + c);
                p[0] = chip(r, c).red;
                p[1] = chip(r, c).green;
                p[2] = chip(r, c).blue;
            }
        copy_descr(net(chip), descr_out);
        return 0;
    } catch (std::exception& e) {
        set_err2(err, errlen, e.what());
        return 1;
    } catch (...) {
        set_err2(err, errlen, "unknown C++ exception");
        return 1;
    }
}

extern "C" int facemon_descriptor(const char* model_dir, const unsigned char* chip, float* descr_out, char* err, size_t errlen) {
    try {
        facemon::anet_type net;
        deserialize(std::string(model_dir) + "/dlib_face_recognition_resnet_model_v1.dat") >> net;
        matrix<rgb_pixel> img(150, 150);
        for (long r = 0; r < 150; ++r)
            for (long c = 0; c < 150; ++c) {
                const unsigned char* p = chip + 3 * (r * 150 + c);
                img(r, c) = rgb_pixel(p[0], p[1], p[2]);
            }
        copy_descr(net(img), descr_out);
        return 0;
    } catch (std::exception& e) {
        set_err2(err, errlen, e.what());
        return 1;
    } catch (...) {
        set_err2(err, errlen, "unknown C++ exception");
        return 1;
    }
}
