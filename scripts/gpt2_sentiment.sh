#!/usr/bin/env bash
# Usage: scripts/gpt2_sentiment.sh GPT2_DIR [OUTDIR]
#        scripts/gpt2_sentiment.sh -quick [OUTDIR]
#
# The paper's §4.3 on GPT-2 small: the three sentiment tasks (prefgen's presets
# 1t, short-suffix and long-suffix) rendered as text and tokenized with GPT-2's
# own tokenizer; per task SFT from GPT2_DIR (a Hugging Face `gpt2` snapshot
# folder) for SFT_STEPS steps, DPO (beta 0.1) from the SFT checkpoint at step
# SFT_CKPT with a checkpoint every EVERY steps, then the series analysis (train
# -mode analyze) of PAIRS test pairs at the DPO start and at each checkpoint:
# every pair's log-probs, d_w, d_l, <g_w,g_l> and the norms per parameter
# group, merged into one run per task (OUTDIR/series/task=T). gradstat writes
# the tables and plot the figures and a report page.
#
# -quick runs the same pipeline in seconds on a tiny random GPT-2 folder in the
# Hugging Face layout (scripts/torch/hf_gpt2.py) whose tokenizer is
# pkg/tokenizer/testdata/sentiment (needs Debian's python3-torch), and checks
# that every output exists: what CI runs.
#
# Environment (defaults for GPT-2 / -quick): N pairs per task (2560 / 96, of
# which TEST_FRAC 0.2 held out), BATCH (8 / 4), SFT_STEPS (128 / 8), SFT_CKPT
# (64 / 4), SFT_LR (5e-5 / 1e-3), DPO_STEPS (160 / 8), EVERY (40 / 4), DPO_LR
# (5e-6 / 1e-3), BETA (0.1), PAIRS (512 / 16), GRADS (none / countsketch:64:
# the analyses' gradient dumps; the per-pair dots and norms are exact without
# them, and a count sketch costs about as much as a pair's gradients at 124M),
# JOBS (analyses run at once, 1). Each stage is skipped when its output is
# complete, so a rerun resumes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
quick=0
if [ "${1:-}" = -quick ]; then
	quick=1
	shift
	out=${1:-gpt2-sentiment-quick}
