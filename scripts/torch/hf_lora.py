#!/usr/bin/python3
"""LoRA adapters in the peft library's layout, run on a base model directory,
for checking entangle's adapters (pkg/model LoRA, pkg/hfmodel WriteLoRA and
LoadLoRA) against PyTorch autograd.

The adapted layer is restated from the semantics of peft's LoRA layer
(peft/tuners/lora/layer.py, Linear.forward, eval mode, dropout 0):

    result = base_layer(x) + lora_B(lora_A(x)) · scaling,   scaling = lora_alpha / r

with lora_A.weight (r, in) and lora_B.weight (out, r) plain nn.Linear weights
without bias, for nn.Linear base layers and for transformers' Conv1D (GPT-2;
fan_in_fan_out only changes how peft merges, not this forward). Adapters are
stored as base_model.model.<module path>.lora_{A,B}.weight; the module path
of GPT2LMHeadModel starts with "transformer.". The base computation is
hf_gpt2.py's (gpt2) or hf_families.py's (gpt_neox, llama, qwen2, mistral),
unchanged: the adapters are added around its Conv1D / F.linear calls on the
adapted weights, which are recognized by tensor identity.

Usage:
    hf_lora.py BASE_DIR ADAPTER_DIR --seqs SEQS.json --out OUT.safetensors [--out64 OUT64.safetensors]
        per sequence i: logp.{i} (response log-probs), grad.{i}.{adapter name} for every
        lora_A / lora_B, and grad.{i}.{base stored name} for every base parameter
        (the gradient of Σ logp with respect to all of them, adapters enabled).
"""

import argparse
import json
import os
import sys
import types

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_families  # noqa: E402
import hf_gpt2  # noqa: E402
from hf_gpt2 import read_st, write_st  # noqa: E402

ADAPTED = {}  # id(base weight tensor) -> (A, B, scaling)


def lora_delta(x, w):
    ad = ADAPTED.get(id(w))
    if ad is None:
        return None
    A, B, s = ad
    return F.linear(F.linear(x, A), B) * s


def linear(x, w, b=None):
    out = F.linear(x, w, b)
    d = lora_delta(x, w)
    return out if d is None else out + d


_conv1d = hf_gpt2.conv1d


def conv1d(x, w, b):
    out = _conv1d(x, w, b)
    d = lora_delta(x, w)
    return out if d is None else out + d


# The base computations call these through their module globals.
shim = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("_")})
shim.linear = linear
hf_families.F = shim
hf_gpt2.conv1d = conv1d


def run(base, adapter, seqs_path, out_path, dtype):
    with open(os.path.join(base, "config.json")) as f:
        mt = json.load(f)["model_type"]
    mod = hf_gpt2 if mt == "gpt2" else hf_families
    cfg, P = mod.load_dir(base, dtype)
    with open(os.path.join(adapter, "adapter_config.json")) as f:
        ac = json.load(f)
    assert ac["peft_type"] == "LORA" and ac.get("bias", "none") == "none"
    s = ac["lora_alpha"] / ac["r"]
    stored = read_st(os.path.join(adapter, "adapter_model.safetensors"))
    ADAPTED.clear()
    ad = {}
    for name in sorted(stored):
        if not name.endswith(".lora_A.weight"):
            continue
        path = name[len("base_model.model."):-len(".lora_A.weight")]
        key = path[len("transformer."):] if mt == "gpt2" else path
        A = stored[name][2].to(dtype).requires_grad_(True)
        bname = name.replace(".lora_A.", ".lora_B.")
        B = stored[bname][2].to(dtype).requires_grad_(True)
        W = P[key + ".weight"]
        assert A.shape[0] == ac["r"] and B.shape[1] == ac["r"]
        ADAPTED[id(W)] = (A, B, s)
        ad[name], ad[bname] = A, B
    with open(seqs_path) as f:
        seqs = json.load(f)
    names = list(ad) + list(P)
    tensors = [ad[n] if n in ad else P[n] for n in names]
    st = "F64" if dtype == torch.float64 else "F32"
    out = []
    for i, q in enumerate(seqs):
        toks, k = q["tokens"], q["resp_start"]
        lp = mod.logits(cfg, P, toks)[k - 1:-1].log_softmax(dim=-1)
        lp = lp.gather(1, torch.tensor(toks[k:]).unsqueeze(1)).squeeze(1)
        grads = torch.autograd.grad(lp.sum(), tensors)
        out.append((f"logp.{i}", lp.detach(), st))
        for n, g in zip(names, grads):
            out.append((f"grad.{i}.{n}", g, st))
    write_st(out_path, out, {"torch": torch.__version__})


def main(argv):
    ap = argparse.ArgumentParser(prog="hf_lora.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("base")
    ap.add_argument("adapter")
    ap.add_argument("--seqs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--out64")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    run(a.base, a.adapter, a.seqs, a.out, torch.float32)
    if a.out64:
        run(a.base, a.adapter, a.seqs, a.out64, torch.float64)


if __name__ == "__main__":
    main(sys.argv[1:])
