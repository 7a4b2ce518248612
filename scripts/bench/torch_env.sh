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
#
# OpenBLAS's kernel set (blasinfo.py --choose, which checks torch.mm against
# the float64 product before any change): an OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE
# override in the environment is unset, both together, when torch.mm is right
# without it (forced to Haswell on an AMD EPYC, torch.mm ran at 145 GFLOP/s
# instead of 230); and where OpenBLAS does not know the CPU and falls back to
# generic SSE kernels (0.3.21 on Intel family 6 model 207: Prescott, 3-5×
# slower), the kernel set matching the CPU's flags is set once it checks right.
# It says what it did on stderr. TORCH_KEEP_CORETYPE=1 leaves the variables
# alone; TORCH_CORETYPE_DECIDED="ACTION CORE" (as blasinfo.py --choose prints) reuses an earlier decision
# (run.sh and gemm.sh decide once per invocation).
set -euo pipefail

dir=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [[ ! -e $dir/libblas.so.3 ]]; then
	echo "torch_env: $dir/libblas.so.3 not found; install libopenblas0-openmp (.ci/setup-torch.sh)" >&2
	exit 1
fi
export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_PROC_BIND=true
here=$(dirname "$0")

if [[ ${TORCH_KEEP_CORETYPE:-} != 1 ]]; then
	if [[ -n ${TORCH_CORETYPE_DECIDED:-} ]]; then
		read -r action core <<<"$TORCH_CORETYPE_DECIDED"
	else
		read -r action core why < <(/usr/bin/python3 "$here/blasinfo.py" --choose)
		echo "torch_env: OpenBLAS core type: $action ${core#-}: $why" >&2
	fi
	case $action in
	unset) unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE ;;
	set)
		unset OPENBLAS_L2_SIZE
		export OPENBLAS_CORETYPE=$core
		;;
	esac
fi
exec /usr/bin/python3 "$@"
