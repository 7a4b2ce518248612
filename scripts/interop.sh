#!/usr/bin/env bash
# Usage: scripts/interop.sh [DIR]
#
# Checks that every Arrow IPC file under DIR (*.arrow and *.arrows, searched
# recursively) opens in two independent readers, nodejs-polars and apache-arrow
# JS, with the rows, counts and checksums that Arrow Go reads
# (internal/arrowcheck/cmd/arrowsum writes them to a JSON manifest; see
# interop/check_polars.js and interop/check_arrowjs.mjs for what is compared).
#
# Without DIR, it writes arrowsum's fixtures into a temporary directory and
# checks those; it then also checks that a deliberately corrupted manifest
# (interop/mutate_manifest.mjs: one changed field per entry) makes both
# readers fail on every entry.
#
# Tools add their outputs to the check simply by writing them into DIR.
# Needs go, node (20 or later) and npm; installs interop/node_modules with
# `npm ci` when it is missing or older than interop/package-lock.json.
# Prints each checker's lines, then "interop: N passed, M failed"; exits 1 if
# anything failed, 2 on a usage error.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
	usage
	exit 0
fi
if [ $# -gt 1 ]; then
	usage >&2
	exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $# -eq 1 ]; then
	if [ ! -d "$1" ]; then
		echo "interop.sh: $1: not a directory" >&2
		exit 2
	fi
	dir=$(cd "$1" && pwd)
	selftest=0
else
	dir=$tmp/fixtures
	mkdir -p "$dir"
	(cd "$root" && go run ./internal/arrowcheck/cmd/arrowsum fixtures "$dir" >/dev/null)
	selftest=1
fi

# Install the pinned readers unless node_modules matches package-lock.json.
if [ ! -f "$root/interop/node_modules/.package-lock.json" ] ||
	[ "$root/interop/package-lock.json" -nt "$root/interop/node_modules/.package-lock.json" ]; then
	npm ci --prefix "$root/interop" --no-audit --no-fund --loglevel=error >&2
fi

files=()
while IFS= read -r -d '' f; do
	files+=("$f")
done < <(find "$dir" -type f \( -name '*.arrow' -o -name '*.arrows' \) -print0 | sort -z)
if [ ${#files[@]} -eq 0 ]; then
	echo "interop.sh: no *.arrow or *.arrows files under $dir" >&2
	exit 1
fi

manifest=$tmp/manifest.json
(cd "$root" && go run ./internal/arrowcheck/cmd/arrowsum -o "$manifest" "${files[@]}")

passed=0
failed=0
# tally adds the counts of a checker's closing "N passed, M failed" line.
tally() {
	local last
	last=$(tail -n 1 "$1")
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
	else
		failed=$((failed + 1))
	fi
}

for checker in check_polars.js check_arrowjs.mjs; do
	echo "== $checker"
	node "$root/interop/$checker" "$manifest" >"$tmp/out" 2>&1 || true
	sed '$d' "$tmp/out"
	tally "$tmp/out"
done

if [ "$selftest" -eq 1 ]; then
	# Every entry of a corrupted manifest must fail: "0 passed, N failed".
	for pair in polars:check_polars.js arrowjs:check_arrowjs.mjs; do
		reader=${pair%%:*}
		checker=${pair#*:}
		n=$(node "$root/interop/mutate_manifest.mjs" "$reader" "$manifest" "$tmp/bad.json")
		rc=0
		node "$root/interop/$checker" "$tmp/bad.json" >"$tmp/out" 2>&1 || rc=$?
		if [ "$rc" -eq 1 ] && [ "$(tail -n 1 "$tmp/out")" = "0 passed, $n failed" ]; then
			echo "ok $checker rejects all $n corrupted manifest entries"
			passed=$((passed + 1))
		else
			echo "FAIL $checker on the corrupted manifest (exit $rc): missed changes:"
			grep -v '^FAIL ' "$tmp/out" || true
			failed=$((failed + 1))
		fi
	done
fi

echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
