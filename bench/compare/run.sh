#!/usr/bin/env bash
# bench/compare/run.sh: `make bench-compare`. One run, one machine, one broker,
# one preloaded input, several readers of it, side by side:
#
#   1. the limits:     Kafka's ConsumerPerformance reading the input topic, and
#                      bench/barefetch, a bare kafka-go fetch loop with the
#                      processor's fetch sizes that reads and discards the records
#   2. the references: the demo's Flink job (bench/flink-reference), local,
#                      parallelism 2, built once against Flink 1.20 (pom.xml)
#                      and once against Flink 2.2 (pom-2.2.xml); and the job
#                      as a Kafka Streams application (bench/kafka-streams-reference)
#   3. ours:           bin/stats-processor with its default configuration
#
# For each: events/s from process start until the last expected window record
# is on its output topic, time to the first record, peak RSS and CPU time.
# Then it checks that every system's window records are byte-identical to
# the ones the loader computed from its own data (Flink runs twice per line:
# with withIdleness as asked, and without, see the docs; Kafka Streams is
# compared without the flush windows, which nothing follows), prints one
# table and keeps it in out/bench-compare/<run>/table.md; with
# DOC=docs/benchmarks-compare.md it also writes it into the docs.
# docs/benchmarks-compare.md explains every figure and setting.
#
# Run it through `make bench-compare` (which starts the local stack if needed
# and sets VS_KAFKA_BROKERS / VS_REDIS_ADDR). Settings, as environment variables:
#   N=2000000            input events
#   PARTITIONS=6         input partitions
#   IDLE_TIMEOUT=2s      the processor's watermark.idle_timeout and Flink's withIdleness
#   STEP=10ms AGO=3h     event-time spacing per partition, and how long ago the first event is
#   FLINK_HEAP=1g FLINK_PARALLELISM=2
#   STREAMS_HEAP=1g STREAMS_THREADS=2   the Kafka Streams application's heap and stream threads
#   CPERF_HEAP=512m      heap of ConsumerPerformance
#   RUN_TIMEOUT=8m       give up on one system after this long
#   DOC=                 unset or empty: the docs stay as they are; DOC=docs/benchmarks-compare.md
#                        writes the table there too (a tracked file: do it for a run worth publishing)
#   FLINK_NO_IDLENESS=1  also run the Flink job without withIdleness (0: skip it)
#   ROUNDS=3             rounds; each runs every system once and the table shows medians
#   SYSTEMS="cperf bare flink streams ours"  the systems to run (ours always runs):
#                        cperf = both ConsumerPerformance runs, bare = the bare kafka-go
#                        fetch, flink = every Flink line, streams = Kafka Streams
#   KEEP=0               KEEP=1 keeps the run's topics, groups and Redis keys
# Output (logs, records, results) goes to out/bench-compare/<run>/.
# `run.sh --dry-run` prints the settings it would run with and stops.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=../../deploy/local/progress.sh
source "$ROOT/deploy/local/progress.sh"

N=${N:-2000000}
PARTITIONS=${PARTITIONS:-6}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-2s}
STEP=${STEP:-10ms}
AGO=${AGO:-3h}
FLINK_HEAP=${FLINK_HEAP:-1g}
FLINK_PARALLELISM=${FLINK_PARALLELISM:-2}
STREAMS_HEAP=${STREAMS_HEAP:-1g}
STREAMS_THREADS=${STREAMS_THREADS:-2}
CPERF_HEAP=${CPERF_HEAP:-512m}
RUN_TIMEOUT=${RUN_TIMEOUT:-8m}
DOC=${DOC-}
KEEP=${KEEP:-0}
FLINK_NO_IDLENESS=${FLINK_NO_IDLENESS:-1}
ROUNDS=${ROUNDS:-3}
ALL_SYSTEMS="cperf bare flink streams ours"
SYSTEMS=${SYSTEMS:-$ALL_SYSTEMS}
for s in $SYSTEMS; do
	[[ " $ALL_SYSTEMS " == *" $s "* ]] || { echo "SYSTEMS: unknown system $s (known: $ALL_SYSTEMS)" >&2; exit 2; }
