#!/usr/bin/env bash
# with-stack.sh CMD...: run CMD with the local stack up and VS_KAFKA_BROKERS /
# VS_REDIS_ADDR set. Starts the stack when it is not running, and stops it
# afterwards only in that case, so a stack you started yourself keeps running.
set -euo pipefail
STACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack.sh"

started=0
if ! "$STACK" status >/dev/null 2>&1; then
	started=1
fi
cleanup() {
	if [[ $started == 1 && ${VS_KEEP_STACK:-0} != 1 ]]; then
		"$STACK" stop
	fi
}
trap cleanup EXIT
"$STACK" start
eval "$("$STACK" env)"
"$@"
