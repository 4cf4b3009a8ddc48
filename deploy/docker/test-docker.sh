#!/usr/bin/env bash
# `make test-docker`: the tests that need a Docker engine, on a machine that
# may have none and no registry to pull from.
#
#   1. deploy/docker/engine.sh start: the engine that answers, or Debian's
#      docker.io started here; Compose v2 built when missing;
#   2. deploy/docker/images.sh: every public image pulled, or stood in for;
#   3. deploy/compose: the Kafka stand-in's KAFKA_* mapping, then the compose
#      file end to end (TestE2EComposeExactCounts);
#   4. testcontainers: the state suite and the processor's exact-count test
#      with VS_KAFKA_BROKERS and VS_REDIS_ADDR unset, so internal/testenv
#      starts Kafka and Redis as containers (reaper off: its image cannot be
#      pulled here; this script removes the containers afterwards);
#   5. stops dockerd if step 1 started it.
#
# Logs of each go test run: .local/docker/test-*.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
STATE="${VS_DOCKER_CACHE:-$ROOT/.local/docker}"
GO="${GO:-go}"
GOFLAGS_TEST="${GOFLAGS_TEST:--race -count=1}"
# What runs on testcontainers: the state suite (all of it) and the
# processor's exact-count end-to-end test.
TC_STATE="${VS_TC_STATE:-./services/stats-processor/internal/state/}"
TC_E2E_PKG="${VS_TC_E2E_PKG:-./services/stats-processor/}"
TC_E2E_RUN="${VS_TC_E2E_RUN:-^TestE2EExactCounts\$}"
LABEL=vehicle-stats.testenv

log() { printf '%s test-docker: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=../local/progress.sh
source "$ROOT/deploy/local/progress.sh"

mkdir -p "$STATE"
started=$SECONDS
# Stop at the end only an engine this run started.
engine_was_up=no
timeout 10 docker info >/dev/null 2>&1 && engine_was_up=yes
# The compose end-to-end test runs only when asked: it takes minutes, and
# `make test` (which would find it by its name) may run where Docker does.
export VS_COMPOSE_E2E=1

cleanup() {
	local rc=$?
	if docker info >/dev/null 2>&1; then
		local ids
		ids=$(docker ps -aq --filter "label=$LABEL" || true)
		if [[ -n $ids ]]; then
			log "removing the testcontainers containers ($(wc -w <<<"$ids"))"
			# shellcheck disable=SC2086 # one id a word
			docker rm -f -v $ids >/dev/null || true
		fi
		ids=$(docker network ls -q --filter "label=$LABEL" || true)
		# shellcheck disable=SC2086
		[[ -z $ids ]] || docker network rm $ids >/dev/null || true
	fi
	if [[ $engine_was_up == no ]]; then
		deploy/docker/engine.sh stop || true
	fi
	log "done in $((SECONDS - started)) s (exit $rc)"
	exit "$rc"
}
trap cleanup EXIT

deploy/docker/engine.sh engine
# Compose (built from source when missing: mostly CPU) and the images
# (mostly downloads) at the same time.
deploy/docker/engine.sh compose &
compose_pid=$!
images_rc=0
deploy/docker/images.sh ensure || images_rc=$?
compose_rc=0
wait "$compose_pid" || compose_rc=$?
[[ $images_rc -eq 0 && $compose_rc -eq 0 ]] || { log "the images or Docker Compose could not be made ready"; exit 1; }
log "engine and images ready after $((SECONDS - started)) s"

# gotest NAME ARGS...: go test -v, its whole output in a log, the summary
# lines (and every figure and path line) on the terminal.
gotest() {
	local name=$1
	shift
	log "go test $*"
	# shellcheck disable=SC2086 # GOFLAGS_TEST holds several flags
	"$GO" test $GOFLAGS_TEST -v "$@" 2>&1 | tee "$STATE/test-$name.log" |
		grep --line-buffered -E '^(--- |ok |FAIL|PASS|panic)|figure: |integration services: |left out|    [a-z0-9_]+\.go:[0-9]+: ' || true
	local rc=${PIPESTATUS[0]}
	if [[ $rc -ne 0 ]]; then
		# The filter above keeps only the tests' own lines; a failure's
		# detail (a command's output, the containers' logs) follows them.
		log "go test failed; the last 150 lines of its output (all of it: $STATE/test-$name.log):"
		tail -n 150 "$STATE/test-$name.log" | cut -c1-400 >&2
		return "$rc"
	fi
}

progress "deploy/compose: docker compose build of both services, then the compose file end to end" \
	"4 to 7 min; 10 to 17 min with a cold build cache" --log "$STATE/test-compose.log" -- \
	gotest compose -timeout 30m -run 'TestKafkaStandin|TestE2ECompose|TestComposeConfig' ./deploy/compose/
grep -q -- '--- PASS: TestE2EComposeExactCounts' "$STATE/test-compose.log" ||
	{ log "TestE2EComposeExactCounts did not pass (skipped?); see $STATE/test-compose.log"; exit 1; }

(
	unset VS_KAFKA_BROKERS VS_REDIS_ADDR
	export TESTCONTAINERS_RYUK_DISABLED=true
	gotest tc-state -timeout 20m "$TC_STATE"
	gotest tc-e2e -timeout 20m -run "$TC_E2E_RUN" "$TC_E2E_PKG"
)
for name in tc-state tc-e2e; do
	grep -q 'integration services: testcontainers' "$STATE/test-$name.log" ||
		{ log "the testcontainers path did not run in $name; see $STATE/test-$name.log"; exit 1; }
done
