#!/usr/bin/env bash
# bench/failover/run.sh: `make bench-failover`. How long the output stalls
# when an instance is killed (kill -9) or stopped (SIGTERM) under live load:
# stats-processor (the closer lease holder, and a non-holder) at two session
# timeouts, beside Kafka Streams with one of two instances killed. The
# measuring is bench/failover's Go program; this script builds what it runs
# and deletes what it created. docs/capacity.md ("Failover") explains the
# figures and keeps each run's table.
#
# Run it through `make bench-failover` (which starts the local stack if needed
# and sets VS_KAFKA_BROKERS / VS_REDIS_ADDR). Settings, as environment variables:
#   RATE=5000 PARTITIONS=6 INSTANCES=3     the load and stats-processor's instances
#   SESSION_TIMEOUTS=10s,6s                stats-processor's kafka.session_timeout, a run of each fault each
#   FAULTS=kill-holder,kill-other,term-holder,term-other
#   PROCESSORS=main=bin/stats-processor    builds to compare, label=path,…; e.g. main=bin/stats-processor,new=/work/wt-x/bin/stats-processor
#   STREAMS=1 STREAMS_SESSION_TIMEOUTS=0,6s   Kafka Streams runs (0: its default, 45 s); STREAMS=0: none
#   DOC=docs/capacity.md                   where the table is appended (empty: nowhere)
#   KEEP=0               KEEP=1 keeps the run's topics, groups and Redis keys
# Output: the table on stdout, in out/bench-failover/results.md and in DOC; logs in out/bench-failover/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BROKERS=${VS_KAFKA_BROKERS:?run through make bench-failover (deploy/local/with-stack.sh sets VS_KAFKA_BROKERS)}
REDIS=${VS_REDIS_ADDR:?run through make bench-failover (deploy/local/with-stack.sh sets VS_REDIS_ADDR)}
OUT="$ROOT/out/bench-failover"
BIN="$OUT/bin"
STREAMS_DIR="$ROOT/bench/kafka-streams-reference"
mkdir -p "$BIN"

trap '[[ -s $OUT/cleanup.env && ${KEEP:-0} != 1 ]] && { source "$OUT/cleanup.env"
	"$BIN/measure" cleanup -brokers "$BROKERS" -redis-addr "$REDIS" -topics "$TOPICS" -groups "$GROUPS" \
		-topic-prefixes "$TOPIC_PREFIXES" -redis-prefix "$REDIS_PREFIXES" || echo "bench-failover: cleanup incomplete" >&2
	rm -f "$OUT/cleanup.env"; }' EXIT

echo "== build: bin/stats-processor, the Go helpers and the Kafka Streams application" >&2
make -s build >&2
go build -o "$BIN/" ./bench/failover ./bench/compare/measure
args=()
if [[ ${STREAMS:-1} == 1 ]]; then
	log="$OUT/maven-streams.log"
	mvn -B -q -Dmaven.repo.local="$ROOT/.local/m2" -f "$STREAMS_DIR/pom.xml" package dependency:build-classpath \
		-Dmdep.outputFile=target/classpath.txt >"$log" 2>&1 || { tail -30 "$log" >&2; echo "bench-failover: the Kafka Streams reference did not build (log: $log)" >&2; exit 1; }
	args+=(-streams-cp "$STREAMS_DIR/target/classes:$(<"$STREAMS_DIR/target/classpath.txt")"
		-streams-name "Kafka Streams $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$STREAMS_DIR/pom.xml")")
fi
"$BIN/failover" -brokers "$BROKERS" -redis-addr "$REDIS" -rate "${RATE:-5000}" -partitions "${PARTITIONS:-6}" \
	-instances "${INSTANCES:-3}" -session-timeouts "${SESSION_TIMEOUTS:-10s,6s}" \
	-faults "${FAULTS:-kill-holder,kill-other,term-holder,term-other}" -processors "${PROCESSORS:-main=bin/stats-processor}" \
	-streams-session-timeouts "${STREAMS_SESSION_TIMEOUTS:-0,6s}" -doc "${DOC-docs/capacity.md}" \
	-command "make bench-failover${PROCESSORS:+ PROCESSORS=$PROCESSORS}" -out "$OUT" "${args[@]}"
