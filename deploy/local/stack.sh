#!/usr/bin/env bash
# The local stack: a real single-node Apache Kafka broker (KRaft, broker and
# controller in one JVM) and a real Redis, as plain processes on loopback, for
# machines without a Docker engine. Everything lives under .local/ (ignored by
# git): the Maven cache, the Kafka and Redis data, logs and pid files.
#
#   deploy/local/stack.sh start    start what is not running yet, wait until ready
#   deploy/local/stack.sh stop     stop only the processes this script started
#   deploy/local/stack.sh status   say what runs, where, and whether it answers
#   deploy/local/stack.sh env      print the environment variables tests and services use
#   deploy/local/stack.sh version  print the Kafka version it runs (VS_KAFKA_VERSION, else the default)
#   deploy/local/stack.sh reset    stop, then delete all Kafka and Redis data (keeps the Maven cache)
#   deploy/local/stack.sh kafka-start|kafka-stop|kafka-kill|redis-start|redis-stop
#                                  one service alone (chaos tests use these with
#                                  VS_LOCAL_DIR set to a private folder and their own ports)
#
# Ports (override with VS_KAFKA_PORT, VS_KAFKA_CONTROLLER_PORT, VS_REDIS_PORT)
# are off the defaults so that a Kafka or Redis you already run is not touched.
# VS_KAFKA_VERSION chooses the Kafka version (default: the one in
# deploy/local/pom.xml); each version keeps its own data folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${VS_LOCAL_DIR:-$ROOT/.local}"
KAFKA_PORT="${VS_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${VS_KAFKA_CONTROLLER_PORT:-19093}"
REDIS_PORT="${VS_REDIS_PORT:-16379}"
KAFKA_HEAP="${VS_KAFKA_HEAP:-768m}"
DEFAULT_KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/local/pom.xml")"
KAFKA_VERSION="${VS_KAFKA_VERSION:-$DEFAULT_KAFKA_VERSION}"
KAFKA_LINE="${KAFKA_VERSION%%.*}"

# The Maven cache and the resolved class path stay under the checkout even when
# VS_LOCAL_DIR points elsewhere (tests run private brokers in temp folders).
M2="$ROOT/.local/m2"
CLASSPATH_FILE="$ROOT/.local/kafka-classpath-$KAFKA_VERSION.txt"
KDIR="$LOCAL/kafka"
# Storage formatted by one version cannot always be read by another (a 4.x
# broker upgrades 3.x metadata for good), so each version keeps its own.
KDATA="$KDIR/data-$KAFKA_VERSION"
RDIR="$LOCAL/redis"
RUN="$LOCAL/run"

log() { printf '%s stack: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=progress.sh
source "$ROOT/deploy/local/progress.sh"

# check_version refuses what cannot work and warns about what is not tested.
check_version() {
	[[ $KAFKA_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
		die "VS_KAFKA_VERSION=$KAFKA_VERSION: want a release number such as 4.4.0 or 3.9.1"
	case $KAFKA_VERSION in
	4.0.0)
		die "Kafka 4.0.0 is not supported: it removed JoinGroup v0 and v1 (KIP-896), and kafka-go's consumer group joins with v1, so the processor cannot join its group (4.0.1 and 4.1.0 accept v1 again); use 4.1 or later, or 3.9.x" ;;
	3.9.* | 4.[1-4].*) ;;
	*) log "warning: Kafka $KAFKA_VERSION is outside the tested range (3.9.x, 4.1 to 4.4)" ;;
	esac
}

