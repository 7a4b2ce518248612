#!/usr/bin/env bash
# Usage: scripts/bench/gemm.sh
#
# GEMM kernels of internal/gemm side by side, and against torch.mm, on the
# model's shapes, in one invocation:
#
#   1. the CPU (model name, vendor/family/model as gemm's speed table keys it,
#      AVX-512 F/BW/VL, AVX2, FMA) and how gemm selects its kernels here
#      (go run ./scripts/bench/gemminfo: the selection and a fresh calibration);
#   2. Go's BenchmarkGEMM: every SIMD implementation this CPU runs (avx512,
#      avx2; GEMM_GENERIC=1 adds the slow pure-Go reference), each call serial
#      on one core, the implementations of a shape run back to back;
#   3. scripts/bench/torch_mm.py through torch_env.sh (OpenBLAS-openmp, pinned,
#      its kernel set checked: see torch_env.sh) on 1 and 2 threads.
#
# Prints a markdown table, best of the repetitions for each figure (the least
# disturbed by other load), in GFLOP/s: avx512/avx2 is the ratio that decides
# gemm's speed table (the summary line proposes the table row for this CPU);
# "best/torch 1 thr" is the faster Go kernel over torch on one thread (both
# single-threaded), "vs 2 thr" over torch on 2 threads. Shapes are OP_M_N_K
# (internal/gemm/bench_test.go): the model's Linear layers per sequence at
# sizes S and M, plus stacked sequences.
#
# Environment: GO_COUNT (default 3) repetitions of each Go benchmark,
# GO_BENCHTIME (default 100ms), TORCH_REPS (default 5). Needs torch
# (bash scripts/setup.sh) for the torch columns; without it they show n/a.
# Figures from a machine shared with other jobs are noise: run it on a quiet one.
set -euo pipefail

cd "$(dirname "$0")/../.."
golog=$(mktemp)
tlog=$(mktemp)
info=$(mktemp)
trap 'rm -f "$golog" "$tlog" "$info"' EXIT

/usr/bin/python3 -c 'import json, sys; sys.path.insert(0, "scripts/bench"); import blasinfo; print(json.dumps(blasinfo.cpu_info()))' >"$info"
cpu=$(/usr/bin/python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))
print("%s (%s family %s model %s; %d CPUs; %s)" % (c["model_name"], c["vendor"], c["family"], c["model"], c["cpus"], " ".join(c["flags"]) or "no AVX2/AVX-512"))' "$info")
echo "CPU: $cpu"
go run ./scripts/bench/gemminfo | sed 's/^/gemm /'

impls='(avx512|avx2)'
[[ ${GEMM_GENERIC:-} == 1 ]] && impls='(avx512|avx2|generic)'
echo "== go test -run '^\$' -bench '^BenchmarkGEMM\$/.*/^$impls\$' -benchtime ${GO_BENCHTIME:-100ms} -count ${GO_COUNT:-3} ./internal/gemm/" >&2
go test -run '^$' -bench "^BenchmarkGEMM\$/.*/^$impls\$" -benchtime "${GO_BENCHTIME:-100ms}" -count "${GO_COUNT:-3}" ./internal/gemm/ >"$golog" 2>&1 || {
	cat "$golog" >&2
	exit 1
}
# "IMPL SHAPE GFLOPS" for every benchmark line (names are BenchmarkGEMM/SHAPE/IMPL-P)
golines=$(awk '$1 ~ /^BenchmarkGEMM\// { split($1, f, "/"); sub(/-[0-9]+$/, "", f[3]);
	for (i = 2; i <= NF; i++) if ($i == "GFLOP/s") print f[3], f[2], $(i-1) }' "$golog")
shapes=$(awk '{ print $2 }' <<<"$golines" | awk '!seen[$0]++')

echo "== torch_env.sh torch_mm.py (1 and 2 threads)" >&2
decided=$(LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} /usr/bin/python3 scripts/bench/blasinfo.py --choose 2>/dev/null || echo "keep - blasinfo.py --choose failed")
echo "torch: OpenBLAS core type: $decided"
# shellcheck disable=SC2086
if TORCH_CORETYPE_DECIDED="${decided%% *} $(awk '{ print $2 }' <<<"$decided")" \
	scripts/bench/torch_env.sh scripts/bench/torch_mm.py --reps "${TORCH_REPS:-5}" $shapes >"$tlog" 2>&1; then
	grep -v '^{' "$tlog" | grep -v '^[A-Z][A-Z]_' >&2 || true
	tjson=$(tail -n 1 "$tlog")
else
	cat "$tlog" >&2
	tjson='{"blas": [], "openblas": {}, "mm1024": {}, "shapes": {}}'
fi

printf '%s\n' "$golines" >"$golog"
/usr/bin/python3 - "$tjson" "$golog" "$info" <<'PY'
import datetime, json, math, sys
t = json.loads(sys.argv[1])
cpu = json.load(open(sys.argv[3]))
go = {}
for line in open(sys.argv[2]).read().split("\n"):
    if line.strip():
        impl, shape, g = line.split()
        go[(impl, shape)] = max(go.get((impl, shape), 0.0), float(g))
shapes = list(dict.fromkeys(s for _, s in go))
f = lambda v: "n/a" if v is None else "%.1f" % v
ob = t.get("openblas", {})
print("torch BLAS: %s; OpenBLAS core %s; torch.mm 1024² GFLOP/s: 1 thr %s, 2 thr %s" % (
    ", ".join(t["blas"]) or "n/a", ob.get("core", "n/a"), f(t["mm1024"].get("1")), f(t["mm1024"].get("2"))))
print()
print("CPU: %s (%s family %s model %s)" % (cpu["model_name"], cpu["vendor"], cpu["family"], cpu["model"]))
print()
print("| shape | Go avx512 | Go avx2 | avx512/avx2 | torch 1 thr | torch 2 thr | best/torch 1 thr | vs 2 thr |")
print("|---|---|---|---|---|---|---|---|")
ratios = []
for s in shapes:
    g = {i: go.get((i, s)) for i in ("avx512", "avx2")}
    best = max((v for v in g.values() if v), default=None)
    t1, t2 = (t["shapes"].get(s, {}).get(k) for k in ("1", "2"))
    r = lambda x: "n/a" if not (best and x) else "%.2f" % (best / x)
    q = "n/a"
    if g["avx512"] and g["avx2"]:
        ratios.append(g["avx512"] / g["avx2"])
        q = "%.2f" % ratios[-1]
    print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (s, f(g["avx512"]), f(g["avx2"]), q, f(t1), f(t2), r(t1), r(t2)))
if ratios:
    gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
    win = "avx512" if gm >= 1 else "avx2"
    print()
    print("avx512/avx2 over %d shapes: %.2f-%.2f, geometric mean %.2f: %s is faster on this CPU." % (
        len(ratios), min(ratios), max(ratios), gm, win))
    print("speedTable row (internal/gemm/select.go), if this run was on a quiet machine:")
    print('\t{CPU{"%s", %s, %s}, "%s",\n\t\t"%s, gemm.sh %s: avx512/avx2 %.2f-%.2f (geometric mean %.2f) over %d model shapes"},' % (
        cpu["vendor"], cpu["family"], cpu["model"], win, cpu["model_name"], datetime.date.today().isoformat(),
        min(ratios), max(ratios), gm, len(ratios)))
PY
