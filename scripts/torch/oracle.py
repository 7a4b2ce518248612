#!/usr/bin/python3
"""PyTorch oracle for entangle's Go model: log-probs and gradients by autograd.

Usage:
    /usr/bin/python3 scripts/torch/oracle.py [--dtype float32|float64] CKPT.safetensors SEQS.json OUT.safetensors
    /usr/bin/python3 scripts/torch/oracle.py [--dtype ...] --pref PAIRS.json [--loss dpo] [--beta 0.1] CKPT.safetensors OUT.safetensors

CKPT is a Go checkpoint (tensor names and shapes of model.Tensors, config JSON
in __metadata__["config"] with keys vocab_size, context, width, layers, heads,
tied). The model is rebuilt in PyTorch (scripts/torch/gpt.py).

Sequence mode: SEQS.json is a list of {"tokens": [...], "resp_start": k}. For
sequence i, OUT gets
    logp.{i}          (n-k)   lp[j] = log_softmax(logits[k-1+j])[tokens[k+j]]
    grad.{i}.{name}   shape of the tensor: ∇ Σ_j lp[j]
Preference mode: PAIRS.json is a list of {"prompt": [...], "chosen": [...],
"rejected": [...], "ref_chosen": z, "ref_rejected": z} (or an object
{"loss": ..., "beta": ..., "pairs": [...]}; flags override). OUT gets
    grad.{name}       ∇ of the mean loss over pairs
    loss (scalar), logp_chosen (P), logp_rejected (P)   summed response log-probs
Computations run in the checkpoint's dtype unless --dtype says otherwise; the
outputs have that dtype. Exit status: 0 ok, 1 bad input, 2 usage.
"""

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt  # noqa: E402


# ----------------------------------------------------------------------------
# preference losses: name -> f(lw, ll, rw, rl, nw, nl, opts) -> per-pair loss.
# lw/ll are policy summed log-probs of chosen/rejected, rw/rl the reference
# ones, nw/nl the response lengths (float tensors). Names follow pkg/loss.

def _dpo(lw, ll, rw, rl, nw, nl, o):
    # DPO (Rafailov et al. 2023), with optional label smoothing ε (cDPO):
    # ℓ = −(1−ε) logσ(u) − ε logσ(−u),  u = β[(lw − rw) − (ll − rl)]
    u = o["beta"] * ((lw - rw) - (ll - rl))
    eps = o.get("label_smoothing", 0.0)
    return -(1 - eps) * F.logsigmoid(u) - eps * F.logsigmoid(-u)


def _ipo(lw, ll, rw, rl, nw, nl, o):
    # IPO (Azar et al. 2023), length-normalized as in pkg/loss:
    # ℓ = (δ − 1/(2β))²,  δ = (lw − rw)/|y_w| − (ll − rl)/|y_l|
    d = (lw - rw) / nw - (ll - rl) / nl
    return (d - 1 / (2 * o["beta"])) ** 2


def _hinge(lw, ll, rw, rl, nw, nl, o):
    # SLiC-style hinge on the DPO margin: ℓ = max(0, 1 − u), u = βΔ
    u = o["beta"] * ((lw - rw) - (ll - rl))
    return torch.relu(1 - u)


LOSSES = {"dpo": _dpo, "sigmoid": _dpo, "ipo": _ipo, "hinge": _hinge}


def fail(msg):
    print(f"oracle: {msg}", file=sys.stderr)
    sys.exit(1)


def run_sequences(cfg, params, seqs_path, out_path, meta):
    with open(seqs_path) as f:
        seqs = json.load(f)
    if isinstance(seqs, dict):
        seqs = seqs.get("seqs", seqs.get("sequences"))
    if not isinstance(seqs, list) or not seqs:
        fail(f"{seqs_path}: want a non-empty list of {{tokens, resp_start}}")
    names = list(params)
    out = {}
    for i, s in enumerate(seqs):
        where = f"{seqs_path}: sequence {i}"
        try:
            toks, k = s["tokens"], s["resp_start"]
            gpt.check_sequence(cfg, toks, k, where)
        except (KeyError, TypeError) as e:
            fail(f"{where}: {e!r}")
        except ValueError as e:
            fail(str(e))
        lp = gpt.token_logprobs(cfg, params, toks, k)
        grads = torch.autograd.grad(lp.sum(), [params[n] for n in names])
        out[f"logp.{i}"] = lp.detach()
        for n, g in zip(names, grads):
            out[f"grad.{i}.{n}"] = g
    gpt.write_safetensors(out_path, out, meta)


