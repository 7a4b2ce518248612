#!/usr/bin/env bash
# Usage: scripts/bench/gemm.sh
#
# GEMM kernels of internal/gemm against torch.mm on the same shapes, in one
# invocation: Go's BenchmarkGEMM (every implementation this CPU runs: avx512,
# avx2, generic; each call serial, one core), then scripts/bench/torch_mm.py
# through torch_env.sh (OpenBLAS-openmp, pinned) with 1 and 2 threads. Prints
# a table, best of the repetitions for each figure (the least disturbed by other
# load), in GFLOP/s; "ratio" is the best Go kernel over torch on 1 thread (the
# cleanest comparison: both single-threaded), "vs 2 thr" over torch on 2 threads.
# Shapes are named OP_M_N_K (see internal/gemm/bench_test.go): the model's
# Linear layers per sequence at sizes S and M, plus stacked sequences.
#
# Environment: GO_COUNT (default 3) repetitions of each Go benchmark,
# GO_BENCHTIME (default 100ms), TORCH_REPS (default 5). Needs torch
# (bash scripts/setup.sh) for the torch columns; without it they show n/a.
set -euo pipefail

cd "$(dirname "$0")/../.."
golog=$(mktemp)
tlog=$(mktemp)
trap 'rm -f "$golog" "$tlog"' EXIT

echo "== go test -run '^\$' -bench '^BenchmarkGEMM\$' -benchtime ${GO_BENCHTIME:-100ms} -count ${GO_COUNT:-3} ./internal/gemm/" >&2
go test -run '^$' -bench '^BenchmarkGEMM$' -benchtime "${GO_BENCHTIME:-100ms}" -count "${GO_COUNT:-3}" ./internal/gemm/ >"$golog" 2>&1 || {
	cat "$golog" >&2
	exit 1
}
# "IMPL SHAPE GFLOPS" for every benchmark line
golines=$(awk '$1 ~ /^BenchmarkGEMM\// { split($1, f, "/"); sub(/-[0-9]+$/, "", f[3]);
	for (i = 2; i <= NF; i++) if ($i == "GFLOP/s") print f[2], f[3], $(i-1) }' "$golog")
shapes=$(awk '{ print $2 }' <<<"$golines" | awk '!seen[$0]++')

echo "== torch_env.sh torch_mm.py (1 and 2 threads)" >&2
# shellcheck disable=SC2086
if scripts/bench/torch_env.sh scripts/bench/torch_mm.py --reps "${TORCH_REPS:-5}" $shapes >"$tlog" 2>&1; then
	grep -v '^{' "$tlog" | grep -v '^[A-Z][A-Z]_' >&2 || true
	tjson=$(tail -n 1 "$tlog")
else
	cat "$tlog" >&2
	tjson='{"blas": [], "mm1024": {}, "shapes": {}}'
fi

printf '%s\n' "$golines" >"$golog"
/usr/bin/python3 - "$tjson" "$golog" <<'PY'
import json, sys
t = json.loads(sys.argv[1])
go = {}
for line in open(sys.argv[2]).read().split("\n"):
    if line.strip():
        impl, shape, g = line.split()
        go[(impl, shape)] = max(go.get((impl, shape), 0.0), float(g))
shapes = list(dict.fromkeys(s for _, s in go))
f = lambda v: "n/a" if v is None else "%.1f" % v
print("torch BLAS: %s; torch.mm 1024² GFLOP/s: 1 thr %s, 2 thr %s" % (
    ", ".join(t["blas"]) or "n/a", f(t["mm1024"].get("1")), f(t["mm1024"].get("2"))))
print("| shape | Go avx512 | Go avx2 | generic | torch 1 thr | torch 2 thr | ratio | vs 2 thr |")
print("|---|---|---|---|---|---|---|---|")
for s in shapes:
    g = {i: go.get((i, s)) for i in ("avx512", "avx2", "generic")}
    best = max((v for v in g.values() if v), default=None)
    t1, t2 = (t["shapes"].get(s, {}).get(k) for k in ("1", "2"))
    r = lambda x: "n/a" if not (best and x) else "%.2f" % (best / x)
    print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (s, f(g["avx512"]), f(g["avx2"]), f(g["generic"]), f(t1), f(t2), r(t1), r(t2)))
PY
