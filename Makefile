# tumble: `make run` starts the demo, `make test` runs every check.
GO        ?= go
BIN       := bin
# Each fuzz target runs a fixed number of inputs (about 5 s of this kind of
# machine each), times FUZZSCALE: a time limit (-fuzztime 10s) can end while
# a worker is mid-input, which go test reports as a failure with no input to
# show for it, so every budget is a count.
FUZZSCALE ?= 1
BENCHTIME ?= 1s
RUN_TICKS ?= 120

.PHONY: all build run replay-demo test vet fmt-check unit fuzz bench chaos clean kafka promtool etcd

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The demo: tumble on its embedded defaults, an in-process Kafka broker on
# 127.0.0.1:9092 fed by a load generator, the example rules, the
# Prometheus API on 127.0.0.1:9201, data in .cache/run. Ctrl-C stops it.
run: build
	$(BIN)/tumble --embedded --data .cache/run --rules testdata/rules/example.yaml

# The offline demo: two minutes of the fleet's traffic replayed through the
# aggregation exactly as a shard would; the points go to .cache/demo/.
replay-demo: build
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

# The integration tests run a real Kafka broker, promtool and etcd: `unit`
# fetches them first, once (see kafka, promtool and etcd below). The
# end-to-end tests of cmd/tumble take some ten minutes under -race on two
# busy cores, past go test's default limit: hence -timeout.
unit: kafka promtool etcd
	$(GO) test -race -count=1 -timeout 30m ./...

# The chaos test at full length: three tumble nodes, two replicas a shard,
# real Kafka and etcd; CHAOS_KILLS leaders killed with SIGKILL, etcd down
# for 10s, a leader cut off from etcd. `unit` runs it with 3 kills.
CHAOS_KILLS ?= 20
chaos: kafka etcd
	$(GO) test -count=1 -run '^TestChaos$$' -v -timeout 30m ./cmd/tumble -chaos.kills $(CHAOS_KILLS)

# Every decoder is fuzzed, on top of the seed corpora that `unit` already
# runs: $(call fuzz,package,target,inputs).
fuzz = $(GO) test -run '^$$' -fuzz '^$(2)$$' -fuzztime $$(($(3) * $(FUZZSCALE)))x $(1)
fuzz:
	$(call fuzz,./sample,FuzzDecodeJSON,80000)
	$(call fuzz,./sample,FuzzDecodeRecord,100000)
	$(call fuzz,./sample,FuzzProtoRoundTrip,50000)
	$(call fuzz,./rules,FuzzParse,25000)
	$(call fuzz,./rules,FuzzFilter,40000)
	$(call fuzz,./storage/index,FuzzDecode,100000)
	$(call fuzz,./storage/block,FuzzChunks,120000)
	$(call fuzz,./storage/chunkenc,FuzzDecode,90000)
	$(call fuzz,./storage/chunkenc,FuzzRoundTrip,30000)
	$(call fuzz,./storage/wal,FuzzReplay,3000)
	$(call fuzz,./storage,FuzzRecords,16000)
	$(call fuzz,./shard,FuzzRecord,300000)
	$(call fuzz,./aggregator,FuzzRestore,160000)
	$(call fuzz,./shard/replica,FuzzCheckpoint,40000)
	$(call fuzz,./flush/windowlog,FuzzDecode,40000)
	$(call fuzz,./shard/leader,FuzzRetained,15000)
	$(call fuzz,./flush/selection,FuzzDecode,250000)
	$(call fuzz,./query/selectionfeed,FuzzParseToken,20000)
	$(call fuzz,./ingest/remotewrite,FuzzDecode,40000)
	$(call fuzz,./ingest/remotewrite,FuzzUnmarshal,20000)
	$(call fuzz,./ingest/otlp,FuzzDecode,30000)
	$(call fuzz,./ingest/influx,FuzzDecode,40000)
	$(call fuzz,./ingest/graphite,FuzzParseLine,40000)

# Kafka's own jars, for the broker that internal/kafkatest runs: Maven
# resolves testdata/kafka/pom.xml into .cache/kafka/libs, with its local
# repository in .cache/m2. The stamp is written once every jar is there, and
# is redone when the pom changes.
MVN ?= mvn
kafka: .cache/kafka/stamp
.cache/kafka/stamp: testdata/kafka/pom.xml
	rm -rf .cache/kafka/libs $@
	$(MVN) -q -B -f testdata/kafka/pom.xml -Dmaven.repo.local=$(CURDIR)/.cache/m2 \
		dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/.cache/kafka/libs
	@mkdir -p $(@D) && touch $@

