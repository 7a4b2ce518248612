#!/usr/bin/env bash
# Usage: scripts/bench/families.sh [REPS] [MODEL...]
#
# pythia-160m and SmolLM2-135M shapes (model.Preset; random weights), Go and
# PyTorch in ONE invocation, the workload of gpt2_124m.sh: B = 8 pairs, prompt
# 32 tokens, responses of 32 and of 96 tokens that differ in their first token.
# MODELs: pythia-160m, smollm2-135m (default both).
#
#   Go step+stats     pkg/pref BenchmarkFamilyStep: Grad (every pair's g_w, g_l, their
#                     dots and norms per parameter group, the batch gradient) + AdamW
#   torch DPO         families.py --mode dpo: scripts/torch/hf_families.py's model (the
#                     oracle of the Go blocks), plain batched DPO fwd+bwd of the 16
#                     sequences + AdamW, no per-pair statistics
#   Go LoRA all       BenchmarkFamilyLoRA grad=all: LoRA r 64, α 128 on q, k, v; the full
#                     gradient of every pair, statistics for all parameters and the adapters
#   Go LoRA adapters  BenchmarkFamilyLoRA grad=adapters: no base weight gradient, statistics
#                     for the adapters only (train -lora-grad adapters)
#   torch LoRA        families.py --mode lora: the same adapters (peft's unmerged form), base frozen
#
# Figures: median ms per step [min-max] over REPS timed repetitions (default 2;
# one warm-up each), sequences/s, each process's peak resident memory (VmHWM;
# every Go benchmark runs in its own process), and the FLOPs of the step's
# matrix products (stepFLOPs in pkg/pref/families_bench_test.go) with the
# factor they predict for the LoRA steps against the full one. torch runs
# through torch_env.sh (OpenBLAS-openmp, 2 threads, pinned). Takes tens of
# minutes on 2 cores; compare only figures from one invocation, on a quiet
# machine (uptime's load below 1.5).
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-2}
shift || true
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(pythia-160m smollm2-135m)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test -c -o "$tmp/pref.test" ./pkg/pref/
declare -A res
gobench() { # BENCH SUB -> "ms|seq/s|VmHWM|GFLOP"
	local log="$tmp/$1-${2//\//_}.log"
	ENTANGLE_BENCH_FAMILIES=1 "$tmp/pref.test" -test.run '^$' -test.bench "^Benchmark$1\$/^$2\$" \
		-test.benchtime "${reps}x" >"$log" 2>&1 || { cat "$log" >&2; echo "n/a|n/a|n/a|n/a"; return; }
	grep '^Benchmark' "$log" >&2
	awk '/^Benchmark/ { ms = "n/a"; sp = "n/a"; hw = "n/a"; gf = "n/a"
		for (i = 2; i <= NF; i++) { if ($i == "ms/step") ms = $(i-1)
			if ($i == "seq/s") sp = $(i-1); if ($i == "VmHWM-MB") hw = $(i-1); if ($i == "GFLOP") gf = $(i-1) }
		printf "%s|%s|%s|%s\n", ms, sp, hw, gf }' "$log"
}
torchbench() { # MODEL MODE RESP -> "ms [min-max]|seq/s|VmHWM"
	local log="$tmp/torch-$1-$2-$3.log"
	scripts/bench/torch_env.sh scripts/bench/families.py --model "$1" --mode "$2" --resp "$3" --reps "$reps" --json >"$log" 2>&1 ||
		{ cat "$log" >&2; echo "n/a|n/a|n/a"; return; }
	grep -v '^{' "$log" >&2
	tail -n 1 "$log" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)
print("%.0f [%.0f-%.0f]|%.2f|%.0f" % (r["ms"], r["ms_min"], r["ms_max"], r["seqs_per_s"], r["vmhwm_mb"]))'
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for m in "${models[@]}"; do
	for r in 32 96; do
		echo "== $m, responses of $r tokens" >&2
		res[gostep$m$r]=$(gobench FamilyStep "$m/resp=$r")
		res[torchdpo$m$r]=$(torchbench "$m" dpo "$r")
		res[goall$m$r]=$(gobench FamilyLoRA "$m/grad=all/resp=$r")
		res[goad$m$r]=$(gobench FamilyLoRA "$m/grad=adapters/resp=$r")
		res[torchlora$m$r]=$(torchbench "$m" lora "$r")
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

col() { cut -d'|' -f"$2" <<<"$1"; }
cell() { echo "$(col "$1" 1) ms, $(col "$1" 2) seq/s, $(col "$1" 3) MB"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "B = 8 pairs, prompt 32, random weights; $(nproc) cores; ms per step, sequences/s, peak RSS (MB)"
echo
echo "| model | responses | Go DPO step + per-pair stats | PyTorch plain DPO step | Go / PyTorch |"
echo "|---|---|---|---|---|"
for m in "${models[@]}"; do
	for r in 32 96; do
		g=${res[gostep$m$r]} t=${res[torchdpo$m$r]}
		echo "| $m | $r | $(cell "$g") | $(cell "$t") | $(ratio "$(col "$g" 1)" "$(col "$t" 1 | cut -d' ' -f1)") |"
	done
done
echo
echo "LoRA r 64, α 128 on q, k, v (the base frozen): time and FLOPs of the step's products, factor = full step / LoRA step"
echo
echo "| model | responses | full step (GFLOP) | Go LoRA all | Go LoRA adapters | FLOP-predicted factor (adapters) | measured factor (adapters) | PyTorch LoRA |"
echo "|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
	for r in 32 96; do
		g=${res[gostep$m$r]} a=${res[goall$m$r]} d=${res[goad$m$r]}
		echo "| $m | $r | $(col "$g" 1) ms ($(col "$g" 4)) | $(cell "$a") ($(col "$a" 4) GFLOP) | $(cell "$d") ($(col "$d" 4) GFLOP) |" \
			"$(ratio "$(col "$g" 4)" "$(col "$d" 4)") | $(ratio "$(col "$g" 1)" "$(col "$d" 1)") | $(cell "${res[torchlora$m$r]}") |"
	done
done
