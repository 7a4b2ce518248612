#!/usr/bin/env bash
# Usage: scripts/demo.sh [OUTDIR]
#
# Runs the whole pipeline on built-in defaults, no input files needed:
# prefgen makes a synthetic long-suffix sentiment dataset; train fine-tunes a
# small GPT on it (SFT), then runs DPO with per-pair gradient diagnostics;
# gradstat summarizes the entanglement; plot draws the figures and a report
# page. Prints where everything is. OUTDIR defaults to ./demo-out.
# QUICK=1 runs a smaller version (what CI runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-demo-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin="$out/bin"
mkdir -p "$bin"
for cmd in prefgen train gradstat plot; do
	if [ -d "$root/cmd/$cmd" ]; then
		(cd "$root" && go build -o "$bin/$cmd" "./cmd/$cmd")
	fi
done
export PATH="$bin:$PATH"

n=512 sft_steps=150 pref_steps=60 model=S
if [ "${QUICK:-}" = 1 ]; then n=64 sft_steps=40 pref_steps=12 model=tiny; fi
ctx=()
[ "$model" = tiny ] && ctx=(-context 48)
vocab=128
[ "$model" = tiny ] && vocab=64

echo "== prefgen: long-suffix sentiment pairs (one contrastive label token, 24 shared suffix tokens)" >&2
prefgen long-suffix -n "$n" -n-sft "$n" -n-test 64 -vocab "$vocab" -seed 1 -o "$out/data.arrow"
prefgen export "$out/data.arrow" | sed -n 1p >&2

echo "== train -mode sft: supervised fine-tuning on prompt + chosen" >&2
train -mode sft -model "$model" "${ctx[@]}" -steps "$sft_steps" -lr 1e-3 -eval-every 50 -q -force -out "$out/sft" "$out/data.arrow"

echo "== train -mode pref: DPO (beta 0.1) with per-pair gradients, probes and per-token dumps" >&2
train -mode pref -init "$out/sft/model.safetensors" -loss dpo -beta 0.1 -lr 1e-4 -steps "$pref_steps" -batch 8 \
	-probe 8 -dump-every 10 -grads full -token-grads 1 -eval-every 10 -q -force -out "$out/dpo" "$out/data.arrow"

# gradstat and plot name a run by the path they are given: read it from
# inside OUTDIR so that the run is "dpo" in the summary and the report.
cd "$out"
echo "== gradstat: entanglement statistics" >&2
gradstat -summary -every 10 dpo | tee summary.txt | tail -7 >&2
gradstat -table pairs dpo -o pairs-stats.arrow
gradstat -table steps dpo -o steps-stats.arrow

echo "== plot: figures and report page" >&2
plot report -o report dpo >/dev/null

echo "demo: data, runs and statistics in $out; figures and the report page in $out/report (open $out/report/index.html)" >&2
echo "$out/report/index.html"
