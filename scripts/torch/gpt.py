"""A GPT-2-style model in PyTorch with exactly the tensor layout of entangle's Go
model (pkg/model), plus a tiny safetensors reader/writer (json + struct + numpy).

The model is functional: a dict name -> tensor of parameters, named and shaped
as model.Tensors(cfg) in Go:

    wte (V,C); wpe (T,C)
    h.{l}.ln1.w (C), h.{l}.ln1.b (C), h.{l}.attn.qkv.w (3C,C), h.{l}.attn.qkv.b (3C),
    h.{l}.attn.proj.w (C,C), h.{l}.attn.proj.b (C), h.{l}.ln2.w (C), h.{l}.ln2.b (C),
    h.{l}.mlp.fc.w (4C,C), h.{l}.mlp.fc.b (4C), h.{l}.mlp.proj.w (C,4C), h.{l}.mlp.proj.b (C)
    lnf.w (C), lnf.b (C); lm_head.w (V,C) only when not tied

Architecture: pre-LN blocks, fused qkv Linear with rows [q; k; v] (head h uses
rows h*hs..(h+1)*hs of each third), causal softmax attention with scale
1/sqrt(hs), tanh-approximation GELU, LayerNorm eps 1e-5, final LayerNorm, LM head
without bias (wte when tied). No dropout.

Only the Python standard library, numpy and torch (Debian's python3-torch 1.13).
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F

CONFIG_KEYS = ("vocab_size", "context", "width", "layers", "heads", "tied")

_NP_DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8"}
_TORCH_TO_ST = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64"}


# ----------------------------------------------------------------------------
# safetensors

def read_safetensors(path):
    """Returns (tensors, metadata): an insertion-ordered dict name -> numpy array
    (in data-offset order) and the __metadata__ dict (empty if absent)."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: truncated safetensors file ({len(buf)} bytes)")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError(f"{path}: header length {n} beyond file")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(buf)[8 + n:]
    out = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dt = e["dtype"]
        if dt not in _NP_DTYPES:
            raise ValueError(f"{path}: tensor {name!r}: unsupported dtype {dt}")
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[b:end], dtype=_NP_DTYPES[dt])
        numel = int(np.prod(e["shape"], dtype=np.int64))
        if arr.size != numel:
            raise ValueError(f"{path}: tensor {name!r}: shape {e['shape']} does not match {end - b} bytes")
        out[name] = arr.reshape(e["shape"]).copy()
    return out, meta


def write_safetensors(path, tensors, meta=None):
    """Writes an ordered dict name -> torch tensor or numpy array, back to back
    in the given order, header padded with spaces to a multiple of 8 bytes."""
    entries, blobs, off = [], [], 0
    if meta:
        entries.append('"__metadata__":' + json.dumps({k: meta[k] for k in sorted(meta)}, separators=(",", ":")))
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu()
            dt = _TORCH_TO_ST[t.dtype]
            arr = t.contiguous().numpy()
        else:
            arr = np.ascontiguousarray(t)
            dt = {np.dtype("float32"): "F32", np.dtype("float64"): "F64",
                  np.dtype("int32"): "I32", np.dtype("int64"): "I64"}[arr.dtype]
        raw = arr.astype(_NP_DTYPES[dt], copy=False).tobytes()
        entries.append(json.dumps(name) + ":" + json.dumps(
            {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}, separators=(",", ":")))
        blobs.append(raw)
        off += len(raw)
    hdr = ("{" + ",".join(entries) + "}").encode("utf-8")
    hdr += b" " * (-len(hdr) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)))
        f.write(hdr)
        for raw in blobs:
            f.write(raw)


# ----------------------------------------------------------------------------
# the model

def tensor_table(cfg):
    """The Go model's tensor table: a list of (name, shape) in buffer order."""
    V, T, C, L = cfg["vocab_size"], cfg["context"], cfg["width"], cfg["layers"]
    tab = [("wte", (V, C)), ("wpe", (T, C))]
    for l in range(L):
        p = f"h.{l}."
        tab += [(p + "ln1.w", (C,)), (p + "ln1.b", (C,)),
                (p + "attn.qkv.w", (3 * C, C)), (p + "attn.qkv.b", (3 * C,)),
                (p + "attn.proj.w", (C, C)), (p + "attn.proj.b", (C,)),
                (p + "ln2.w", (C,)), (p + "ln2.b", (C,)),
                (p + "mlp.fc.w", (4 * C, C)), (p + "mlp.fc.b", (4 * C,)),
                (p + "mlp.proj.w", (C, 4 * C)), (p + "mlp.proj.b", (C,))]
    tab += [("lnf.w", (C,)), ("lnf.b", (C,))]
    if not cfg["tied"]:
        tab.append(("lm_head.w", (V, C)))
    return tab


def check_config(cfg):
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"config lacks {missing}")
    if cfg["width"] % cfg["heads"] != 0:
        raise ValueError(f"width {cfg['width']} not divisible by heads {cfg['heads']}")


