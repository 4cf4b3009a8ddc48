#!/usr/bin/env bash
# bench/latency/run.sh: `make bench-latency`. How long after a window ends its
# records are on the output topic, measured live, for stats-processor (1 and
# 3 instances), the Flink reference job (Flink 2.2, at-least-once and
# exactly-once sink) and the Kafka Streams reference, one after the other on
# the local stack's broker. The measuring is bench/latency's Go program; this
# script builds what it runs and deletes what it created.
# docs/benchmarks-latency.md explains the figures.
#
# Run it through `make bench-latency` (which starts the local stack if needed
# and sets VS_KAFKA_BROKERS / VS_REDIS_ADDR). Settings, as environment variables:
#   RATE=10000 DURATION=60s PARTITIONS=6   the load: events/s, how long, input partitions
#   INSTANCES="1 3"      stats-processor rows, one per number of instances
#   SYSTEMS=             the systems, in order, instead of INSTANCES, FLINK and STREAMS:
#                        ours:N, ours-cluster:N (N instances on a Redis Cluster of 3 local
#                        redis-server masters, started for each step and stopped after it),
#                        flink:at-least-once, flink:exactly-once, streams; e.g. "ours:1 ours-cluster:1"
#   FLINK="at-least-once exactly-once"     Flink rows, one per sink delivery (empty: none)
#   FLINK_CHECKPOINT=1s  checkpoint interval of the exactly-once Flink job
#   STREAMS=1            the Kafka Streams row (0: none)
#   JAVA_HEAP=1g FLINK_PARALLELISM=2
#   PROCESSOR_BIN=bin/stats-processor   the stats-processor binary to measure (another build, e.g. of another branch)
#   PROCESSOR_NOTE=      a note for its rows, e.g. which build it is
#   KEEP=0               KEEP=1 keeps the run's topics, groups and Redis keys
#   WINDOW=20s           the window size of every system
# `make bench-sustain` (docs/benchmarks-sustain.md) runs it with a rate ladder:
#   RATES="10000 25000"  every system climbs these rates, a fresh start and fresh
#                        topics a step, until its first unsustainable step (RATE is then unused)
#   DOC=                 with RATES: DOC=docs/benchmarks-sustain.md writes the table there too
#   RETRIES=1            with RATES: an unsustainable step is tried again this often before the climb stops
# Output: the table on stdout and in out/bench-latency/results.md (results-sustain.md
# in out/bench-sustain/ with RATES); logs in the same folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

RATE=${RATE:-10000}
DURATION=${DURATION:-60s}
PARTITIONS=${PARTITIONS:-6}
INSTANCES=${INSTANCES:-1 3}
FLINK=${FLINK-at-least-once exactly-once}
FLINK_CHECKPOINT=${FLINK_CHECKPOINT:-1s}
STREAMS=${STREAMS:-1}
JAVA_HEAP=${JAVA_HEAP:-1g}
FLINK_PARALLELISM=${FLINK_PARALLELISM:-2}
KEEP=${KEEP:-0}
WINDOW=${WINDOW:-20s}
RATES=${RATES:-}
SYSTEMS=${SYSTEMS:-}
DOC=${DOC:-}
PROCESSOR_BIN=${PROCESSOR_BIN:-$ROOT/bin/stats-processor}
BROKERS=${VS_KAFKA_BROKERS:?run through make bench-latency (deploy/local/with-stack.sh sets VS_KAFKA_BROKERS)}
REDIS=${VS_REDIS_ADDR:?run through make bench-latency (deploy/local/with-stack.sh sets VS_REDIS_ADDR)}

OUT="$ROOT/out/bench-latency"
sustain=()
if [[ -n $RATES ]]; then
	OUT="$ROOT/out/bench-sustain"
	commit=$(git rev-parse --short HEAD)
	[[ -z $(git status --porcelain --untracked-files=no) ]] || commit+=" with uncommitted changes"
	sustain=(-rates "$RATES" -commit "$commit" -retries "${RETRIES:-1}")
	[[ -n $DOC ]] && sustain+=(-doc "$ROOT/$DOC")