# promtool, from Debian's prometheus package, unpacked without installing it
# into .cache/prometheus (internal/promtooltest finds it there). apt-get
# needs its package lists: on a machine without them, root fetches them.
PROMTOOL := .cache/prometheus/usr/bin/promtool
APT_GET  := apt-get -qq -o APT::Sandbox::User=root
promtool: $(PROMTOOL)
$(PROMTOOL):
	rm -rf .cache/debs .cache/prometheus .cache/prometheus.tmp
	mkdir -p .cache/debs
	cd .cache/debs && { $(APT_GET) download prometheus 2>/dev/null || \
		{ [ "$$(id -u)" -eq 0 ] || { echo "apt-get cannot find prometheus: run apt-get update as root"; exit 1; }; \
		$(APT_GET) update && $(APT_GET) download prometheus; }; }
	dpkg-deb -x .cache/debs/prometheus_*.deb .cache/prometheus.tmp
	mv .cache/prometheus.tmp .cache/prometheus
	@touch $@

# etcd, from Debian's etcd-server package, unpacked the same way into
# .cache/etcd (internal/etcdtest finds it there). Its package waits in a
# directory of its own, which promtool's recipe does not clear: both can be
# fetched at once (make -j).
ETCD := .cache/etcd/usr/bin/etcd
etcd: $(ETCD)
$(ETCD):
	rm -rf .cache/etcd-deb .cache/etcd .cache/etcd.tmp
	mkdir -p .cache/etcd-deb
	cd .cache/etcd-deb && { $(APT_GET) download etcd-server 2>/dev/null || \
		{ [ "$$(id -u)" -eq 0 ] || { echo "apt-get cannot find etcd-server: run apt-get update as root"; exit 1; }; \
		$(APT_GET) update && $(APT_GET) download etcd-server; }; }
	dpkg-deb -x .cache/etcd-deb/etcd-server_*.deb .cache/etcd.tmp
	mv .cache/etcd.tmp .cache/etcd
	@touch $@

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...

clean:
	rm -rf $(BIN) .cache

# The generated Go code of the .proto files, checked in: sample/samplepb
# (messages), query/fanout/fanoutpb and flush/selection/selectionpb (messages and gRPC services). protoc is
# Maven's com.google.protobuf:protoc, fetched once into .cache/protoc;
# protoc-gen-go is built at go.mod's google.golang.org/protobuf into
# .cache/bin, and protoc-gen-go-grpc is installed there at
# PROTOC_GEN_GO_GRPC_VERSION, a release whose generated code needs no newer
# google.golang.org/grpc than go.mod's (go install pkg@version leaves go.mod
# alone). `make test` does not regenerate: unit tests check that the
# generated code declares what each .proto does.
PROTOC_VERSION  ?= 4.36.2
PROTOC_PLATFORM ?= linux-x86_64
PROTOC          := .cache/protoc/protoc-$(PROTOC_VERSION)-$(PROTOC_PLATFORM).exe
PROTOC_GEN_GO   := .cache/bin/protoc-gen-go
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
PROTOC_GEN_GO_GRPC := .cache/bin/protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)
PROTO_MESSAGES  := sample/samplepb/sample.proto
PROTO_SERVICES  := query/fanout/fanoutpb/query.proto flush/selection/selectionpb/selection.proto
.PHONY: proto
proto: $(PROTOC) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC)
	$(PROTOC) --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --go_out=. --go_opt=paths=source_relative \
		$(PROTO_MESSAGES)
	$(PROTOC) --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --go_out=. --go_opt=paths=source_relative \
		--plugin=protoc-gen-go-grpc=$(PROTOC_GEN_GO_GRPC) --go-grpc_out=. --go-grpc_opt=paths=source_relative \
		$(PROTO_SERVICES)
$(PROTOC):
	mvn -q -B -Dmaven.repo.local=$(CURDIR)/.cache/m2 dependency:copy \
		-Dartifact=com.google.protobuf:protoc:$(PROTOC_VERSION):exe:$(PROTOC_PLATFORM) \
		-DoutputDirectory=$(CURDIR)/.cache/protoc
	chmod +x $@
$(PROTOC_GEN_GO): go.mod
	$(GO) build -o $@ google.golang.org/protobuf/cmd/protoc-gen-go
$(PROTOC_GEN_GO_GRPC):
	GOBIN=$(CURDIR)/.cache/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	mv .cache/bin/protoc-gen-go-grpc $@
