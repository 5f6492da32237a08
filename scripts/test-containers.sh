#!/usr/bin/env bash
# `make test-containers`: builds the local Debian bases and the image with
# podman, then runs e2e/containers TestContainerStack, which brings
# docker-compose.yml up unchanged with podman-compose (its bridge network;
# CNI's dnsname plugin resolves the service names), plays the shared video
# through the edge container, trains the performer from the dashboard,
# checks identities, the login, Home Assistant discovery, down/up and a
# backup restored into a fresh volume, and removes everything at the end.
# FACEMON_COMPOSE="docker-compose" runs it with another compose command.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
# runc, cgroupfs, ulimits and host networking for podman and podman-compose.
export CONTAINERS_CONF="$PWD/deploy/containers/containers.conf"
SHARED=${FACEMON_SHARED:-$(cd .. && pwd)/shared}
IMAGE=localhost/facemon:latest
start=$(date +%s)
stamp() { echo "test-containers: $* ($(( $(date +%s) - start )) s)"; }

bash scripts/deps-containers.sh
stamp "container packages ready"
# The model files go into the image from models/data (checked against
# their pinned sums); `make models` fills it (MODELS_FROM=DIR to copy).
if [ -n "${FACEMON_MODELS:-}" ] && [ "$FACEMON_MODELS" != "$PWD/models/data" ]; then
  make -s models MODELS_FROM="$FACEMON_MODELS" MODELS="$PWD/models/data"
else
  make -s models MODELS="$PWD/models/data"
fi
nice -n 10 bash scripts/container-base.sh
stamp "bases ready"

# Go modules from this machine's module cache (a file:// proxy), so the
# build needs no TLS to the module proxy; go.sum still checks every hash.
# The build stage also uses this machine's Go caches at this checkout's
# path (SRC, GOMODCACHE, no -trimpath): the cgo packages (dlib, OpenCV)
# that `make test` compiled here are reused instead of compiled again.
# FACEMON_IMAGE_SRC: the build stage's source path when the host's caches
# were filled from another checkout of the same sources (a git worktree).
for m in shared broker recognizer edge; do (cd "$m" && go mod download); done
gomod=$(go env GOMODCACHE)
nice -n 10 podman build --network host --format docker --target runtime \
  --build-arg BUILD_BASE=localhost/golang:bookworm --build-arg RUNTIME_BASE=localhost/debian:bookworm \
  -v "$gomod/cache/download:/goproxy:ro" --build-arg GOPROXY=file:///goproxy --build-arg GOSUMDB=off \
  -v "$gomod:$gomod" --build-arg GOMODCACHE="$gomod" \
  -v "$(go env GOCACHE):/host-go-build" --build-arg GOCACHE=/host-go-build \
  --build-arg SRC="${FACEMON_IMAGE_SRC:-$PWD}" --build-arg GOFLAGS= \
  -t "$IMAGE" .
stamp "image built: $(podman image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"

cd e2e
FACEMON_CONTAINERS=1 FACEMON_SHARED="$SHARED" go test -tags containers -count=1 -v -timeout 30m -run '^TestContainerStack$' ./containers/
cd ..
stamp "done"
