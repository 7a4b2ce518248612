#!/usr/bin/env bash
# Usage: scripts/hf_pipeline.sh MODEL_DIR [OUTDIR]
#        scripts/hf_pipeline.sh -tiny gpt2|neox|llama [OUTDIR]
#        scripts/hf_pipeline.sh -real gpt2|neox|llama|all [OUTDIR]
#
# The whole pipeline for any Hugging Face model directory of a family train
# reads (GPT-2, GPT-NeoX, Llama/Mistral/Qwen2): prefgen's sentiment presets
# (TASKS) rendered as text and tokenized with the directory's own tokenizer
# (prefgen import); per task SFT from MODEL_DIR for SFT_STEPS steps; DPO
# (beta BETA) from the SFT checkpoint at step SFT_CKPT with a checkpoint every
# EVERY steps; the series analysis (train -mode analyze) of PAIRS test pairs
# at the DPO start and at each kept checkpoint, one process per checkpoint and
# shard (SHARDS), merged into one run per task (OUTDIR/series/task=T); then
# gradstat's tables and plot's report page. Both trainings warm up for a tenth
# of their steps and decay linearly to 0 (the Hugging Face trainer's schedule
# with warmup_ratio 0.1, as the paper's recipes). With the defaults this is the
# paper's §4.3 (scripts/gpt2_sentiment.sh runs it on a `gpt2` folder).
#
# -tiny FAMILY runs the same pipeline in seconds on a tiny random directory of
# that family in the Hugging Face layout (GPT-2 F32 tied; GPT-NeoX F16 with
# padded vocabulary rows and an untied head; Llama BF16 with grouped-query
# attention and a tied head), written by the PyTorch oracles
# (scripts/torch/hf_gpt2.py, hf_families.py; needs Debian's python3-torch)
# with the test tokenizer pkg/tokenizer/testdata/sentiment, and checks that
# every output exists: what CI runs, one task per family.
#
# -real FAMILY does the same at a real model's shape with random weights:
# gpt2 = GPT-2 124M (F32), neox = pythia-160m (F16, 50304 rows), llama =
# SmolLM2-135M (BF16, 30 layers, grouped-query attention), with the same test
# tokenizer (830 ids, in an embedding of the model's full vocabulary: the
# padding rows the data never uses; every logit over the whole vocabulary is
# still computed), for a few steps (SFT 2, DPO 2 with a checkpoint every step,
# 8 pairs analysed at 3 checkpoints in 2 shards each), and times every stage
# (TIME=1 below). It needs about 1.5 GB of disk per family. -real all runs
# the three one after the other (OUTDIR/gpt2, OUTDIR/neox, OUTDIR/llama) and
# joins their tables in OUTDIR/stages.md: the one command for the timings.
#
# TIME=1 (any mode) runs each stage under /usr/bin/time -v and writes
# OUTDIR/time/STAGE.txt and a table OUTDIR/time/stages.md: wall and CPU
# (user + system) seconds, peak RSS and the 1-minute load average from
# `uptime` just before the stage. Stages run one at a time (JOBS=1).
#
# Environment (defaults for a model directory / -tiny / -real): TASKS ("1t
# short-suffix long-suffix" / "long-suffix" / "long-suffix"), N pairs per task
# (2560 / 96 / 80, of which TEST_FRAC 0.2 held out), BATCH (8 / 4 / 8),
# SFT_STEPS (128 / 8 / 2), SFT_CKPT (64 / 4 / 2), SFT_LR (5e-5 / 1e-3 /
# 5e-5), DPO_STEPS (160 / 8 / 2), EVERY (40 / 4 / 1), DPO_LR (5e-6 / 1e-3 /
# 5e-6), BETA (0.1), PAIRS (512 / 16 / 8), SHARDS (1 / 2 / 2), GRADS (none /
# countsketch:64 / none: the analyses' gradient dumps; the per-pair dots and
# norms are exact without them), JOBS (analysis processes at once, 1). Each
# stage is skipped when its output is complete, so a rerun resumes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
me=hf_pipeline
usage() { sed -n '2,4p' "$0" | sed 's/^# //' >&2; exit 2; }
mode=dir family=
if [ "${1:-}" = -real ] && [ "${2:-}" = all ]; then
	out=${3:-hf-pipeline-real}
	mkdir -p "$out"
	for f in gpt2 neox llama; do
		bash "$0" -real "$f" "$out/$f" >/dev/null
	done
	for f in gpt2 neox llama; do
		echo "### $f"
		echo
		cat "$out/$f/time/stages.md"
		echo
	done >"$out/stages.md"
	echo "$me: per-stage times of the three families in $out/stages.md" >&2
	exit 0
fi
case "${1:-}" in
-tiny | -real)
	mode=${1#-}
	family=${2:-}
	case "$family" in gpt2 | neox | llama) ;; *) usage ;; esac
	shift 2
	out=${1:-hf-pipeline-$mode-$family}
	;;
-* | "") usage ;;
*)
	model=$1
	out=${2:-hf-pipeline-out}
	[ -f "$model/config.json" ] || { echo "$me: $model: no config.json (not a Hugging Face model directory)" >&2; exit 2; }
	;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin="$out/bin"
