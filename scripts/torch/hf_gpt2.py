#!/usr/bin/python3
"""GPT-2 in Hugging Face's own names and layout, for checking entangle's model
directory loader (pkg/hfmodel) against PyTorch autograd.

The computation follows transformers' modeling_gpt2.py (GPT2LMHeadModel, eval
mode), restated here from its semantics:

    x = wte[tokens] + wpe[0..n-1]
    per block l:  a = LayerNorm(x; ln_1, eps 1e-5)
                  qkv = a·c_attn.weight + c_attn.bias        Conv1D: weight is [in, out], addmm
                  q | k | v = qkv split in three C-column blocks; head h = columns h·hs..(h+1)·hs
                  att = softmax(q·kᵀ / √hs, causal: masked scores = the dtype's lowest value)
                  x = x + (att·v, heads merged)·c_proj.weight + c_proj.bias
                  x = x + gelu_new(LayerNorm(x; ln_2)·c_fc.weight + c_fc.bias)·mlp.c_proj.weight + mlp.c_proj.bias
    logits = LayerNorm(x; ln_f)·wteᵀ   (the head is tied to wte unless tie_word_embeddings is false)
    gelu_new(u) = 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³)))

Usage:
    hf_gpt2.py write DIR --vocab V --positions T --width C --layers L --heads H
               [--seed S] [--store F32|F16|BF16] [--prefix transformer.] [--untied] [--scale 0.3]
        writes DIR/config.json and DIR/model.safetensors: random weights
        (GPT-2 init N(0, 0.02), LayerNorm 1/0, plus N(0, scale²) on every entry so
        attention is far from uniform), the causal-mask buffers h.l.attn.bias
        (BOOL) and h.l.attn.masked_bias, and no lm_head.weight when tied.
    hf_gpt2.py run DIR [--seqs SEQS.json --out OUT.safetensors [--dtype float64] [--out64 OUT64.safetensors]]
                       [--greedy 464,3290:18]
        for sequence i of SEQS.json ([{"tokens": [...], "resp_start": k}]):
        logp.{i} (n-k) and grad.{i}.{name} for every parameter, under its
        stored name without prefix, in the stored layout; --greedy prints the
        prompt and N greedily decoded ids (argmax of the last position's
        logits in float64), comma-separated. write takes the same flags and
        runs them on the directory it wrote (one interpreter start).

Only the standard library, numpy and torch (Debian's python3-torch 1.13).
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------
# safetensors with the half-precision dtypes (no safetensors package here)

_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "BOOL": 1, "U8": 1}


def to_bytes(t, dtype):
    """Little-endian bytes of tensor t stored as dtype."""
    t = t.detach().cpu().contiguous()
    if dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    if dtype == "BOOL":
        return t.to(torch.bool).numpy().astype(np.uint8).tobytes()
    np_dt = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}[dtype]
    return t.numpy().astype(np_dt).tobytes()


def from_bytes(raw, dtype, shape):
    """A float64 or bool torch tensor from stored bytes (float conversions are exact)."""
    if dtype == "BF16":
        u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        a = u.view(np.float32).astype(np.float64)
    elif dtype == "BOOL":
        return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).astype(bool).reshape(shape))
    else:
        np_dt = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}[dtype]
        a = np.frombuffer(raw, dtype=np_dt).astype(np.float64)
    return torch.from_numpy(a.reshape(shape).copy())


def write_st(path, tensors, meta=None):
    """tensors: list of (name, torch tensor, dtype), written back to back."""
    entries, blobs, off = [], [], 0
    if meta:
        entries.append('"__metadata__":' + json.dumps(meta, separators=(",", ":")))
    for name, t, dt in tensors:
        raw = to_bytes(t, dt)
        entries.append(json.dumps(name) + ":" + json.dumps(
            {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}, separators=(",", ":")))
        blobs.append(raw)
        off += len(raw)
    hdr = ("{" + ",".join(entries) + "}").encode("utf-8")
    hdr += b" " * (-len(hdr) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)))
        f.write(hdr)
        for raw in blobs:
            f.write(raw)


def read_st(path):
    """name -> (dtype, shape, float64/bool torch tensor), in data order."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data = memoryview(buf)[8 + n:]
    out = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, end = e["data_offsets"]
        out[name] = (e["dtype"], e["shape"], from_bytes(data[b:end], e["dtype"], e["shape"]))
    return out


