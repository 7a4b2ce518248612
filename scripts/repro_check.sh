#!/usr/bin/env bash
# Usage: scripts/repro_check.sh OUTDIR
#
# Checks a reproduction directory (scripts/reproduce.sh): every sweep's runs
# are complete and hold their outputs, every table and figure exists, and
# what mathematics guarantees holds:
#   - first order: under SGD at the smaller step size the probes' predicted changes ⟨g, Δθ⟩ agree with
#     the observed log-prob changes (correlation ≥ 0.99 for chosen and
#     rejected, in every exp5 SGD run);
#   - normalized updates: every pair's own first-order change under the
#     update applied has the chosen up and the rejected down (loss-aware case
#     1 for every train and probe pair-step of every -normalize run of
#     exp4-mitigations and exp8-matched, at every size).
# Paper claims are not checked here: docs/RESULTS.md reports them.
# Prints one line per failed check on stderr and exits 1 if any failed.
set -euo pipefail
out=${1:?usage: repro_check.sh OUTDIR}
PATH="$out/bin:$PATH"
fail=0
bad() {
	echo "repro_check: $*" >&2
	fail=1
}

# Every run of every sweep is done and has its files.
for spec in "$out"/specs/*.sweep; do
	name=$(basename "$spec" .sweep)
	while IFS=$'\t' read -r index dir status _; do
		[ "$index" = index ] && continue
		[ "$status" = done ] || bad "$name: run $index ($dir) is not done"
		case $name in
		data | size=*-data) files=(data.arrow) ;;
		sft | sft-* | size=*-sft | size=*-sft-*) files=(config.json steps.arrows model.safetensors) ;;
		*) files=(config.json steps.arrows pairs.arrows model.safetensors) ;;
		esac
		for f in "${files[@]}"; do
			[ -s "$dir/$f" ] || bad "$name: $dir/$f is missing or empty"
		done
	done < <(sweep list "$spec")
done

# runs_tsv DIR COLS: gradstat's runs table as TSV (header first).
runs_tsv() { gradstat -q -table runs -cols "$2" -format tsv "$1"; }

# firstorder_check SIZE DIR: in DIR/exp5-firstorder, every SGD run at the
# smallest step size has first-order correlations ≥ 0.99 (chosen and
# rejected).
firstorder_check() {
	local small optim lr seed n cw cl
	small=$(runs_tsv "$2/exp5-firstorder" optim,lr | awk -F'\t' '$1 == "sgd" { print $2 }' | sort -g | head -1)
	[ -n "$small" ] || { bad "${1:+size $1 }exp5: no SGD runs"; return; }
	while IFS=$'\t' read -r optim lr seed n cw cl; do
		[ "$optim" = optim ] && continue
		[ "$optim" = sgd ] && [ "$lr" = "$small" ] || continue
		awk -v n="$n" -v a="$cw" -v b="$cl" 'BEGIN { exit !(n > 0 && a >= 0.99 && b >= 0.99) }' ||
			bad "${1:+size $1 }exp5 sgd lr $lr seed $seed: first-order correlation chosen $cw, rejected $cl over $n probe pair-steps (want ≥ 0.99)"
	done < <(runs_tsv "$2/exp5-firstorder" optim,lr,seed,fo_n,fo_corr_w,fo_corr_l)
}

# normalized_check SIZE DIR: every -normalize run of DIR/exp4-mitigations
# and DIR/exp8-matched has the chosen up and the rejected down to first
# order for every train and probe pair-step (loss-aware case 1).
normalized_check() {
	local e task method seed tc pc
	for e in exp4-mitigations exp8-matched; do
		[ -d "$2/$e" ] || continue
		while IFS=$'\t' read -r task method seed tc pc; do
			[ "$task" = task ] && continue
			[ "$method" = normalized ] || continue
			awk -v a="$tc" -v b="$pc" 'BEGIN { exit !(a == 1 && b == 1) }' ||
				bad "${1:+size $1 }$e $task normalized seed $seed: loss-aware case-1 fraction train $tc, probe $pc (want 1: chosen up, rejected down to first order)"
		done < <(runs_tsv "$2/$e" task,method,seed,train_loss_case1,probe_loss_case1)
	done
}

# Size S's checks need its runs (reproduce.sh -sizes without S skips them).
if [ -f "$out/specs/exp1-overlap.sweep" ]; then
[ -s "$out/exp2-heatmap/task=long-suffix/seed=1/grads.arrows" ] || bad "exp2: no grads.arrows"
# Tables: a header, a rule and at least one row each.
for t in exp1-overlap exp1-optimizer exp1-untied exp3-losses exp4-mitigations exp5-firstorder exp5-stepsize exp7-1t-adamw exp7-1t-adam exp8-matched; do
	f="$out/tables/$t.md"
	[ -f "$f" ] && [ "$(grep -c '^|' "$f")" -ge 3 ] || bad "table $f is missing or has no rows"
	[ -s "$out/tables/$t-runs.arrow" ] || bad "table $out/tables/$t-runs.arrow is missing"
done

[ "$(grep -c '^| sgd ' "$out/tables/exp5-stepsize-slope.md")" = 1 ] || bad "table exp5-stepsize-slope.md has no sgd row"
[ "$(grep -c '^| [SD]' "$out/tables/exp1-dist-1t.md")" = 7 ] || bad "table exp1-dist-1t.md does not have its 7 rows"
if [ -d "$out/size=M/exp1-untied" ]; then
	[ "$(grep -c '^| [SD]' "$out/tables/size=M-exp1-dist-1t.md" 2>/dev/null)" = 5 ] ||
		bad "table size=M-exp1-dist-1t.md is missing or does not have its 5 rows"
fi
for t in exp6-attribution exp6-attribution-adamw-raw exp6-attribution-1t; do
	[ "$(grep -c '^| [so][a-z]* label' "$out/tables/$t.md")" = 2 ] || bad "table $t.md does not have its 2 rows"
done
for t in exp6-attribution-adamw exp6-attribution-1t-adamw; do
	[ "$(grep -c '^| \(same label\|opposite label\|history\) ' "$out/tables/$t.md")" = 3 ] ||
		bad "table $t.md does not have its 3 rows (same label, opposite label, history)"
done

# Figures: non-empty PNG files.
figs=(exp1-dynamics exp1-dynamics-change exp1-entanglement exp1-cases exp2-heatmap exp1-optimizer-dynamics-1t)
figs+=(exp1-optimizer-entanglement-1t exp1-optimizer-dynamics-long-suffix)
figs+=(exp5-firstorder-sgd-0.005 exp5-firstorder-sgd-0.05 exp5-firstorder-adamw-0.00001 exp5-firstorder-adamw-0.0001)
for t in disjoint long-suffix; do
	figs+=("exp3-dynamics-$t" "exp3-cases-$t" "exp4-dynamics-$t" "exp4-dynamics-change-$t" "exp4-entanglement-$t")
done
for f in "${figs[@]}"; do
	p="$out/figures/$f.png"
	if [ ! -s "$p" ] || [ "$(head -c 4 "$p" | od -An -c | tr -d ' ')" != "211PNG" ]; then
		bad "figure $p is missing or not a PNG"
	fi
done


# First order under SGD at the smaller step size (the larger one shows the
# second-order error; it is reported, not checked).
firstorder_check "" "$out"

# Normalized updates: own-pair first-order changes of the right sign.
normalized_check "" "$out"

fi # size S

# Sizes M and L: their tables have rows (the attribution tables their 2 and 3
# groups); first order and normalized updates as at size S.
for spec in "$out"/specs/size=*-exp*.sweep; do
	[ -f "$spec" ] || continue
	t=$(basename "$spec" .sweep)
	f="$out/tables/$t.md"
	[ -f "$f" ] && [ "$(grep -c '^|' "$f")" -ge 3 ] || bad "table $f is missing or has no rows"
done
for d in "$out"/size=*/; do
	[ -d "$d" ] || continue
	sz=${d%/}; sz=${sz##*/size=}
	normalized_check "$sz" "${d%/}"
	[ -d "$d/exp5-firstorder" ] && firstorder_check "$sz" "${d%/}"
	for f in "$out/tables/size=$sz-exp6-attribution.md" "$out/tables/size=$sz-exp6-attribution-adamw-raw.md" \
		"$out/tables/size=$sz-exp6-attribution-adamw.md" "$out/tables/size=$sz-exp6-attribution-1t.md" \
		"$out/tables/size=$sz-exp6-attribution-1t-adamw.md"; do
		[ -f "$f" ] || continue
		n=2
		[[ $f == *adamw.md ]] && n=3
		[ "$(grep -c '^| \(same label\|opposite label\|history\) ' "$f")" = $n ] || bad "table $f does not have its $n rows"
	done
done

if ((fail)); then
	exit 1
fi
echo "repro_check: all runs complete, every table and figure present, first-order and normalized-update guarantees hold" >&2
