#!/usr/bin/env bash
# Usage: .ci/setup-torch.sh
#
# Installs Debian's PyTorch for the oracle tests (pkg/model/torch_oracle_test.go,
# pkg/hfmodel/oracle_test.go)
# and the PyTorch benchmarks (scripts/bench/): python3-torch, python3-numpy and
# the OpenMP build of OpenBLAS (see scripts/bench/torch_env.sh for why
# that variant). Idempotent: does nothing when they are present. Runs apt as
# root, or through sudo when available. Exits non-zero if /usr/bin/python3
# still cannot import torch afterwards.
set -euo pipefail

pkgs=(python3-torch python3-numpy libopenblas0-openmp)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { echo "setup-torch: need root or sudo to install ${missing[*]}" >&2; exit 1; }
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Update the package lists only if apt has no candidate for one of them.
	for p in "${missing[@]}"; do
		if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
			"${sudo[@]}" apt-get update -q
			break
		fi
	done
	echo "setup-torch: installing ${missing[*]}" >&2
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! /usr/bin/python3 -c 'import torch, numpy; print("setup-torch: torch", torch.__version__, "numpy", numpy.__version__)'; then
	echo "setup-torch: ERROR: /usr/bin/python3 cannot import torch after installing ${pkgs[*]}" >&2
	exit 1
fi
if [[ ! -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]]; then
	echo "setup-torch: WARNING: openblas-openmp not found; torch benchmarks would use reference BLAS" >&2
fi
