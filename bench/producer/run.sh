#!/usr/bin/env bash
# bench/producer/run.sh: vehicle-producer at full speed against Kafka's own
# org.apache.kafka.tools.ProducerPerformance, side by side in one run, on the
# local stack (make bench-producer starts it when it is not running).
#
# Each round sends N records (default 1,000,000) to a fresh topic of 6
# partitions, replication 1, with acks=all and the same compression:
#   1. vehicle-producer (bin/vehicle-producer, count=N, rate=0, its default
#      batching); its rate is measured from the loop's start to the last
#      acknowledgement and read from its final log line;
#   2. ProducerPerformance with its defaults (batch.size=16384, linger.ms=0),
#      records of our average size (key + value, from step 1);
#   3. ProducerPerformance with batching like ours (linger.ms = our
#      batch_timeout, batch.size = our batch_size x record size).
# Rounds alternate the tools so that load from other processes on the machine
# hits both alike; the table shows the median of each.
#
# Settings (environment): N (records per run, 1000000), ROUNDS (3),
# COMPRESSION (none; also gzip, snappy, lz4, zstd), KAFKA (broker, default
# $VS_KAFKA_BROKERS), OUT (folder for logs, out/bench-producer).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

N="${N:-1000000}"
ROUNDS="${ROUNDS:-3}"
COMPRESSION="${COMPRESSION:-none}"
KAFKA="${KAFKA:-${VS_KAFKA_BROKERS:-}}"
OUT="${OUT:-$ROOT/out/bench-producer}"
BIN="$ROOT/bin/vehicle-producer"
PARTITIONS=6

die() { echo "bench-producer: $*" >&2; exit 1; }
[[ -n $KAFKA ]] || die "no broker: set KAFKA or VS_KAFKA_BROKERS (make bench-producer does)"
command -v jq >/dev/null || die "jq is needed to read the producer's log (Debian: apt-get install jq)"
command -v java >/dev/null || die "java is needed for ProducerPerformance"
[[ -x $BIN ]] || die "$BIN missing: run make build"
CP="$(deploy/local/stack.sh classpath)"
mkdir -p "$OUT/bin"
# The producer's environment as the Go tools and tests make it (proc.ProducerConfig).
go build -o "$OUT/bin/" ./internal/testenv/proc/procenv

# Our own batching, to give ProducerPerformance the same in variant 3.
BATCH_SIZE=$(sed -n 's/^  batch_size: *\([0-9]*\).*/\1/p' configs/vehicle-producer.yaml)
LINGER_MS=$(sed -n 's/^  batch_timeout: *\([0-9]*\)ms.*/\1/p' configs/vehicle-producer.yaml)

# The runs happen in command substitutions (subshells), so the topics to
# delete at the end are listed in a file.
TOPICS="$OUT/topics"
: >"$TOPICS"
# The heap kafka-producer-perf-test.sh gives it.
java_tool() { java -Xmx512M -cp "$CP" "$@"; }
new_topic() {
	local t="bench-producer-$1-$RANDOM$RANDOM"
	java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA" --create --topic "$t" \
		--partitions "$PARTITIONS" --replication-factor 1 >/dev/null 2>&1 || die "cannot create topic $t on $KAFKA"
	echo "$t" >>"$TOPICS"
	echo "$t"
}
cleanup() {
	[[ -s $TOPICS ]] || return 0
	# One JVM for all: --topic takes a regular expression (names are [a-z0-9-]).
	java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA" --delete \
		--topic "$(paste -sd'|' "$TOPICS")" >/dev/null 2>&1 || echo "bench-producer: could not delete the topics in $TOPICS" >&2
}
trap cleanup EXIT

# run_ours ROUND: prints "events_per_second mib_per_second avg_record_bytes".
run_ours() {
	local topic log vars
	local -a penv
	topic=$(new_topic ours)
	log="$OUT/vehicle-producer-$1.log"
	vars=$("$OUT/bin/procenv" producer -brokers "$KAFKA" -topic "$topic" -compression "$COMPRESSION" \
		-count "$N" -unpaced -seed 1 -http-addr 127.0.0.1:0) || die "procenv failed"
	mapfile -t penv <<<"$vars"
	env "${penv[@]}" "$BIN" 2>"$log" || die "vehicle-producer failed; see $log"
	jq -r 'select(.msg=="stopped") | .throughput | "\(.events_per_second) \(.mib_per_second) \(.bytes / '"$N"')"' "$log"
}

