#!/usr/bin/python3
"""PyTorch side of entangle's speed comparison (scripts/bench/run.sh).

Usage (run through the wrapper, which selects OpenBLAS-openmp and pins threads):
    scripts/bench/torch_env.sh scripts/bench/torch_step.py --size S|M --mode sft|dpo|dpo-stats|loop
        [--pairs 16] [--reps N] [--warmup N] [--untied] [--json] [--allow-reference-blas]

The model is scripts/torch/gpt.py: the Go model's tensor layout (fused qkv,
tanh GELU, pre-LN, tied LM head unless --untied; the baseline figures are
untied). Workload ("Workload as benchmarked"): B = --pairs pairs, prompt 16
tokens, chosen and rejected responses of T-16 tokens sharing all but the last 4,
uniform random tokens, reference log-probs precomputed by a second frozen random
model. The LM head runs at all T positions, as in the baseline.

Modes (each timed as one step, median [min-max] of --reps after --warmup runs):
    sft        B sequences (the chosen ones), mean response cross-entropy, fwd+bwd + AdamW
               (the same work as Go's BenchmarkSFTStep for B = 16)
    dpo        DPO (β 0.1) fwd+bwd on the 2B sequences + AdamW            (baseline a2)
    dpo-stats  per-sample grads of the 2B log-probs by functorch vmap(grad), the per-pair
               and batch-level dot/norm/cos statistics from them, and the DPO gradient
               assembled from the same per-sample grads, + AdamW (baseline c1 + step)
    loop       paper-style reference: per pair, bs-1 backward of chosen and of rejected,
               flattened grads, dot and norms, running batch sums           (baseline b)

It prints the BLAS libraries this process mapped (/proc/self/maps) and the
torch.mm 1024² GFLOP/s, and refuses to report (exit 3) when reference BLAS is
loaded unless --allow-reference-blas. With --json the last stdout line is one
JSON object with every figure.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))
import gpt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blasinfo import blas_libraries, openblas_info  # noqa: E402
import torch_mm  # noqa: E402

SIZES = {  # the Go presets (pkg/model.Preset)
    "S": dict(vocab_size=256, context=64, width=128, layers=2, heads=4, tied=True),
    "M": dict(vocab_size=512, context=128, width=256, layers=4, heads=8, tied=True),
}
PROMPT = 16  # prompt tokens
DIFF = 4     # chosen and rejected differ in their last DIFF tokens
BETA = 0.1   # DPO β


def is_reference_blas(libs):
    """Debian's netlib BLAS lives in .../blas/ and .../lapack/; OpenBLAS in .../openblas-*/."""
    ref = [p for p in libs if "/blas/" in p or ("libblas" in p and "openblas" not in p)]
    return bool(ref) or not any("openblas" in p or "mkl" in p for p in libs)


