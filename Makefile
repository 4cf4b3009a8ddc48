# vehicle-stats: see README.md. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
GOFLAGS_TEST ?= -race -count=1
STACK := deploy/local/stack.sh
WITH_STACK := deploy/local/with-stack.sh
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
# --version prints both, with the Go version (internal/config VersionLine).
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
SERVICES := $(notdir $(wildcard services/*))

.PHONY: bench-catchup bench-compare bench-latency help build test test-unit test-integration test-docker chromium run up down bench lint fmt clean stack-start stack-stop stack-status stack-reset

# "## [group] text" after a target lists it under that heading of `make help`
# (a target without a group goes under "other"); a long one says how long it
# usually takes here (2 cores).
help: ## [housekeeping] list the targets by purpose
	@echo "make TARGET [VAR=value ...]; durations are the usual ones on 2 cores"
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## *(\[([a-z]+)\])? *(.*)$$/\3\t\1\t\4/' | \
		awk -F'\t' 'BEGIN { n = split("run test bench docker housekeeping", order, " ") } \
			{ g = ($$1 == "" ? "other" : $$1); line[g] = line[g] sprintf("  %-18s %s\n", $$2, $$3) } \
			END { order[++n] = "other"; for (i = 1; i <= n; i++) if (order[i] in line) { printf "\n%s:\n", order[i]; \
				printf "%s", line[order[i]] | "sort"; close("sort") } }'

build: ## [housekeeping] build bin/vehicle-producer and bin/stats-processor
	@mkdir -p bin
	@for s in $(SERVICES); do \
		if ls services/$$s/*.go >/dev/null 2>&1; then \
			echo "go build -o bin/$$s ./services/$$s"; \
			CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$$s ./services/$$s || exit 1; \
		fi; \
	done

test: test-unit test-integration ## [test] unit tests, then integration tests against a real Kafka and Redis (started if needed); about 10 min

test-unit: promtool ## [test] unit tests only (no services), with the race detector
	$(GO) test $(GOFLAGS_TEST) -short ./...

test-integration: build chromium promtool ## [test] integration and end-to-end tests against the local stack; about 9 min
	$(WITH_STACK) $(GO) test $(GOFLAGS_TEST) -timeout 20m -run 'Integration|E2E' ./...

test-docker: ## [docker] Docker tests: engine (started if none answers), images (pulled, or local stand-ins), compose end to end, testcontainers; 5 to 9 min, the first time about 20 min (docs/docker-compose.md)
	GO=$(GO) GOFLAGS_TEST='$(GOFLAGS_TEST)' deploy/docker/test-docker.sh

chromium: ## [housekeeping] Debian's chromium for the live page's browser test (installed when missing and root: 1 to 3 min)
	@command -v chromium >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ]; then \
		source deploy/local/progress.sh; \
		progress "installing Debian's chromium for the browser test" "1 to 3 min" -- \
			bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null' \
			|| echo "could not install chromium: the browser test will be skipped"; \
	else \
		echo "chromium is missing, so the browser test will be skipped; install it with: sudo apt-get install chromium"; \
	fi

.PHONY: promtool
promtool: ## [housekeeping] Debian's promtool for the alert rules' tests (deploy/prometheus; installed when missing and root: about a minute)
	@command -v promtool >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ]; then \
		source deploy/local/progress.sh; \
		progress "installing Debian's prometheus package for promtool, which tests the alert rules" "about a minute" -- \
			bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null' \
			|| echo "could not install prometheus: the alert rule tests will be skipped"; \
	else \
		echo "promtool is missing, so the alert rule tests will be skipped; install it with: sudo apt-get install prometheus"; \
	fi

run: ## [run] the whole pipeline on this machine: stack, producer, processor; prints the URLs once both answer /readyz (the first time Maven fetches Kafka: 1 to 2 min); Ctrl-C stops it
	deploy/local/run.sh

up: ## [docker] the whole system under Docker Compose (the first build 7 to 10 min, then seconds)
	VERSION=$(VERSION) docker compose up --build

down: ## [docker] stop Docker Compose
	docker compose down

bench: ## [bench] micro-benchmarks of the per-event path (figures, no assertions)
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-compare: ## [bench] stats-processor vs Flink 1.20 and 2.2, Kafka Streams, Kafka's ConsumerPerformance and a bare kafka-go fetch on one preloaded input (N=2000000 ROUNDS=3 SYSTEMS="cperf bare flink streams ours"); about 13 min, the first time 2 to 5 min more for Maven (~250 MB); DOC=docs/benchmarks-compare.md writes the table into the docs
	$(WITH_STACK) bench/compare/run.sh

bench-latency: ## [bench] window emit latency, live: ours (1 and 3 instances), Flink 2.2, Kafka Streams (RATE=10000 DURATION=60s PARTITIONS=6 INSTANCES="1 3"); about 8 min (docs/benchmarks-latency.md)
	$(WITH_STACK) env RATE="$(or $(RATE),10000)" DURATION="$(or $(DURATION),60s)" PARTITIONS="$(or $(PARTITIONS),6)" INSTANCES="$(or $(INSTANCES),1 3)" bench/latency/run.sh

.PHONY: bench-sustain
bench-sustain: ## [bench] sustainable throughput, live: each system climbs RATES="10000 25000 50000 100000 200000 400000" (DURATION=60s WINDOW=10s PARTITIONS=6 INSTANCES="1 3") until p99 > 1 s or latency rises; at most about 45 min (docs/benchmarks-sustain.md); DOC=docs/benchmarks-sustain.md writes the table into the docs; SYSTEMS="ours:1 ours-cluster:1" picks the systems (ours-cluster: on a local 3-master Redis Cluster)
	$(WITH_STACK) env RATES="$(or $(RATES),10000 25000 50000 100000 200000 400000)" DURATION="$(or $(DURATION),60s)" WINDOW="$(or $(WINDOW),10s)" \
		PARTITIONS="$(or $(PARTITIONS),6)" INSTANCES="$(or $(INSTANCES),1 3)" SYSTEMS="$(SYSTEMS)" DOC="$(DOC)" bench/latency/run.sh

.PHONY: bench-failover
bench-failover: ## [bench] failover under live load: kill -9 and SIGTERM of the closer lease holder and of a non-holder, session timeout 10s and 6s, beside Kafka Streams (PROCESSORS=label=path,... compares builds); about 13 min (docs/capacity.md)
	$(WITH_STACK) bench/failover/run.sh

lint: ## [housekeeping] gofmt, go vet, staticcheck, relative links and anchors of the Markdown files
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run ./tools/mdlinks
	$(GO) run ./tools/puredeps

fmt: ## [housekeeping] format the code
	gofmt -w $$(git ls-files '*.go')

stack-start: ## [housekeeping] start the local Kafka and Redis (the first time Maven fetches Kafka: 1 to 2 min)
	$(STACK) start
stack-stop: ## [housekeeping] stop the local Kafka and Redis
	$(STACK) stop
stack-status: ## [housekeeping] show the local stack
	$(STACK) status
stack-reset: ## [housekeeping] stop the local stack and delete its data
	$(STACK) reset

clean: ## [housekeeping] remove build output (the local stack's data stays; see stack-reset)
	rm -rf bin out

bench-catchup: build ## [bench] stats-processor catching up on 2,000,000 preloaded events (EVENTS=N to change)
	$(WITH_STACK) $(GO) run ./bench/catchup -events $${EVENTS:-2000000} $(CATCHUP_FLAGS)

.PHONY: bench-producer
bench-producer: build ## [bench] vehicle-producer vs Kafka's ProducerPerformance, 1,000,000 events at full speed (N, ROUNDS, COMPRESSION; docs/vehicle-producer.md)
	$(WITH_STACK) bench/producer/run.sh

# The other supported Kafka line: the exact-count and kill -9 end-to-end tests
# on a stack of its own (own folder, ports 100 above the local stack's), so
# that the stack of `make test` is left alone. .ci/run runs it after make test.
KAFKA_COMPAT_VERSION ?= 3.9.1
.PHONY: test-kafka-compat
test-kafka-compat: build ## [test] the exact-count and kill -9 end-to-end tests against Kafka 3.9.1 (KAFKA_COMPAT_VERSION=x.y.z for another); about 1 min, the first time 1 to 2 min more for Maven
	VS_KAFKA_VERSION=$(KAFKA_COMPAT_VERSION) VS_LOCAL_DIR=$(CURDIR)/.local/compat-$(KAFKA_COMPAT_VERSION) \
	VS_KAFKA_PORT=$$(( $${VS_KAFKA_PORT:-19092} + 100 )) VS_KAFKA_CONTROLLER_PORT=$$(( $${VS_KAFKA_CONTROLLER_PORT:-19093} + 100 )) \
	VS_REDIS_PORT=$$(( $${VS_REDIS_PORT:-16379} + 100 )) \
	$(WITH_STACK) $(GO) test $(GOFLAGS_TEST) -timeout 15m -run '^(TestE2EExactCounts|TestE2EKillNine)$$' ./services/stats-processor/

# The closing protocol's schedule explorer (docs/stats-processor-design.md):
# make test runs it for 45 s per backend; this runs it as long as asked.
.PHONY: explore
explore: ## [test] the closing protocol's schedule explorer on real Redis and Redis Cluster for DURATION (default 10m, so 20 min) per backend (EXPLORE_FLAGS: -explore.all=false, -explore.seed=N, -explore.v)
	$(WITH_STACK) $(GO) test -count=1 -timeout 0 -v -run 'TestIntegrationExplore$$' ./services/stats-processor/internal/closer/ -explore.duration=$(or $(DURATION),10m) $(EXPLORE_FLAGS)

# Issue #21's cases on the original main (tools/regress-original/README.md):
# evidence that the cases broke b8cb7a2; not part of make test.
.PHONY: regress-original
regress-original: ## [test] issue #21's cases 1, 3, 4, 6, 8, 9 and 10, each shown failing on the original main b8cb7a2 (a temporary worktree); about 1 min
	$(WITH_STACK) tools/regress-original/run.sh

# A long run under faults (docs/soak.md): not part of make test.
.PHONY: soak
soak: build ## [test] soak: producer at 5,000/s, 3 processors, SIGKILL every 2 min, Redis restart every 10 min; exact counts, resource slopes, charts (DURATION=30m: about 32 min; SOAK_FLAGS)
	$(WITH_STACK) $(GO) run ./bench/soak -duration $(or $(DURATION),30m) $(SOAK_FLAGS)

.PHONY: bench-scaleout
bench-scaleout: build ## [bench] catch-up with 1, 2, 3, 6 instances on 12 partitions (EVENTS=4800000), then 1,200,000 events over 6, 60, 240 partitions with one instance; about 3 min (docs/capacity.md)
	$(WITH_STACK) bash -c '$(GO) run ./bench/scaleout -events $${EVENTS:-4800000} -partitions 12 -instances 1,2,3,6 && \
		for p in 6 60 240; do $(GO) run ./bench/scaleout -events 1200000 -partitions $$p -instances 1 || exit 1; done'
