#!/usr/bin/env bash
# Usage: scripts/bench/run.sh [SIZE...]        (SIZE is S or M; default: S)
#
# Runs the Go step benchmarks of pkg/model and the PyTorch baseline
# (scripts/bench/torch_step.py through torch_env.sh: OpenBLAS-openmp, 2 threads,
# OMP_PROC_BIND=true) one after the other in this invocation, and prints a
# side-by-side table. Absolute times drift between machines and with load;
# compare only figures from one invocation.
#
# Workloads: sft = 16 sequences of T tokens (prompt 16), fwd+bwd + AdamW, tied
# head: Go BenchmarkSFTStep/SIZE vs torch_step.py --mode sft. dpo = the same
# for a DPO step on 16 pairs: Go BenchmarkDPOStep/SIZE if it exists vs --mode
# dpo. A missing Go benchmark prints n/a.
#
# Environment: GO_COUNT (default 3) Go repetitions of -benchtime 10x (the
# median of their ms/step is shown); TORCH_REPS torch repetitions (default
# torch_step.py's); MODES (default "sft dpo").
set -euo pipefail

cd "$(dirname "$0")/../.."
sizes=("$@")
((${#sizes[@]})) || sizes=(S)
modes=(${MODES:-sft dpo})
count=${GO_COUNT:-3}
declare -A gobench=([sft]=BenchmarkSFTStep [dpo]=BenchmarkPrefStep)
declare -A gopkg=([sft]=./pkg/model/ [dpo]=./pkg/pref/)

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# go_ms BENCH SIZE: the median and range of the ms/step metric, or n/a.
go_ms() {
	local bench=$1 size=$2 pkg=$3
	echo "== go test -bench '^$bench\$/^$size\$' -benchtime 10x -count $count $pkg" >&2
	if ! go test -run '^$' -bench "^$bench\$/^$size\$" -benchtime 10x -count "$count" "$pkg" >"$log" 2>&1; then
		cat "$log" >&2
		echo "n/a"
		return
	fi
	grep '^Benchmark' "$log" >&2 || true
	awk '/^Benchmark/ { for (i = 2; i <= NF; i++) if ($i == "ms/step") print $(i-1) }' "$log" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "n/a"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.2f [%.2f-%.2f]\n", m, v[1], v[NR] }'
}

# torch_ms SIZE MODE: the median and range from torch_step.py --json, or n/a.
torch_ms() {
	local size=$1 mode=$2 args=(--size "$1" --mode "$2" --json)
	[[ -n ${TORCH_REPS:-} ]] && args+=(--reps "$TORCH_REPS")
	echo "== torch_step.py ${args[*]}" >&2
	if ! scripts/bench/torch_env.sh scripts/bench/torch_step.py "${args[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		echo "n/a"
		return
	fi
	grep -v '^{' "$log" >&2 || true
	tail -n 1 "$log" | /usr/bin/python3 -c 'import json, sys; r = json.load(sys.stdin)
print("%.2f [%.2f-%.2f]" % (r["ms_median"], r["ms_min"], r["ms_max"]))'
}

rows=()
for size in "${sizes[@]}"; do
	for mode in "${modes[@]}"; do
		g=n/a
		[[ -n ${gobench[$mode]:-} ]] && g=$(go_ms "${gobench[$mode]}" "$size" "${gopkg[$mode]}")
		t=$(torch_ms "$size" "$mode")
		rows+=("$size|$mode|$g|$t")
	done
done

printf '%-4s %-6s %-26s %-26s %s\n' size work "Go ms/step [min-max]" "torch ms/step [min-max]" "Go/torch"
for r in "${rows[@]}"; do
	IFS='|' read -r size mode g t <<<"$r"
	ratio=n/a
	if [[ $g != n/a && $t != n/a ]]; then
		ratio=$(awk -v a="${g%% *}" -v b="${t%% *}" 'BEGIN { printf "%.2f", a / b }')
	fi
	printf '%-4s %-6s %-26s %-26s %s\n' "$size" "$mode" "$g" "$t" "$ratio"
done