def vm_hwm_mb():
    """This process's peak resident set size in MB (VmHWM of /proc/self/status)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def mm_gflops():
    """torch.mm 1024² GFLOP/s in this process, measured as torch_mm.py measures
    the run's best rate (preallocated output, best of 5 batches of at least
    50 ms), so that run.sh's comparison of the two is like for like. (Timing
    single `a @ b` calls counted each call's fresh 4 MB output, whose first
    touch is slow on some VMs: 134-193 GFLOP/s in processes where torch_mm.py
    measured 305.)"""
    return torch_mm.gflops("NN", 1024, 1024, 1024, 5, 0.05)


def make_data(cfg, B, gen):
    """Chosen and rejected token batches (B, T) and the prompt length."""
    T, V = cfg["context"], cfg["vocab_size"]
    chosen = torch.randint(0, V, (B, T), generator=gen)
    rejected = chosen.clone()
    rejected[:, T - DIFF:] = torch.randint(0, V, (B, DIFF), generator=gen)
    return chosen, rejected


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return ts


def main(argv):
    ap = argparse.ArgumentParser(prog="torch_step.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), required=True)
    ap.add_argument("--mode", choices=("sft", "dpo", "dpo-stats", "loop"), required=True)
    ap.add_argument("--pairs", type=int, default=16, help="B, pairs per batch (sft: sequences)")
    ap.add_argument("--reps", type=int, help="timed repetitions (default 9 for S, 7 for M)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--untied", action="store_true", help="separate LM head, as in the baseline figures")
    ap.add_argument("--json", action="store_true", help="end stdout with one JSON line of results")
    ap.add_argument("--allow-reference-blas", action="store_true")
    a = ap.parse_args(argv)
    reps = a.reps or (9 if a.size == "S" else 7)

    torch.set_num_threads(2)
    libs = blas_libraries()
    gf = mm_gflops()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '')}")
    print("BLAS mapped: " + (", ".join(libs) if libs else "(none found)"))
    ob = openblas_info()
    print("OpenBLAS: %s | core %s" % (ob.get("config", "n/a"), ob.get("core", "n/a")))
    print(f"torch.mm 1024² float32: {gf:.1f} GFLOP/s")
    if any("openblas-pthread" in p for p in libs):
        print("WARNING: OpenBLAS-pthread is loaded; with torch's OpenMP it oversubscribes the cores "
              "(use scripts/bench/torch_env.sh)", file=sys.stderr)
    if is_reference_blas(libs) and not a.allow_reference_blas:
        print("torch_step: refusing to report: reference (netlib) BLAS is loaded, figures would be 10-30x slow; "
              "run through scripts/bench/torch_env.sh (OpenBLAS-openmp) or pass --allow-reference-blas",
              file=sys.stderr)
        return 3

    cfg = dict(SIZES[a.size], tied=not a.untied)
    gen = torch.Generator().manual_seed(a.seed)
    params = gpt.init_params(cfg, gen)
    ref = gpt.init_params(cfg, gen)
    names = list(params)
    plist = [params[n] for n in names]
    B, T, k = a.pairs, cfg["context"], PROMPT
    chosen, rejected = make_data(cfg, B, gen)
    both = torch.cat([chosen, rejected])                                 # (2B, T)
    with torch.no_grad():
        ref_lp = gpt.batch_logprobs(cfg, ref, both, k)                   # (2B,)
    opt = torch.optim.AdamW(plist, lr=1e-4, weight_decay=0.0)
    nparams = sum(p.numel() for p in plist)
    out = {}

    def dpo_loss(lp):
        u = BETA * ((lp[:B] - ref_lp[:B]) - (lp[B:] - ref_lp[B:]))
        return -F.logsigmoid(u).mean()

    if a.mode == "sft":
        R = T - k

        def step():
            opt.zero_grad(set_to_none=False)
            loss = -gpt.batch_logprobs(cfg, params, chosen, k).sum() / (B * R)
            loss.backward()
            opt.step()

    elif a.mode == "dpo":
        def step():
            opt.zero_grad(set_to_none=False)
            dpo_loss(gpt.batch_logprobs(cfg, params, both, k)).backward()
            opt.step()

    elif a.mode == "dpo-stats":
        from functorch import grad, vmap

        def one(p, toks):  # log π of one sequence (T,)
            return gpt.batch_logprobs(cfg, p, toks.unsqueeze(0), k)[0]

        per_sample = vmap(grad(one), in_dims=(None, 0))

        def step():
            detached = {n: params[n].detach() for n in names}
            g = per_sample(detached, both)                               # name -> (2B, *shape)
            with torch.no_grad():
                lp = gpt.batch_logprobs(cfg, detached, both, k)
                u = BETA * ((lp[:B] - ref_lp[:B]) - (lp[B:] - ref_lp[B:]))
                s = BETA * torch.sigmoid(-u) / B                         # dℓ/dz_l = s, dℓ/dz_w = −s
                coef = torch.cat([-s, s])                                # (2B,)
                dot = torch.zeros(B, dtype=torch.float64)
                nw = torch.zeros(B, dtype=torch.float64)
                nl = torch.zeros(B, dtype=torch.float64)
                bdot = bnw = bnl = 0.0
                for n in names:
                    gn = g[n].flatten(1)                                 # (2B, size)
                    gw, gl = gn[:B], gn[B:]
                    dot += (gw * gl).sum(1).double()
                    nw += (gw * gw).sum(1).double()
                    nl += (gl * gl).sum(1).double()
                    sw, sl = gw.sum(0), gl.sum(0)
                    bdot += float(sw @ sl)
                    bnw += float(sw @ sw)
                    bnl += float(sl @ sl)
                    params[n].grad = (coef @ gn).view_as(params[n])
                cos = dot / (nw.sqrt() * nl.sqrt())
            opt.step()
            out["pair_cos_mean"] = float(cos.mean())
            out["batch_cos"] = bdot / math.sqrt(bnw * bnl)

    else:  # loop
        def flat_grad(toks):
            for p in plist:
                p.grad = None
            gpt.batch_logprobs(cfg, params, toks.unsqueeze(0), k)[0].backward()
            return torch.cat([p.grad.flatten() for p in plist])

        def step():
            sw = torch.zeros(nparams)
            sl = torch.zeros(nparams)
            cos = []
            for i in range(B):
                gw = flat_grad(chosen[i])
                gl = flat_grad(rejected[i])
                cos.append(float(torch.dot(gw, gl) / (gw.norm() * gl.norm())))
                sw += gw
                sl += gl
            out["pair_cos_mean"] = sum(cos) / B
            out["batch_cos"] = float(torch.dot(sw, sl) / (sw.norm() * sl.norm()))

    ts = timed(step, a.warmup, reps)
    med = statistics.median(ts)
    hwm = vm_hwm_mb()
    seqs = B if a.mode == "sft" else 2 * B
    print(f"size {a.size} ({'tied' if cfg['tied'] else 'untied'}, {nparams} params) mode {a.mode} B={B}: "
          f"{med:.2f} ms [{min(ts):.2f}-{max(ts):.2f}] over {reps} reps, "
          f"{seqs * T / med * 1e3:.0f} tok/s, VmHWM {hwm:.0f} MB")
    if a.json:
        res = dict(size=a.size, mode=a.mode, pairs=B, tied=cfg["tied"], params=nparams, reps=reps,
                   ms_median=med, ms_min=min(ts), ms_max=max(ts), ms_all=ts,
                   mm1024_gflops=gf, blas=libs, openblas=ob, vmhwm_mb=hwm, threads=torch.get_num_threads(), torch=torch.__version__,
                   omp_proc_bind=os.environ.get("OMP_PROC_BIND", ""), **out)
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