mkdir -p "$bin"
(cd "$root" && go build -o "$bin/" ./cmd/prefgen ./cmd/train ./cmd/gradstat ./cmd/plot)
export PATH="$bin:$PATH"

case $mode in
tiny)
	: "${TASKS:=long-suffix}" "${N:=96}" "${BATCH:=4}" "${SFT_STEPS:=8}" "${SFT_CKPT:=4}" "${SFT_LR:=1e-3}"
	: "${DPO_STEPS:=8}" "${EVERY:=4}" "${DPO_LR:=1e-3}" "${PAIRS:=16}" "${SHARDS:=2}" "${GRADS=countsketch:64}"
	;;
real)
	: "${TASKS:=long-suffix}" "${N:=80}" "${BATCH:=8}" "${SFT_STEPS:=2}" "${SFT_CKPT:=2}" "${SFT_LR:=5e-5}"
	: "${DPO_STEPS:=2}" "${EVERY:=1}" "${DPO_LR:=5e-6}" "${PAIRS:=8}" "${SHARDS:=2}" "${GRADS=}" "${TIME:=1}"
	;;
dir)
	: "${TASKS:=1t short-suffix long-suffix}" "${N:=2560}" "${BATCH:=8}" "${SFT_STEPS:=128}" "${SFT_CKPT:=64}"
	: "${SFT_LR:=5e-5}" "${DPO_STEPS:=160}" "${EVERY:=40}" "${DPO_LR:=5e-6}" "${PAIRS:=512}" "${SHARDS:=1}" "${GRADS=}"
	;;
esac
: "${TEST_FRAC:=0.2}" "${BETA:=0.1}" "${JOBS:=1}" "${TIME:=0}"
[ "$TIME" = 1 ] && JOBS=1
grads=()
[ -n "$GRADS" ] && grads=(-grads "$GRADS")

# stage NAME CMD...: runs CMD, under /usr/bin/time -v when TIME=1 (the record
# in OUTDIR/time/NAME.txt, the load average before it in NAME.load).
stage() {
	local name=$1
	shift
	if [ "$TIME" = 1 ]; then
		mkdir -p "$out/time"
		uptime >"$out/time/$name.load"
		/usr/bin/time -v -o "$out/time/$name.txt" "$@"
	else
		"$@"
	fi
}

if [ $mode != dir ]; then
	model="$out/$family-$mode"
	if [ ! -f "$model/model.safetensors" ]; then
		tok="$root/pkg/tokenizer/testdata/sentiment"
		V=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tok/vocab.json")
		py=/usr/bin/python3
		rm -rf "$model.tmp"
		case $mode-$family in
		tiny-gpt2) args=("$root/scripts/torch/hf_gpt2.py" write "$model.tmp" --vocab "$V" --positions 128 --width 32
			--layers 2 --heads 2) ;;
		tiny-neox) args=("$root/scripts/torch/hf_families.py" write "$model.tmp" --family neox
			--vocab $(((V + 7) / 8 * 8 + 8)) --positions 128 --width 32 --layers 2 --heads 2 --inter 64
			--rotary-pct 0.25 --store F16) ;;
		tiny-llama) args=("$root/scripts/torch/hf_families.py" write "$model.tmp" --family llama --vocab "$V"
			--positions 128 --width 32 --layers 2 --heads 4 --kv-heads 2 --inter 48 --tied --theta 100000
			--store BF16) ;;
		real-gpt2) args=("$root/scripts/torch/hf_gpt2.py" write "$model.tmp" --vocab 50257 --positions 1024
			--width 768 --layers 12 --heads 12 --scale 0) ;;
		real-neox) args=("$root/scripts/torch/hf_families.py" write "$model.tmp" --family neox --vocab 50304
			--positions 2048 --width 768 --layers 12 --heads 12 --inter 3072 --rotary-pct 0.25 --store F16 --scale 0) ;;
		real-llama) args=("$root/scripts/torch/hf_families.py" write "$model.tmp" --family llama --vocab 49152
			--positions 8192 --width 576 --layers 30 --heads 9 --kv-heads 3 --inter 1536 --tied --theta 100000
			--store BF16 --scale 0) ;;
		esac
		echo "== a $mode random $family directory (Hugging Face layout) with the sentiment test tokenizer" >&2
		$py "${args[@]}" --seed 1
		cp "$tok"/vocab.json "$tok"/merges.txt "$tok"/tokenizer_config.json "$model.tmp/"
		mv "$model.tmp" "$model"
	fi
fi
name=$(basename "$model")

