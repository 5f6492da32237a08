#!/usr/bin/env bash
# `make image-edge-arm64`: the Raspberry Pi edge (linux/arm64) as an image,
# localhost/facemon-edge:arm64, without building anything under emulation:
#   1. facemon-edge cross-compiled on this host (`make cross-arm64`, which
#      runs first: the aarch64 toolchain, the arm64 sysroot with Debian's
#      OpenCV 4.6 from scripts/cross-deps.sh);
#   2. an arm64 Debian bookworm base: `debootstrap --foreign --arch arm64
#      --variant=minbase`, its second stage run under qemu-user-static
#      through binfmt_misc, cached in $FACEMON_BASE_CACHE (default
#      /var/tmp/facemon-base) and imported as localhost/debian-arm64:bookworm;
#   3. the Dockerfile's stage edge-arm64 on that base: the binary,
#      facemon-health, and only the shared libraries the binary loads (the
#      arm64 loader lists them, run by qemu against the sysroot), copied from
#      the sysroot into /usr/local/lib/facemon; user 10001;
#   4. `facemon-edge --version` run in the image (qemu through binfmt_misc).
# Needs root (debootstrap, binfmt_misc). FORCE=1 rebuilds the base.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/containers/containers.conf}
SYSROOT=${SYSROOT:-$HOME/.cache/facemon/sysroot-arm64}
BIN_ARM64=${BIN_ARM64:-$PWD/bin/linux-arm64}
CACHE=${FACEMON_BASE_CACHE:-/var/tmp/facemon-base}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=${ARM64_BASE_IMAGE:-localhost/debian-arm64:bookworm}
IMAGE=${ARM64_EDGE_IMAGE:-localhost/facemon-edge:arm64}
start=$(date +%s)
stamp() { echo "image-edge-arm64: $* ($(( $(date +%s) - start )) s)"; }
die() { echo "image-edge-arm64: $*" >&2; exit 1; }

bash scripts/deps-containers.sh
[ -x "$BIN_ARM64/facemon-edge" ] || die "no $BIN_ARM64/facemon-edge (make cross-arm64)"
command -v qemu-aarch64-static >/dev/null || die "qemu-aarch64-static missing (scripts/cross-deps.sh installs qemu-user-static)"

# binfmt_misc: arm64 ELF files run through qemu-aarch64-static, with the F
# flag (the interpreter is opened now, so it works inside chroots and
# containers that do not have it). Debian's qemu-user-static registers it
# when systemd runs; a sandbox or a CI VM may have neither the mount nor
# the registration.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
  mount -t binfmt_misc binfmt_misc "$binfmt" || die "cannot mount binfmt_misc"
fi
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  conf=/usr/lib/binfmt.d/qemu-aarch64.conf   # Debian's (flags OPF)
  if [ -e "$conf" ]; then
    cat "$conf" > "$binfmt/register" || die "cannot register $conf with binfmt_misc"
  else
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
    > "$binfmt/register" || die "cannot register qemu-aarch64 with binfmt_misc"
  fi
fi
grep -q '^enabled' "$binfmt/qemu-aarch64" || die "binfmt_misc qemu-aarch64 is not enabled"
stamp "qemu-aarch64 registered with binfmt_misc"

if ! podman image exists "$BASE" || [ "${FORCE:-0}" = 1 ]; then
  rootfs="$CACHE/bookworm-arm64-minbase"
  if [ ! -e "$rootfs/.complete" ] || [ "${FORCE:-0}" = 1 ]; then
    echo "image-edge-arm64: debootstrap --foreign --arch arm64 --variant=minbase bookworm into $rootfs"
    rm -rf "$rootfs"
    mkdir -p "$CACHE"
    log="$CACHE/debootstrap-arm64.log"
    { debootstrap --foreign --arch arm64 --variant=minbase bookworm "$rootfs" "$MIRROR" &&
      chroot "$rootfs" /debootstrap/debootstrap --second-stage; } > "$log" 2>&1 || {
      tail -20 "$log" >&2
      die "debootstrap failed (log: $log)"
    }
    cat > "$rootfs/etc/apt/sources.list" <<EOS
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main
EOS
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    touch "$rootfs/.complete"
  fi
  podman rmi -f "$BASE" >/dev/null 2>&1 || true
  tar --exclude=./.complete -C "$rootfs" -c . |
    podman import --arch arm64 --os linux --change 'CMD ["bash"]' - "$BASE" >/dev/null
fi
stamp "base $BASE ready"

# The build context: the binary, facemon-health and the libraries the
# binary loads that the base does not have. The arm64 loader lists them
# (ldd's own method), run by qemu with the sysroot as its prefix.
rootfs="$CACHE/bookworm-arm64-minbase"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/lib"
cp "$BIN_ARM64/facemon-edge" "$ctx/bin/"
cp deploy/containers/facemon-health "$ctx/bin/"
cp Dockerfile "$ctx/Dockerfile"
QEMU_LD_PREFIX="$SYSROOT" qemu-aarch64-static -L "$SYSROOT" "$SYSROOT/lib/ld-linux-aarch64.so.1" --list "$BIN_ARM64/facemon-edge" > "$ctx/ldd.txt" ||
  { cat "$ctx/ldd.txt" >&2; die "the arm64 loader could not list the edge's libraries"; }
if grep -q 'not found' "$ctx/ldd.txt"; then cat "$ctx/ldd.txt" >&2; die "libraries missing from the sysroot"; fi
awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' "$ctx/ldd.txt" | sort -u |
  while read -r name path; do
    name=${name##*/} path=${path#"$SYSROOT"}   # the loader's own line
    # The base's own libraries (the loader, libc, libstdc++, zlib...) stay its own.
    [ -e "$rootfs/usr/lib/aarch64-linux-gnu/$name" ] || cp -L "$SYSROOT$path" "$ctx/lib/$name"
  done
stamp "context: $(ls "$ctx/lib" | wc -l) libraries ($(du -sm "$ctx/lib" | cut -f1) MB) from the sysroot"

podman build --network host --format docker --arch arm64 --os linux --target edge-arm64 --build-arg EDGE_ARM64_BASE="$BASE" -t "$IMAGE" "$ctx"
size=$(podman image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')
stamp "image $IMAGE built ($(podman image inspect -f '{{.Os}}/{{.Architecture}}' "$IMAGE"), $size)"

out=$(podman run --rm --no-healthcheck --network host --arch arm64 "$IMAGE" facemon-edge --version) ||
  die "facemon-edge --version failed in $IMAGE"
echo "$out"
case $out in *linux/arm64*"OpenCV 4."*) ;; *) die "unexpected --version output: $out" ;; esac
stamp "done: facemon-edge --version runs in $IMAGE under qemu"
