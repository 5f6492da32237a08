#!/usr/bin/env bash
# Prepares an arm64 cross build of facemon-edge (the Raspberry Pi 4/5 on
# 64-bit Raspberry Pi OS bookworm), idempotently; run by `make cross-arm64`
# and `make test-arm64` only:
#   - host (amd64) packages: the aarch64 cross compiler and qemu-user-static;
#   - an arm64 sysroot with Debian's OpenCV 4.6 (the version gocv v0.31 is
#     made for) in $SYSROOT (default ~/.cache/facemon/sysroot-arm64).
# The arm64 libraries are NOT installed as host packages: libopencv-dev:arm64
# is not co-installable with the amd64 libopencv-dev (apt would remove the
# amd64 OpenCV). Instead apt resolves and downloads the arm64 packages
# against an empty package database and they are unpacked into the sysroot,
# which also serves qemu as its library prefix (QEMU_LD_PREFIX).
set -euo pipefail
cd "$(dirname "$0")/.."

SYSROOT=${SYSROOT:-$HOME/.cache/facemon/sysroot-arm64}
# The smallest set gocv's cgo code needs: the modules opencv2/opencv.hpp
# includes (linked with the customenv build tag, not opencv4.pc, whose
# libopencv-dev pulls in contrib, viz/VTK and GDAL: ~3x the download).
ARM64_PACKAGES=(
  libc6-dev libstdc++-12-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-videoio-dev
  libopencv-highgui-dev libopencv-objdetect-dev libopencv-features2d-dev libopencv-video-dev
  libopencv-dnn-dev libopencv-calib3d-dev libopencv-photo-dev libopencv-ml-dev
  libopencv-flann-dev libopencv-stitching-dev
)
# The recognizer (CROSS_RECOGNIZER=1) also needs dlib and a BLAS/LAPACK.
if [ -n "${CROSS_RECOGNIZER:-}" ]; then
  ARM64_PACKAGES+=(libdlib-dev libblas-dev liblapack-dev libatlas-base-dev libjpeg-dev)
fi
HOST_PACKAGES=(crossbuild-essential-arm64 qemu-user-static)

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

start=$(date +%s)
missing=()
for p in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
need_update=
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "cross-deps: adding the arm64 architecture to dpkg (package lists only; no arm64 package is installed)"
  sudo_ dpkg --add-architecture arm64
  need_update=1
fi
stamp="$SYSROOT/.facemon-sysroot"
want="$(printf '%s\n' "${ARM64_PACKAGES[@]}" | sha256sum | cut -c1-16)"
if [ ${#missing[@]} -gt 0 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if [ -n "$need_update" ] || ! ls /var/lib/apt/lists/*_binary-arm64_Packages* >/dev/null 2>&1; then
    sudo_ apt-get update -qq
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "cross-deps: installing host packages: ${missing[*]}"
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "cross-deps: building the arm64 sysroot in $SYSROOT"
  rm -rf "$SYSROOT"
  mkdir -p "$SYSROOT/.apt/archives/partial" "$SYSROOT/.apt/lists"
  : > "$SYSROOT/.apt/status"
  apt_=(apt-get -q -y --no-install-recommends
    -o "Dir::State::status=$SYSROOT/.apt/status"
    -o "Dir::Cache::archives=$SYSROOT/.apt/archives"
    -o APT::Architecture=arm64 -o "APT::Architectures::=arm64"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  "${apt_[@]}" --download-only install "${ARM64_PACKAGES[@]}" >"$SYSROOT/.apt/download.log"
  n=0
  for deb in "$SYSROOT"/.apt/archives/*.deb; do
    dpkg-deb -x "$deb" "$SYSROOT"
    n=$((n + 1))
  done
  # Merged /usr as on the Pi: /lib, /bin, /sbin are links into usr/.
  for d in lib bin sbin; do
    if [ -d "$SYSROOT/$d" ] && [ ! -L "$SYSROOT/$d" ]; then
      mkdir -p "$SYSROOT/usr/$d"
      cp -a "$SYSROOT/$d/." "$SYSROOT/usr/$d/"
      rm -rf "${SYSROOT:?}/$d"
    fi
    ln -sfn "usr/$d" "$SYSROOT/$d"
  done
  # Absolute symlinks (e.g. lib*.so -> /lib/...) must resolve inside the sysroot.
  find "$SYSROOT/usr" -type l -lname '/*' | while read -r l; do
    ln -sfn "$SYSROOT$(readlink "$l")" "$l"
  done
  du -sm "$SYSROOT/.apt/archives" | awk -v n="$n" '{print "cross-deps: " n " arm64 packages, " $1 " MB downloaded"}'
  rm -rf "$SYSROOT/.apt/archives"
  echo "$want" > "$stamp"
fi
# Debian points libblas.so.3/liblapack.so.3 at an implementation through
# update-alternatives (maintainer scripts, not run by dpkg-deb -x): do that
# here, preferring OpenBLAS as on the host.
lib="$SYSROOT/usr/lib/aarch64-linux-gnu"
for so in libblas.so.3 liblapack.so.3 libblas.so liblapack.so; do
  for impl in openblas-pthread blas lapack atlas; do
    if [ -e "$lib/$impl/$so" ]; then
      ln -sfn "$impl/$so" "$lib/$so"
      break
    fi
  done
  case $so in *.3) [ -e "$lib/$so" ] || { echo "cross-deps: no $so in the sysroot" >&2; exit 1; } ;; esac
done
du -sm "$SYSROOT" | awk '{print "cross-deps: sysroot " $1 " MB"}'
echo "cross-deps: ok ($(( $(date +%s) - start )) s)"
