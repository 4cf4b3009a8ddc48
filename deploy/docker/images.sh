#!/usr/bin/env bash
# Makes every public image that docker-compose.yml, the services'
# Dockerfiles and internal/testenv name available to the local Docker
# engine: the real image when a pull succeeds, otherwise a stand-in built
# here from reachable sources (Debian packages, Maven, this machine's Go)
# under exactly the same tag. docs/docker-compose.md ("Images without a
# registry") says what each stand-in is and what it reproduces.
#
#   deploy/docker/images.sh list      print the images, one a line
#   deploy/docker/images.sh ensure    pull or build each (default)
#
# Stand-ins carry the label vehicle-stats.standin and a hash of their
# sources: a stand-in whose sources did not change is not rebuilt. A real
# image replaces a stand-in whenever a pull succeeds. Grafana has no source
# here: it is skipped with a message, and the compose test leaves it out.
#
# Environment: VS_PULL_TIMEOUT (seconds per pull attempt, default 20),
# VS_DOCKER_CACHE (work folder, default .local/docker).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STANDINS="$ROOT/deploy/docker/standins"
CACHE="${VS_DOCKER_CACHE:-$ROOT/.local/docker}"
PULL_TIMEOUT="${VS_PULL_TIMEOUT:-20}"
BASE_IMAGE=vehicle-stats/standin-base:bookworm
SUITE=bookworm

