#!/usr/bin/python3
"""PyTorch side of the model-family comparison (scripts/bench/families.sh).

Usage (through scripts/bench/torch_env.sh, which selects OpenBLAS-openmp and pins threads):
    scripts/bench/torch_env.sh scripts/bench/families.py --model pythia-160m|smollm2-135m
        --mode dpo|lora --resp R [--pairs 8] [--prompt 32] [--reps 3] [--warmup 1] [--json]

The model is scripts/torch/hf_families.py's (the oracle of pkg/model's NeoX and
Llama blocks, batched), in Hugging Face's names and layout, with random weights
(N(0, 0.02), norms 1, biases 0) at the shape of

    pythia-160m    gpt_neox: V 50304, C 768, L 12, H 12, rotary_pct 0.25, parallel residual, untied
    smollm2-135m   llama: V 49152, C 576, L 30, H 9, KV 3, F 1536, θ 100000, tied

Workload as gpt2_124m.py: B = --pairs pairs of a --prompt-token prompt and two
responses of R tokens that differ in their first token only, uniform random
tokens; reference log-probs precomputed by the same model (a frozen copy's
log-probs are what DPO needs; their values do not change the cost).

    dpo    plain DPO (β 0.1): fwd+bwd of the 2B sequences, AdamW on every parameter; no per-pair statistics
    lora   the same step training LoRA adapters only (r 64, α 128 on the attention's q, k, v projections:
           query_key_value for pythia, q_proj/k_proj/v_proj for smollm2; peft's unmerged x·Aᵀ·Bᵀ·α/r),
           the base weights frozen (requires_grad False: autograd forms no base weight gradient)

Prints the BLAS mapped and torch.mm GFLOP/s, then the median step time in ms
[min-max] and this process's peak resident memory (VmHWM); --json ends stdout
with one JSON object.
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
import hf_families  # noqa: E402
import torch_step  # noqa: E402  (reference-BLAS check, VmHWM, timing)
from blasinfo import blas_libraries  # noqa: E402

MODELS = {
    "pythia-160m": {"model_type": "gpt_neox", "vocab_size": 50304, "hidden_size": 768, "num_hidden_layers": 12,
                    "num_attention_heads": 12, "intermediate_size": 3072, "rotary_pct": 0.25,
                    "rotary_emb_base": 10000.0, "layer_norm_eps": 1e-5, "use_parallel_residual": True,
                    "tie_word_embeddings": False},
    "smollm2-135m": {"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "num_hidden_layers": 30,
                     "num_attention_heads": 9, "num_key_value_heads": 3, "intermediate_size": 1536,
                     "rope_theta": 100000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": True},
}
LORA_TARGETS = {"pythia-160m": ("attention.query_key_value",),
                "smollm2-135m": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")}
LORA_R, LORA_ALPHA = 64, 128
BETA = 0.1


def init_params(cfg, gen):
    P = {}
    for name, shape in hf_families.table(cfg):
        if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
            P[name] = torch.ones(shape)
        elif name.endswith(".bias"):
            P[name] = torch.zeros(shape)
        else:
            P[name] = torch.empty(shape).normal_(0.0, 0.02, generator=gen)
    return P


def add_lora(name, cfg, P, gen):
    """Adapters on the targets of every layer (peft's init: A kaiming-uniform, B zero), installed
    into hf_lora's table; returns the adapter tensors."""
    import hf_lora  # peft's adapted linear, installed into hf_families (lora mode only)
    ad = []
    hf_lora.ADAPTED.clear()
    for key, W in P.items():
        if not (key.endswith(".weight") and any(key[:-len(".weight")].endswith(t) for t in LORA_TARGETS[name])):
            continue
        out, inp = W.shape
        bound = 1 / inp ** 0.5
        A = (torch.rand(LORA_R, inp, generator=gen) * 2 - 1).mul_(bound).requires_grad_(True)
        B = torch.zeros(out, LORA_R).requires_grad_(True)
        hf_lora.ADAPTED[id(W)] = (A, B, LORA_ALPHA / LORA_R)
        ad += [A, B]
    return ad


def batch_logprobs(cfg, P, ids, k):
    """Σ over response tokens of log π, per sequence: ids (B, n), responses from position k."""
    lg = hf_families.forward(cfg, P, ids)[:, k - 1:-1]
    lp = lg.log_softmax(dim=-1).gather(2, ids[:, k:].unsqueeze(2)).squeeze(2)
    return lp.sum(dim=1)


def main(argv):
    ap = argparse.ArgumentParser(prog="families.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=tuple(MODELS), required=True)
    ap.add_argument("--mode", choices=("dpo", "lora"), required=True)
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
        print("families: refusing to report: reference BLAS is loaded; run through scripts/bench/torch_env.sh",
              file=sys.stderr)
        return 3

    cfg = MODELS[a.model]
    gen = torch.Generator().manual_seed(a.seed)
    P = init_params(cfg, gen)
    B, k, R, V = a.pairs, a.prompt, a.resp, cfg["vocab_size"]
    T = k + R
    chosen = torch.randint(0, V, (B, T), generator=gen)
    rejected = chosen.clone()
    rejected[:, k] = (chosen[:, k] + 1) % V
    both = torch.cat([chosen, rejected])
    with torch.no_grad():
        ref_lp = batch_logprobs(cfg, P, both, k)
    if a.mode == "lora":
        trained = add_lora(a.model, cfg, P, gen)
    else:
        for t in P.values():
            t.requires_grad_(True)
        trained = list(P.values())
    opt = torch.optim.AdamW(trained, lr=1e-5, weight_decay=0.0)

    def step():
        opt.zero_grad(set_to_none=False)
        lp = batch_logprobs(cfg, P, both, k)
        u = BETA * ((lp[:B] - ref_lp[:B]) - (lp[B:] - ref_lp[B:]))
        (-F.logsigmoid(u).mean()).backward()
        opt.step()

    ts = torch_step.timed(step, a.warmup, a.reps)
    med = statistics.median(ts)
    hwm = torch_step.vm_hwm_mb()
    seqs = 2 * B
    print(f"{a.model} {a.mode} B={B} prompt={k} resp={R}: {med:.0f} ms [{min(ts):.0f}-{max(ts):.0f}], "
          f"{seqs / med * 1e3:.2f} sequences/s, VmHWM {hwm:.0f} MB")
    if a.json:
        print(json.dumps(dict(model=a.model, mode=a.mode, pairs=B, prompt=k, resp=R, ms=med, ms_min=min(ts),
                              ms_max=max(ts), seqs_per_s=seqs / med * 1e3, vmhwm_mb=hwm, mm_gflops=gf, blas=libs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
