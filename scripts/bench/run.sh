#!/usr/bin/env bash
# Usage: scripts/bench/run.sh [SIZE...]        (SIZE is S or M; default: S M)
#
# Issue #8's comparison, Go and PyTorch in ONE invocation on this machine
# (absolute times drift between machines and with load; compare only figures
# from one invocation, on a machine doing nothing else). Workload (as
# scripts/bench/torch_step.py): B = 16 pairs, prompt 16 tokens, responses
# filling the context and differing in the last 4 tokens, untied LM head, tanh
# GELU, reference log-probs precomputed.
#
#   torch DPO+AdamW   torch_step.py --mode dpo --untied (plain DPO step, no statistics; baseline a2)
#   torch loop        torch_step.py --mode loop --untied (paper-style per-pair statistics; baseline b)
#   Go step+stats     go test -bench BenchmarkPrefStep/SIZE ./pkg/pref/: pref.Stepper.Grad (exact
#                     per-pair g_w, g_l, dots and norms per group, batch gradient) + AdamW
#   Go +dumps         the same plus the pairs.arrows rows a default train run writes (SIZE/dumps)
#   VmHWM             peak resident memory of the Go benchmark process / of the torch dpo process
#
# What the machine can do, measured in the same run:
#   - the CPU (model name, vendor/family/model, AVX-512 F/BW/VL, AVX2, FMA),
#     the load average before and after, and how internal/gemm chose its kernels;
#   - OpenBLAS's kernel set: decided once by blasinfo.py --choose (torch.mm checked
#     against float64 first; see torch_env.sh) and reported by every torch process;
#   - torch.mm 1024² GFLOP/s on 1 and 2 threads at the start and at the end
#     (torch_mm.py), and in each torch_step.py process (2 threads); the best
#     2-thread figure is the run's "best GEMM rate";
#   - Go's serial kernel at 1024³ (BenchmarkGEMM NT_1024_1024_1024, the
#     implementation in use), one thread.
#
# No ratio is printed (n/a, with the reason) when the PyTorch side did not run
# at the machine's speed:
#   - a torch process's own torch.mm 1024² (2 threads) below 70 % of the best
#     2-thread torch.mm of the run: that process was disturbed (clean runs
#     spread by ~12 %: 345-390 GFLOP/s on one machine; a wrong OpenBLAS kernel
#     set gave 63 % of the right one's speed, unpinned threads ~50 %);
#   - torch.mm 1024² on one thread below 60 % of Go's serial kernel at 1024³ in
#     the same run: OpenBLAS is not using this CPU's vector units (on the
#     machines measured so far the two were within 0.9-1.1× of each other; a
#     generic SSE kernel set runs at 15-35 %);
#   - torch.mm's best on 2 threads below 1.3 × its best on 1 thread (a free
#     second core gives 1.9-2.2×: 345-390 vs 155-200 GFLOP/s): the cores were
#     shared with other work;
#   - a 1-minute load average above half the CPU count before the run starts
#     (other processes held the machine).
#
# Step GFLOP/s: the plain DPO step's matmul FLOPs, counted analytically as in
# the PyTorch baseline (2mnk per product, full T×T attention):
#   forward per sequence = L·(24·T·C² + 4·T²·C) + 2·T·C·V
#   step = 3 × forward (backward = 2 × forward) × 2B sequences
#   S (V 256, T 64, C 128, L 2): 58.72 MFLOP/seq, 5.637 GFLOP/step;
#   M (V 512, T 128, C 256, L 4): 906.0 MFLOP/seq, 86.97 GFLOP/step.
# The same count divides both sides' times, so it compares work per second on
# the same task; the Go step also computes the per-pair statistics and skips
# work (the rejected forward reuses the chosen one's shared prefix, attention is
# computed only where causal), so its count of executed FLOPs differs.
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
mmlog=$(mktemp)
trap 'rm -f "$log" "$mmlog"' EXIT

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

