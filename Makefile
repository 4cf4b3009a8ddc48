# vehicle-stats: see README.md. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
GOFLAGS_TEST ?= -race -count=1
STACK := deploy/local/stack.sh
WITH_STACK := deploy/local/with-stack.sh
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
SERVICES := $(notdir $(wildcard services/*))

.PHONY: bench-catchup bench-compare bench-latency help build test test-unit test-integration test-docker chromium run up down bench lint fmt clean stack-start stack-stop stack-status stack-reset

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build bin/vehicle-producer and bin/stats-processor
	@mkdir -p bin
	@for s in $(SERVICES); do \
		if ls services/$$s/*.go >/dev/null 2>&1; then \
			echo "go build -o bin/$$s ./services/$$s"; \
			CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/$$s ./services/$$s || exit 1; \
		fi; \
	done

test: test-unit test-integration ## unit tests, then integration tests against a real Kafka and Redis (started if needed)

test-unit: ## unit tests only (no services), with the race detector
	$(GO) test $(GOFLAGS_TEST) -short ./...

test-integration: build chromium ## integration and end-to-end tests against the local stack
	$(WITH_STACK) $(GO) test $(GOFLAGS_TEST) -timeout 20m -run 'Integration|E2E' ./...

test-docker: ## Docker tests: engine (started if none answers), images (pulled, or local stand-ins), compose end to end, testcontainers (docs/docker-compose.md)
	GO=$(GO) GOFLAGS_TEST='$(GOFLAGS_TEST)' deploy/docker/test-docker.sh

chromium: ## Debian's chromium for the live page's browser test (installed when missing and root)
	@command -v chromium >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium for the browser test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
			|| echo "could not install chromium: the browser test will be skipped"; \
	else \
		echo "chromium is missing, so the browser test will be skipped; install it with: sudo apt-get install chromium"; \
	fi

run: ## the whole pipeline on this machine: stack, producer, processor; Ctrl-C stops it
	deploy/local/run.sh

up: ## the whole system under Docker Compose
	VERSION=$(VERSION) docker compose up --build

down: ## stop Docker Compose
	docker compose down

bench: ## micro-benchmarks of the per-event path (figures, no assertions)
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-compare: ## stats-processor vs Flink 1.20 and 2.2, Kafka Streams and Kafka's ConsumerPerformance on one preloaded input (N=2000000 ROUNDS=3; docs/benchmarks-compare.md)
	$(WITH_STACK) bench/compare/run.sh

bench-latency: ## window emit latency, live: ours (1 and 3 instances), Flink 2.2, Kafka Streams (RATE=10000 DURATION=60s PARTITIONS=6 INSTANCES="1 3"; docs/benchmarks-latency.md)
	$(WITH_STACK) env RATE="$(or $(RATE),10000)" DURATION="$(or $(DURATION),60s)" PARTITIONS="$(or $(PARTITIONS),6)" INSTANCES="$(or $(INSTANCES),1 3)" bench/latency/run.sh

.PHONY: bench-failover
bench-failover: ## failover under live load: kill -9 and SIGTERM of the closer lease holder and of a non-holder, session timeout 10s and 6s, beside Kafka Streams (PROCESSORS=label=path,... compares builds; docs/capacity.md)
	$(WITH_STACK) bench/failover/run.sh

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

stack-start: ## start the local Kafka and Redis
	$(STACK) start
stack-stop: ## stop the local Kafka and Redis
	$(STACK) stop
stack-status: ## show the local stack
	$(STACK) status
stack-reset: ## stop the local stack and delete its data
	$(STACK) reset

clean: ## remove build output (the local stack's data stays; see stack-reset)
	rm -rf bin out

bench-catchup: build ## stats-processor catching up on 2,000,000 preloaded events (EVENTS=N to change)
	$(WITH_STACK) $(GO) run ./bench/catchup -events $${EVENTS:-2000000} $(CATCHUP_FLAGS)

.PHONY: bench-producer
bench-producer: build ## vehicle-producer vs Kafka's ProducerPerformance, 1,000,000 events at full speed (N, ROUNDS, COMPRESSION; docs/vehicle-producer.md)
	$(WITH_STACK) bench/producer/run.sh

# The other supported Kafka line: the exact-count and kill -9 end-to-end tests
# on a stack of its own (own folder, ports 100 above the local stack's), so
# that the stack of `make test` is left alone. .ci/run runs it after make test.
KAFKA_COMPAT_VERSION ?= 3.9.1
.PHONY: test-kafka-compat
test-kafka-compat: build ## the exact-count and kill -9 end-to-end tests against Kafka 3.9.1 (KAFKA_COMPAT_VERSION=x.y.z for another)
	VS_KAFKA_VERSION=$(KAFKA_COMPAT_VERSION) VS_LOCAL_DIR=$(CURDIR)/.local/compat-$(KAFKA_COMPAT_VERSION) \
	VS_KAFKA_PORT=$$(( $${VS_KAFKA_PORT:-19092} + 100 )) VS_KAFKA_CONTROLLER_PORT=$$(( $${VS_KAFKA_CONTROLLER_PORT:-19093} + 100 )) \
	VS_REDIS_PORT=$$(( $${VS_REDIS_PORT:-16379} + 100 )) \
	$(WITH_STACK) $(GO) test $(GOFLAGS_TEST) -timeout 15m -run '^(TestE2EExactCounts|TestE2EKillNine)$$' ./services/stats-processor/

# The closing protocol's schedule explorer (docs/stats-processor-design.md):
# make test runs it for 45 s per backend; this runs it as long as asked.
.PHONY: explore
explore: ## the closing protocol's schedule explorer on real Redis and Redis Cluster for DURATION (default 10m) per backend (EXPLORE_FLAGS: -explore.all=false, -explore.seed=N, -explore.v)
	$(WITH_STACK) $(GO) test -count=1 -timeout 0 -v -run 'TestIntegrationExplore$$' ./services/stats-processor/internal/closer/ -explore.duration=$(or $(DURATION),10m) $(EXPLORE_FLAGS)

# A long run under faults (docs/soak.md): not part of make test.
.PHONY: soak
soak: build ## soak: producer at 5,000/s, 3 processors, SIGKILL every 2 min, Redis restart every 10 min; exact counts, resource slopes, charts (DURATION=30m, SOAK_FLAGS)
	$(WITH_STACK) $(GO) run ./services/stats-processor/soak -duration $(or $(DURATION),30m) $(SOAK_FLAGS)

.PHONY: bench-scaleout
bench-scaleout: build ## catch-up with 1, 2, 3, 6 instances on 12 partitions (EVENTS=4800000), then 1,200,000 events over 6, 60, 240 partitions with one instance (docs/capacity.md)
	$(WITH_STACK) bash -c '$(GO) run ./bench/scaleout -events $${EVENTS:-4800000} -partitions 12 -instances 1,2,3,6 && \
		for p in 6 60 240; do $(GO) run ./bench/scaleout -events 1200000 -partitions $$p -instances 1 || exit 1; done'
