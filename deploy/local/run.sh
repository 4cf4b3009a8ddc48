#!/usr/bin/env bash
# run.sh: the whole pipeline on this machine. Starts the local stack (Kafka and
# Redis), builds and starts vehicle-producer and stats-processor against it,
# waits until both answer /readyz, prints what to open, and stops everything
# it started on Ctrl-C. PROCESSOR_HTTP_ADDR and PRODUCER_HTTP_ADDR move the
# services' ports (default :9080 and :9090).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK="$ROOT/deploy/local/stack.sh"
LOGS="$ROOT/.local/logs"
cd "$ROOT"
# shellcheck source=progress.sh
source "$ROOT/deploy/local/progress.sh"
processor_port=${PROCESSOR_HTTP_ADDR:-:9080}
processor_port=${processor_port##*:}
producer_port=${PRODUCER_HTTP_ADDR:-:9090}
producer_port=${producer_port##*:}

started_stack=0
"$STACK" status >/dev/null 2>&1 || started_stack=1
"$STACK" start
eval "$("$STACK" env)"

make -s build
mkdir -p "$LOGS"
pids=()
stopping=0
cleanup() {
	trap - INT TERM EXIT
	stopping=1
	echo
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ $started_stack == 1 ]]; then
		"$STACK" stop
	else
		echo "the local stack was running before; it keeps running (make stack-stop stops it)"
	fi
}
# Ctrl-C reaches this script only: the services run in their own sessions
# (setsid), so they get one SIGTERM from cleanup and stop cleanly, in order.
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

urls=()
ready=() # name pid /readyz, for wait_ready
if [[ -x bin/stats-processor ]]; then
	PROCESSOR_KAFKA_BROKERS=$VS_KAFKA_BROKERS PROCESSOR_REDIS_ADDR=$VS_REDIS_ADDR \
		setsid bin/stats-processor --config configs/stats-processor.yaml >"$LOGS/stats-processor.log" 2>&1 &
	pids+=($!)
	ready+=(stats-processor $! "http://localhost:$processor_port/readyz")
	urls+=("stats-processor  http://localhost:$processor_port/        live page"
		"                 http://localhost:$processor_port/stats   window counts (JSON)"
		"                 http://localhost:$processor_port/metrics Prometheus metrics"
		"                 log: $LOGS/stats-processor.log")
fi
if [[ -x bin/vehicle-producer ]]; then
	PRODUCER_KAFKA_BROKERS=$VS_KAFKA_BROKERS \
		setsid bin/vehicle-producer --config configs/vehicle-producer.yaml >"$LOGS/vehicle-producer.log" 2>&1 &
	pids+=($!)
	ready+=(vehicle-producer $! "http://localhost:$producer_port/readyz")
	urls+=("vehicle-producer http://localhost:$producer_port/status  what it sends"
		"                 log: $LOGS/vehicle-producer.log")
fi
# The URLs only once they work.
if [[ ${#ready[@]} -gt 0 ]] && ! wait_ready 120 "${ready[@]}"; then
	echo "see the logs in $LOGS" >&2
	exit 1
fi

echo
echo "vehicle-stats is running:"
echo "  Kafka            $VS_KAFKA_BROKERS"
echo "  Redis            $VS_REDIS_ADDR"
for u in "${urls[@]}"; do echo "  $u"; done
echo "Press Ctrl-C to stop."
if [[ ${#pids[@]} -eq 0 ]]; then
	echo "(no service is built yet: only the stack runs)"
	while true; do sleep 3600 & wait $!; done
fi
# Wait until Ctrl-C, or until a service exits by itself (then say so and stop).
while true; do
	for i in "${!pids[@]}"; do
		if [[ $stopping == 0 ]] && ! kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "a service exited by itself; see the logs in $LOGS"
			exit 1
		fi
	done
	sleep 1 &
	wait $!
done