log() { printf '%s images: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=../local/progress.sh
source "$ROOT/deploy/local/progress.sh"

# list: the public images, from the compose file (image:), the Dockerfiles
# (FROM, with their ARG defaults) and internal/testenv (KafkaImage,
# RedisImage). The services' own images (vehicle-stats/...) are built, not
# pulled.
list() {
	{
		sed -n 's/^[[:space:]]*image:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$ROOT/docker-compose.yml"
		local df go_version
		for df in "$ROOT"/services/*/Dockerfile; do
			go_version=$(sed -n 's/^ARG GO_VERSION=\(.*\)/\1/p' "$df")
			sed -n 's/^FROM[[:space:]]\+\(--platform=[^[:space:]]*[[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' "$df" |
				sed "s/\${GO_VERSION}/$go_version/"
		done
		sed -n 's/^[[:space:]]*\(Kafka\|Redis\)Image[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\2/p' "$ROOT/internal/testenv/testenv.go"
	} | grep -v '^vehicle-stats/' | grep -v '\${' | sort -u
}

label() { docker image inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# sources_hash DIR...: what a stand-in is built from (its files, this
# script, the base image); a change rebuilds it.
sources_hash() {
	(
		cd "$ROOT"
		find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
		sha256sum deploy/docker/images.sh
		docker image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true
	) | sha256sum | cut -c1-16
}

# docker_build TAG CONTEXT HASH [ARGS...]: the classic builder, which needs
# no registry for its frontend and builds FROM the local base image.
docker_build() {
	local tag=$1 ctx=$2 hash=$3
	shift 3
	local logfile="$CACHE/build-${tag//[\/:]/_}.log"
	if ! progress "building the stand-in $tag" "1 to 3 min" --out "$logfile" -- \
		env DOCKER_BUILDKIT=0 docker build --label "vehicle-stats.standin.hash=$hash" \
		--build-arg "BASE=$BASE_IMAGE" "$@" -t "$tag" "$ctx"; then
		tail -30 "$logfile" >&2
		die "building the stand-in $tag failed (log: $logfile)"
	fi
	# The stand-in this one replaces, if any, is now an untagged layer.
	docker image prune -f --filter "label=vehicle-stats.standin" >/dev/null || true
}

debian_mirror() {
	local m
	m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
	[[ -n $m ]] || m=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\)[[:space:]]\+.*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)
	[[ -n $m ]] || die "no Debian mirror found in /etc/apt/sources.list*; debootstrap needs one"
	printf '%s' "$m"
}

# base: a minimal Debian root file system (debootstrap --variant=minbase)
# with CA certificates and time zones, imported as an image. Every stand-in
# starts from it.
base() {
	if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
		return
	fi
	if ! command -v debootstrap >/dev/null; then
		[[ $(id -u) -eq 0 ]] || die "debootstrap is missing (sudo apt-get install debootstrap)"
		progress "installing debootstrap" "under a minute" -- bash -c \
			'export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }' ||
			die "apt-get install debootstrap failed"
	fi
	[[ $(id -u) -eq 0 ]] || die "building the base image needs root (debootstrap)"
	local dir="$CACHE/rootfs-$SUITE" started=$SECONDS
	rm -rf "$dir"
	mkdir -p "$CACHE/debs"
	progress "debootstrap $SUITE (minbase) for the stand-ins' base image" "3 to 4 min on a fresh machine" --out "$CACHE/debootstrap.log" -- \
		debootstrap --variant=minbase --include=ca-certificates,tzdata --cache-dir="$CACHE/debs" \
		"$SUITE" "$dir" "$(debian_mirror)" ||
		{ tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
	# The stand-ins trust what this machine trusts: where the network
	# intercepts TLS with its own CA (some CI networks do), Go in the golang
	# stand-in still reaches the module proxy.
	if [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
		cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
	fi
	tar --numeric-owner -C "$dir" -c . | docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
	rm -rf "$dir"
	log "base image $BASE_IMAGE ready ($((SECONDS - started)) s)"
}

# kafka TAG: Debian, OpenJDK 17 and the Kafka jars of the tag's version,
# resolved by Maven through deploy/local/pom.xml, like the local stack.
standin_kafka() {
	local tag=$1 version=${1##*:} hash ctx
	[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$tag: cannot read a Kafka version from the tag"
	base
	hash=$(sources_hash deploy/docker/standins/kafka deploy/local/pom.xml)
	[[ $(label "$tag" vehicle-stats.standin.hash) == "$hash" ]] && { log "$tag: cached stand-in"; return; }
	command -v mvn >/dev/null || die "Maven (mvn) is needed for the Kafka stand-in (Debian: apt-get install maven)"
	ctx="$CACHE/build-kafka"
	rm -rf "$ctx" && mkdir -p "$ctx"
	cp "$STANDINS"/kafka/* "$ctx/"
	mkdir -p "$ctx/libs" "$ctx/bin" "$ROOT/.local/m2"
	# kafka.line picks the logging binding of the version's line where the
	# pom has one per line (log4j 1 for 3.x, log4j 2 for 4.x).
	progress "$tag: Maven resolves Kafka $version" "seconds; 1 to 2 min the first time (~80 MB into .local/m2)" \
		--size "$ROOT/.local/m2" --out "$CACHE/maven-kafka.log" -- \
		mvn -B -q -f "$ROOT/deploy/local/pom.xml" dependency:copy-dependencies -Dkafka.version="$version" -Dkafka.line="${version%%.*}" \
		-DincludeScope=runtime -DoutputDirectory="$ctx/libs" -Dmaven.repo.local="$ROOT/.local/m2" ||
		{ tail -20 "$CACHE/maven-kafka.log" >&2; die "Maven could not resolve Kafka $version"; }
	# The command-line tools the compose file and docs use, each bound to
	# the class this version has (several moved between 3.x and 4.x).
	local classes tool cls found
	classes=$(for j in "$ctx"/libs/*.jar; do unzip -Z1 "$j" 2>/dev/null; done | grep '\.class$' | sed 's/\.class$//; s:/:.:g')
	while read -r tool cls; do
		found=""
		for c in ${cls//,/ }; do
			if grep -qxF "$c" <<<"$classes"; then found=$c; break; fi
		done
		[[ -n $found ]] || { log "$tag: no class for $tool in Kafka $version; left out"; continue; }
		printf '#!/bin/sh\nexec /opt/kafka/bin/kafka-run-class.sh %s "$@"\n' "$found" >"$ctx/bin/$tool"
		chmod +x "$ctx/bin/$tool"
	done <<-EOF
		kafka-broker-api-versions.sh org.apache.kafka.tools.BrokerApiVersionsCommand,kafka.admin.BrokerApiVersionsCommand
		kafka-topics.sh org.apache.kafka.tools.TopicCommand,kafka.admin.TopicCommand
		kafka-console-producer.sh org.apache.kafka.tools.ConsoleProducer,kafka.tools.ConsoleProducer
		kafka-console-consumer.sh org.apache.kafka.tools.consumer.ConsoleConsumer,kafka.tools.ConsoleConsumer
		kafka-consumer-groups.sh org.apache.kafka.tools.consumer.group.ConsumerGroupCommand,kafka.admin.ConsumerGroupCommand
		kafka-configs.sh org.apache.kafka.tools.ConfigCommand,kafka.admin.ConfigCommand
		kafka-storage.sh kafka.tools.StorageTool
	EOF
	mv "$ctx/kafka-run-class.sh" "$ctx/bin/"
	rm -f "$ctx/libs/"*-sources.jar
	log "$tag: building the stand-in ($(du -sh "$ctx/libs" | cut -f1) of jars)"
	docker_build "$tag" "$ctx" "$hash" --build-arg "KAFKA_VERSION=$version"
	rm -rf "$ctx"
}

standin_from_dir() {
	local tag=$1 name=$2 hash
	base
	hash=$(sources_hash "deploy/docker/standins/$name")
	[[ $(label "$tag" vehicle-stats.standin.hash) == "$hash" ]] && { log "$tag: cached stand-in"; return; }
	log "$tag: building the stand-in from Debian's packages"
	docker_build "$tag" "$STANDINS/$name" "$hash"
}

# golang TAG: Go of the tag's version. This machine's toolchain when its
# version matches (go1.26.x for golang:1.26), else the toolchain module of
# that version from the Go module proxy.
standin_golang() {
	local tag=$1 want=${1##*:} hash ctx have goroot
	want=${want%%-*} # golang:1.26-bookworm -> 1.26
	have=$(go env GOVERSION)
	base
	hash=$(sources_hash deploy/docker/standins/golang)-$have
	[[ $(label "$tag" vehicle-stats.standin.hash) == "$hash" ]] && { log "$tag: cached stand-in"; return; }
	ctx="$CACHE/build-golang"
	rm -rf "$ctx" && mkdir -p "$ctx"
	cp "$STANDINS"/golang/Dockerfile "$ctx/"
	if [[ $have == "go$want" || $have == go$want.* ]]; then
		goroot=$(go env GOROOT)
		log "$tag: building the stand-in with this machine's $have ($goroot)"
	else
		local v=$want
		[[ $v =~ ^[0-9]+\.[0-9]+$ ]] && v=$v.0
		local mod="golang.org/toolchain@v0.0.1-go$v.linux-$(go env GOARCH)" zip
		log "$tag: this machine has $have; fetching $mod from the Go module proxy"
		zip=$(GOFLAGS=-mod=mod go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Zip": "\(.*\)",$/\1/p')
		[[ -f $zip ]] || die "could not download $mod"
		unzip -q "$zip" -d "$ctx/toolchain"
		goroot=$(echo "$ctx"/toolchain/golang.org/toolchain@*)
		chmod +x "$goroot"/bin/* "$goroot"/pkg/tool/*/*
		have=go$v
	fi
	tar -C "$goroot" --exclude=./pkg/obj --exclude=./test -cf "$ctx/go.tar" .
	rm -rf "$ctx/toolchain"
	docker_build "$tag" "$ctx" "$hash" --build-arg "GO_VERSION=${have#go}"
	rm -rf "$ctx"
}

# distroless static, nonroot: no shell and no package manager, only
# /etc/passwd with nonroot (65532), CA certificates and time zones, taken
# from the base image.
standin_distroless() {
	local tag=$1 hash dir
	base
	hash=$(sources_hash deploy/docker/images.sh)
	[[ $(label "$tag" vehicle-stats.standin.hash) == "$hash" ]] && { log "$tag: cached stand-in"; return; }
	log "$tag: building the stand-in (passwd, CA certificates, time zones)"
	dir="$CACHE/build-distroless"
	rm -rf "$dir" && mkdir -p "$dir"
	docker run --rm "$BASE_IMAGE" tar -C / -c etc/ssl/certs/ca-certificates.crt usr/share/zoneinfo | tar -C "$dir" -x
	mkdir -p "$dir/etc" "$dir/tmp" "$dir/home/nonroot" "$dir/root"
	chmod 1777 "$dir/tmp"
	chmod 700 "$dir/root"
	chown 65532:65532 "$dir/home/nonroot"
	cat >"$dir/etc/passwd" <<-EOF
		root:x:0:0:root:/root:/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
		nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
	EOF
	cat >"$dir/etc/group" <<-EOF
		root:x:0:
		nobody:x:65534:
		tty:x:5:
		staff:x:50:
		nonroot:x:65532:
	EOF
	echo "hosts: files dns" >"$dir/etc/nsswitch.conf"
	printf 'PRETTY_NAME="Distroless (stand-in)"\nID=debian\nVERSION_ID="12"\n' >"$dir/etc/os-release"
	tar --numeric-owner -C "$dir" -c . | docker import \
		--change 'USER 65532' --change 'WORKDIR /home/nonroot' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
		--change "LABEL vehicle-stats.standin=\"distroless static nonroot: passwd, CA certificates and time zones from Debian bookworm\" vehicle-stats.standin.hash=$hash" \
		- "$tag" >/dev/null
	rm -rf "$dir"
}

ensure_one() {
	local img=$1 standin
	standin=$(label "$img" vehicle-stats.standin)
	if docker image inspect "$img" >/dev/null 2>&1 && [[ -z $standin ]]; then
		log "$img: present"
		return
	fi
	if [[ $img == grafana/* ]]; then
		log "$img: SKIPPED: no registry answers and Grafana has no offline source here; docker compose up runs without it (the compose test leaves it out)"
		return
	fi
	if timeout "$PULL_TIMEOUT" docker pull -q "$img" >/dev/null 2>&1; then
		log "$img: pulled"
		return
	fi
	case $img in
	apache/kafka:*) standin_kafka "$img" ;;
	redis:*) standin_from_dir "$img" redis ;;
	prom/prometheus:*) standin_from_dir "$img" prometheus ;;
	golang:*) standin_golang "$img" ;;
	gcr.io/distroless/static*) standin_distroless "$img" ;;
	*) die "$img cannot be pulled and has no stand-in; add one to deploy/docker/images.sh" ;;
	esac
}

case "${1:-ensure}" in
list) list ;;
ensure)
	docker info >/dev/null 2>&1 || die "no Docker engine answers (deploy/docker/engine.sh start)"
	mkdir -p "$CACHE"
	started=$SECONDS
	for img in $(list); do
		ensure_one "$img"
	done
	log "all images ready in $((SECONDS - started)) s:"
	for img in $(list); do
		docker image inspect --format "  {{index .RepoTags 0}}  {{.Size}} bytes  {{index .Config.Labels \"vehicle-stats.standin\"}}" "$img" >&2 2>/dev/null ||
			log "  $img: not available"
	done
	;;
*)
	echo "usage: $0 [list|ensure]" >&2
	exit 2
	;;
esac