else
	[ $# -ge 1 ] || { sed -n '2,3p' "$0" | sed 's/^# //' >&2; exit 2; }
	gpt2=$1
	out=${2:-gpt2-sentiment-out}
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin="$out/bin"
mkdir -p "$bin"
(cd "$root" && go build -o "$bin/" ./cmd/prefgen ./cmd/train ./cmd/gradstat ./cmd/plot)
export PATH="$bin:$PATH"

if [ $quick = 1 ]; then
	: "${N:=96}" "${BATCH:=4}" "${SFT_STEPS:=8}" "${SFT_CKPT:=4}" "${SFT_LR:=1e-3}" "${DPO_STEPS:=8}" "${EVERY:=4}"
	: "${DPO_LR:=1e-3}" "${PAIRS:=16}" "${GRADS=countsketch:64}"
	gpt2="$out/tiny-gpt2"
	if [ ! -f "$gpt2/model.safetensors" ]; then
		echo "== a tiny random GPT-2 folder (Hugging Face layout) with the sentiment test tokenizer" >&2
		tok="$root/pkg/tokenizer/testdata/sentiment"
		V=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tok/vocab.json")
		/usr/bin/python3 "$root/scripts/torch/hf_gpt2.py" write "$gpt2.tmp" --vocab "$V" --positions 128 --width 32 \
			--layers 2 --heads 2 --seed 1
		cp "$tok"/vocab.json "$tok"/merges.txt "$tok"/tokenizer_config.json "$gpt2.tmp/"
		mv "$gpt2.tmp" "$gpt2"
	fi
else
	: "${N:=2560}" "${BATCH:=8}" "${SFT_STEPS:=128}" "${SFT_CKPT:=64}" "${SFT_LR:=5e-5}" "${DPO_STEPS:=160}" "${EVERY:=40}"
	: "${DPO_LR:=5e-6}" "${PAIRS:=512}" "${GRADS=}"
fi
: "${TEST_FRAC:=0.2}" "${BETA:=0.1}" "${JOBS:=1}"
grads=()
[ -n "$GRADS" ] && grads=(-grads "$GRADS")

for task in 1t short-suffix long-suffix; do
	data="$out/data/$task.arrow"
	if [ ! -f "$data" ]; then
		echo "== $task: prefgen pairs as text, tokenized with $(basename "$gpt2")'s tokenizer" >&2
		mkdir -p "$out/data"
		prefgen "$task" -n "$N" -n-sft 0 -n-test 0 -seed 1 | prefgen export - >"$out/data/$task.jsonl"
		prefgen import -tokenizer "$gpt2" -eos -test-frac "$TEST_FRAC" -seed 1 "$out/data/$task.jsonl" -o "$data" 2>/dev/null
	fi
	runs="$out/runs/$task"
	if [ ! -f "$runs/sft/DONE" ]; then
		echo "== $task: SFT $SFT_STEPS steps from $gpt2 (weights kept at step $SFT_CKPT)" >&2
		train -mode sft -init "$gpt2" -steps "$SFT_STEPS" -batch "$BATCH" -lr "$SFT_LR" -save-every "$SFT_CKPT" \
			-eval-every "$SFT_STEPS" -q -force -out "$runs/sft" "$data" 2>/dev/null
	fi
	start="$runs/sft/checkpoint-$SFT_CKPT/model.safetensors"
	if [ ! -f "$runs/dpo/DONE" ]; then
		echo "== $task: DPO (beta $BETA) $DPO_STEPS steps from SFT step $SFT_CKPT, weights kept every $EVERY steps" >&2
		train -mode pref -init "$start" -loss dpo -beta "$BETA" -steps "$DPO_STEPS" -batch "$BATCH" -lr "$DPO_LR" \
			-save-every "$EVERY" -eval-every "$DPO_STEPS" -q -force -out "$runs/dpo" "$data"
	fi
	series="$out/series/task=$task"
	if [ ! -f "$series/DONE" ]; then
		echo "== $task: analysis of $PAIRS test pairs at DPO steps 0 (the SFT checkpoint) and every $EVERY" >&2
		cks=("$start")
		for s in $(seq "$EVERY" "$EVERY" "$DPO_STEPS"); do cks+=("$runs/dpo/checkpoint-$s/model.safetensors"); done
		parts=()
		for ck in "${cks[@]}"; do
			step=0
			[ "$ck" = "$start" ] || step=$(basename "$(dirname "$ck")" | sed 's/^checkpoint-//')
			part="$out/analyses/$task/step-$step"
			parts+=("$part")
			[ -f "$part/DONE" ] && continue
			train -mode analyze -init "$ck" -step "$step" -ref "$start" -loss dpo -beta "$BETA" -pairs "$PAIRS" \
				"${grads[@]}" -q -force -out "$part" "$data" &
			while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
		done
		wait
		rm -rf "$series"
		mkdir -p "$out/series"
		train -merge "$series" "${parts[@]}"
	fi
done

echo "== gradstat and plot" >&2
mkdir -p "$out/tables"
gradstat -table steps -format md "$out/series" >"$out/tables/steps.md"
gradstat -table runs -format md "$out/series" >"$out/tables/runs.md"
gradstat -summary "$out/series" >"$out/summary.txt" 2>/dev/null
plot report -o "$out/report" "$out/series" >/dev/null

if [ $quick = 1 ]; then
	for f in tables/steps.md tables/runs.md summary.txt report/index.html; do
		[ -s "$out/$f" ] || { echo "gpt2_sentiment: $out/$f is missing or empty" >&2; exit 1; }
	done
	for task in 1t short-suffix long-suffix; do
		n=$(grep -c "task=$task" "$out/tables/steps.md" || true)
		want=$((DPO_STEPS / EVERY + 1))
		[ "$n" = "$want" ] || { echo "gpt2_sentiment: $task has $n analysed steps in tables/steps.md, want $want" >&2; exit 1; }
	done
fi
echo "gpt2_sentiment: tables in $out/tables, figures in $out/report (open $out/report/index.html)" >&2
echo "$out/report/index.html"
