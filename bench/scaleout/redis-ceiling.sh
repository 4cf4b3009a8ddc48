#!/usr/bin/env bash
# redis-ceiling.sh: how many calls of the kinds stats-processor makes one
# Redis server answers per second on this machine, with redis-benchmark
# (docs/capacity.md uses the figures). The scripts do what the processor's
# scripts do to a partition hash: read three fields and the clock (the
# closer's status read, one per partition per round per instance), and
# compare the offset then write six fields (a checkpoint). Each is run
# without pipelining (16 clients, one call in flight each) and with 16
# calls per round trip, as the closer pipelines its reads (as EVAL with
# the script's text, measured too). Needs the local
# stack's Redis: `deploy/local/with-stack.sh bench/scaleout/redis-ceiling.sh`.
set -euo pipefail
port=${VS_REDIS_PORT:-16379}
n=${N:-300000}
cli=(redis-cli -p "$port")
key='bench-ceiling:{t.0}'
"${cli[@]}" del "$key" >/dev/null
"${cli[@]}" hset "$key" offset 1000 max 1764612345678 idle 0 owner bench closed 1764612340000 \
	w:1764612340000 40,5,0,1,0 w:1764612360000 12,2,0,0,0 >/dev/null

# One line each: redis-benchmark repeats the command in its report.
status='local t = redis.call("TIME") local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) local v = redis.call("HMGET", KEYS[1], "offset", "max", "idle") local idle = 0 if v[3] and tonumber(v[3]) > now then idle = 1 end return {v[1] or "", v[2] or "", idle}'
save='local cur = redis.call("HGET", KEYS[1], "offset") or "" local closed = redis.call("HGET", KEYS[1], "closed") or "" if cur ~= ARGV[1] then return {0, cur, closed} end local t = redis.call("TIME") redis.call("HSET", KEYS[1], "offset", ARGV[1], "idle", 0, "owner", "bench") redis.call("HSET", KEYS[1], "max", ARGV[2]) redis.call("HSET", KEYS[1], "w:1764612360000", ARGV[3]) return {1, closed}'
status_sha=$("${cli[@]}" script load "$status")
save_sha=$("${cli[@]}" script load "$save")

# bench LABEL ARGS...: one line, LABEL and the requests per second.
bench() {
	local label=$1
	shift
	printf '  %-44s %s\n' "$label" "$(redis-benchmark -p "$port" -n "$n" -c 16 -P "$pipe" -q "$@" |
		tr '\r' '\n' | sed -n 's/.*: \([0-9.]* requests per second\).*/\1/p' | tail -1)"
}

echo "Redis $("${cli[@]}" info server | sed -n 's/^redis_version:\([^\r]*\).*/\1/p') on 127.0.0.1:$port, $n calls per line, 16 clients"
for pipe in 1 16; do
	echo "$pipe call(s) per round trip:"
	bench "PING" ping
	bench "HGETALL of a partition hash (8 fields)" hgetall "$key"
	bench "status read, EVALSHA" evalsha "$status_sha" 1 "$key"
	# The closer pipelines its status reads as EVAL with the script's text
	# (a pipeline cannot fall back from EVALSHA on NOSCRIPT).
	bench "status read, EVAL with the script text" eval "$status" 1 "$key"
	bench "checkpoint, EVALSHA" evalsha "$save_sha" 1 "$key" 1000 1764612345678 13,2,0,0,0
done
"${cli[@]}" del "$key" >/dev/null
