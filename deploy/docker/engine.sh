#!/usr/bin/env bash
# A Docker engine and Compose v2 for `make test-docker`, on machines that
# have neither (CI starts from a bare Debian).
#
#   deploy/docker/engine.sh start     use the engine that answers, or install
#                                     Debian's docker.io (as root) and start
#                                     dockerd; then make sure `docker compose` works
#   deploy/docker/engine.sh engine    only the engine part of start
#   deploy/docker/engine.sh compose   only the `docker compose` part of start
#   deploy/docker/engine.sh stop      stop dockerd only if start started it
#   deploy/docker/engine.sh status    say whether an engine answers and who started it
#
# Compose v2 is built from its Go module when missing (Debian bookworm has
# no v2 package): github.com/docker/compose/v2 at COMPOSE_VERSION, built with
# the module as the main module (`go install ...@version` refuses its
# exclude directives) and installed as a CLI plugin.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${VS_DOCKER_CACHE:-$ROOT/.local/docker}"
COMPOSE_VERSION="${VS_COMPOSE_VERSION:-v2.40.3}"
PIDFILE="$STATE/dockerd.pid"

log() { printf '%s engine: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=../local/progress.sh
source "$ROOT/deploy/local/progress.sh"

answers() { timeout 10 docker info >/dev/null 2>&1; }

ours() {
	[[ -f $PIDFILE ]] || return 1
	local pid
	pid=$(<"$PIDFILE")
	[[ -n $pid && -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q '^dockerd'
}

install_engine() {
	command -v dockerd >/dev/null && command -v docker >/dev/null && return
	[[ $(id -u) -eq 0 ]] || die "no Docker engine here; install one (Debian: sudo apt-get install docker.io) or run as root"
	progress "apt-get update" "10 to 30 s" -- env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
	# The package's service start is refused where there is no init system;
	# this script starts dockerd itself.
	progress "installing Debian's docker.io" "about 1 min" -- \
		env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >&2 ||
		die "apt-get install docker.io failed"
	installed=yes
}

start_engine() {
	if answers; then
		log "a Docker engine answers ($(docker info --format '{{.ServerVersion}}' 2>/dev/null)); using it"
		return
	fi
	local installed=no
	install_engine
	# Where an init system runs, installing the package started its service.
	if [[ $installed == yes ]]; then
		for _ in $(seq 10); do
			answers && { log "the docker.io service answers; using it"; return; }
			sleep 1
		done
	fi
	[[ $(id -u) -eq 0 ]] || die "no Docker engine answers, and starting dockerd needs root"
	mkdir -p "$STATE"
	log "starting dockerd (log: $STATE/dockerd.log)"
	# setsid: dockerd outlives the make that started it until `stop`.
	setsid nohup dockerd >"$STATE/dockerd.log" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	for _ in $(seq 120); do
		answers && { log "dockerd $(docker info --format '{{.ServerVersion}}') answers"; return; }
		ours || { tail -20 "$STATE/dockerd.log" >&2; die "dockerd exited; see $STATE/dockerd.log"; }
		sleep 0.5
	done
	die "dockerd did not answer within 60 s; see $STATE/dockerd.log"
}

# plugin_dir: where the docker CLI looks for plugins of this user.
plugin_dir() {
	if [[ $(id -u) -eq 0 ]]; then
		echo /usr/local/lib/docker/cli-plugins
	else
		echo "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
	fi
}

ensure_compose() {
	local v
	v=$(docker compose version --short 2>/dev/null || true)
	if [[ -n $v && $v != 1.* ]]; then
		log "docker compose $v"
		return
	fi
	local bin="$STATE/docker-compose-$COMPOSE_VERSION"
	if [[ ! -x $bin ]]; then
		command -v go >/dev/null || die "Go is needed to build Docker Compose $COMPOSE_VERSION"
		local dir
		dir=$(progress "downloading the Go module of Docker Compose $COMPOSE_VERSION" "under a minute" -- \
			env GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[[ -d $dir ]] || die "could not download github.com/docker/compose/v2@$COMPOSE_VERSION"
		mkdir -p "$STATE"
		progress "building Docker Compose $COMPOSE_VERSION (once)" "about 10 min on 2 cores" -- \
			bash -c 'cd "$1" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
				-ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$2" -o "$3" ./cmd' _ "$dir" "$COMPOSE_VERSION" "$bin.tmp" ||
			die "building Docker Compose failed"
		mv "$bin.tmp" "$bin"
	fi
	mkdir -p "$(plugin_dir)"
	install -m 0755 "$bin" "$(plugin_dir)/docker-compose"
	log "installed $(plugin_dir)/docker-compose: $(docker compose version)"
}

stop_engine() {
	if ! ours; then
		log "dockerd was not started by this script; leaving the engine alone"
		return
	fi
	local pid
	pid=$(<"$PIDFILE")
	log "stopping dockerd (pid $pid)"
	kill -TERM "$pid"
	for _ in $(seq 60); do
		[[ -d /proc/$pid ]] || { rm -f "$PIDFILE"; return; }
		sleep 0.5
	done
	die "dockerd (pid $pid) did not stop within 30 s"
}

case "${1:-}" in
start)
	start_engine
	ensure_compose
	;;
engine) start_engine ;;
compose) ensure_compose ;;
stop) stop_engine ;;
status)
	if answers; then
		echo "engine: answers ($(docker info --format '{{.ServerVersion}}'))$(ours && echo ", started by this script (pid $(<"$PIDFILE"))")"
	else
		echo "engine: none answers"
	fi
	;;
*)
	echo "usage: $0 start|engine|compose|stop|status" >&2
	exit 2
	;;
esac
