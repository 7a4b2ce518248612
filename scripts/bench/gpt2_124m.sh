#!/usr/bin/env bash
# Usage: scripts/bench/gpt2_124m.sh [REPS]
#
# GPT-2 small (124M parameters, random weights), Go and PyTorch in ONE
# invocation: B = 8 pairs, prompt 32 tokens, responses of 32 and of 96 tokens
# that differ in their first token (prefgen's sentiment shape).
#
#   Go step+stats   pkg/pref BenchmarkGPT2Step: Grad (every pair's g_w, g_l, their
#                   dots and norms per parameter group, the batch gradient) + AdamW
#   torch DPO       gpt2_124m.py --mode dpo: plain DPO fwd+bwd of the 16 sequences + AdamW,
#                   no per-pair statistics
#   Go / torch SFT  8 sequences (prompt + chosen), mean response cross-entropy + AdamW
#   Go analyze      BenchmarkGPT2Analyze: train -mode analyze's per-pair statistics
#                   of 8 pairs, no update (pref.Stepper.Evaluate)
#
# Figures: median ms per step [min-max] over REPS timed repetitions (default 2;
# one warm-up each), sequences/s, and each process's peak resident memory
# (VmHWM; every Go benchmark runs in its own process so that the peaks do not
# mix). torch runs through torch_env.sh (OpenBLAS-openmp, 2 threads, pinned).
# Takes several minutes on 2 cores; compare only figures from one invocation.
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test -c -o "$tmp/pref.test" ./pkg/pref/
declare -A res
gobench() { # NAME RESP -> "ms|seq/s|VmHWM"
	local log="$tmp/$1-$2.log"
	ENTANGLE_BENCH_124M=1 "$tmp/pref.test" -test.run '^$' -test.bench "^Benchmark$1\$/^resp=$2\$" \
		-test.benchtime "${reps}x" >"$log" 2>&1 || { cat "$log" >&2; echo "n/a|n/a|n/a"; return; }
	grep '^Benchmark' "$log" >&2
	awk '/^Benchmark/ { ms = "n/a"; sp = "n/a"; hw = "n/a"
		for (i = 2; i <= NF; i++) { if ($i == "ms/step") ms = $(i-1); if ($i == "ns/op" && ms == "n/a") ms = sprintf("%.0f", $(i-1) / 1e6)
			if ($i == "seq/s") sp = $(i-1); if ($i == "VmHWM-MB") hw = $(i-1) }
		printf "%s|%s|%s\n", ms, sp, hw }' "$log"
}
torchbench() { # MODE RESP -> "ms [min-max]|seq/s|VmHWM"
	local log="$tmp/torch-$1-$2.log"
	scripts/bench/torch_env.sh scripts/bench/gpt2_124m.py --mode "$1" --resp "$2" --reps "$reps" --json >"$log" 2>&1 ||
		{ cat "$log" >&2; echo "n/a|n/a|n/a"; return; }
	grep -v '^{' "$log" >&2
	tail -n 1 "$log" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)
print("%.0f [%.0f-%.0f]|%.2f|%.0f" % (r["ms"], r["ms_min"], r["ms_max"], r["seqs_per_s"], r["vmhwm_mb"]))'
}
for r in 32 96; do
	echo "== responses of $r tokens" >&2
	res[gostep$r]=$(gobench GPT2Step $r)
	res[torchdpo$r]=$(torchbench dpo $r)
	res[gosft$r]=$(gobench GPT2SFT $r)
	res[torchsft$r]=$(torchbench sft $r)
	res[goan$r]=$(gobench GPT2Analyze $r)
done

col() { cut -d'|' -f"$2" <<<"$1"; }
echo
echo "GPT-2 124M, B = 8 pairs, prompt 32; $(nproc) cores; ms per step, sequences/s, peak RSS (MB)"
echo
echo "| responses | Go DPO step + per-pair stats | PyTorch plain DPO step | Go SFT | PyTorch SFT | Go analysis (no update) |"
echo "|---|---|---|---|---|---|"
for r in 32 96; do
	cell() { echo "$(col "$1" 1) ms, $(col "$1" 2) seq/s, $(col "$1" 3) MB"; }
	echo "| $r | $(cell "${res[gostep$r]}") | $(cell "${res[torchdpo$r]}") | $(cell "${res[gosft$r]}") | $(cell "${res[torchsft$r]}") | $(col "${res[goan$r]}" 2) seq/s, $(col "${res[goan$r]}" 3) MB |"
done