def load_checkpoint(path, dtype=None):
    """Reads a Go checkpoint: returns (cfg, params) with params an ordered dict
    name -> torch tensor (requires_grad), in the checkpoint's dtype or dtype."""
    arrays, meta = read_safetensors(path)
    if "config" not in meta:
        raise ValueError(f"{path}: no __metadata__['config']")
    cfg = json.loads(meta["config"])
    check_config(cfg)
    params = {}
    for name, shape in tensor_table(cfg):
        if name not in arrays:
            raise ValueError(f"{path}: missing tensor {name!r}")
        a = arrays.pop(name)
        if tuple(a.shape) != shape:
            raise ValueError(f"{path}: tensor {name!r} has shape {a.shape}, want {shape}")
        t = torch.from_numpy(a)
        if dtype is not None:
            t = t.to(dtype)
        params[name] = t.requires_grad_(True)
    if arrays:
        raise ValueError(f"{path}: unexpected tensors {sorted(arrays)}")
    return cfg, params


def init_params(cfg, generator, dtype=torch.float32):
    """GPT-2 initialization in the Go layout (N(0, 0.02); residual projections
    N(0, 0.02/sqrt(2L)); biases 0; LayerNorm 1, 0). Not bit-identical to Go's."""
    params = {}
    std_res = 0.02 / math.sqrt(2 * cfg["layers"])
    for name, shape in tensor_table(cfg):
        if name.endswith(("ln1.w", "ln2.w")) or name == "lnf.w":
            t = torch.ones(shape, dtype=dtype)
        elif name.endswith(".b"):
            t = torch.zeros(shape, dtype=dtype)
        else:
            std = std_res if name.endswith(("attn.proj.w", "mlp.proj.w")) else 0.02
            t = torch.empty(shape, dtype=dtype).normal_(0.0, std, generator=generator)
        params[name] = t.requires_grad_(True)
    return params


def hidden(cfg, params, tokens):
    """Final-LayerNorm output (B, n, C) for tokens (B, n) int64."""
    B, n = tokens.shape
    C, H = cfg["width"], cfg["heads"]
    hs = C // H
    x = params["wte"][tokens] + params["wpe"][:n]                       # (B, n, C)
    causal = torch.ones(n, n, dtype=torch.bool).triu(1)                  # True above the diagonal
    for l in range(cfg["layers"]):
        p = f"h.{l}."
        a = F.layer_norm(x, (C,), params[p + "ln1.w"], params[p + "ln1.b"], eps=1e-5)
        qkv = F.linear(a, params[p + "attn.qkv.w"], params[p + "attn.qkv.b"])   # (B, n, 3C), [q; k; v]
        q, k, v = qkv.split(C, dim=-1)
        q = q.view(B, n, H, hs).transpose(1, 2)                           # (B, H, n, hs)
        k = k.view(B, n, H, hs).transpose(1, 2)
        v = v.view(B, n, H, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))          # (B, H, n, n)
        att = att.masked_fill(causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, n, C)
        x = x + F.linear(y, params[p + "attn.proj.w"], params[p + "attn.proj.b"])
        a = F.layer_norm(x, (C,), params[p + "ln2.w"], params[p + "ln2.b"], eps=1e-5)
        u = F.gelu(F.linear(a, params[p + "mlp.fc.w"], params[p + "mlp.fc.b"]), approximate="tanh")
        x = x + F.linear(u, params[p + "mlp.proj.w"], params[p + "mlp.proj.b"])
    return F.layer_norm(x, (C,), params["lnf.w"], params["lnf.b"], eps=1e-5)


def head_weight(cfg, params):
    return params["wte"] if cfg["tied"] else params["lm_head.w"]


def token_logprobs(cfg, params, tokens, resp_start):
    """Per-response-token log-probs of one sequence (a list of ints):
    lp[j] = log_softmax(logits[resp_start-1+j])[tokens[resp_start+j]]."""
    toks = torch.tensor(tokens, dtype=torch.int64).unsqueeze(0)          # (1, n)
    h = hidden(cfg, params, toks)[0, resp_start - 1:-1]                  # (n - resp_start, C)
    logp = F.linear(h, head_weight(cfg, params)).log_softmax(dim=-1)    # (n - resp_start, V)
    return logp.gather(1, toks[0, resp_start:].unsqueeze(1)).squeeze(1)


def batch_logprobs(cfg, params, tokens, resp_start):
    """Summed response log-prob of each row of tokens (B, n) int64, all rows with
    the same resp_start; the head runs at every position, as in the baseline."""
    h = hidden(cfg, params, tokens)                                      # (B, n, C)
    logp = F.linear(h, head_weight(cfg, params)).log_softmax(dim=-1)    # (B, n, V)
    lp = logp[:, resp_start - 1:-1].gather(2, tokens[:, resp_start:].unsqueeze(2)).squeeze(2)
    return lp.sum(dim=1)                                                 # (B,)


def check_sequence(cfg, tokens, resp_start, where):
    n = len(tokens)
    if n > cfg["context"]:
        raise ValueError(f"{where}: {n} tokens > context {cfg['context']}")
    if not 1 <= resp_start < n:
        raise ValueError(f"{where}: resp_start {resp_start} not in [1, {n})")
    for i, t in enumerate(tokens):
        if not (isinstance(t, int) and 0 <= t < cfg["vocab_size"]):
            raise ValueError(f"{where}: token {i} = {t!r} not in [0, {cfg['vocab_size']})")
