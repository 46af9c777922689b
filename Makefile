# printreg — build, test and benchmark.
GO        ?= go
BIN       := $(CURDIR)/.bin
FUZZTIME  ?= 10s
PKGS      := ./...

export PATH := $(BIN):$(PATH)

.PHONY: all build test test-deps vet unit fuzz-smoke bench run clean generate

all: build

## build: compile the three commands into ./bin
build:
	$(GO) build -o bin/ ./cmd/...

## generate: regenerate the committed tables (DICOM dictionary, PS3.15 tables)
generate:
	$(GO) generate ./...

## test: everything CI runs — installs test servers/tools, vet, race tests (integration
## tests included, never skipped), then a short fuzz run of every parser.
test: test-deps vet unit fuzz-smoke

test-deps:
	./scripts/test-deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)

unit:
	PRINTREG_REQUIRE_INTEGRATION=1 PRINTREG_BIN=$(BIN) $(GO) test -race -count=1 -timeout 30m $(PKGS)

fuzz-smoke:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz-smoke.sh

## bench: Go benchmarks of the hot paths (see docs/benchmarks.md for the side-by-side runs)
bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

## run: the main job on the embedded default (in-process NATS, ./printreg-data/inbox as the raw bucket)
run:
	$(GO) run ./cmd/ingest run

clean:
	rm -rf bin
