#!/usr/bin/env bash
# What `make test-containers` needs besides scripts/deps.sh, idempotently:
# podman (with runc: crun refuses the hybrid cgroups of hosts like the CI
# sandbox), podman-compose, CNI's dnsname plugin (the compose network's
# service names: broker, recognizer), debootstrap for the local base
# images, and uidmap/slirp4netns/fuse-overlayfs for rootless podman.
set -euo pipefail
APT_PACKAGES=(podman runc podman-compose golang-github-containernetworking-plugin-dnsname debootstrap uidmap slirp4netns fuse-overlayfs)
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps-containers: installing Debian packages: ${missing[*]}"
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "deps-containers: ok"
