#!/usr/bin/env bash
# run.sh: show that issue #21's cases 1, 3, 4, 6, 8, 9 and 10 break the
# closing protocol of the original main (b8cb7a2). It checks that commit out
# in a temporary worktree, applies cases.patch (one test per case, written
# against that commit's API), runs those tests against the Kafka and Redis
# named by VS_KAFKA_BROKERS and VS_REDIS_ADDR, prints per test whether it
# failed as it should, with its first failure line, and removes the
# worktree. It exits non-zero when a test passes (the case no longer
# reproduces), is skipped or does not run.
#
#   deploy/local/with-stack.sh tools/regress-original/run.sh
#   eval "$(deploy/local/stack.sh env)"; tools/regress-original/run.sh
#   make regress-original
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel)"
ORIG=b8cb7a281b5e8804232f467fc5120d59b5a06947
SHORT=${ORIG:0:7}
PKG=./services/stats-processor/internal/closer/

if [[ -z ${VS_KAFKA_BROKERS:-} || -z ${VS_REDIS_ADDR:-} ]]; then
	echo "run.sh: set VS_KAFKA_BROKERS and VS_REDIS_ADDR: run it under deploy/local/with-stack.sh, or after eval \"\$(deploy/local/stack.sh env)\"" >&2
	exit 2
fi
if ! git -C "$ROOT" cat-file -e "$ORIG^{commit}" 2>/dev/null; then
	echo "run.sh: commit $SHORT is not in this clone (a shallow one?); fetch the history first: git fetch --unshallow" >&2
	exit 2
fi

tmp="$(mktemp -d)"
wt="$tmp/original-main"
cleanup() {
	git -C "$ROOT" worktree remove --force "$wt" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

git -C "$ROOT" worktree add --quiet --detach "$wt" "$ORIG"
git -C "$wt" apply "$HERE/cases.patch"

log="$tmp/go-test.log"
echo "running the cases' tests at $SHORT (about a minute; Kafka $VS_KAFKA_BROKERS, Redis $VS_REDIS_ADDR)"
(cd "$wt" && go test -count=1 -v -timeout 10m -run 'TestIntegrationOriginalCase' "$PKG") >"$log" 2>&1 || true

mapfile -t tests < <(sed -n 's/^+func \(TestIntegrationOriginalCase[A-Za-z0-9_]*\)(.*/\1/p' "$HERE/cases.patch")
status=0
for name in "${tests[@]}"; do
	if grep -q -- "^--- FAIL: $name " "$log"; then
		# The test's first line from original_cases_test.go but testenv's
		# "integration services" note: its failure (the tests log nothing
		# else).
		first=$(awk -v run="=== RUN   $name" '$0 == run { on = 1; next }
			on && /original_cases_test\.go:[0-9]+:/ && !/integration services:/ { sub(/^[ \t]+/, ""); print; exit }' "$log")
		echo "$name: fails on $SHORT as expected: $first"
	elif grep -q -- "^--- PASS: $name " "$log"; then
		echo "$name: UNEXPECTED PASS"
		status=1
	elif grep -q -- "^--- SKIP: $name " "$log"; then
		echo "$name: SKIPPED: $(grep -A1 -- "^--- SKIP: $name " "$log" | tail -1 | sed 's/^[ \t]*//')"
		status=1
	else
		echo "$name: did not run"
		status=1
	fi
done
if [[ $status != 0 || ${#tests[@]} == 0 ]]; then
	echo "--- the end of go test's output:"
	tail -n 40 "$log"
	exit 1
fi
