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

n=512
[ "${QUICK:-}" = 1 ] && n=64

echo "== prefgen: long-suffix sentiment pairs" >&2
prefgen long-suffix -n "$n" -n-sft "$n" -n-test 64 -seed 1 -o "$out/data.arrow"
prefgen export "$out/data.arrow" | sed -n 1p >&2

echo "demo: outputs in $out" >&2
echo "$out"