done
[[ " $SYSTEMS " == *" ours "* ]] || SYSTEMS="$SYSTEMS ours"
# chosen NAME: whether SYSTEMS holds it.
chosen() { [[ " $SYSTEMS " == *" $1 "* ]]; }
if [[ ${1-} == --dry-run ]]; then
	echo "SYSTEMS=\"$SYSTEMS\""
	echo "N=$N PARTITIONS=$PARTITIONS ROUNDS=$ROUNDS IDLE_TIMEOUT=$IDLE_TIMEOUT STEP=$STEP AGO=$AGO RUN_TIMEOUT=$RUN_TIMEOUT"
	echo "FLINK_HEAP=$FLINK_HEAP FLINK_PARALLELISM=$FLINK_PARALLELISM FLINK_NO_IDLENESS=$FLINK_NO_IDLENESS STREAMS_HEAP=$STREAMS_HEAP STREAMS_THREADS=$STREAMS_THREADS CPERF_HEAP=$CPERF_HEAP KEEP=$KEEP"
	if [[ -n $DOC ]]; then
		echo "table: out/bench-compare/<run>/table.md and $DOC"
	else
		echo "table: out/bench-compare/<run>/table.md only (DOC=docs/benchmarks-compare.md writes it into the docs too)"
	fi
	exit 0
fi
BROKERS=${VS_KAFKA_BROKERS:?run through make bench-compare (deploy/local/with-stack.sh sets VS_KAFKA_BROKERS)}
REDIS=${VS_REDIS_ADDR:?run through make bench-compare (deploy/local/with-stack.sh sets VS_REDIS_ADDR)}

