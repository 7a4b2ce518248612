#!/usr/bin/python3
"""torch.mm on the GEMM shapes of internal/gemm's BenchmarkGEMM, 1 and 2 threads.

Usage (through the wrapper, which selects OpenBLAS-openmp and pins threads):
    scripts/bench/torch_env.sh scripts/bench/torch_mm.py [--reps N] [--min-time S]
        [--allow-reference-blas] SHAPE...

SHAPE is OP_M_N_K as in the Go benchmark names: NT is c[m,n] = a[m,k]·b[n,k]ᵀ,
NN is a[m,k]·b[k,n], TN is a[k,m]ᵀ·b[k,n], each through torch.mm on views of
tensors stored in that layout (no copies), writing into a preallocated output.
For each shape and thread count it times --reps batches of calls, each batch
lasting at least --min-time seconds, and reports the best batch in GFLOP/s
(2mnk per call; the best is the least disturbed by other load on the machine).

Prints the BLAS libraries this process mapped, OpenBLAS's kernel set and
torch.mm 1024² GFLOP/s, and refuses (exit 3) when reference BLAS is loaded
unless --allow-reference-blas. The last stdout line is one JSON object:
{"blas": [...], "openblas": {...}, "mm1024": {"1": g, "2": g},
"shapes": {SHAPE: {"1": g, "2": g}}}. Without SHAPEs it measures only 1024².
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blasinfo import blas_libraries, openblas_info  # noqa: E402


def operands(op, m, n, k):
    g = torch.Generator().manual_seed(1)
    if op == "NT":
        a, b = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g).t()
    elif op == "NN":
        a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    elif op == "TN":
        a, b = torch.randn(k, m, generator=g).t(), torch.randn(k, n, generator=g)
    else:
        raise SystemExit(f"torch_mm: unknown op {op!r}")
    return a, b, torch.empty(m, n)


def gflops(op, m, n, k, reps, min_time):
    a, b, c = operands(op, m, n, k)
    for _ in range(3):
        torch.mm(a, b, out=c)
    # calls per batch so that a batch lasts about min_time
    calls, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=c)
        t = time.perf_counter() - t0
        if t >= min_time:
            break
        calls *= 2
    best = t / calls
    for _ in range(reps - 1):
        t0 = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=c)
        best = min(best, (time.perf_counter() - t0) / calls)
    return 2.0 * m * n * k / best / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--allow-reference-blas", action="store_true")
    ap.add_argument("shapes", nargs="*")
    args = ap.parse_args()

    libs = blas_libraries()
    print("torch", torch.__version__, "BLAS mapped:", ", ".join(libs) or "none")
    if not any("openblas" in p for p in libs) and not args.allow_reference_blas:
        print("torch_mm: OpenBLAS is not loaded (reference BLAS?): not a baseline; run through torch_env.sh", file=sys.stderr)
        sys.exit(3)
    ob = openblas_info()
    print("OpenBLAS:", ob.get("config", "n/a"), "| core", ob.get("core", "n/a"))
    out = {"blas": libs, "openblas": ob, "mm1024": {}, "shapes": {}}
    for thr in (1, 2):
        torch.set_num_threads(thr)
        out["mm1024"][str(thr)] = gflops("NN", 1024, 1024, 1024, args.reps, args.min_time)
        print(f"torch.mm 1024² {thr} thread(s): {out['mm1024'][str(thr)]:.1f} GFLOP/s")
        for s in args.shapes:
            op, m, n, k = s.split("_")
            g = gflops(op, int(m), int(n), int(k), args.reps, args.min_time)
            out["shapes"].setdefault(s, {})[str(thr)] = g
            print(f"{s} {thr} thread(s): {g:.1f} GFLOP/s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