# alive PIDFILE PATTERN: the pid in PIDFILE runs and its command line matches
# PATTERN, so a pid reused by another program is never taken for ours.
alive() {
	local pidfile=$1 pattern=$2 pid
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- Kafka

kafka_classpath() {
	if [[ -s $CLASSPATH_FILE ]]; then
		cat "$CLASSPATH_FILE"
		return
	fi
	command -v mvn >/dev/null || die "Maven (mvn) is needed once to fetch Kafka $KAFKA_VERSION; install it (Debian: apt-get install maven) and run again"
	command -v java >/dev/null || die "Java 17 or later is needed to run Kafka; install it (Debian: apt-get install openjdk-17-jre-headless)"
	mkdir -p "$KDIR" "$M2" "$(dirname "$CLASSPATH_FILE")"
	if ! progress "first start: Maven downloads Apache Kafka $KAFKA_VERSION and its dependencies (~80 MB) into $M2" "1 to 2 min" \
		--size "$M2" --out "$KDIR/maven.log" -- \
		mvn -B -q -f "$ROOT/deploy/local/pom.xml" dependency:build-classpath \
		-Dkafka.version="$KAFKA_VERSION" -Dkafka.line="$KAFKA_LINE" -Dmdep.includeScope=runtime -Dmdep.outputFile="$CLASSPATH_FILE.tmp" \
		-Dmaven.repo.local="$M2"; then
		tail -20 "$KDIR/maven.log" >&2
		die "Maven could not resolve Kafka $KAFKA_VERSION (full log: $KDIR/maven.log); check network access to the Maven repository and run again"
	fi
	mv "$CLASSPATH_FILE.tmp" "$CLASSPATH_FILE"
	cat "$CLASSPATH_FILE"
}

kafka_config() {
	mkdir -p "$KDIR/config" "$KDATA" "$KDIR/logs"
	# With VS_KAFKA_SASL_PORT set, a second listener requires SASL/PLAIN as
	# user VS_KAFKA_SASL_USER (tests of the services' kafka.sasl.* keys).
	local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT"
	local advertised="PLAINTEXT://127.0.0.1:$KAFKA_PORT"
	local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	local sasl=""
	if [[ -n ${VS_KAFKA_SASL_PORT:-} ]]; then
		listeners+=",SASL_PLAINTEXT://127.0.0.1:$VS_KAFKA_SASL_PORT"
		advertised+=",SASL_PLAINTEXT://127.0.0.1:$VS_KAFKA_SASL_PORT"
		protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
		sasl="sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${VS_KAFKA_SASL_USER:-vehicle-stats}=\"${VS_KAFKA_SASL_PASSWORD:-vehicle-stats-secret}\";"
	fi
	# With VS_KAFKA_PROXIED_PORT and VS_KAFKA_PROXIED_ADVERTISED_PORT set, a
	# plaintext listener on the first port that tells clients to connect to
	# the second: a network fault proxy listens there (tests of slow links).
	if [[ -n ${VS_KAFKA_PROXIED_PORT:-} ]]; then
		listeners+=",PROXIED://127.0.0.1:$VS_KAFKA_PROXIED_PORT"
		advertised+=",PROXIED://127.0.0.1:${VS_KAFKA_PROXIED_ADVERTISED_PORT:?VS_KAFKA_PROXIED_ADVERTISED_PORT is needed with VS_KAFKA_PROXIED_PORT}"
		protocols+=",PROXIED:PLAINTEXT"
	fi
	# With VS_KAFKA_SSL_CERT, VS_KAFKA_SSL_KEY (PEM, PKCS #8 key) and
	# VS_KAFKA_SSL_CA (PEM) set, optional TLS listeners (tests of kafka.tls.*):
	#   VS_KAFKA_SSL_PORT       SSL, server certificate only
	#   VS_KAFKA_MTLS_PORT      SSL that requires a client certificate signed by VS_KAFKA_SSL_CA
	#   VS_KAFKA_SASL_SSL_PORT  SASL_SSL with SCRAM-SHA-512; create its users through the
	#                           admin API (AlterUserScramCredentials, as internal/testenv
	#                           does) on the plaintext listener
	local tls=""
	if [[ -n ${VS_KAFKA_SSL_PORT:-}${VS_KAFKA_MTLS_PORT:-}${VS_KAFKA_SASL_SSL_PORT:-} ]]; then
		[[ -r ${VS_KAFKA_SSL_CERT:-} && -r ${VS_KAFKA_SSL_KEY:-} && -r ${VS_KAFKA_SSL_CA:-} ]] ||
			die "a TLS listener needs VS_KAFKA_SSL_CERT, VS_KAFKA_SSL_KEY and VS_KAFKA_SSL_CA (readable PEM files)"
		# The key and chain go inline (one line; Kafka ignores the whitespace in
		# PEM): a PEM key file would have to be encrypted.
		tls="ssl.keystore.type=PEM
ssl.keystore.key=$(tr '\n' ' ' <"$VS_KAFKA_SSL_KEY")
ssl.keystore.certificate.chain=$(tr '\n' ' ' <"$VS_KAFKA_SSL_CERT")
ssl.truststore.type=PEM
ssl.truststore.location=$VS_KAFKA_SSL_CA"
	fi
	if [[ -n ${VS_KAFKA_SSL_PORT:-} ]]; then
		listeners+=",SSL://127.0.0.1:$VS_KAFKA_SSL_PORT"
		advertised+=",SSL://127.0.0.1:$VS_KAFKA_SSL_PORT"
		protocols+=",SSL:SSL"
	fi
	if [[ -n ${VS_KAFKA_MTLS_PORT:-} ]]; then
		listeners+=",MTLS://127.0.0.1:$VS_KAFKA_MTLS_PORT"
		advertised+=",MTLS://127.0.0.1:$VS_KAFKA_MTLS_PORT"
		protocols+=",MTLS:SSL"
		tls+="
listener.name.mtls.ssl.client.auth=required"
	fi
	if [[ -n ${VS_KAFKA_SASL_SSL_PORT:-} ]]; then
		listeners+=",SASL_SSL://127.0.0.1:$VS_KAFKA_SASL_SSL_PORT"
		advertised+=",SASL_SSL://127.0.0.1:$VS_KAFKA_SASL_SSL_PORT"
		protocols+=",SASL_SSL:SASL_SSL"
		tls+="
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
	fi
	cat >"$KDIR/config/server.properties" <<EOF
# Written by deploy/local/stack.sh; edits are overwritten on start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
$tls
$sasl
log.dirs=$KDATA
# Code creates its topics on purpose.
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# One node is its own controller: fencing itself for missed heartbeats only
# hurts. On a starved machine (CI with other work running) the controller
# fenced it after 9 s without a heartbeat and it stayed fenced until it
# stopped, failing every test after; a minute rides such stalls out.
broker.session.timeout.ms=60000
log.retention.hours=24
log.segment.bytes=268435456
EOF
	# Kafka 3.x logs with log4j 1 (reload4j), Kafka 4.x with log4j 2: the
	# same file, in each one's configuration format.
	if [[ $KAFKA_LINE -ge 4 ]]; then
		cat >"$KDIR/config/log4j2.properties" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $KDIR/logs/server.log
appender.file.filePattern = $KDIR/logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
		LOG_FLAG="-Dlog4j2.configurationFile=file:$KDIR/config/log4j2.properties"
		return
	fi
	cat >"$KDIR/config/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$KDIR/logs/server.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
EOF
	LOG_FLAG="-Dlog4j.configuration=file:$KDIR/config/log4j.properties"
}

kafka_ready() {
	"$ROOT/bin/stackcheck" kafka -brokers "127.0.0.1:$KAFKA_PORT" -timeout "$1" >&2
}

build_stackcheck() {
	if [[ ! -x $ROOT/bin/stackcheck || $ROOT/deploy/local/stackcheck/main.go -nt $ROOT/bin/stackcheck ]]; then
		(cd "$ROOT" && go build -o bin/stackcheck ./deploy/local/stackcheck) || die "could not build bin/stackcheck; is Go 1.26 installed?"
	fi
}

kafka_start() {
	if alive "$RUN/kafka.pid" kafka.Kafka; then
		local running
		running=$(cat "$RUN/kafka.version" 2>/dev/null || echo unknown)
		[[ $running == "$KAFKA_VERSION" ]] ||
			die "Kafka $running runs (pid $(<"$RUN/kafka.pid")), not $KAFKA_VERSION; stop it first ('stack.sh stop') or use another VS_LOCAL_DIR and other ports"
		log "Kafka $KAFKA_VERSION already runs (pid $(<"$RUN/kafka.pid")) on 127.0.0.1:$KAFKA_PORT; reusing it"
		kafka_ready 60s
		return
	fi
	if port_open "$KAFKA_PORT"; then
		die "port $KAFKA_PORT is taken by a process this script did not start; stop it or set VS_KAFKA_PORT"
	fi
	local cp
	cp=$(kafka_classpath)
	kafka_config
	if [[ ! -f $KDATA/meta.properties ]]; then
		log "formatting Kafka $KAFKA_VERSION storage in $KDATA"
		local id
		id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
		# With the static controller.quorum.voters above, 3.9 and 4.x format
		# alike (no --standalone or --initial-controllers).
		java "$LOG_FLAG" -cp "$cp" kafka.tools.StorageTool format \
			-t "$id" -c "$KDIR/config/server.properties" >"$KDIR/logs/format.log" 2>&1 ||
			{ cat "$KDIR/logs/format.log" >&2; die "formatting Kafka storage failed; 'stack.sh reset' clears the data folder"; }
	fi
	mkdir -p "$RUN"
	echo "$KAFKA_VERSION" >"$RUN/kafka.version"
	log "starting Kafka $KAFKA_VERSION (KRaft, heap $KAFKA_HEAP) on 127.0.0.1:$KAFKA_PORT; log: $KDIR/logs/server.log"
	# setsid: the broker must outlive the shell that started it (make run, CI steps).
	setsid nohup java -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true -Dkafka.logs.dir="$KDIR/logs" \
		"$LOG_FLAG" -cp "$cp" kafka.Kafka "$KDIR/config/server.properties" \
		>"$KDIR/logs/stdout.log" 2>&1 </dev/null &
	echo $! >"$RUN/kafka.pid"
	if ! kafka_ready 180s; then
		tail -20 "$KDIR/logs/server.log" >&2 || true
		tail -20 "$KDIR/logs/stdout.log" >&2 || true
		die "Kafka did not become ready; see $KDIR/logs/server.log"
	fi
}

# ---------------------------------------------------------------- Redis

redis_bin() {
	if command -v redis-server >/dev/null; then
		return
	fi
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		log "redis-server is missing: installing Debian's redis-server package"
		progress "apt-get update" "10 to 30 s" -- env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
		progress "apt-get install redis-server" "under a minute" -- \
			env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2 ||
			die "apt-get install redis-server failed"
		# The package starts a system Redis on 6379; we run our own and leave that one alone.
		return
	fi
	die "redis-server is not installed; install it (Debian/Ubuntu: sudo apt-get install redis-server, macOS: brew install redis) and run again"
}

redis_start() {
	if alive "$RUN/redis.pid" redis-server; then
		log "Redis already runs (pid $(<"$RUN/redis.pid")) on 127.0.0.1:$REDIS_PORT; reusing it"
		return
	fi
	if port_open "$REDIS_PORT"; then
		die "port $REDIS_PORT is taken by a process this script did not start; stop it or set VS_REDIS_PORT"
	fi
	redis_bin
	mkdir -p "$RDIR/data" "$RDIR/logs" "$RUN"
	cat >"$RDIR/redis.conf" <<EOF
# Written by deploy/local/stack.sh; edits are overwritten on start.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $RUN/redis.pid
logfile $RDIR/logs/redis.log
dir $RDIR/data
# State must survive a Redis restart: AOF, fsync once a second.
appendonly yes
appendfsync everysec
save ""
EOF
	# With VS_REDIS_TLS_PORT set, a TLS port beside the plain one (tests of
	# redis.tls.*): server certificate VS_REDIS_TLS_CERT and key
	# VS_REDIS_TLS_KEY, clients must present a certificate signed by
	# VS_REDIS_TLS_CA. VS_REDIS_INCLUDE names a file of more directives
	# (e.g. ACL users), read last.
	if [[ -n ${VS_REDIS_TLS_PORT:-} ]]; then
		[[ -r ${VS_REDIS_TLS_CERT:-} && -r ${VS_REDIS_TLS_KEY:-} && -r ${VS_REDIS_TLS_CA:-} ]] ||
			die "VS_REDIS_TLS_PORT needs VS_REDIS_TLS_CERT, VS_REDIS_TLS_KEY and VS_REDIS_TLS_CA (readable PEM files)"
		cat >>"$RDIR/redis.conf" <<EOF
tls-port $VS_REDIS_TLS_PORT
tls-cert-file $VS_REDIS_TLS_CERT
tls-key-file $VS_REDIS_TLS_KEY
tls-ca-cert-file $VS_REDIS_TLS_CA
tls-auth-clients yes
EOF
	fi
	if [[ -n ${VS_REDIS_INCLUDE:-} ]]; then
		echo "include $VS_REDIS_INCLUDE" >>"$RDIR/redis.conf"
	fi
	log "starting Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT (AOF on); log: $RDIR/logs/redis.log"
	redis-server "$RDIR/redis.conf"
	local i
	for i in $(seq 1 100); do
		if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
			log "Redis ready"
			return
		fi
		sleep 0.1
	done
	tail -20 "$RDIR/logs/redis.log" >&2 || true
	die "Redis did not answer PING; see $RDIR/logs/redis.log"
}

# ---------------------------------------------------------------- commands

stop_one() {
	local name=$1 pattern=$2 pidfile="$RUN/$1.pid" pid i
	if ! alive "$pidfile" "$pattern"; then
		rm -f "$pidfile"
		log "$name is not running (not started by this script)"
		return
	fi
	pid=$(<"$pidfile")
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name did not stop within 30 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	[[ $name != kafka ]] || rm -f "$RUN/kafka.version"
}

status() {
	local rc=0
	if alive "$RUN/kafka.pid" kafka.Kafka; then
		if port_open "$KAFKA_PORT"; then
			local v
			v=$(cat "$RUN/kafka.version" 2>/dev/null || echo unknown)
			echo "kafka: running, pid $(<"$RUN/kafka.pid"), 127.0.0.1:$KAFKA_PORT, version $v, data $KDIR/data-$v"
		else
			echo "kafka: process $(<"$RUN/kafka.pid") runs but 127.0.0.1:$KAFKA_PORT does not answer (starting?)"; rc=1
		fi
	else
		echo "kafka: stopped"; rc=1
	fi
	if alive "$RUN/redis.pid" redis-server; then
		echo "redis: running, pid $(<"$RUN/redis.pid"), 127.0.0.1:$REDIS_PORT, data $RDIR/data"
	else
		echo "redis: stopped"; rc=1
	fi
	return $rc
}

case "${1:-}" in
start)
	t0=$SECONDS
	check_version
	build_stackcheck
	redis_start
	kafka_start
	log "stack ready in $((SECONDS - t0)) s: Kafka 127.0.0.1:$KAFKA_PORT, Redis 127.0.0.1:$REDIS_PORT"
	;;
stop)
	stop_one kafka kafka.Kafka
	stop_one redis redis-server
	;;
status) status ;;
kafka-start) check_version; build_stackcheck; kafka_start ;;
kafka-stop) stop_one kafka kafka.Kafka ;;
kafka-kill) [[ -f $RUN/kafka.pid ]] && kill -KILL "$(<"$RUN/kafka.pid")" 2>/dev/null; rm -f "$RUN/kafka.pid" ;;
redis-start) redis_start ;;
redis-stop) stop_one redis redis-server ;;
env)
	echo "export VS_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
	echo "export VS_REDIS_ADDR=127.0.0.1:$REDIS_PORT"
	;;
classpath) check_version; kafka_classpath ;;
version) echo "$KAFKA_VERSION" ;;
reset)
	"$0" stop
	log "deleting $KDIR/data-* (every version's), $KDIR/logs and $RDIR"
	rm -rf "$KDIR"/data "$KDIR"/data-* "$KDIR/logs" "$RDIR"
	;;
*)
	echo "usage: $0 start|stop|status|env|classpath|version|reset|kafka-start|kafka-stop|kafka-kill|redis-start|redis-stop" >&2
	exit 2
	;;
esac