# ----------------------------------------------------------------------------
# the GPT-2 layout

def table(cfg):
    """(stored name, shape) of every parameter, as transformers' GPT-2 names them."""
    V, T, C, L = cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"]
    tab = [("wte.weight", (V, C)), ("wpe.weight", (T, C))]
    for l in range(L):
        p = f"h.{l}."
        tab += [(p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)),
                (p + "attn.c_attn.weight", (C, 3 * C)), (p + "attn.c_attn.bias", (3 * C,)),
                (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
                (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)),
                (p + "mlp.c_fc.weight", (C, 4 * C)), (p + "mlp.c_fc.bias", (4 * C,)),
                (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,))]
    tab += [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]
    if not cfg.get("tie_word_embeddings", True):
        tab.append(("lm_head.weight", (V, C)))
    return tab


def write_dir(a):
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": a.vocab,
           "n_positions": a.positions, "n_ctx": a.positions, "n_embd": a.width, "n_layer": a.layers,
           "n_head": a.heads, "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
           "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "bos_token_id": 50256, "eos_token_id": 50256,
           "tie_word_embeddings": not a.untied,
           "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[a.store]}
    g = torch.Generator().manual_seed(a.seed)
    tensors = []
    std_res = 0.02 / math.sqrt(2 * a.layers)
    for name, shape in table(cfg):
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            t = torch.ones(shape)
        elif name.endswith(".bias"):
            t = torch.zeros(shape)
        else:
            std = std_res if name.endswith("c_proj.weight") else 0.02
            t = torch.empty(shape).normal_(0.0, std, generator=g)
        if a.scale > 0:
            t = t + a.scale * torch.empty(shape).normal_(0.0, 1.0, generator=g)
        tensors.append((a.prefix + name, t, a.store))
        if name.endswith("attn.c_proj.bias"):  # after the block's attention: the buffers
            l = name.split(".")[1]
            T = a.positions
            tensors.append((f"{a.prefix}h.{l}.attn.bias", torch.ones(T, T).tril().view(1, 1, T, T), "BOOL"))
            tensors.append((f"{a.prefix}h.{l}.attn.masked_bias", torch.tensor(-1e4), "F32"))
    os.makedirs(a.dir, exist_ok=True)
    write_st(os.path.join(a.dir, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def load_dir(path, dtype):
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    stored = read_st(os.path.join(path, "model.safetensors"))
    byname = {}
    for name, (dt, shape, t) in stored.items():
        name = name[len("transformer."):] if name.startswith("transformer.") else name
        byname[name] = t
    params = {}
    for name, shape in table(cfg):
        t = byname[name]
        if tuple(t.shape) != shape:
            raise ValueError(f"{name}: shape {tuple(t.shape)}, want {shape}")
        params[name] = t.to(dtype).requires_grad_(True)
    return cfg, params


def conv1d(x, w, b):
    """transformers' Conv1D: x (..., in) · w (in, out) + b, as addmm."""
    out = torch.addmm(b, x.reshape(-1, x.size(-1)), w)
    return out.view(*x.shape[:-1], w.size(1))


def gelu_new(u):
    return 0.5 * u * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (u + 0.044715 * torch.pow(u, 3.0))))


