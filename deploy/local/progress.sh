# progress.sh: sourced (not run) by the scripts whose steps can take a minute
# or more: Maven resolves, apt-get installs, the Compose image build. Such a
# step says what it does and how long it usually takes, then prints a line
# at least every PROGRESS_EVERY seconds (default 10) while it runs, so that
# a quiet terminal never means a hung one.
#
#   progress WHAT USUALLY [--size DIR] [--log FILE] [--out FILE] -- COMMAND [ARGS...]
#
# runs COMMAND in the foreground (its output, exit status and Ctrl-C behave
# as without progress; with --out its stdout and stderr go to FILE, which is
# then also --log) and prints, on stderr:
#
#   WHAT (usually USUALLY) ...
#     ... 10 s, .local/m2 184 MB          (with --size: DIR's size)
#     ... 20 s: <the last line of FILE>   (with --log)
#   WHAT: done in 23 s                    (or: failed after 23 s)
#
# It returns COMMAND's exit status.

progress() {
	local what=$1 usually=$2 size_of="" log_of="" out=""
	shift 2
	while [[ $# -gt 0 && $1 != -- ]]; do
		case $1 in
		--size) size_of=$2; shift 2 ;;
		--log) log_of=$2; shift 2 ;;
		--out) out=$2 log_of=$2; shift 2 ;;
		*) echo "progress: unknown option $1" >&2; return 2 ;;
		esac
	done
	[[ ${1-} == -- ]] && shift
	local every=${PROGRESS_EVERY:-10} start parent=$BASHPID ticker rc=0
	start=$(date +%s)
	printf '%s (usually %s) ...\n' "$what" "$usually" >&2
	# The ticker stops with this shell, should COMMAND's end not reach it
	# (a signal that ends the script).
	(
		while sleep "$every" && kill -0 "$parent" 2>/dev/null; do
			line="  ... $(($(date +%s) - start)) s"
			[[ -z $size_of ]] || line+=", $size_of $(du -sm "$size_of" 2>/dev/null | cut -f1) MB"
			[[ -z $log_of || ! -s $log_of ]] || line+=": $(tail -n 1 "$log_of" | cut -c1-120)"
			printf '%s\n' "$line" >&2
		done
	) >/dev/null &
	ticker=$!
	if [[ -n $out ]]; then
		"$@" >"$out" 2>&1 || rc=$?
	else
		"$@" || rc=$?
	fi
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	if [[ $rc -eq 0 ]]; then
		printf '%s: done in %d s\n' "$what" $(($(date +%s) - start)) >&2
	else
		printf '%s: failed after %d s\n' "$what" $(($(date +%s) - start)) >&2
	fi
	return "$rc"
}

# wait_ready TIMEOUT NAME PID URL [NAME PID URL ...]: polls each URL (a
# /readyz) about once a second until it answers 200, printing every
# PROGRESS_EVERY seconds which are not ready yet and why (their answer, or
# that nothing listens). Fails at once when a PID has exited, and after
# TIMEOUT seconds. Needs curl.
wait_ready() {
	local timeout=$1 every=${PROGRESS_EVERY:-10} start now last i code answer
	shift
	local -a names=() pids=() urls=() pending=() why=()
	while [[ $# -ge 3 ]]; do
		names+=("$1") pids+=("$2") urls+=("$3")
		shift 3
	done
	pending=("${!urls[@]}")
	start=$(date +%s)
	last=$start
	printf 'waiting until %s answer /readyz (usually 5 to 20 s; Kafka and Redis must answer) ...\n' "${names[*]}" >&2
	while [[ ${#pending[@]} -gt 0 ]]; do
		local -a still=()
		for i in "${pending[@]}"; do
			if ! kill -0 "${pids[$i]}" 2>/dev/null; then
				printf '%s exited before it was ready\n' "${names[$i]}" >&2
				return 1
			fi
			answer=$(curl -s -m 3 -w '\n%{http_code}' "${urls[$i]}" 2>/dev/null) || answer=$'nothing answers yet\n000'
			code=${answer##*$'\n'}
			if [[ $code == 200 ]]; then
				printf '%s is ready (%d s)\n' "${names[$i]}" $(($(date +%s) - start)) >&2
			else
				still+=("$i")
				why[i]=$(printf '%s' "${answer%$'\n'*}" | tr '\n' ' ' | cut -c1-160)
			fi
		done
		pending=("${still[@]}")
		[[ ${#pending[@]} -gt 0 ]] || break
		now=$(date +%s)
		if ((now - start >= timeout)); then
			for i in "${pending[@]}"; do
				printf '%s is not ready after %d s: %s\n' "${names[$i]}" $((now - start)) "${why[i]}" >&2
			done
			return 1
		fi
		if ((now - last >= every)); then
			last=$now
			for i in "${pending[@]}"; do
				printf '  ... %d s: %s not ready yet: %s\n' $((now - start)) "${names[$i]}" "${why[i]}" >&2
			done
		fi
		sleep 1
	done
}
