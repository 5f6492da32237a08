#!/usr/bin/env bash
# Local base images for the container build, made from Debian's packages only
# (no registry pull): the machines that run CI cannot reach Docker Hub.
#   localhost/debian:bookworm   debootstrap --variant=minbase bookworm, imported
#   localhost/golang:bookworm   the same plus this machine's Go toolchain
#                               (GOROOT copied in; like golang:1.2x-bookworm)
# The Dockerfile takes them as build arguments:
#   --build-arg RUNTIME_BASE=localhost/debian:bookworm
#   --build-arg BUILD_BASE=localhost/golang:bookworm
# The debootstrap tree is cached in $FACEMON_BASE_CACHE (default
# /var/tmp/facemon-base) and reused; an image already present is kept
# (FORCE=1 rebuilds both).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${FACEMON_BASE_CACHE:-/var/tmp/facemon-base}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
RUNTIME_IMAGE=${RUNTIME_IMAGE:-localhost/debian:bookworm}
BUILD_IMAGE=${BUILD_IMAGE:-localhost/golang:bookworm}
# runc, cgroupfs and ulimits the sandboxed CI host accepts (see the file).
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/containers/containers.conf}

have_image() { podman image exists "$1"; }

if [ "${FORCE:-0}" = 1 ]; then
  podman rmi -f "$BUILD_IMAGE" "$RUNTIME_IMAGE" >/dev/null 2>&1 || true
fi

if ! have_image "$RUNTIME_IMAGE"; then
  rootfs="$CACHE/$SUITE-minbase"
  if [ ! -e "$rootfs/.complete" ] || [ "${FORCE:-0}" = 1 ]; then
    echo "container-base: debootstrap --variant=minbase $SUITE into $rootfs (about a minute)"
    rm -rf "$rootfs"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 || {
      tail -20 "$CACHE/debootstrap.log" >&2
      echo "container-base: debootstrap failed (log: $CACHE/debootstrap.log)" >&2
      exit 1
    }
    # Debian's security and point-release updates too, like debian:bookworm.
    cat > "$rootfs/etc/apt/sources.list" <<EOS
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${SECURITY_MIRROR:-http://deb.debian.org/debian-security} $SUITE-security main
EOS
    # Like the official images: no apt caches.
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    touch "$rootfs/.complete"
  fi
  echo "container-base: importing $RUNTIME_IMAGE"
  tar --exclude=./.complete -C "$rootfs" -c . |
    podman import --change 'CMD ["bash"]' - "$RUNTIME_IMAGE" >/dev/null
fi

if ! have_image "$BUILD_IMAGE"; then
  goroot=$(go env GOROOT)
  echo "container-base: $BUILD_IMAGE = $RUNTIME_IMAGE + the Go toolchain in $goroot ($(go env GOVERSION))"
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cat > "$ctx/Containerfile" <<EOC
FROM $RUNTIME_IMAGE
RUN cp -a /host-go /usr/local/go
ENV GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOTOOLCHAIN=local
WORKDIR /go
EOC
  podman build --network host -v "$goroot:/host-go:ro" -t "$BUILD_IMAGE" "$ctx" >/dev/null
fi
echo "container-base: $RUNTIME_IMAGE and $BUILD_IMAGE ready"
