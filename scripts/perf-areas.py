#!/usr/bin/env python3
"""Group a `perf report` of one process into areas of facemon's frame path.

Usage: perf report -i perf.data --no-children -g none --comms facemon-recogni \
         --percentage relative --sort dso,sym -q | scripts/perf-areas.py [CPU_MS_PER_FRAME]

Prints each area's share of the process's samples and, given the bench's
CPU-ms per frame, its CPU-ms per frame. perf sees native (dlib, OpenBLAS,
libjpeg, OpenCV), Go and kernel time alike, which Go's own profiler does not.
"""
import re
import sys

AREAS = [
    ("HOG detection (dlib fhog, filters, pyramid)", r"fhog|spatially_filter|detect_from_fhog|resize_image<dlib::array2d<unsigned char|resize_image<dlib::matrix<unsigned char|DetectGrey|facerec_detect|scan_fhog"),
    ("ResNet descriptors (dlib dnn, BLAS)", r"libopenblas|liblapack|libblas|dlib::cpu::|img2col|sgemm|extract_image_chips|affine_transform|dlib::tt::"),
    ("landmarks (shape predictor)", r"shape_predictor"),
    ("JPEG decode for the engine (libjpeg)", r"libjpeg|load_pixels|jpeg_mem"),
    ("annotated JPEG encode / draw (OpenCV)", r"libopencv"),
    ("Go image code (motion thumbnail, crops, quality)", r"image/|golang.org/x/image"),
    ("Go runtime (GC, scheduler, memmove, malloc)", r"runtime\.|internal/runtime|gcWriteBarrier|aeshash|memeqbody|indexbytebody"),
    ("MQTT broker and client (mochi, paho, mqttx)", r"mochi-mqtt|paho|mqttx|/broker\.|packets\."),
    ("JSON, metrics, logging", r"encoding/json|prometheus|log/slog|strconv|fmt\."),
    ("network, syscalls, kernel", r"\[k\]|syscall|internal/poll|net\.|crypto/"),
    ("libc (malloc, memset)", r"libc\.so|ld-linux|libm\.so|libstdc"),
]

def main():
    per_frame = float(sys.argv[1]) if len(sys.argv) > 1 else None
    totals = {name: 0.0 for name, _ in AREAS}
    other = 0.0
    others = {}
    for line in sys.stdin:
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(.*)$", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
        text = dso + " " + sym
        for name, pat in AREAS:
            if re.search(pat, text):
                totals[name] += pct
                break
        else:
            other += pct
            others[sym.strip()[:80]] = others.get(sym.strip()[:80], 0) + pct
    rows = sorted(totals.items(), key=lambda kv: -kv[1]) + [("other", other)]
    print("| area | share of samples | CPU-ms/frame |")
    print("|---|---|---|")
    for name, pct in rows:
        ms = f"{per_frame * pct / 100:.2f}" if per_frame else "-"
        print(f"| {name} | {pct:.1f} % | {ms} |")
    top = sorted(others.items(), key=lambda kv: -kv[1])[:8]
    if top:
        print("\nlargest in other: " + "; ".join(f"{k} {v:.1f}%" for k, v in top), file=sys.stderr)

if __name__ == "__main__":
    main()