def logits(cfg, P, tokens):
    """Logits (n, V) of one sequence (list of ints)."""
    C, H = cfg["n_embd"], cfg["n_head"]
    hs = C // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    ids = torch.tensor(tokens, dtype=torch.int64).unsqueeze(0)             # (1, n)
    n = ids.size(1)
    x = P["wte.weight"][ids] + P["wpe.weight"][torch.arange(n)].unsqueeze(0)
    keep = torch.ones(n, n, dtype=torch.bool).tril().view(1, 1, n, n)      # the attn.bias buffer's window
    for l in range(cfg["n_layer"]):
        p = f"h.{l}."
        a = F.layer_norm(x, (C,), P[p + "ln_1.weight"], P[p + "ln_1.bias"], eps=eps)
        q, k, v = conv1d(a, P[p + "attn.c_attn.weight"], P[p + "attn.c_attn.bias"]).split(C, dim=2)
        heads = lambda t: t.view(1, n, H, hs).permute(0, 2, 1, 3)          # noqa: E731 (1, H, n, hs)
        q, k, v = heads(q), heads(k), heads(v)
        s = torch.matmul(q, k.transpose(-1, -2)) / torch.full([], v.size(-1) ** 0.5, dtype=q.dtype)
        s = torch.where(keep, s, torch.full([], torch.finfo(s.dtype).min, dtype=s.dtype))
        y = torch.matmul(torch.softmax(s, dim=-1), v).permute(0, 2, 1, 3).reshape(1, n, C)
        x = x + conv1d(y, P[p + "attn.c_proj.weight"], P[p + "attn.c_proj.bias"])
        a = F.layer_norm(x, (C,), P[p + "ln_2.weight"], P[p + "ln_2.bias"], eps=eps)
        u = gelu_new(conv1d(a, P[p + "mlp.c_fc.weight"], P[p + "mlp.c_fc.bias"]))
        x = x + conv1d(u, P[p + "mlp.c_proj.weight"], P[p + "mlp.c_proj.bias"])
    h = F.layer_norm(x, (C,), P["ln_f.weight"], P["ln_f.bias"], eps=eps)
    head = P["wte.weight"] if cfg.get("tie_word_embeddings", True) else P["lm_head.weight"]
    return F.linear(h, head)[0]


def run_seqs(path, seqs_path, out_path, dtype):
    cfg, P = load_dir(path, dtype)
    with open(seqs_path) as f:
        seqs = json.load(f)
    names = list(P)
    st = "F64" if dtype == torch.float64 else "F32"
    out = []
    for i, s in enumerate(seqs):
        toks, k = s["tokens"], s["resp_start"]
        lp = logits(cfg, P, toks)[k - 1:-1].log_softmax(dim=-1)
        lp = lp.gather(1, torch.tensor(toks[k:]).unsqueeze(1)).squeeze(1)
        grads = torch.autograd.grad(lp.sum(), [P[n] for n in names])
        out.append((f"logp.{i}", lp.detach(), st))
        for n, g in zip(names, grads):
            out.append((f"grad.{i}.{n}", g, st))
    write_st(out_path, out, {"torch": torch.__version__})


def greedy(path, spec):
    """spec "3,1:12": prompt ids, then the number of new tokens; returns the ids."""
    prompt, new = spec.split(":")
    cfg, P = load_dir(path, torch.float64)
    toks = [int(x) for x in prompt.split(",")]
    with torch.no_grad():
        for _ in range(int(new)):
            toks.append(int(torch.argmax(logits(cfg, P, toks)[-1])))
    return toks


def run(a):
    """The run step of both commands: sequences in float32 (and float64), greedy ids."""
    torch.set_num_threads(1)
    if a.seqs:
        run_seqs(a.dir, a.seqs, a.out, {"float32": torch.float32, "float64": torch.float64}[a.dtype])
        if a.out64:
            run_seqs(a.dir, a.seqs, a.out64, torch.float64)
    if a.greedy:
        print(",".join(str(t) for t in greedy(a.dir, a.greedy)))


def main(argv):
    ap = argparse.ArgumentParser(prog="hf_gpt2.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("dir")
    for k in ("vocab", "positions", "width", "layers", "heads"):
        w.add_argument("--" + k, type=int, required=True)
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--store", choices=("F32", "F16", "BF16"), default="F32")
    w.add_argument("--prefix", default="")
    w.add_argument("--untied", action="store_true")
    w.add_argument("--scale", type=float, default=0.3)
    r = sub.add_parser("run")
    r.add_argument("dir")
    for p in (w, r):  # write then runs them too, saving an interpreter start
        p.add_argument("--seqs", help="SEQS.json")
        p.add_argument("--out", help="OUT.safetensors for --seqs")
        p.add_argument("--out64", help="also OUT64.safetensors computed in float64")
        p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="dtype of --out")
        p.add_argument("--greedy", metavar="IDS:N", help="print the prompt IDS (comma-separated) and N greedy ids")
    a = ap.parse_args(argv)
    if a.seqs and not a.out:
        ap.error("--seqs needs --out")
    if a.cmd == "write":
        write_dir(a)
    run(a)


if __name__ == "__main__":
    main(sys.argv[1:])
