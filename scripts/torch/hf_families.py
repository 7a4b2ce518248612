#!/usr/bin/python3
"""GPT-NeoX and Llama-style models in Hugging Face's own names and layout, for
checking entangle's model directory loader (pkg/hfmodel) and its NeoX and
Llama blocks (pkg/model) against PyTorch autograd.

The computation is restated here from the semantics of transformers'
modeling_gpt_neox.py (GPTNeoXForCausalLM) and modeling_llama.py
(LlamaForCausalLM; Qwen2 and Mistral compute the same blocks), eval mode:

  rotary (both):  inv_freq_i = 1/θ^(2i/D), i < D/2; angle(t, i) = t·inv_freq_i;
                  cos = cat(cos(angle), cos(angle)), sin likewise (D columns);
                  rope(x) = x·cos + rotate_half(x)·sin, rotate_half(x) = cat(-x[D/2:], x[:D/2])
                  Llama-3 scaling rescales inv_freq by wavelength (factor, low/high_freq_factor,
                  original_max_position_embeddings)
  GPT-NeoX:       x = embed_in[tokens]
                  per layer: a = LayerNorm(x; input_layernorm, eps)
                             qkv = a·query_key_valueᵀ + b, viewed (n, H, 3·hs): q, k, v = its three hs-column chunks
                             q[..., :D], k[..., :D] rotated (D = int(hs·rotary_pct)); the rest passes
                             y = dense(softmax(q·kᵀ/√hs, causal)·v)
                             parallel:   x = mlp(LayerNorm(x; post_attention_layernorm)) + y + x
                             sequential: x = x + y; x = mlp(LayerNorm(x; post_attention_layernorm)) + x
                             mlp(u) = dense_4h_to_h(gelu(dense_h_to_4h(u)))   exact erf GELU
                  logits = LayerNorm(x; final_layer_norm)·embed_outᵀ
  Llama:          x = embed_tokens[tokens]
                  per layer: a = RMSNorm(x; input_layernorm)
                             q = q_proj(a) (n, H, hs); k = k_proj(a), v = v_proj(a) (n, KV, hs); q, k rotated (D = hs)
                             head h attends with key/value head h // (H/KV) (repeat_kv)
                             x = x + o_proj(softmax(q·kᵀ·hs^-0.5, causal, in float32)·v)
                             x = x + down_proj(silu(gate_proj(b))·up_proj(b)), b = RMSNorm(x; post_attention_layernorm)
                  logits = RMSNorm(x; norm)·lm_headᵀ (lm_head is embed_tokens when tied)
                  RMSNorm(x; w) = w·(x·rsqrt(mean(x²) + eps)), the bracket in float32 (the
                  float64 run keeps float64 everywhere, to test the formulas to 1e-9)

Usage:
    hf_families.py write DIR --family neox|llama|qwen2|mistral --vocab V --positions T --width C
               --layers L --heads H [--kv-heads KV] [--inter F] [--rotary-pct P] [--theta θ]
               [--eps E] [--sequential] [--tied|--untied] [--attention-bias] [--mlp-bias]
               [--llama3 factor,low,high,orig] [--buffers] [--seed S] [--store F32|F16|BF16] [--scale 0.3]
        writes DIR/config.json and DIR/model.safetensors with random weights
        (N(0, 0.02), norms 1, biases 0, plus N(0, scale²) on every entry).
    hf_families.py run DIR --seqs SEQS.json --out OUT.safetensors [--out64 OUT64.safetensors]
        as hf_gpt2.py run: logp.{i} and grad.{i}.{stored name} per sequence.
    write takes run's flags too (one interpreter start).
"""

import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_gpt2 import read_st, write_st  # noqa: E402

ARCH = {"neox": ("gpt_neox", "GPTNeoXForCausalLM"), "llama": ("llama", "LlamaForCausalLM"),
        "qwen2": ("qwen2", "Qwen2ForCausalLM"), "mistral": ("mistral", "MistralForCausalLM")}


def is_neox(cfg):
    return cfg["model_type"] == "gpt_neox"


def biases(cfg):
    """(q/k/v, o, mlp) biases of a Llama-style config."""
    if cfg["model_type"] == "qwen2":
        return True, False, False
    if cfg["model_type"] == "mistral":
        return False, False, False
    ab = cfg.get("attention_bias", False)
    return ab, ab, cfg.get("mlp_bias", False)


