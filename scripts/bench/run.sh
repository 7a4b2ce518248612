#!/usr/bin/env bash
# Usage: scripts/bench/run.sh [SIZE...]        (SIZE is S or M; default: S M)
#
# Issue #8's comparison, Go and PyTorch in ONE invocation on this machine
# (absolute times drift between machines and with load; compare only figures
# from one invocation). Workload (as scripts/bench/torch_step.py): B = 16
# pairs, prompt 16 tokens, responses filling the context and differing in the
# last 4 tokens, untied LM head, tanh GELU, reference log-probs precomputed.
#
#   torch DPO+AdamW   torch_step.py --mode dpo --untied (plain DPO step, no statistics; baseline a2)
#   torch loop        torch_step.py --mode loop --untied (paper-style per-pair statistics; baseline b)
#   Go step+stats     go test -bench BenchmarkPrefStep/SIZE ./pkg/pref/: pref.Stepper.Grad (exact
#                     per-pair g_w, g_l, dots and norms per group, batch gradient) + AdamW
#   Go +dumps         the same plus the pairs.arrows rows a default train run writes (SIZE/dumps)
#   VmHWM             peak resident memory of the Go benchmark process / of the torch dpo process
#
# torch runs through torch_env.sh (OpenBLAS-openmp, 2 threads, OMP_PROC_BIND=true) and
# prints the BLAS it mapped and torch.mm 1024² GFLOP/s (shown in the table).
#
# Environment: GO_COUNT (default 3) Go repetitions of -benchtime GO_BENCHTIME
# (default 10x for S, 3x for M); medians [min-max] are shown. TORCH_REPS torch
# repetitions (default torch_step.py's). GOMAXPROCS is passed through to Go.
set -euo pipefail

cd "$(dirname "$0")/../.."
sizes=("$@")
((${#sizes[@]})) || sizes=(S M)
count=${GO_COUNT:-3}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# stat: median [min-max] of the numbers on stdin, or n/a.
stat() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f [%.1f-%.1f]\n", m, v[1], v[NR] }'
}

# metric NAME_REGEX UNIT: the UNIT values of the benchmark lines whose name matches.
metric() {
	awk -v re="$1" -v unit="$2" '$1 ~ re { for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }' "$log"
}

declare -A go_step go_dumps go_hwm t_dpo t_loop t_gf t_blas t_hwm
for size in "${sizes[@]}"; do
	bt=${GO_BENCHTIME:-}
	[[ -z $bt ]] && { [[ $size == S ]] && bt=10x || bt=3x; }
	echo "== go test -bench '^BenchmarkPrefStep\$/^$size\$' -benchtime $bt -count $count ./pkg/pref/" >&2
	if go test -run '^$' -bench "^BenchmarkPrefStep\$/^$size\$" -benchtime "$bt" -count "$count" ./pkg/pref/ >"$log" 2>&1; then
		grep '^Benchmark' "$log" >&2 || true
		go_step[$size]=$(metric "^BenchmarkPrefStep/$size(-[0-9]+)?\$" ms/step | stat)
		go_dumps[$size]=$(metric "^BenchmarkPrefStep/$size/dumps" ms/step | stat)
		go_hwm[$size]=$(metric "^BenchmarkPrefStep/$size" VmHWM-MB | sort -g | tail -n 1)
	else
		cat "$log" >&2
		go_step[$size]=n/a go_dumps[$size]=n/a go_hwm[$size]=n/a
	fi
	for mode in dpo loop; do
		args=(--size "$size" --mode "$mode" --untied --json)
		[[ -n ${TORCH_REPS:-} ]] && args+=(--reps "$TORCH_REPS")
		echo "== torch_step.py ${args[*]}" >&2
		if scripts/bench/torch_env.sh scripts/bench/torch_step.py "${args[@]}" >"$log" 2>&1; then
			grep -v '^{' "$log" >&2 || true
			read -r ms gf hwm blas < <(tail -n 1 "$log" | /usr/bin/python3 -c 'import json, os, sys; r = json.load(sys.stdin)
print("%.1f_[%.1f-%.1f] %.0f %.0f %s" % (r["ms_median"], r["ms_min"], r["ms_max"], r["mm1024_gflops"], r["vmhwm_mb"],
      ",".join(sorted({os.path.basename(p) for p in r["blas"]})) or "none"))')
			ms=${ms//_/ }
		else
			cat "$log" >&2
			ms=n/a gf=n/a hwm=n/a blas=n/a
		fi
		if [[ $mode == dpo ]]; then
			t_dpo[$size]=$ms t_gf[$size]=$gf t_blas[$size]=$blas t_hwm[$size]=$hwm
		else
			t_loop[$size]=$ms
		fi
	done
done

ratio() { [[ $1 == n/a || $2 == n/a ]] && echo n/a || awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { printf "%.2f", a / b }'; }
printf '| size | torch plain DPO+AdamW ms | Go step+stats ms | ratio | Go step+stats+dumps ms | ratio | torch loop (b) ms | torch.mm GFLOP/s | BLAS lib mapped | VmHWM MB Go / torch |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for size in "${sizes[@]}"; do
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n' "$size" "${t_dpo[$size]}" "${go_step[$size]}" \
		"$(ratio "${go_step[$size]}" "${t_dpo[$size]}")" "${go_dumps[$size]}" "$(ratio "${go_dumps[$size]}" "${t_dpo[$size]}")" \
		"${t_loop[$size]}" "${t_gf[$size]}" "${t_blas[$size]}" "${go_hwm[$size]}" "${t_hwm[$size]}"
done
