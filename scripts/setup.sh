#!/usr/bin/env bash
# Usage: scripts/setup.sh
#
# Installs what the tests need beyond Go (Go modules come by themselves):
# Debian's PyTorch for the oracle test and the benchmarks (.ci/setup-torch.sh),
# Debian's Chromium for the report-page check, and the interop checkers' npm
# packages (interop/, pinned by its package-lock.json). Idempotent and quiet
# when everything is present. Needs root (or sudo) for apt the first time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

bash "$root/.ci/setup-torch.sh"

if [ ! -x /usr/bin/chromium ]; then
	sudo=()
	[ "$(id -u)" -ne 0 ] && sudo=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		"${sudo[@]}" apt-get update -q
	fi
	echo "setup: installing chromium" >&2
	"${sudo[@]}" apt-get install -y -q --no-install-recommends chromium >/dev/null
fi

if [ ! -d "$root/interop/node_modules" ] || [ "$root/interop/package-lock.json" -nt "$root/interop/node_modules" ]; then
	echo "setup: npm ci in interop/" >&2
	(cd "$root/interop" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	touch "$root/interop/node_modules"
fi