def table(cfg):
    """(stored name, shape) of every parameter."""
    V, C, L, H = cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    Fw = cfg["intermediate_size"]
    if is_neox(cfg):
        tab = [("gpt_neox.embed_in.weight", (V, C))]
        for l in range(L):
            p = f"gpt_neox.layers.{l}."
            tab += [(p + "input_layernorm.weight", (C,)), (p + "input_layernorm.bias", (C,)),
                    (p + "post_attention_layernorm.weight", (C,)), (p + "post_attention_layernorm.bias", (C,)),
                    (p + "attention.query_key_value.weight", (3 * C, C)), (p + "attention.query_key_value.bias", (3 * C,)),
                    (p + "attention.dense.weight", (C, C)), (p + "attention.dense.bias", (C,)),
                    (p + "mlp.dense_h_to_4h.weight", (Fw, C)), (p + "mlp.dense_h_to_4h.bias", (Fw,)),
                    (p + "mlp.dense_4h_to_h.weight", (C, Fw)), (p + "mlp.dense_4h_to_h.bias", (C,))]
        tab += [("gpt_neox.final_layer_norm.weight", (C,)), ("gpt_neox.final_layer_norm.bias", (C,))]
        if not cfg.get("tie_word_embeddings", False):
            tab.append(("embed_out.weight", (V, C)))
        return tab
    KV = cfg.get("num_key_value_heads", H)
    KC = KV * (C // H)
    qkvb, ob, mb = biases(cfg)
    tab = [("model.embed_tokens.weight", (V, C))]
    for l in range(L):
        p = f"model.layers.{l}."
        tab += [(p + "input_layernorm.weight", (C,)), (p + "post_attention_layernorm.weight", (C,)),
                (p + "self_attn.q_proj.weight", (C, C)), (p + "self_attn.k_proj.weight", (KC, C)),
                (p + "self_attn.v_proj.weight", (KC, C)), (p + "self_attn.o_proj.weight", (C, C)),
                (p + "mlp.gate_proj.weight", (Fw, C)), (p + "mlp.up_proj.weight", (Fw, C)),
                (p + "mlp.down_proj.weight", (C, Fw))]
        if qkvb:
            tab += [(p + "self_attn.q_proj.bias", (C,)), (p + "self_attn.k_proj.bias", (KC,)),
                    (p + "self_attn.v_proj.bias", (KC,))]
        if ob:
            tab.append((p + "self_attn.o_proj.bias", (C,)))
        if mb:
            tab += [(p + "mlp.gate_proj.bias", (Fw,)), (p + "mlp.up_proj.bias", (Fw,)), (p + "mlp.down_proj.bias", (C,))]
    tab.append(("model.norm.weight", (C,)))
    if not cfg.get("tie_word_embeddings", False):
        tab.append(("lm_head.weight", (V, C)))
    return tab


def write_dir(a):
    mt, arch = ARCH[a.family]
    cfg = {"architectures": [arch], "model_type": mt, "vocab_size": a.vocab, "max_position_embeddings": a.positions,
           "hidden_size": a.width, "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
           "intermediate_size": a.inter or 4 * a.width, "tie_word_embeddings": a.tied,
           "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[a.store],
           "bos_token_id": 0, "eos_token_id": 0, "initializer_range": 0.02, "use_cache": True}
    if a.family == "neox":
        cfg.update({"hidden_act": "gelu", "rotary_pct": a.rotary_pct, "rotary_emb_base": a.theta,
                    "layer_norm_eps": a.eps, "use_parallel_residual": not a.sequential,
                    "attention_dropout": 0.1, "hidden_dropout": 0.1, "classifier_dropout": 0.1})
    else:
        cfg.update({"hidden_act": "silu", "num_key_value_heads": a.kv_heads or a.heads, "rms_norm_eps": a.eps,
                    "rope_theta": a.theta, "rope_scaling": None, "attention_dropout": 0.0})
        if a.family == "llama":
            cfg.update({"attention_bias": a.attention_bias, "mlp_bias": a.mlp_bias, "pretraining_tp": 1,
                        "head_dim": a.width // a.heads})
        if a.family == "qwen2":
            cfg.update({"use_sliding_window": False, "sliding_window": 4096, "max_window_layers": a.layers})
        if a.family == "mistral":
            cfg["sliding_window"] = None
        if a.llama3:
            f, lo, hi, orig = a.llama3.split(",")
            cfg["rope_scaling"] = {"rope_type": "llama3", "factor": float(f), "low_freq_factor": float(lo),
                                   "high_freq_factor": float(hi), "original_max_position_embeddings": int(orig)}
    g = torch.Generator().manual_seed(a.seed)
    tensors = []
    for name, shape in table(cfg):
        if "layernorm.weight" in name or name.endswith(("norm.weight", "final_layer_norm.weight")):
            t = torch.ones(shape)
        elif name.endswith(".bias"):
            t = torch.zeros(shape)
        else:
            t = torch.empty(shape).normal_(0.0, 0.02, generator=g)
        if a.scale > 0:
            t = t + a.scale * torch.empty(shape).normal_(0.0, 1.0, generator=g)
        tensors.append((name, t, a.store))
        if a.buffers and name.endswith(("attention.dense.bias", "self_attn.o_proj.weight")):
            # the buffers older checkpoints carry after a block's attention
            hs = a.width // a.heads
            D = int(hs * a.rotary_pct) if a.family == "neox" else hs
            inv = 1.0 / (a.theta ** (torch.arange(0, D, 2).float() / D))
            p = name.rsplit(".", 2)[0] + "."
            if a.family == "neox":
                T = a.positions
                tensors.append((p + "bias", torch.ones(T, T).tril().view(1, 1, T, T), "BOOL"))
                tensors.append((p + "masked_bias", torch.tensor(-1e9), "F32"))
            tensors.append((p + "rotary_emb.inv_freq", inv, "F32"))
    os.makedirs(a.dir, exist_ok=True)
    write_st(os.path.join(a.dir, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def load_dir(path, dtype):
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    stored = read_st(os.path.join(path, "model.safetensors"))
    params = {}
    for name, shape in table(cfg):
        t = stored[name][2]
        if tuple(t.shape) != shape:
            raise ValueError(f"{name}: shape {tuple(t.shape)}, want {shape}")
        params[name] = t.to(dtype).requires_grad_(True)
    return cfg, params


def inv_freq(cfg, D, dtype):
    """The rotary frequencies, computed in dtype (float32 as transformers does, or float64)."""
    base = cfg.get("rope_theta", cfg.get("rotary_emb_base", 10000.0))
    f = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64).to(dtype) / D))
    rs = cfg.get("rope_scaling")
    if rs:  # Llama-3: by wavelength, slow the long ones, keep the short ones, blend between
        s, lo, hi, N = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        lam = 2 * math.pi / f
        scaled = torch.where(lam > N / lo, f / s, f)
        a = (N / lam - lo) / (hi - lo)
        blend = (1 - a) * scaled / s + a * scaled
        mid = ~(lam < N / hi) & ~(lam > N / lo)
        f = torch.where(mid, blend, scaled)
    return f


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


def rms_norm(x, w, eps):
    dt = x.dtype
    h = x.to(torch.float32) if dt != torch.float64 else x
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(dt)


def causal_softmax(s, n):
    keep = torch.ones(n, n, dtype=torch.bool).tril()
    s = s.masked_fill(~keep, torch.finfo(s.dtype).min)
    if s.dtype == torch.float64:
        return torch.softmax(s, dim=-1)
    return torch.softmax(s, dim=-1, dtype=torch.float32).to(s.dtype)


def logits(cfg, P, tokens):
    """The logits (n, V) of one sequence (a list of token ids)."""
    return forward(cfg, P, torch.tensor(tokens, dtype=torch.int64)[None])[0]


def forward(cfg, P, ids):
    """The logits (B, n, V) of a batch of equal-length sequences, ids (B, n) int64."""
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hs = C // H
    B, n = ids.shape
    dt = next(iter(P.values())).dtype
    D = int(hs * cfg["rotary_pct"]) if is_neox(cfg) else hs
    ang = torch.arange(n, dtype=torch.int64).to(dt)[:, None] * inv_freq(cfg, D, dt)[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos(), emb.sin()                                     # (n, D)
    if is_neox(cfg):
        eps = cfg["layer_norm_eps"]
        x = P["gpt_neox.embed_in.weight"][ids]
        for l in range(cfg["num_hidden_layers"]):
            p = f"gpt_neox.layers.{l}."
            a = F.layer_norm(x, (C,), P[p + "input_layernorm.weight"], P[p + "input_layernorm.bias"], eps=eps)
            qkv = F.linear(a, P[p + "attention.query_key_value.weight"], P[p + "attention.query_key_value.bias"])
            qkv = qkv.view(B, n, H, 3 * hs).transpose(1, 2)              # (B, H, n, 3hs)
            q, k, v = qkv.chunk(3, dim=-1)
            q = torch.cat((rope(q[..., :D], cos, sin), q[..., D:]), dim=-1)
            k = torch.cat((rope(k[..., :D], cos, sin), k[..., D:]), dim=-1)
            att = causal_softmax(torch.matmul(q, k.transpose(-1, -2)) * hs ** -0.5, n)
            y = torch.matmul(att, v).transpose(1, 2).reshape(B, n, C)
            y = F.linear(y, P[p + "attention.dense.weight"], P[p + "attention.dense.bias"])

            def mlp(u):
                h = F.gelu(F.linear(u, P[p + "mlp.dense_h_to_4h.weight"], P[p + "mlp.dense_h_to_4h.bias"]))
                return F.linear(h, P[p + "mlp.dense_4h_to_h.weight"], P[p + "mlp.dense_4h_to_h.bias"])
            ln2 = lambda u: F.layer_norm(u, (C,), P[p + "post_attention_layernorm.weight"],  # noqa: E731
                                         P[p + "post_attention_layernorm.bias"], eps=eps)
            if cfg.get("use_parallel_residual", True):
                x = mlp(ln2(x)) + y + x
            else:
                y = y + x
                x = mlp(ln2(y)) + y
        h = F.layer_norm(x, (C,), P["gpt_neox.final_layer_norm.weight"], P["gpt_neox.final_layer_norm.bias"], eps=eps)
        head = P["gpt_neox.embed_in.weight"] if cfg.get("tie_word_embeddings", False) else P["embed_out.weight"]
        return F.linear(h, head)
    eps = cfg["rms_norm_eps"]
    KV = cfg.get("num_key_value_heads", H)
    qkvb, ob, mb = biases(cfg)
    b = lambda name: P.get(name) if name in P else None  # noqa: E731
    x = P["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = rms_norm(x, P[p + "input_layernorm.weight"], eps)
        q = F.linear(a, P[p + "self_attn.q_proj.weight"], b(p + "self_attn.q_proj.bias")).view(B, n, H, hs).transpose(1, 2)
        k = F.linear(a, P[p + "self_attn.k_proj.weight"], b(p + "self_attn.k_proj.bias")).view(B, n, KV, hs).transpose(1, 2)
        v = F.linear(a, P[p + "self_attn.v_proj.weight"], b(p + "self_attn.v_proj.bias")).view(B, n, KV, hs).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        g = H // KV                                                      # repeat_kv: kv head j serves heads j·g..j·g+g-1
        k = k[:, :, None].expand(B, KV, g, n, hs).reshape(B, H, n, hs)
        v = v[:, :, None].expand(B, KV, g, n, hs).reshape(B, H, n, hs)
        att = causal_softmax(torch.matmul(q, k.transpose(-1, -2)) * hs ** -0.5, n)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, n, C)
        x = x + F.linear(y, P[p + "self_attn.o_proj.weight"], b(p + "self_attn.o_proj.bias"))
        u = rms_norm(x, P[p + "post_attention_layernorm.weight"], eps)
        gate = F.linear(u, P[p + "mlp.gate_proj.weight"], b(p + "mlp.gate_proj.bias"))
        up = F.linear(u, P[p + "mlp.up_proj.weight"], b(p + "mlp.up_proj.bias"))
        x = x + F.linear(F.silu(gate) * up, P[p + "mlp.down_proj.weight"], b(p + "mlp.down_proj.bias"))
    h = rms_norm(x, P["model.norm.weight"], eps)
    head = P["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else P["lm_head.weight"]
    return F.linear(h, head)


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


def main(argv):
    ap = argparse.ArgumentParser(prog="hf_families.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("dir")
    w.add_argument("--family", choices=tuple(ARCH), required=True)
    for k in ("vocab", "positions", "width", "layers", "heads"):
        w.add_argument("--" + k, type=int, required=True)
    w.add_argument("--kv-heads", type=int, default=0)
    w.add_argument("--inter", type=int, default=0)
    w.add_argument("--rotary-pct", type=float, default=0.25)
    w.add_argument("--theta", type=float, default=10000.0)
    w.add_argument("--eps", type=float, default=1e-5)
    w.add_argument("--sequential", action="store_true")
    w.add_argument("--tied", action="store_true")
    w.add_argument("--attention-bias", action="store_true")
    w.add_argument("--mlp-bias", action="store_true")
    w.add_argument("--llama3", default="")
    w.add_argument("--buffers", action="store_true")
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--store", choices=("F32", "F16", "BF16"), default="F32")
    w.add_argument("--scale", type=float, default=0.3)
    r = sub.add_parser("run")
    r.add_argument("dir")
    for p in (w, r):
        p.add_argument("--seqs")
        p.add_argument("--out")
        p.add_argument("--out64")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.cmd == "write":
        write_dir(a)
    if a.seqs:
        run_seqs(a.dir, a.seqs, a.out, torch.float32)
        if a.out64:
            run_seqs(a.dir, a.seqs, a.out64, torch.float64)


if __name__ == "__main__":
    main(sys.argv[1:])
