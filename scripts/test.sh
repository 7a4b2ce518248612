#!/usr/bin/env bash
# Usage: scripts/test.sh
#
# The project's whole test suite, as CI runs it: installs what the tests need
# (scripts/setup.sh), checks formatting and vet, runs every Go test (including
# the PyTorch oracle, which fails loudly in CI if torch is missing), runs the
# demo pipeline and the Hugging Face pipeline of each model family
# (scripts/hf_pipeline.sh -tiny) on small sizes, checks that every Arrow output opens in
# independent readers (nodejs-polars, apache-arrow JS) and that the report page
# loads in headless Chromium, and runs the paper reproduction in its quick
# mode (scripts/reproduce.sh -quick, which checks its outputs and the
# first-order and normalized-update guarantees).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh

echo "== gofmt, go vet" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...

echo "== go test" >&2
go test -count=1 -timeout 15m ./...

echo "== demo pipeline (quick) and independent readers" >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
QUICK=1 bash scripts/demo.sh "$out" >/dev/null
bash scripts/interop.sh
bash scripts/interop.sh "$out"
if [ -f "$out/report/index.html" ] && [ -f scripts/check_report.sh ]; then
	bash scripts/check_report.sh "$out/report"
fi

echo "== the Hugging Face pipeline per family (tiny): random GPT-2, GPT-NeoX and Llama folders with a tokenizer, SFT, DPO, sharded series analysis" >&2
for family in gpt2 neox llama; do
	bash scripts/hf_pipeline.sh -tiny "$family" "$out/hf-$family" >/dev/null
	bash scripts/interop.sh "$out/hf-$family/series"
done

echo "== paper reproduction (quick): every experiment small, outputs and guarantees checked" >&2
bash scripts/reproduce.sh -quick "$out/repro" >/dev/null
bash scripts/interop.sh "$out/repro/tables"
echo "== all tests passed" >&2