for task in $TASKS; do
	data="$out/data/$task.arrow"
	if [ ! -f "$data" ]; then
		echo "== $task: prefgen pairs as text, tokenized with $name's tokenizer" >&2
		mkdir -p "$out/data"
		prefgen "$task" -n "$N" -n-sft 0 -n-test 0 -seed 1 | prefgen export - >"$out/data/$task.jsonl"
		stage "$task-import" prefgen import -q -tokenizer "$model" -eos -test-frac "$TEST_FRAC" -seed 1 \
			"$out/data/$task.jsonl" -o "$data"
	fi
	runs="$out/runs/$task"
	if [ ! -f "$runs/sft/DONE" ]; then
		echo "== $task: SFT $SFT_STEPS steps from $name (weights kept at step $SFT_CKPT)" >&2
		stage "$task-sft" train -mode sft -init "$model" -steps "$SFT_STEPS" -batch "$BATCH" -lr "$SFT_LR" \
			-warmup $(((SFT_STEPS + 9) / 10)) -decay linear -min-lr 0 -save-every "$SFT_CKPT" -eval-every "$SFT_STEPS" -q -force -out "$runs/sft" "$data"
	fi
	start="$runs/sft/checkpoint-$SFT_CKPT/model.safetensors"
	if [ ! -f "$runs/dpo/DONE" ]; then
		echo "== $task: DPO (beta $BETA) $DPO_STEPS steps from SFT step $SFT_CKPT, weights kept every $EVERY steps" >&2
		stage "$task-dpo" train -mode pref -init "$start" -loss dpo -beta "$BETA" -steps "$DPO_STEPS" -batch "$BATCH" \
			-lr "$DPO_LR" -warmup $(((DPO_STEPS + 9) / 10)) -decay linear -min-lr 0 -save-every "$EVERY" -eval-every "$DPO_STEPS" -q -force -out "$runs/dpo" "$data"
	fi
	series="$out/series/task=$task"
	if [ ! -f "$series/DONE" ]; then
		echo "== $task: analysis of $PAIRS test pairs at DPO step 0 (the SFT checkpoint) and every $EVERY, $SHARDS shard(s) each" >&2
		steps=(0 $(seq "$EVERY" "$EVERY" "$DPO_STEPS"))
		parts=()
		for step in "${steps[@]}"; do
			ck="$runs/dpo/checkpoint-$step/model.safetensors"
			[ "$step" = 0 ] && ck=$start
			for ((i = 0; i < SHARDS; i++)); do
				part="$out/analyses/$task/step-$step-shard-$i"
				parts+=("$part")
				[ -f "$part/DONE" ] && continue
				stage "$task-analyze-$step-$i" train -mode analyze -init "$ck" -step "$step" -ref "$start" -loss dpo \
					-beta "$BETA" -pairs "$PAIRS" -shard "$i/$SHARDS" "${grads[@]}" -q -force -out "$part" "$data" &
				while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
			done
		done
		wait
		rm -rf "$series"
		mkdir -p "$out/series"
		stage "$task-merge" train -merge "$series" "${parts[@]}"
	fi
done

echo "== gradstat and plot" >&2
mkdir -p "$out/tables"
stage gradstat-steps sh -c 'gradstat -table steps -format md "$1" >"$2"' - "$out/series" "$out/tables/steps.md"
gradstat -table runs -format md "$out/series" >"$out/tables/runs.md"
gradstat -summary "$out/series" >"$out/summary.txt"
stage plot plot report -o "$out/report" "$out/series" >/dev/null

if [ $mode = tiny ]; then
	for f in tables/steps.md tables/runs.md summary.txt report/index.html; do
		[ -s "$out/$f" ] || { echo "$me: $out/$f is missing or empty" >&2; exit 1; }
	done
	want=$((DPO_STEPS / EVERY + 1))
	for task in $TASKS; do
		n=$(grep -c "task=$task" "$out/tables/steps.md" || true)
		[ "$n" = "$want" ] || { echo "$me: $task has $n analysed steps in tables/steps.md, want $want" >&2; exit 1; }
		for step in 0 $(seq "$EVERY" "$EVERY" "$DPO_STEPS"); do
			got=$(cat "$out"/analyses/"$task"/step-"$step"-shard-*/pairs.arrows | wc -c)
			[ "$got" -gt 0 ] || { echo "$me: $task step $step: no analysed pairs" >&2; exit 1; }
		done
	done
fi

if [ "$TIME" = 1 ]; then
	# One row per stage: wall and CPU seconds, peak RSS, the load before it.
	{
		echo "| stage | wall s | CPU s | peak RSS MiB | load (1 min) before |"
		echo "|---|---:|---:|---:|---:|"
		for f in $(ls -tr "$out"/time/*.txt); do
			s=$(basename "$f" .txt)
			awk -v s="$s" -v load="$(sed 's/.*load average: \([0-9.]*\).*/\1/' "${f%.txt}.load")" -F': ' '
				/User time/ {u = $2} /System time/ {y = $2} /Maximum resident/ {r = $2}
				/Elapsed \(wall clock\)/ {n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i]}
				END {printf "| %s | %.1f | %.1f | %.0f | %s |\n", s, w, u + y, r / 1024, load}' "$f"
		done
	} >"$out/time/stages.md"
	echo "$me: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" >>"$out/time/stages.md"
	cat "$out/time/stages.md" >&2
fi
echo "$me: tables in $out/tables, figures in $out/report (open $out/report/index.html)" >&2
echo "$out/report/index.html"
