#include "convert.h"
#include "anet.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace dlib;

namespace {

void set_err(char* err, size_t errlen, const std::string& msg) {
    if (err == nullptr || errlen == 0) return;
    size_t n = msg.size() < errlen - 1 ? msg.size() : errlen - 1;
    std::memcpy(err, msg.data(), n);
    err[n] = 0;
}

// Switches every affine_ layer to CONV_MODE (one gamma/beta per channel, as in
// dlib's released model). affine_ defaults to FC_MODE; this must happen before
// the first forward pass allocates the parameters.
struct conv_mode_visitor {
    void operator()(affine_& l) const { l = affine_(CONV_MODE); }
};

// A parameter-carrying layer, in the order the visitor met it.
struct slot {
    enum kind_t { CON, AFFINE, FC } kind;
    tensor* params; // con_ / fc_
    affine_* aff;   // affine_
};

struct collect_visitor {
    std::vector<slot>* out;

    template <long nf, long nr, long nc, int sy, int sx, int py, int px>
    void operator()(con_<nf,nr,nc,sy,sx,py,px>& l) const {
        out->push_back(slot{slot::CON, &l.get_layer_params(), nullptr});
    }
    void operator()(affine_& l) const {
        out->push_back(slot{slot::AFFINE, nullptr, &l});
    }
    template <unsigned long no, fc_bias_mode bm>
    void operator()(fc_<no,bm>& l) const {
        out->push_back(slot{slot::FC, &l.get_layer_params(), nullptr});
    }
};

size_t copy_into(tensor& t, const float* src, size_t avail) {
    if (t.size() > avail) return (size_t)-1;
    std::memcpy(t.host(), src, t.size() * sizeof(float));
    return t.size();
}

} // namespace

extern "C" int facemon_build_dlib_model(const float* params, size_t n, const char* out_path, char* err, size_t errlen) {
    try {
        facemon::anet_type net;
        visit_computational_layers(net, conv_mode_visitor{});

        // One forward pass on a dummy chip allocates every layer's parameters.
        matrix<rgb_pixel> dummy(150, 150);
        for (long r = 0; r < dummy.nr(); ++r)
            for (long c = 0; c < dummy.nc(); ++c)
                dummy(r, c) = rgb_pixel(0, 0, 0);
        net(dummy);

        std::vector<slot> slots;
        visit_computational_layers(net, collect_visitor{&slots});
        // dlib visits from the output layer towards the input; the weights come
        // input first.
        std::reverse(slots.begin(), slots.end());

        size_t off = 0;
        for (size_t i = 0; i < slots.size(); ++i) {
            const slot& s = slots[i];
            size_t used;
            if (s.kind == slot::AFFINE) {
                auto g = s.aff->get_gamma();
                auto b = s.aff->get_beta();
                size_t k = g.size();
                if (b.size() != k || off + 2 * k > n) {
                    set_err(err, errlen, "affine layer " + std::to_string(i) + ": parameter array too short");
                    return 1;
                }
                std::memcpy(g.host(), params + off, k * sizeof(float));
                std::memcpy(b.host(), params + off + k, k * sizeof(float));
                used = 2 * k;
            } else {
                used = copy_into(*s.params, params + off, n - off);
                if (used == (size_t)-1) {
                    set_err(err, errlen, "layer " + std::to_string(i) + ": parameter array too short");
                    return 1;
                }
            }
            off += used;
        }
        if (off != n) {
            set_err(err, errlen, "parameter count mismatch: network takes " + std::to_string(off) +
                                 " values, got " + std::to_string(n));
            return 1;
        }

        net.clean();
        serialize(std::string(out_path)) << net;
        return 0;
    } catch (std::exception& e) {
        set_err(err, errlen, e.what());
        return 1;
    } catch (...) {
        set_err(err, errlen, "unknown C++ exception");
        return 1;
    }
}