def run_pairs(cfg, params, pairs_path, out_path, meta, loss_flag, beta_flag):
    with open(pairs_path) as f:
        doc = json.load(f)
    opts = {"loss": "dpo", "beta": 0.1}
    if isinstance(doc, dict):
        for k in ("loss", "beta", "label_smoothing"):
            if k in doc:
                opts[k] = doc[k]
        pairs = doc.get("pairs")
    else:
        pairs = doc
    if loss_flag is not None:
        opts["loss"] = loss_flag
    if beta_flag is not None:
        opts["beta"] = beta_flag
    if opts["loss"] not in LOSSES:
        fail(f"unknown loss {opts['loss']!r} (have {', '.join(sorted(LOSSES))})")
    if not isinstance(pairs, list) or not pairs:
        fail(f"{pairs_path}: want a non-empty list of pairs")
    dt = params["wte"].dtype
    lw, ll, rw, rl, nw, nl = [], [], [], [], [], []
    for i, p in enumerate(pairs):
        where = f"{pairs_path}: pair {i}"
        try:
            prompt, ch, rj = list(p["prompt"]), list(p["chosen"]), list(p["rejected"])
            k = len(prompt)
            gpt.check_sequence(cfg, prompt + ch, k, where + " (chosen)")
            gpt.check_sequence(cfg, prompt + rj, k, where + " (rejected)")
            rw.append(float(p["ref_chosen"]))
            rl.append(float(p["ref_rejected"]))
        except (KeyError, TypeError) as e:
            fail(f"{where}: {e!r}")
        except ValueError as e:
            fail(str(e))
        lw.append(gpt.token_logprobs(cfg, params, prompt + ch, k).sum())
        ll.append(gpt.token_logprobs(cfg, params, prompt + rj, k).sum())
        nw.append(float(len(ch)))
        nl.append(float(len(rj)))
    lw, ll = torch.stack(lw), torch.stack(ll)
    t = lambda xs: torch.tensor(xs, dtype=dt)  # noqa: E731
    loss = LOSSES[opts["loss"]](lw, ll, t(rw), t(rl), t(nw), t(nl), opts).mean()
    names = list(params)
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    out = {"loss": loss.detach(), "logp_chosen": lw.detach(), "logp_rejected": ll.detach()}
    for n, g in zip(names, grads):
        out[f"grad.{n}"] = g
    meta = dict(meta, loss=opts["loss"], beta=repr(float(opts["beta"])))
    gpt.write_safetensors(out_path, out, meta)


def main(argv):
    ap = argparse.ArgumentParser(prog="oracle.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", choices=("float32", "float64"), help="compute dtype (default: the checkpoint's)")
    ap.add_argument("--pref", metavar="PAIRS.json", help="preference mode: gradient of the mean loss over pairs")
    ap.add_argument("--loss", help=f"preference loss ({', '.join(sorted(LOSSES))}; default dpo)")
    ap.add_argument("--beta", type=float, help="β of the preference loss (default 0.1)")
    ap.add_argument("files", nargs="+", help="CKPT [SEQS.json] OUT")
    a = ap.parse_args(argv)
    want = 2 if a.pref else 3
    if len(a.files) != want:
        ap.error(f"want {'CKPT OUT' if a.pref else 'CKPT SEQS.json OUT'}, got {len(a.files)} file arguments")
    torch.set_num_threads(1)  # deterministic reductions, and the machine has 2 cores shared with Go
    dtype = {"float32": torch.float32, "float64": torch.float64, None: None}[a.dtype]
    try:
        cfg, params = gpt.load_checkpoint(a.files[0], dtype)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        fail(f"{a.files[0]}: {e}")
    meta = {"config": json.dumps(cfg, separators=(",", ":")), "torch": torch.__version__,
            "dtype": str(params["wte"].dtype).replace("torch.", "")}
    try:
        if a.pref:
            run_pairs(cfg, params, a.pref, a.files[1], meta, a.loss, a.beta)
        else:
            run_sequences(cfg, params, a.files[1], a.files[2], meta)
    except (OSError, json.JSONDecodeError) as e:
        fail(str(e))


if __name__ == "__main__":
    main(sys.argv[1:])
