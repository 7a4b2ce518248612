#!/usr/bin/env bash
# Usage: scripts/bench/torch_env.sh SCRIPT.py [ARGS...]
#
# Runs Debian's /usr/bin/python3 with the environment the PyTorch baseline
# needs, for this process only (each of these changed the measured times
# 5-30×): the OpenMP build of OpenBLAS first on LD_LIBRARY_PATH (so torch's
# libblas.so.3 and libopenblas.so.0 resolve to it instead of reference BLAS,
# about 6 GFLOP/s, or OpenBLAS-pthread, whose threads oversubscribe the cores
# next to torch's OpenMP threads), and OpenMP threads pinned
# (OMP_PROC_BIND=true; unpinned, two threads sometimes share one vCPU).
set -euo pipefail

dir=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [[ ! -e $dir/libblas.so.3 ]]; then
	echo "torch_env: $dir/libblas.so.3 not found; install libopenblas0-openmp (.ci/setup-torch.sh)" >&2
	exit 1
fi
export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_PROC_BIND=true
exec /usr/bin/python3 "$@"
