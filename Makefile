# tumble: `make run` starts the demo, `make test` runs every check.
GO        ?= go
BIN       := bin
FUZZTIME  ?= 10s
# The WAL fuzzer fsyncs on every run, so slow runs are cut short by a time
# limit in the middle, which go test reports as a failure: give it a count.
FUZZRUNS_WAL ?= 3000x
BENCHTIME ?= 1s
RUN_TICKS ?= 120

.PHONY: all build run test vet fmt-check unit fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The demo: two minutes of a generated fleet's traffic, aggregated under the
# example rules exactly as a shard would; the points go to .cache/demo/.
run: build
	@mkdir -p .cache/demo
	$(BIN)/tumblectl rules check testdata/rules/example.yaml
	$(BIN)/tumblectl loadgen --ticks $(RUN_TICKS) --bad-every 5000 --output .cache/demo/samples.jsonl
	$(BIN)/tumblectl replay --rules testdata/rules/example.yaml --input .cache/demo/samples.jsonl \
		--output .cache/demo/points.jsonl || [ $$? -eq 1 ]
	@echo "points in .cache/demo/points.jsonl; the first P99 points, with the trace behind each:"
	@grep -m 3 '"P99"' .cache/demo/points.jsonl

test: fmt-check vet unit fuzz

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# storage implements Prometheus' chunkenc.Iterator, whose Seek(int64)
# ValueType is not io.Seeker's: vet's stdmethods check is off there only.
vet:
	$(GO) vet $$($(GO) list ./... | grep -v '/storage$$')
	$(GO) vet -stdmethods=false ./storage

unit:
	$(GO) test -race -count=1 ./...

# Every decoder is fuzzed for FUZZTIME each, on top of the seed corpora that
# `unit` already runs.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime $(FUZZTIME) ./sample
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./rules
	$(GO) test -run '^$$' -fuzz '^FuzzFilter$$' -fuzztime $(FUZZTIME) ./rules
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./storage/index
	$(GO) test -run '^$$' -fuzz '^FuzzChunks$$' -fuzztime $(FUZZTIME) ./storage/block
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./storage/chunkenc
	$(GO) test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) ./storage/chunkenc
	$(GO) test -run '^$$' -fuzz '^FuzzReplay$$' -fuzztime $(FUZZRUNS_WAL) ./storage/wal
	$(GO) test -run '^$$' -fuzz '^FuzzRecords$$' -fuzztime $(FUZZTIME) ./storage

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...

clean:
	rm -rf $(BIN) .cache
