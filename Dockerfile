# One image with every facemon binary (Debian bookworm: dlib, OpenCV 4.6,
# OpenBLAS). docker-compose.yml runs it as broker, recognizer and edge.
FROM golang:1.24-bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libdlib-dev libdlib-data libopencv-dev libjpeg-dev libatlas-base-dev libopenblas-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN mkdir -p /out && \
    (cd recognizer && go build -o /out/facemon-recognizer ./cmd/facemon-recognizer) && \
    (cd edge && go build -o /out/facemon-edge ./cmd/facemon-edge) && \
    (cd broker && go build -o /out/facemon-broker ./cmd/facemon-broker) && \
    (cd models && go build -o /out/facemon-models ./cmd/facemon-models)

FROM debian:bookworm
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libdlib19.1 libdlib-data libopencv-videoio406 libopencv-imgcodecs406 libopencv-imgproc406 \
      libjpeg62-turbo libatlas3-base libopenblas0-pthread ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
ENV OPENBLAS_NUM_THREADS=1 FACEMON_MODELS=/models
WORKDIR /data
