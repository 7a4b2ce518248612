"""What the PyTorch side of a benchmark runs on: the CPU, the BLAS library torch
mapped, OpenBLAS's kernel set, and a check of torch.mm against float64.

Imported by torch_step.py and torch_mm.py. As a script (run by torch_env.sh,
with the OpenBLAS-openmp library path already set):

    blasinfo.py --check    torch.mm against the float64 product in this process's
                           environment; one JSON line: {"ok": bool, "max_rel_err": e,
                           "blas": [...], "openblas": {"config", "core", "threads"},
                           "cpu": {...}, "env": {...}}; exit 1 when wrong
    blasinfo.py --choose   decides OpenBLAS's core-type variables for a benchmark
                           (see choose()); prints one line of shell words for
                           torch_env.sh: "unset|keep|set CORETYPE" and a reason
"""

import ctypes
import json
import os
import sys


def blas_libraries():
    """The BLAS/LAPACK files mapped into this process, resolved paths."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and any(k in parts[5] for k in ("blas", "lapack", "mkl")):
                libs.add(os.path.realpath(parts[5]))
    return sorted(libs)


def openblas_info():
    """OpenBLAS's build configuration, the kernel set it chose at load time (its
    "core", e.g. Haswell, SkylakeX, Zen, Cooperlake) and its thread count, read by
    ctypes from the OpenBLAS library this process mapped; {} when none is mapped."""
    for path in blas_libraries():
        if "openblas" not in path:
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return {"library": path, "config": lib.openblas_get_config().decode().strip(),
                    "core": lib.openblas_get_corename().decode().strip(),
                    "threads": int(lib.openblas_get_num_threads())}
        except (OSError, AttributeError) as e:
            return {"library": path, "error": str(e)}
    return {}


def cpu_info():
    """Model name, vendor, family, model and the SIMD flags that matter here
    (from /proc/cpuinfo's first processor)."""
    info, flags = {}, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k in ("model name", "vendor_id", "cpu family", "model"):
                    info[k] = v
                elif k == "flags":
                    flags = set(v.split())
    except OSError:
        pass
    want = ["avx512f", "avx512bw", "avx512vl", "avx2", "fma"]
    return {"model_name": info.get("model name", "unknown"), "vendor": info.get("vendor_id", ""),
            "family": info.get("cpu family", ""), "model": info.get("model", ""),
            "flags": [f for f in want if f in flags], "cpus": os.cpu_count()}


def check_mm():
    """torch.mm in float32 against the float64 product on shapes that exercise
    OpenBLAS's full blocks and edges, on 1 and 2 threads. Returns (ok, worst
    error), the error of each element relative to Σ_p |a_ip|·|b_pj| (float32
    accumulation over k terms stays below k·2^-24 of it, ~6e-5 at k = 1024;
    a wrong kernel gives errors of order 1). ok means every error is below 1e-3."""
    import torch

    g = torch.Generator().manual_seed(7)
    worst = 0.0
    for thr in (1, 2):
        torch.set_num_threads(thr)
        for m, n, k in ((1024, 1024, 1024), (257, 129, 131), (64, 384, 128), (1, 512, 256), (512, 3, 1000)):
            a = torch.randn(m, k, generator=g)
            b = torch.randn(k, n, generator=g)
            c = torch.mm(a, b).double()
            ref = torch.mm(a.double(), b.double())
            scale = torch.mm(a.double().abs(), b.double().abs())
            worst = max(worst, float(((c - ref).abs() / scale).max()))
    return worst < 1e-3, worst


# OpenBLAS's generic fallbacks (no AVX2/FMA kernels): a DYNAMIC_ARCH build picks
# one when it does not recognize the CPU model (OpenBLAS 0.3.21 on family 6
# model 207 chose Prescott: torch.mm 1024² at 17-22 GFLOP/s on one thread where
# OPENBLAS_CORETYPE=SkylakeX gave 62-114 on the same loaded machine).
FALLBACK_CORES = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
                  "Northwood", "Banias", "Athlon", "Opteron", "Opteron(SSE3)", "Barcelona", "Unknown", "Sandybridge"}


def probe(env):
    """blasinfo.py --check in a child process with environment env; its JSON or None."""
    import subprocess

    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--check"], env=env,
                       capture_output=True, text=True)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def choose():
    """The OpenBLAS core-type setting for a benchmark, as (action, coretype, reason).

    1. OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE set (an environment may force them
       because older OpenBLAS builds misdetect some processors; forced to
       Haswell on an AMD EPYC, torch.mm ran at 145 GFLOP/s instead of 230):
       torch.mm is checked against float64 without both; when right, and the
       kernel set OpenBLAS then detects is not a generic fallback, both are
       unset ("unset"); else both are kept ("keep").
    2. Without them OpenBLAS detects a generic fallback on a CPU with AVX2/FMA
       (it does not know the model): the kernel set matching the CPU's flags
       (SkylakeX with AVX-512 F/BW/VL, else Haswell; Zen on AMD) is checked
       against float64 and, when right, replaces both variables ("set").
    3. Otherwise nothing changes ("keep")."""
    env = dict(os.environ)
    bare = {k: v for k, v in env.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    forced = {k: env[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if env.get(k)}
    r = probe(bare)
    if r is None:
        return "keep", "", "torch.mm check did not run in the bare environment"
    core = r["openblas"].get("core", "?")
    what = "torch.mm %s without %s (max relative error %.2g), OpenBLAS core %s" % (
        "right" if r["ok"] else "WRONG", " ".join("%s=%s" % kv for kv in forced.items()) or "overrides",
        r["max_rel_err"], core)
    if forced and r["ok"] and core not in FALLBACK_CORES:
        return "unset", "", what
    flags = set(r["cpu"]["flags"])
    if core in FALLBACK_CORES and {"avx2", "fma"} <= flags:
        want = "SkylakeX" if {"avx512f", "avx512bw", "avx512vl"} <= flags else (
            "Zen" if r["cpu"]["vendor"] == "AuthenticAMD" else "Haswell")
        r2 = probe(dict(bare, OPENBLAS_CORETYPE=want))
        if r2 and r2["ok"] and r2["openblas"].get("core") == want:
            return "set", want, ("%s; OpenBLAS does not know %s (family %s model %s) and falls back to %s kernels: "
                                 "OPENBLAS_CORETYPE=%s instead (checked right, max relative error %.2g)") % (
                what, r["cpu"]["model_name"], r["cpu"]["family"], r["cpu"]["model"], core, want, r2["max_rel_err"])
        return "keep", "", what + "; OPENBLAS_CORETYPE=%s failed the check: environment kept" % want
    return "keep", "", what + ("; overrides kept" if forced else "")


def main():
    if sys.argv[1:] == ["--choose"]:
        action, core, why = choose()
        print(action, core or "-", why.replace("\n", " "))
        return 0
    if sys.argv[1:] != ["--check"]:
        print(__doc__, file=sys.stderr)
        return 2
    ok, err = check_mm()
    print(json.dumps({"ok": ok, "max_rel_err": err, "blas": blas_libraries(), "openblas": openblas_info(),
                      "cpu": cpu_info(),
                      "env": {k: os.environ.get(k, "") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