# run_pp ROUND NAME RECORD_SIZE [PROPS...]: prints "records_per_second mib_per_second".
run_pp() {
	local round=$1 name=$2 size=$3 topic log
	shift 3
	topic=$(new_topic "$name")
	log="$OUT/producer-performance-$name-$round.log"
	java_tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$N" \
		--record-size "$size" --throughput -1 \
		--producer-props bootstrap.servers="$KAFKA" acks=all compression.type="$COMPRESSION" "$@" \
		>"$log" 2>&1 || die "ProducerPerformance failed; see $log"
	# "1000000 records sent, 193386.19 records/sec (27.66 MB/sec), ..."
	tail -1 "$log" | sed -n 's/.* sent, \([0-9.]*\) records\/sec (\([0-9.]*\) MB\/sec).*/\1 \2/p'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "bench-producer: $ROUNDS round(s) of $N records, $PARTITIONS partitions, acks=all, compression=$COMPRESSION, broker $KAFKA"
ours_eps=() ours_mib=() pp_eps=() pp_mib=() ppt_eps=() ppt_mib=()
size=""
for r in $(seq 1 "$ROUNDS"); do
	read -r eps mib avg <<<"$(run_ours "$r")"
	[[ -n $eps ]] || die "no throughput in $OUT/vehicle-producer-$r.log"
	size=${size:-$(printf '%.0f' "$avg")}
	ours_eps+=("$eps") ours_mib+=("$mib")
	printf '  round %d: vehicle-producer %.0f/s' "$r" "$eps"
	read -r eps mib <<<"$(run_pp "$r" defaults "$size")"
	pp_eps+=("$eps") pp_mib+=("$mib")
	printf ', ProducerPerformance %.0f/s' "$eps"
	read -r eps mib <<<"$(run_pp "$r" batched "$size" linger.ms="$LINGER_MS" batch.size=$((BATCH_SIZE * size)))"
	ppt_eps+=("$eps") ppt_mib+=("$mib")
	printf ', ProducerPerformance batched like ours %.0f/s\n' "$eps"
done

m() { printf '%s\n' "$@" | median; }
o_eps=$(m "${ours_eps[@]}") o_mib=$(m "${ours_mib[@]}")
p_eps=$(m "${pp_eps[@]}") p_mib=$(m "${pp_mib[@]}")
t_eps=$(m "${ppt_eps[@]}") t_mib=$(m "${ppt_mib[@]}")
# ProducerPerformance's "MB" is 2^20 bytes of values; ours counts key + value
# in the same unit, and its records are the size of ours.
echo
printf '%-54s %10s %7s %12s\n' "$N records of $size B, acks=all, compression=$COMPRESSION" "records/s" "MiB/s" "ours/theirs"
printf '%-54s %10.0f %7.1f %12s\n' "vehicle-producer (kafka-go, batch_size $BATCH_SIZE, ${LINGER_MS}ms)" "$o_eps" "$o_mib" "-"
printf '%-54s %10.0f %7.1f %11.2fx\n' "ProducerPerformance (Java client defaults)" "$p_eps" "$p_mib" "$(echo "$o_eps/$p_eps" | bc -l)"
printf '%-54s %10.0f %7.1f %11.2fx\n' "ProducerPerformance (linger.ms=$LINGER_MS batch.size=$((BATCH_SIZE * size)))" "$t_eps" "$t_mib" "$(echo "$o_eps/$t_eps" | bc -l)"
best=$(printf '%s\n' "$p_eps" "$t_eps" | sort -g | tail -1)
pct=$(echo "100*$o_eps/$best" | bc -l)
printf '(medians of %d rounds)\nvehicle-producer reaches %.0f%% of the faster ProducerPerformance (target: at least 80%%)\n' "$ROUNDS" "$pct"
echo "logs: $OUT"