fi
BIN="$OUT/bin"
M2="$ROOT/.local/m2"
FLINK_DIR="$ROOT/bench/flink-reference"
STREAMS_DIR="$ROOT/bench/kafka-streams-reference"
mkdir -p "$BIN"
die() { echo "bench-latency: $*" >&2; exit 1; }

cleanup() {
	local rc=$?
	if [[ -s $OUT/cleanup.env ]]; then
		if [[ $KEEP == 1 ]]; then
			echo "bench-latency: KEEP=1: the run's topics, groups and Redis keys stay ($OUT/cleanup.env)" >&2
		else
			# shellcheck disable=SC1091
			source "$OUT/cleanup.env"
			"$BIN/measure" cleanup -brokers "$BROKERS" -redis-addr "$REDIS" -topics "$TOPICS" -groups "$GROUPS" \
				-topic-prefixes "$TOPIC_PREFIXES" -redis-prefix "$REDIS_PREFIXES" ||
				echo "bench-latency: cleanup incomplete (see above)" >&2
		fi
		rm -f "$OUT/cleanup.env"
	fi
	exit $rc
}
trap cleanup EXIT

echo "== build: bin/stats-processor, the Go helpers, the Flink 2.2 job (live) and the Kafka Streams application" >&2
make -s build >&2
go build -o "$BIN/" ./bench/latency ./bench/compare/measure
# mvn_build DIR POM TARGET: as in bench/compare/run.sh, package the Maven
# project and print its class path, unless the jar is newer than its sources.
mvn_build() {
	local dir=$1 pom=$2 target=$3 jar log="$OUT/maven-$(basename "$1")-$2.log"
	jar=$(ls "$dir/$target"/*.jar 2>/dev/null | head -1)
	if [[ ! -s $dir/$target/classpath.txt || -z $jar ||
		-n $(find "$dir/$pom" "$dir/src" -newer "$jar" -print -quit) ]]; then
		mvn -B -q -Dmaven.repo.local="$M2" -f "$dir/$pom" package dependency:build-classpath \
			-Dmdep.outputFile="$target/classpath.txt" >"$log" 2>&1 ||
			{ tail -30 "$log" >&2; die "$dir/$pom did not build (log: $log)"; }
	fi
	echo "$dir/$target/classes:$(<"$dir/$target/classpath.txt")"
}
pom_value() { sed -n "s:.*<$2>\\(.*\\)</$2>.*:\\1:p" "$1"; }
systems=()
if [[ -n $SYSTEMS ]]; then
	read -ra systems <<<"$SYSTEMS"
else
	for n in $INSTANCES; do systems+=("ours:$n"); done
	for d in $FLINK; do systems+=("flink:$d"); done
	[[ $STREAMS == 1 ]] && systems+=(streams)
fi
args=()
if [[ " ${systems[*]} " == *" flink:"* ]]; then
	FLINK_CP=$(mvn_build "$FLINK_DIR" pom-2.2.xml target-2.2)
	# The live job reuses the reference job's classes: compile it against them.
	mkdir -p "$OUT/flink-live-classes"
	javac -nowarn -d "$OUT/flink-live-classes" -cp "$FLINK_CP" bench/latency/flink/io/vehiclestats/bench/*.java
	args+=(-flink-cp "$OUT/flink-live-classes:$FLINK_CP" -flink-name "Flink $(pom_value "$FLINK_DIR/pom-2.2.xml" flink.version)"
		-flink-parallelism "$FLINK_PARALLELISM" -flink-checkpoint "$FLINK_CHECKPOINT")
fi
if [[ " ${systems[*]} " == *" streams "* ]]; then
	args+=(-streams-cp "$(mvn_build "$STREAMS_DIR" pom.xml target)"
		-streams-name "Kafka Streams $(pom_value "$STREAMS_DIR/pom.xml" kafka.version)")
fi

"$BIN/latency" -brokers "$BROKERS" -redis-addr "$REDIS" -rate "$RATE" -duration "$DURATION" -partitions "$PARTITIONS" \
	-systems "$(IFS=,; echo "${systems[*]}")" -out "$OUT" -processor "$PROCESSOR_BIN" -processor-note "${PROCESSOR_NOTE:-}" -java-heap "$JAVA_HEAP" \
	-window "$WINDOW" "${args[@]}" "${sustain[@]}"