RUN="$(date -u +%Y%m%d-%H%M%S)-$$"
OUT="$ROOT/out/bench-compare/$RUN"
mkdir -p "$OUT"
M2="$ROOT/.local/m2"
FLINK_DIR="$ROOT/bench/flink-reference"
STREAMS_DIR="$ROOT/bench/kafka-streams-reference"
case $IDLE_TIMEOUT in
*ms) idle_ms=${IDLE_TIMEOUT%ms} ;;
*s) idle_ms=${IDLE_TIMEOUT%s}000 ;;
*) idle_ms=x ;;
esac
[[ $idle_ms =~ ^[0-9]+$ ]] || { echo "IDLE_TIMEOUT must look like 2s or 1500ms" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive number" >&2; exit 2; }

IN="bench-in-$RUN"
# Everything a run creates, for the cleanup: topics, consumer groups, Redis prefixes.
topics=("$IN")
groups=()
prefixes=()
topic_prefixes=()

step() { printf '\n== %s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { echo "bench-compare: $*" >&2; exit 1; }

cleanup() {
	local rc=$?
	if [[ $KEEP == 1 ]]; then
		echo "bench-compare: KEEP=1: topics ${topics[*]}, groups ${groups[*]} and Redis prefixes ${prefixes[*]} stay" >&2
	elif [[ -x $OUT/bin/measure ]]; then
		"$OUT/bin/measure" cleanup -brokers "$BROKERS" -redis-addr "$REDIS" \
			-topics "$(IFS=,; echo "${topics[*]}")" -groups "$(IFS=,; echo "${groups[*]}")" \
			-topic-prefixes "$(IFS=,; echo "${topic_prefixes[*]}")" \
			-redis-prefix "$(IFS=,; echo "${prefixes[*]}")" ||
			echo "bench-compare: cleanup incomplete (see above)" >&2
	fi
	echo "bench-compare: logs and results in ${OUT#"$ROOT"/}" >&2
	exit $rc
}
trap cleanup EXIT

# --------------------------------------------------------------- build
step "build: bin/stats-processor, the Go helpers, and for the systems chosen ($SYSTEMS) the Flink jobs and the Kafka Streams application (Maven; the first time downloads them into .local/m2)"
make -s build >&2
mkdir -p "$OUT/bin"
go build -o "$OUT/bin/" ./bench/compare/loader ./bench/compare/measure ./bench/barefetch ./internal/testenv/proc/procenv
COMMIT=$(git rev-parse --short HEAD)
[[ -z $(git status --porcelain --untracked-files=no) ]] || COMMIT="$COMMIT with uncommitted changes"
# mvn_build DIR POM TARGET: package the Maven project and write its class path,
# unless TARGET's jar is newer than the pom and the sources.
mvn_build() {
	local dir=$1 pom=$2 target=$3 jar
	jar=$(ls "$dir/$target"/*.jar 2>/dev/null | head -1)
	if [[ ! -s $dir/$target/classpath.txt || -z $jar ||
		-n $(find "$dir/$pom" "$dir/src" -newer "$jar" -print -quit) ]]; then
		progress "Maven: building $(basename "$dir")/$pom" "seconds; the first time 2 to 5 min, resolving about 250 MB in all into .local/m2" \
			--size "$M2" --out "$OUT/maven-$(basename "$dir")-$pom.log" -- \
			mvn -B -q -Dmaven.repo.local="$M2" -f "$dir/$pom" package dependency:build-classpath \
			-Dmdep.outputFile="$target/classpath.txt" ||
			{ tail -30 "$OUT/maven-$(basename "$dir")-$pom.log" >&2; die "$dir/$pom did not build (log: $OUT/maven-$(basename "$dir")-$pom.log)"; }
	fi
	echo "$dir/$target/classes:$(<"$dir/$target/classpath.txt")"
}
pom_value() { sed -n "s:.*<$2>\\(.*\\)</$2>.*:\\1:p" "$1"; }
clients_version() { tr ':' '\n' <"$1" | sed -n 's:.*/kafka-clients-\(.*\)\.jar$:\1:p'; }
if chosen flink; then
	FLINK_CP=$(mvn_build "$FLINK_DIR" pom.xml target)
	FLINK2_CP=$(mvn_build "$FLINK_DIR" pom-2.2.xml target-2.2)
	KAFKA_CLIENTS_FLINK=$(clients_version "$FLINK_DIR/target/classpath.txt")
	KAFKA_CLIENTS_FLINK2=$(clients_version "$FLINK_DIR/target-2.2/classpath.txt")
fi
chosen streams && STREAMS_CP=$(mvn_build "$STREAMS_DIR" pom.xml target)
KAFKA_CP="$("$ROOT/deploy/local/stack.sh" classpath)"
FLINK_VERSION=$(pom_value "$FLINK_DIR/pom.xml" flink.version)
CONNECTOR_VERSION=$(pom_value "$FLINK_DIR/pom.xml" flink.kafka.connector.version)
FLINK2_VERSION=$(pom_value "$FLINK_DIR/pom-2.2.xml" flink.version)
CONNECTOR2_VERSION=$(pom_value "$FLINK_DIR/pom-2.2.xml" flink.kafka.connector.version)
STREAMS_VERSION=$(pom_value "$STREAMS_DIR/pom.xml" kafka.version)
KAFKA_VERSION=$("$ROOT/deploy/local/stack.sh" version)

# --------------------------------------------------------------- load
step "load: $N events into $IN ($PARTITIONS partitions), once, for all systems and rounds"
"$OUT/bin/loader" -brokers "$BROKERS" -topic "$IN" -n "$N" -partitions "$PARTITIONS" -step "$STEP" -ago "$AGO" \
	-expected "$OUT/expected.tsv" -expected-closed "$OUT/expected-closed.tsv" -summary "$OUT/input.md"
expected=$(wc -l <"$OUT/expected.tsv")
# The input holds N events and one flush event per vehicle type (see the loader).
events_in=$((N + 5))

measure_run() { # name, then measure run flags, then -- command
	local name=$1
	shift
	"$OUT/bin/measure" run -name "$name" -brokers "$BROKERS" -events "$N" -timeout "$RUN_TIMEOUT" \
		-result "$OUT/$name.json" -log "$OUT/$name.log" "$@"
}
failed=()

# --------------------------------------------------------------- the limit
cat >"$OUT/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%d %p %m (%c)%n
EOF
# The same for Kafka 4.x's tools, which log with log4j 2.
cat >"$OUT/log4j2.properties" <<'EOF'
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = stderr
EOF
# Our processor fetches up to 4 MiB per partition (kafka.fetch_max_bytes);
# the second run gives ConsumerPerformance the same, and larger polls.
printf 'max.poll.records=10000\n' >"$OUT/cperf-tuned.properties"
cperf_run() { # name, extra options...
	local name=$1 group="bench-$1-$RUN" nmsg
	shift
	groups+=("$group")
	measure_run "$name" -until-exit -- \
		java -Xmx"$CPERF_HEAP" -Dlog4j.configuration="file:$OUT/log4j.properties" \
		-Dlog4j2.configurationFile="file:$OUT/log4j2.properties" -cp "$KAFKA_CP" \
		org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BROKERS" --topic "$IN" \
		--messages "$N" --group "$group" --timeout 30000 "$@" || failed+=("$name")
	nmsg=$(awk -F', ' 'h && NF > 5 {print $5; exit} /^start.time,/ {h=1}' "$OUT/$name.log")
	# It stops after a whole poll, so it may read up to the loader's flush events more.
	[[ -n $nmsg ]] && ((nmsg >= N)) || { failed+=("$name"); echo "ConsumerPerformance read ${nmsg:-?} of $N messages (log: $OUT/$name.log)" >&2; }
}

# The bare kafka-go fetch: the processor's dial and fetch, nothing done
# with the records (bench/barefetch); its fetch sizes come from the
# processor's configs/stats-processor.yaml, pinned to its defaults.
bare_run() { # name
	local name=$1 nrec
	measure_run "$name" -until-exit -- "$OUT/bin/barefetch" -brokers "$BROKERS" -topic "$IN" \
		-config "$ROOT/configs/stats-processor.yaml" || failed+=("$name")
	nrec=$(sed -n 's/^barefetch: .* records=\([0-9]*\) .*/\1/p' "$OUT/$name.log")
	[[ -n $nrec ]] && ((nrec == events_in)) || { failed+=("$name"); echo "the bare fetch read ${nrec:-?} of $events_in records (log: $OUT/$name.log)" >&2; }
}

# --------------------------------------------------------------- Flink
# Java 17 needs these for Flink's reflection and serialisers; the list is
# Flink 1.20's own default (env.java.opts.all in its config.yaml).
JAVA17_OPENS=(
	--add-exports=java.base/sun.net.util=ALL-UNNAMED
	--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
	--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
	--add-opens=java.base/java.lang=ALL-UNNAMED
	--add-opens=java.base/java.net=ALL-UNNAMED
	--add-opens=java.base/java.io=ALL-UNNAMED
	--add-opens=java.base/java.nio=ALL-UNNAMED
	--add-opens=java.base/sun.nio.ch=ALL-UNNAMED
	--add-opens=java.base/java.lang.reflect=ALL-UNNAMED
	--add-opens=java.base/java.text=ALL-UNNAMED
	--add-opens=java.base/java.time=ALL-UNNAMED
	--add-opens=java.base/java.util=ALL-UNNAMED
	--add-opens=java.base/java.util.concurrent=ALL-UNNAMED
	--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
	--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)
flink_run() { # name, idleness in ms (0: no withIdleness), class path
	local name=$1 topic="bench-out-$1-$RUN" group="bench-$1-$RUN"
	topics+=("$topic")
	groups+=("$group")
	"$OUT/bin/measure" topics -brokers "$BROKERS" -partitions 1 "$topic"
	measure_run "$name" -topic "$topic" -expected "$OUT/expected.tsv" -observed "$OUT/$name.tsv" -linger 15s -- \
		java -Xmx"$FLINK_HEAP" "${JAVA17_OPENS[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
		-cp "$3" io.vehiclestats.bench.VehicleStatisticsJob \
		--brokers "$BROKERS" --input "$IN" --output "$topic" --group "$group" \
		--parallelism "$FLINK_PARALLELISM" --idleness-ms "$2" --window-ms 20000 || failed+=("$name")
	echo "  [$name] late events dropped by its window operator: $(late_events "$name")" >&2
}
# --------------------------------------------------------------- Kafka Streams
streams_run() { # name
	local name=$1 topic="bench-out-$1-$RUN" app="bench-$1-$RUN"
	topics+=("$topic")
	groups+=("$app")
	topic_prefixes+=("$app-")
	"$OUT/bin/measure" topics -brokers "$BROKERS" -partitions 1 "$topic"
	# It stops by itself once it has processed the whole input (its dropped
	# count is then final); -linger gives it the time for that.
	measure_run "$name" -topic "$topic" -expected "$OUT/expected-closed.tsv" -observed "$OUT/$name.tsv" -linger 60s -- \
		java -Xmx"$STREAMS_HEAP" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
		-cp "$STREAMS_CP" io.vehiclestats.bench.streams.VehicleStatisticsStreams \
		--brokers "$BROKERS" --input "$IN" --output "$topic" --app-id "$app" \
		--state-dir "$OUT/$name.state" --threads "$STREAMS_THREADS" --window-ms 20000 \
		--input-records "$events_in" || failed+=("$name")
	echo "  [$name] records it dropped (late, or no valid event time): $(late_events "$name")" >&2
}

# late_events NAME: the late events the Flink job or Kafka Streams reported (its total, else its last report).
late_events() {
	local n
	n=$(sed -n 's/^late events in total: \([0-9]*\).*/\1/p' "$OUT/$1.log" 2>/dev/null | tail -1)
	[[ -n $n ]] || n=$(sed -n 's/^late events so far: \([0-9]*\).*/\1/p' "$OUT/$1.log" 2>/dev/null | tail -1)
	echo "${n:-0}"
}

# --------------------------------------------------------------- ours
ours_run() { # name
	local name=$1 topic="bench-out-$1-$RUN" dlq="bench-dlq-$1-$RUN" group="bench-$1-$RUN" prefix="bench-$1-$RUN" port
	topics+=("$topic" "$dlq")
	groups+=("$group")
	prefixes+=("$prefix")
	"$OUT/bin/measure" topics -brokers "$BROKERS" -partitions 1 "$topic" "$dlq"
	port=$("$OUT/bin/measure" freeport)
	# The processor's environment as the Go tools and tests make it (proc.ProcessorConfig).
	local vars
	local -a penv
	vars=$("$OUT/bin/procenv" -brokers "$BROKERS" -input "$IN" -output "$topic" -dead-letter "$dlq" \
		-group "$group" -earliest -redis "$REDIS" -key-prefix "$prefix" -http-addr "127.0.0.1:$port" \
		-idle-timeout "$IDLE_TIMEOUT" -set PROCESSOR_LOG_LEVEL=info)
	mapfile -t penv <<<"$vars"
	measure_run "$name" -topic "$topic" -expected "$OUT/expected.tsv" -observed "$OUT/$name.tsv" \
		-counter-url "http://127.0.0.1:$port/metrics" -counter stats_processor_events_total -- \
		env "${penv[@]}" "$ROOT/bin/stats-processor" || failed+=("$name")
}

# --------------------------------------------------------------- rounds
# Each round runs every chosen system once on the same input:
# ConsumerPerformance twice, both Flink lines with withIdleness, Kafka
# Streams, the bare fetch, ours, then both Flink lines without withIdleness,
# so that a change of the machine's load during a round shows up as a
# difference between the two runs of one line. The bare fetch runs just
# before ours: their ratio is the one the issue sets a goal for, and back to
# back they see the same load.
verified=1
for ((r = 1; r <= ROUNDS; r++)); do
	systems=()
	late=()
	if chosen cperf; then
		step "round $r/$ROUNDS: the limit, ConsumerPerformance with its defaults (new group, from the earliest offset)"
		cperf_run "limit.r$r"
		step "round $r/$ROUNDS: the limit, ConsumerPerformance with --fetch-size 4194304 (our fetch size) and max.poll.records=10000"
		cperf_run "limit-tuned.r$r" --fetch-size 4194304 --consumer.config "$OUT/cperf-tuned.properties"
	fi
	if chosen flink; then
		step "round $r/$ROUNDS: the reference, Flink $FLINK_VERSION (parallelism $FLINK_PARALLELISM, -Xmx$FLINK_HEAP, withIdleness $IDLE_TIMEOUT)"
		flink_run "flink.r$r" "$idle_ms" "$FLINK_CP"
		step "round $r/$ROUNDS: the reference, Flink $FLINK2_VERSION (parallelism $FLINK_PARALLELISM, -Xmx$FLINK_HEAP, withIdleness $IDLE_TIMEOUT)"
		flink_run "flink2.r$r" "$idle_ms" "$FLINK2_CP"
		systems+=(flink="$OUT/flink.r$r.tsv" flink2="$OUT/flink2.r$r.tsv")
		late+=(flink="$(late_events "flink.r$r")" flink2="$(late_events "flink2.r$r")")
	fi
	if chosen streams; then
		step "round $r/$ROUNDS: Kafka Streams $STREAMS_VERSION ($STREAMS_THREADS stream threads, -Xmx$STREAMS_HEAP, exactly_once_v2)"
		streams_run "streams.r$r"
	fi
	if chosen bare; then
		step "round $r/$ROUNDS: the limit, a bare kafka-go fetch with the processor's fetch sizes (bench/barefetch)"
		bare_run "bare.r$r"
	fi
	step "round $r/$ROUNDS: ours, bin/stats-processor (defaults, earliest, idle timeout $IDLE_TIMEOUT)"
	ours_run "ours.r$r"
	if chosen flink && [[ $FLINK_NO_IDLENESS == 1 ]]; then
		step "round $r/$ROUNDS: the references without withIdleness (the bounded input's final watermark still closes every window)"
		flink_run "flink-noidle.r$r" 0 "$FLINK_CP"
		flink_run "flink2-noidle.r$r" 0 "$FLINK2_CP"
		systems+=(flink-noidle="$OUT/flink-noidle.r$r.tsv" flink2-noidle="$OUT/flink2-noidle.r$r.tsv")
		late+=(flink-noidle="$(late_events "flink-noidle.r$r")" flink2-noidle="$(late_events "flink2-noidle.r$r")")
	fi
	if chosen streams; then
		systems+=(streams="$OUT/streams.r$r.tsv")
		late+=(streams="$(late_events "streams.r$r")")
	fi
	systems+=(ours="$OUT/ours.r$r.tsv")
	step "round $r/$ROUNDS: verify the window records against the $expected the loader expects"
	"$OUT/bin/measure" verify -expected "$OUT/expected.tsv" -expected-for streams="$OUT/expected-closed.tsv" \
		-events "$events_in" -out "$OUT/verify.r$r.json" \
		-late "$(IFS=,; echo "${late[*]}")" "${systems[@]}" || verified=0
done

# --------------------------------------------------------------- report
step "report"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem_total=$(free -g | awk '/^Mem:/ {print $2}')
command="make bench-compare N=$N ROUNDS=$ROUNDS"
[[ $SYSTEMS == "$ALL_SYSTEMS" ]] || command="$command SYSTEMS=\"$SYSTEMS\""
software="Kafka $KAFKA_VERSION broker (KRaft, one node, local stack) and its ConsumerPerformance;"
chosen flink && software="$software Flink $FLINK_VERSION with flink-connector-kafka $CONNECTOR_VERSION (kafka-clients $KAFKA_CLIENTS_FLINK);"
chosen flink && software="$software Flink $FLINK2_VERSION with flink-connector-kafka $CONNECTOR2_VERSION (kafka-clients $KAFKA_CLIENTS_FLINK2);"
chosen streams && software="$software Kafka Streams $STREAMS_VERSION;"
chosen bare && software="$software kafka-go $(go list -m -f '{{.Version}}' github.com/segmentio/kafka-go) (ours and the bare fetch);"
settings="stats-processor with its defaults except brokers, topics, group, Redis prefix, HTTP address, \`earliest\` and the idle timeout ($IDLE_TIMEOUT);"
chosen flink && settings="$settings Flink local MiniCluster, parallelism $FLINK_PARALLELISM, \`-Xmx$FLINK_HEAP\`, bounded KafkaSource, at-least-once sink, no checkpoints, run with \`withIdleness($IDLE_TIMEOUT)\`$([[ $FLINK_NO_IDLENESS == 1 ]] && echo " and again without it"), the same job and source for both Flink lines;"
chosen streams && settings="$settings Kafka Streams with $STREAMS_THREADS stream threads, \`-Xmx$STREAMS_HEAP\`, \`exactly_once_v2\`, RocksDB window store, \`ofSizeWithNoGrace\` and \`suppress(untilWindowCloses)\`;"
chosen cperf && settings="$settings ConsumerPerformance (\`-Xmx$CPERF_HEAP\`) once with its defaults and once with \`--fetch-size 4194304\` (the processor's \`kafka.fetch_max_bytes\`) and \`max.poll.records=10000\`;"
chosen bare && settings="$settings the bare fetch (\`bench/barefetch\`) with the processor's \`kafka.fetch_max_bytes\` and \`kafka.fetch_max_wait\` from \`configs/stats-processor.yaml\`."
{
	echo "Command: \`$command\` (run $RUN, $(date -u '+%Y-%m-%d %H:%M UTC'), measured at \`$COMMIT\`, $((SECONDS / 60)) min $((SECONDS % 60)) s up to the report)."
	echo
	echo "- Machine: $(nproc) CPUs ($cpu_model), ${mem_total} GiB RAM (\`free -g\` total), $(uname -sr);" \
		"load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared; compare rows, not runs)."
	echo "- Software: $software $(go version | cut -d' ' -f3); $(java -version 2>&1 | head -1 | sed 's/"//g')."
	echo "- Input: $(<"$OUT/input.md")"
	echo "- Settings: $settings"
	echo
} >"$OUT/setup.md"
doc_args=()
[[ -n $DOC ]] && doc_args=(-doc "$ROOT/$DOC")
results() { # name: the result files of all rounds, comma-separated
	local r files=()
	for ((r = 1; r <= ROUNDS; r++)); do files+=("$OUT/$1.r$r.json"); done
	(IFS=,; echo "${files[*]}")
}
rows=()
if chosen flink; then
	rows+=(-flink "Flink $FLINK_VERSION, withIdleness $IDLE_TIMEOUT=$(results flink)")
	[[ $FLINK_NO_IDLENESS == 1 ]] && rows+=(-flink "Flink $FLINK_VERSION, no withIdleness=$(results flink-noidle)")
	rows+=(-flink "Flink $FLINK2_VERSION, withIdleness $IDLE_TIMEOUT=$(results flink2)")
	[[ $FLINK_NO_IDLENESS == 1 ]] && rows+=(-flink "Flink $FLINK2_VERSION, no withIdleness=$(results flink2-noidle)")
fi
chosen streams && rows+=(-other "Kafka Streams $STREAMS_VERSION, exactly_once_v2=$(results streams)")
if chosen cperf; then
	rows+=(-limit "ConsumerPerformance, defaults=$(results limit)")
	rows+=(-limit "ConsumerPerformance, 4 MiB fetches=$(results limit-tuned)")
fi
chosen bare && rows+=(-bare "bare kafka-go fetch (limit)=$(results bare)")
verify_args=()
for ((r = 1; r <= ROUNDS; r++)); do verify_args+=(-verify "$OUT/verify.r$r.json"); done
"$OUT/bin/measure" report -ours "**stats-processor (ours)**=$(results ours)" "${rows[@]}" \
	"${verify_args[@]}" -setup "$OUT/setup.md" -out "$OUT/table.md" "${doc_args[@]}"

if ((${#failed[@]} > 0)); then
	die "failed runs: ${failed[*]} (logs in ${OUT#"$ROOT"/})"
fi
((verified)) || die "the window records do not match (see verify above)"
if [[ -z $DOC ]]; then
	echo "bench-compare: the table is in ${OUT#"$ROOT"/}/table.md; DOC=docs/benchmarks-compare.md writes it into the docs" >&2
fi
