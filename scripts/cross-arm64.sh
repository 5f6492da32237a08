#!/usr/bin/env bash
# Cross-builds facemon for linux/arm64 (Raspberry Pi 4/5, 64-bit Raspberry Pi
# OS bookworm) into bin/linux-arm64/: facemon-edge (cgo, gocv against the
# arm64 OpenCV 4.6 in the sysroot scripts/cross-deps.sh prepares) and the
# pure-Go facemon-broker and facemon-models. `make cross-arm64` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
SYSROOT=${SYSROOT:-$HOME/.cache/facemon/sysroot-arm64}
OUT=${OUT:-$PWD/bin/linux-arm64}
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
[ -f "$SYSROOT/.facemon-sysroot" ] || { echo "cross-arm64: no sysroot in $SYSROOT; run scripts/cross-deps.sh" >&2; exit 1; }
mkdir -p "$OUT"
lib="$SYSROOT/usr/lib/aarch64-linux-gnu"
# The OpenCV modules gocv's cgo code uses (customenv: no pkg-config).
cv_libs="-lopencv_stitching -lopencv_calib3d -lopencv_dnn -lopencv_features2d -lopencv_flann -lopencv_highgui
 -lopencv_ml -lopencv_objdetect -lopencv_photo -lopencv_video -lopencv_videoio -lopencv_imgcodecs -lopencv_imgproc -lopencv_core"
t0=$(date +%s)
(cd broker && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags "-s -w" -o "$OUT/facemon-broker" ./cmd/facemon-broker)
(cd models && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags "-s -w" -o "$OUT/facemon-models" ./cmd/facemon-models)
t1=$(date +%s)
(cd edge && env CGO_ENABLED=1 GOOS=linux GOARCH=arm64 \
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ \
  CGO_CFLAGS="--sysroot=$SYSROOT -O2" CGO_CXXFLAGS="--sysroot=$SYSROOT -O2" \
  CGO_CPPFLAGS="-I$SYSROOT/usr/include/opencv4" \
  CGO_LDFLAGS="--sysroot=$SYSROOT -L$lib -Wl,-rpath-link,$lib $cv_libs" \
  go build -tags customenv -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$OUT/facemon-edge" ./cmd/facemon-edge)
t2=$(date +%s)
echo "cross-arm64: pure-Go binaries $((t1 - t0)) s, facemon-edge $((t2 - t1)) s"
if [ -n "${CROSS_RECOGNIZER:-}" ]; then
  # go-face (dlib) and gocv; the wrapper turns go-face's -march=native into
  # -mcpu=cortex-a72 (CROSS_CPU).
  (cd recognizer && env CGO_ENABLED=1 GOOS=linux GOARCH=arm64 \
    CC=aarch64-linux-gnu-gcc CXX="$PWD/../scripts/aarch64-g++" \
    CGO_CFLAGS="--sysroot=$SYSROOT -O2" CGO_CXXFLAGS="--sysroot=$SYSROOT -O2" \
    CGO_CPPFLAGS="-I$SYSROOT/usr/include/opencv4" \
    CGO_LDFLAGS="--sysroot=$SYSROOT -L$lib -Wl,-rpath-link,$lib $cv_libs" \
    go build -tags customenv -trimpath -ldflags "-s -w" -o "$OUT/facemon-recognizer" ./cmd/facemon-recognizer)
  echo "cross-arm64: facemon-recognizer $(( $(date +%s) - t2 )) s"
fi
ls -l "$OUT" | awk 'NR>1 {printf "cross-arm64: %-16s %6.1f MB\n", $9, $5/1048576}'
file "$OUT/facemon-edge" 2>/dev/null || true