# ---- the machine
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(/usr/bin/python3 -c 'import sys; sys.path.insert(0, "scripts/bench"); import blasinfo
c = blasinfo.cpu_info()
print("%s|%s family %s model %s|%s|%d" % (c["model_name"], c["vendor"], c["family"], c["model"], " ".join(c["flags"]) or "no AVX2/AVX-512", c["cpus"]))')
IFS='|' read -r cpu_name cpu_id cpu_flags cpu_n <<<"$cpu"
echo "CPU: $cpu_name ($cpu_id; $cpu_n CPUs; flags: $cpu_flags)"
echo "load average before: $load_before; GOMAXPROCS=${GOMAXPROCS:-unset}"
go run ./scripts/bench/gemminfo | sed 's/^/gemm /'
gemm_impl=$(go run ./scripts/bench/gemminfo | awk '$1 == "impl:" { print $2 }')

decided=$(LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
	/usr/bin/python3 scripts/bench/blasinfo.py --choose 2>/dev/null || echo "keep - blasinfo.py --choose failed")
echo "torch: OpenBLAS core type: $decided"
export TORCH_CORETYPE_DECIDED="${decided%% *} $(awk '{ print $2 }' <<<"$decided")"

# torch_mm: torch.mm 1024² on 1 and 2 threads, appended to $mmlog as "1 G" / "2 G" lines.
torch_mm() {
	local out
	if out=$(scripts/bench/torch_env.sh scripts/bench/torch_mm.py --reps 5 2>/dev/null | tail -n 1); then
		/usr/bin/python3 -c 'import json, sys; r = json.loads(sys.argv[1])
print("1", r["mm1024"]["1"]); print("2", r["mm1024"]["2"]); print("core", r["openblas"].get("core", "n/a"))' "$out" >>"$mmlog" || true
	fi
}
echo "== torch.mm 1024² (start)" >&2
torch_mm

echo "== go test -bench '^BenchmarkGEMM\$/^NT_1024_1024_1024\$/^$gemm_impl\$' ./internal/gemm/" >&2
go_kernel=n/a
if [[ $gemm_impl != generic ]] && go test -run '^$' -bench "^BenchmarkGEMM\$/^NT_1024_1024_1024\$/^$gemm_impl\$" -benchtime 20x -count 3 ./internal/gemm/ >"$log" 2>&1; then
	go_kernel=$(metric "^BenchmarkGEMM/NT_1024_1024_1024/" GFLOP/s | sort -g | tail -n 1)
fi

declare -A go_step go_dumps go_hwm t_dpo t_loop t_gf t_blas t_hwm t_core
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
			read -r ms gf hwm blas core < <(tail -n 1 "$log" | /usr/bin/python3 -c 'import json, os, sys; r = json.load(sys.stdin)
print("%.1f_[%.1f-%.1f] %.1f %.0f %s %s" % (r["ms_median"], r["ms_min"], r["ms_max"], r["mm1024_gflops"], r["vmhwm_mb"],
      ",".join(sorted({os.path.basename(p) for p in r["blas"]})) or "none", r.get("openblas", {}).get("core", "n/a")))')
			ms=${ms//_/ }
			echo "2 $gf" >>"$mmlog"
		else
			cat "$log" >&2
			ms=n/a gf=n/a hwm=n/a blas=n/a core=n/a
		fi
		if [[ $mode == dpo ]]; then
			t_dpo[$size]=$ms t_gf[$size]=$gf t_blas[$size]=$blas t_hwm[$size]=$hwm t_core[$size]=$core
		else
			t_loop[$size]=$ms
		fi
	done
done

echo "== torch.mm 1024² (end)" >&2
torch_mm
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

best1=$(awk '$1 == "1" { if ($2 > b) b = $2 } END { printf "%.1f", b }' "$mmlog")
best2=$(awk '$1 == "2" { if ($2 > b) b = $2 } END { printf "%.1f", b }' "$mmlog")
all2=$(awk '$1 == "2" { printf "%s%.0f", sep, $2; sep = ", " }' "$mmlog")

# flops SIZE: the plain DPO step's matmul FLOPs (see the header).
flops() {
	case $1 in
	S) awk 'BEGIN { L = 2; T = 64; C = 128; V = 256; f = L * (24 * T * C * C + 4 * T * T * C) + 2 * T * C * V; printf "%.0f", 3 * 32 * f }' ;;
	M) awk 'BEGIN { L = 4; T = 128; C = 256; V = 512; f = L * (24 * T * C * C + 4 * T * T * C) + 2 * T * C * V; printf "%.0f", 3 * 32 * f }' ;;
	esac
}
# gfs FLOPS "MS ...": GFLOP/s, or n/a.
gfs() { [[ $2 == n/a ]] && echo n/a || awk -v f="$1" -v ms="${2%% *}" 'BEGIN { printf "%.0f", f / (ms * 1e6) }'; }
# gate SIZE: empty when the torch figures of SIZE may be compared, else the reason.
gate() {
	local gf=${t_gf[$1]}
	[[ $gf == n/a || ${t_dpo[$1]} == n/a ]] && { echo "torch did not run"; return; }
	awk -v g="$gf" -v b="$best2" 'BEGIN { exit !(g < 0.7 * b) }' &&
		{ echo "torch.mm in that process $gf < 70 % of the run's best $best2 GFLOP/s"; return; }
	[[ $go_kernel != n/a && -n $best1 ]] && awk -v t="$best1" -v g="$go_kernel" 'BEGIN { exit !(t < 0.6 * g) }' &&
		{ echo "torch.mm 1 thr $best1 < 60 % of Go's kernel $go_kernel GFLOP/s: OpenBLAS core ${t_core[$1]} is not this CPU's"; return; }
	awk -v a="$best2" -v b="$best1" 'BEGIN { exit !(a < 1.3 * b) }' &&
		{ echo "torch.mm on 2 threads $best2 < 1.3 × its 1-thread $best1 GFLOP/s: the second core was busy"; return; }
	awk -v l="${load_before%% *}" -v n="$cpu_n" 'BEGIN { exit !(l > 0.5 * n) }' &&
		{ echo "load average ${load_before%% *} before the run on $cpu_n CPUs: the machine was busy"; return; }
	true
}
ratio() {
	local why
	why=$(gate "$3")
	if [[ -n $why ]]; then
		echo "n/a ($why)"
	elif [[ $1 == n/a || $2 == n/a ]]; then
		echo n/a
	else
		awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { printf "%.2f", a / b }'
	fi
}

echo
echo "CPU: $cpu_name ($cpu_id; $cpu_n CPUs; $cpu_flags); load average before $load_before, after $load_after"
echo "Go kernels: $gemm_impl, serial 1024³ $go_kernel GFLOP/s; torch: OpenBLAS core ${t_core[${sizes[0]}]:-n/a}, torch.mm 1024² best 1 thr $best1, 2 thr $best2 GFLOP/s (all 2-thread figures: $all2)"
echo
printf '| size | torch plain DPO+AdamW ms | Go step+stats ms | ratio | Go step+stats+dumps ms | ratio | torch loop (b) ms | step GFLOP/s torch / Go | best GEMM GFLOP/s (2 thr) | Go step / best GEMM | torch.mm GFLOP/s in process | BLAS lib mapped | VmHWM MB Go / torch |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for size in "${sizes[@]}"; do
	f=$(flops "$size")
	gg=$(gfs "$f" "${go_step[$size]}")
	frac=n/a
	[[ $gg != n/a && $best2 != 0.0 ]] && frac=$(awk -v a="$gg" -v b="$best2" 'BEGIN { printf "%.0f %%", 100 * a / b }')
	printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s / %s |\n' "$size" "${t_dpo[$size]}" "${go_step[$size]}" \
		"$(ratio "${go_step[$size]}" "${t_dpo[$size]}" "$size")" "${go_dumps[$size]}" "$(ratio "${go_dumps[$size]}" "${t_dpo[$size]}" "$size")" \
		"${t_loop[$size]}" "$(gfs "$f" "${t_dpo[$size]}")" "$gg" "$best2" "$frac" "${t_gf[$size]}" "${t_blas[$size]}" \
		"${go_hwm[$size]}" "${t_hwm[$size]}"
done

# the README's table, ready to paste (medians; every row names its CPU)
echo
echo "README (medians in ms; measured $(date -u +%Y-%m-%d), load average before $load_before, after $load_after):"
echo
echo '| CPU | size | PyTorch plain DPO + AdamW | entangle step + per-pair stats | ratio | + the default run'"'"'s pairs.arrows rows | step GFLOP/s, PyTorch / entangle (best GEMM) | peak RSS, entangle / PyTorch |'
echo '|---|---|---|---|---|---|---|---|'
declare -A desc=([S]="S (V 256, T 64, C 128, L 2)" [M]="M (V 512, T 128, C 256, L 4)")
for size in "${sizes[@]}"; do
	f=$(flops "$size")
	r=$(ratio "${go_step[$size]}" "${t_dpo[$size]}" "$size")
	printf '| %s, %s CPUs, %s, OpenBLAS %s | %s | %s | %s | %s | %s | %s / %s (%s) | %s MB / %s MB |\n' "$cpu_name" "$cpu_n" "$gemm_impl" "${t_core[$size]}" \
		"${desc[$size]}" "${t_dpo[$size]%% *}" "${go_step[$size]%% *}" "${r%% (*}" "${go_dumps[$size]%% *}" \
		"$(gfs "$f" "${t_dpo[$size]}")" "$(gfs "$f" "${go_step[$size]}")" "$best2" "${go_hwm[$size]%.*}" "${t_hwm[$size]}"
done
