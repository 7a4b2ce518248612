#!/usr/bin/python3
"""PyTorch side of the GPT-2 124M comparison (scripts/bench/gpt2_124m.sh).

Usage (through scripts/bench/torch_env.sh, which selects OpenBLAS-openmp and pins threads):
    scripts/bench/torch_env.sh scripts/bench/gpt2_124m.py --mode dpo|sft --resp R
        [--pairs 8] [--prompt 32] [--reps 3] [--warmup 1] [--json]

GPT-2 small's architecture (V 50257, C 768, 12 layers, 12 heads, context 1024,
tied head; scripts/torch/gpt.py, the Go model's layout) with random weights.
Workload: B = --pairs pairs of a --prompt-token prompt and two responses of R
tokens that differ in their first token only (prefgen's sentiment shape), uniform
random tokens; reference log-probs precomputed by a second frozen random model.

    dpo   plain DPO (β 0.1): fwd+bwd of the 2B sequences, AdamW step; no per-pair statistics
    sft   B sequences (prompt + chosen), mean response cross-entropy, fwd+bwd, AdamW step

Prints the BLAS mapped and torch.mm GFLOP/s (torch_step.py's checks), then the
median step time in ms [min-max] and this process's peak resident memory
(VmHWM); --json ends stdout with one JSON object.
"""

import argparse
import json
import os
import statistics
import sys

import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "torch"))
sys.path.insert(0, here)
import gpt  # noqa: E402
import torch_step  # noqa: E402  (reference-BLAS check, VmHWM, timing)
from blasinfo import blas_libraries  # noqa: E402

GPT2 = dict(vocab_size=50257, context=1024, width=768, layers=12, heads=12, tied=True)
BETA = 0.1


def main(argv):
    ap = argparse.ArgumentParser(prog="gpt2_124m.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("dpo", "sft"), required=True)
    ap.add_argument("--resp", type=int, required=True, help="R, response tokens")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--allow-reference-blas", action="store_true")
    a = ap.parse_args(argv)

    torch.set_num_threads(2)
    libs = blas_libraries()
    gf = torch_step.mm_gflops()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("BLAS mapped: " + (", ".join(libs) if libs else "(none found)"))
    print(f"torch.mm 1024² float32: {gf:.1f} GFLOP/s")
    if torch_step.is_reference_blas(libs) and not a.allow_reference_blas:
        print("gpt2_124m: refusing to report: reference BLAS is loaded; run through scripts/bench/torch_env.sh",
              file=sys.stderr)
        return 3

    cfg = GPT2
    gen = torch.Generator().manual_seed(a.seed)
    params = gpt.init_params(cfg, gen)
    B, k, R, V = a.pairs, a.prompt, a.resp, cfg["vocab_size"]
    T = k + R
    chosen = torch.randint(0, V, (B, T), generator=gen)
    rejected = chosen.clone()
    rejected[:, k] = (chosen[:, k] + 1) % V
    both = torch.cat([chosen, rejected])
    ref = gpt.init_params(cfg, gen)
    with torch.no_grad():
        ref_lp = gpt.batch_logprobs(cfg, ref, both, k)
    del ref
    plist = list(params.values())
    opt = torch.optim.AdamW(plist, lr=1e-5, weight_decay=0.0)

    if a.mode == "dpo":
        def step():
            opt.zero_grad(set_to_none=False)
            lp = gpt.batch_logprobs(cfg, params, both, k)
            u = BETA * ((lp[:B] - ref_lp[:B]) - (lp[B:] - ref_lp[B:]))
            (-F.logsigmoid(u).mean()).backward()
            opt.step()
        seqs = 2 * B
    else:
        def step():
            opt.zero_grad(set_to_none=False)
            (-gpt.batch_logprobs(cfg, params, chosen, k).sum() / (B * R)).backward()
            opt.step()
        seqs = B

    ts = torch_step.timed(step, a.warmup, a.reps)
    med = statistics.median(ts)
    hwm = torch_step.vm_hwm_mb()
    print(f"{a.mode} B={B} prompt={k} resp={R}: {med:.0f} ms [{min(ts):.0f}-{max(ts):.0f}], "
          f"{seqs / med * 1e3:.2f} sequences/s, VmHWM {hwm:.0f} MB")
    if a.json:
        print(json.dumps(dict(mode=a.mode, pairs=B, prompt=k, resp=R, ms=med, ms_min=min(ts), ms_max=max(ts),
                              seqs_per_s=seqs / med * 1e3, vmhwm_mb=hwm, mm_gflops=gf, blas=libs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
