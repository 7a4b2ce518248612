#!/usr/bin/env bash
# Usage: scripts/gpt2_sentiment.sh GPT2_DIR [OUTDIR]
#        scripts/gpt2_sentiment.sh -quick [OUTDIR]
#
# The paper's §4.3 on GPT-2 small: the three sentiment tasks (prefgen's presets
# 1t, short-suffix and long-suffix) rendered as text and tokenized with GPT-2's
# own tokenizer; per task SFT from GPT2_DIR (a Hugging Face `gpt2` snapshot
# folder) for 128 steps, DPO (beta 0.1) from the SFT checkpoint at step 64 with
# a checkpoint every 40 steps, then the series analysis (train -mode analyze)
# of 512 test pairs at the DPO start and at each checkpoint, merged into one
# run per task (OUTDIR/series/task=T); gradstat's tables and plot's report.
#
# It is scripts/hf_pipeline.sh with its defaults (which are this experiment's;
# the environment variables listed there change sizes and learning rates), on
# all three tasks. -quick runs it on a tiny random GPT-2 folder with a test
# tokenizer (scripts/hf_pipeline.sh -tiny gpt2, on the three tasks).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = -quick ]; then
	export TASKS=${TASKS:-1t short-suffix long-suffix}
	exec bash "$root/scripts/hf_pipeline.sh" -tiny gpt2 "${2:-gpt2-sentiment-quick}"
fi
[ $# -ge 1 ] && [ "${1#-}" = "$1" ] || { sed -n '2,3p' "$0" | sed 's/^# //' >&2; exit 2; }
exec bash "$root/scripts/hf_pipeline.sh" "$1" "${2:-gpt2-sentiment-out}"
