#!/usr/bin/env bash
# Usage: scripts/reproduce.sh [-quick] [-j N] [-sizes "S M"] [OUTDIR]
#
# Reproduces the gradient-entanglement paper's experiments on the synthetic
# analogues (docs/RESULTS.md reports what they show), composing only the
# project's tools: prefgen makes the data, train runs SFT and the preference
# runs, sweep expands and runs the grids, gradstat computes the tables and
# plot draws the figures. Every grid is a sweep spec written to OUTDIR/specs/
# and run into its own directory tree (key=value/... per run), so an
# interrupted reproduction resumes where it stopped: run the same command
# again. OUTDIR defaults to ./repro-out (./repro-quick with -quick).
#
# Experiments (OUTDIR/<name>/):
#   exp1-overlap      1t, short-suffix, long-suffix; SFT then DPO β 0.1        (paper §4.3, Figs. 3-4a)
#   exp1-optimizer    1t and long-suffix DPO under AdamW 1e-5 and SGD 0.05, 0.5
#   exp1-untied       1t DPO from an SFT model with an untied LM head
#   exp2-heatmap      long-suffix DPO with per-token gradients at 4 steps       (Fig. 4b)
#   exp3-losses       10 losses on disjoint and long-suffix, default params    (Fig. 1, §3.2)
#   exp4-mitigations  normalized, sparse oracle, sparse learned vs DPO          (§5)
#   exp6-attribution  which training pairs move each held-out pair (SGD, -attrib)
#   exp6-attribution-adamw  the same under AdamW, of the applied update
#                     (-attrib -attrib-update)
#   exp7-1t-adamw     1t DPO under AdamW at other β and weight decay
#   exp5-firstorder   predicted vs observed probe log-prob changes, SGD and    (Eqs. 4-5)
#                     AdamW, each at two step sizes
#   exp5-stepsize     the same per-pair agreement under SGD at six step sizes
#                     (median and 90th-percentile relative error, residual)
# then OUTDIR/tables/*.md (gradstat -table runs -by ... -format md) and
# OUTDIR/figures/*.png. -quick runs every experiment on a tiny model with
# few steps (CI runs it) and checks that every expected output exists and that
# the mathematical guarantees hold: first-order agreement on probes under SGD
# at the small step size,
# and the normalized update's own-pair first-order changes never of the wrong
# sign. Paper claims are reported (docs/RESULTS.md), never asserted.
#
# -j N: runs at once (default 2; each run is pinned to GOMAXPROCS=1, so N
# should not exceed the cores).
#
# Sizes (-sizes, default "S M"; the data are made whatever the sizes). Every
# size has its own SFT per task and seed (three seeds) and the same
# preference hyperparameters; only the model and, for L, the step counts and
# experiments differ:
#   S  C 64, L 2, H 4, T 48, V 128 (111 k parameters): every experiment above,
#      in OUTDIR/<name>/
#   M  C 128, L 4, H 4 (twice as wide and deep, 815,872): exp1-overlap,
#      exp1-optimizer (SGD 0.05 on all three presets) and exp4-mitigations
#      (long-suffix only), in OUTDIR/size=M/<name>/
#   L  GPT-2 124M's body (C 768, L 12, H 12; 85 M parameters with V 128),
#      random init: exp1-overlap on long-suffix only, SFT 20 and DPO 20 steps,
#      in OUTDIR/size=L/<name>/. Not in the default: by an operation count
#      (not a measurement) an L run does about 760 times the work per token
#      of an S run, so each costs more than all 157 runs of size S, and
#      -sizes "S M L" exceeds 30 minutes on two cores.
# Tables of every size: OUTDIR/tables/size=M-*.md, size=L-*.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

quick=0 jobs=2 out= sizes="S M"
while (($#)); do
	case $1 in
	-quick | --quick) quick=1 ;;
	-j) jobs=$2; shift ;;
	-sizes) sizes=$2; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "reproduce.sh: unknown flag $1" >&2; exit 2 ;;
	*) out=$1 ;;
	esac
	shift
done
if [ -z "$out" ]; then
	out=repro-out
	((quick)) && out=repro-quick
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$SECONDS

bin="$out/bin"
mkdir -p "$bin"
for cmd in prefgen train gradstat plot sweep; do
	(cd "$root" && go build -o "$bin/$cmd" "./cmd/$cmd")
done
export PATH="$bin:$PATH"
export GOMAXPROCS=1

# Sizes. The default model is GPT-2-shaped with C 64, L 2, H 4 (about 115 k
# parameters); SFT runs for 100 steps and the preference runs start from its
# final weights, as the paper starts DPO from the middle (checkpoint-64) of a
# 128-step SFT run rather than from a converged model.
seeds="1 2 3"
n=1024 nsft=1024 ntest=64 vocab=128
model=(-model S -width 64 -vocab-size 128 -context 48)
sft_steps=100 pref_steps=100 batch=16 probe=16 every=10
fo_steps=40 heat_every=33
if ((quick)); then
	seeds="1 2"
	n=128 nsft=128 ntest=16 vocab=64
	model=(-model tiny -vocab-size 64 -context 48)
	sft_steps=30 pref_steps=12 batch=8 probe=8 every=4
	fo_steps=6 heat_every=5
fi
tasks="1t short-suffix long-suffix disjoint"
losses="dpo ipo simpo rdpo dpop cpo rrhf slic orpo kto_pair"
pref_io=(-batch "$batch" -probe "$probe" -eval-every "$every" -dump-every "$every" -q)
common_pref=(-lr 1e-4 "${pref_io[@]}")

specs="$out/specs"
mkdir -p "$specs" "$out/tables" "$out/figures"

# sweep_run NAME: runs the spec $specs/NAME.sweep (resuming).
sweep_run() {
	echo "== sweep $1 ($(sweep list "$specs/$1.sweep" | tail -n +2 | wc -l) runs)" >&2
	sweep run -j "$jobs" "$specs/$1.sweep"
}

# 1. Data: one dataset per task and seed (the seed also drives the init and
# the data order of every run on it).
cat >"$specs/data.sweep" <<EOF
# prefgen datasets, one per task and seed
root $out/data
axis task $tasks
axis seed $seeds
done data.arrow
cmd prefgen {task} -n $n -n-sft $nsft -n-test $ntest -vocab $vocab -seed {seed} -o {dir}/data.arrow
EOF
sweep_run data

data="$out/data/task={task}/seed={seed}/data.arrow"
dyn=probe_logp_w_first,probe_logp_w_delta,probe_logp_l_delta,probe_margin_delta,probe_cos_first,probe_cos_last,probe_cos_mean
# Where the probability mass of the one-token responses goes (1t, and the
# oracle-masked long-suffix, whose masked log-prob is the label token's):
# per probe step, the means over seeds and probe pairs of p_w = π(y_w|x),
# p_l and p_w + p_l (the mass left on the two label tokens), and cos(g_w, g_l).
mass_table() {
	gradstat -q -table pairs -format tsv "$@" | awk -F'\t' '
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["kind"] == "probe" { s = $c["step"]; pw = exp($c["logp_w"]); pl = exp($c["logp_l"])
			w[s] += pw; l[s] += pl; cs[s] += $c["cos"]; n[s]++ }
		END { print "| step | p_w | p_l | p_w + p_l | cos(g_w, g_l) |\n|---|---|---|---|---|"
			for (s in n) printf "%d %.4f %.5f %.4f %.3f\n", s, w[s] / n[s], l[s] / n[s], (w[s] + l[s]) / n[s], cs[s] / n[s] }' |
		awk 'NR <= 2 { print; next } { print | "sort -n" }' | awk 'NR <= 2 { print; next } { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
}
# has SIZE: whether -sizes names SIZE.
has() { [[ " $sizes " == *" $1 "* ]]; }

if has S; then
# 2. SFT on prompt + chosen, per task and seed.
cat >"$specs/sft.sweep" <<EOF
# supervised fine-tuning, the start (and reference) of every preference run
root $out/sft
axis task $tasks
axis seed $seeds
cmd train -mode sft ${model[*]} -steps $sft_steps -lr 1e-3 -eval-every 50 -seed {seed} -q -force -out {dir} \\
    $out/data/task={task}/seed={seed}/data.arrow
resume checkpoint.safetensors train -resume {dir} -q $out/data/task={task}/seed={seed}/data.arrow
EOF
sweep_run sft

init="$out/sft/task={task}/seed={seed}/model.safetensors"

# Experiment 1: overlap drives entanglement.
cat >"$specs/exp1-overlap.sweep" <<EOF
# DPO (beta 0.1, as the authors ran) on the three sentiment presets
root $out/exp1-overlap
axis task 1t short-suffix long-suffix
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -steps $pref_steps ${common_pref[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp1-overlap

# Experiment 1b: the same under other optimizers and step sizes (the 1t
# result depends on them; docs/RESULTS.md).
cat >"$specs/exp1-optimizer.sweep" <<EOF
# DPO on 1t and long-suffix under AdamW at a ten times smaller step and under plain SGD
root $out/exp1-optimizer
axis task 1t long-suffix
axis optim,lr adamw,0.00001 sgd,0.05 sgd,0.5
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim {optim} -lr {lr} -min-lr 0 -steps $pref_steps \\
    ${pref_io[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp1-optimizer

# Experiment 1c: 1t with an untied LM head (its own SFT), to see whether the
# tied embeddings cause the 1t result.
cat >"$specs/sft-untied.sweep" <<EOF
# supervised fine-tuning of the untied model on 1t
root $out/sft-untied
axis task 1t
axis seed $seeds
cmd train -mode sft ${model[*]} -untied -steps $sft_steps -lr 1e-3 -eval-every 50 -seed {seed} -q -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run sft-untied
cat >"$specs/exp1-untied.sweep" <<EOF
# DPO on 1t from the untied SFT model
root $out/exp1-untied
axis task 1t
axis seed $seeds
cmd train -mode pref -init $out/sft-untied/task={task}/seed={seed}/model.safetensors -loss dpo -beta 0.1 \\
    -steps $pref_steps ${common_pref[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp1-untied

# Experiment 2: token heatmaps, long-suffix, exact per-token gradients of two
# probe pairs at the start, a third, two thirds and the end of DPO.
cat >"$specs/exp2-heatmap.sweep" <<EOF
# per-token gradient cosines of long-suffix DPO
root $out/exp2-heatmap
axis task long-suffix
axis seed 1
cmd train -mode pref -init $init -loss dpo -beta 0.1 -steps $pref_steps -lr 1e-4 -batch $batch -probe $probe \\
    -eval-every $every -dump-every $heat_every -grads full -token-grads 2 -q -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp2-heatmap

# Experiment 3: the losses, each with its documented default hyperparameters
# (pkg/loss: TRL's defaults, the authors' repository where TRL lacks the loss).
cat >"$specs/exp3-losses.sweep" <<EOF
# ten margin-based losses on a low-overlap and a high-overlap task
root $out/exp3-losses
axis task disjoint long-suffix
axis loss $losses
axis seed $seeds
cmd train -mode pref -init $init -loss {loss} -steps $pref_steps ${common_pref[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp3-losses

# Experiment 4: the mitigations against DPO.
cat >"$specs/exp4-mitigations.sweep" <<EOF
# pairwise-normalized updates and sparse (masked) log-probs against plain DPO
root $out/exp4-mitigations
axis task disjoint long-suffix
axis method,normalize,sparse dpo,false,none normalized,true,none sparse-oracle,false,oracle sparse-learned,false,learned
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -normalize={normalize} -sparse {sparse} -steps $pref_steps \\
    ${common_pref[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp4-mitigations

# Experiment 5: the first-order theory, probes at every step, SGD and AdamW,
# each at a small and a ten times larger step size (the error is second order).
cat >"$specs/exp5-firstorder.sweep" <<EOF
# predicted <g, dtheta> vs observed change of the probe log-probs
root $out/exp5-firstorder
axis task long-suffix
axis optim,lr sgd,0.005 sgd,0.05 adamw,0.00001 adamw,0.0001
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim {optim} -lr {lr} -min-lr 0 -warmup 0 -decay constant -clip 0 \\
    -steps $fo_steps -batch $batch -probe $probe -eval-every $every -dump-every 1 -q -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp5-firstorder

# Experiment 5b: how small the step must be for the first-order prediction
# to hold per pair, and how the residual scales with it: SGD at six step
# sizes (otherwise as exp5).
cat >"$specs/exp5-stepsize.sweep" <<EOF
# first-order residual of the probes' log-prob changes against the SGD step size
root $out/exp5-stepsize
axis task long-suffix
axis optim,lr sgd,0.0005 sgd,0.001 sgd,0.002 sgd,0.005 sgd,0.01 sgd,0.02
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim {optim} -lr {lr} -min-lr 0 -warmup 0 -decay constant -clip 0 \\
    -steps $fo_steps -batch $batch -probe $probe -eval-every $every -dump-every 1 -q -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp5-stepsize

# Experiment 6: which training pairs move a held-out pair (SGD, small step,
# -attrib: the probe's first-order change split over the batch's pairs).
cat >"$specs/exp6-attribution.sweep" <<EOF
# per-training-pair attribution of the probes' log-prob changes
root $out/exp6-attribution
axis task long-suffix
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim sgd -lr 0.005 -min-lr 0 -warmup 0 -decay constant -clip 0 \\
    -steps $fo_steps -batch $batch -probe $probe -eval-every $every -dump-every 1 -attrib -q -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp6-attribution

# Experiment 6b: the same attribution under AdamW (lr 1e-4, constant, no
# clipping, as exp5's AdamW runs), of the update the optimizer applied
# (-attrib-update: the dots with Adam's preconditioned probe gradients, and
# the momentum carried over from earlier steps as its own history term).
cat >"$specs/exp6-attribution-adamw.sweep" <<EOF
# per-training-pair attribution of the probes' log-prob changes under AdamW's applied update
root $out/exp6-attribution-adamw
axis task long-suffix
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim adamw -lr 0.0001 -min-lr 0 -warmup 0 -decay constant -clip 0 \\
    -steps $fo_steps -batch $batch -probe $probe -eval-every $every -dump-every 1 -attrib -attrib-update -q -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp6-attribution-adamw

# Experiment 7: what in AdamW's DPO makes 1t's chosen fall: the DPO β and
# AdamW's decoupled weight decay, around exp1-overlap's setting (β 0.1, no
# decay). Adam's ε and β2 are fixed in pkg/optim and not swept.
cat >"$specs/exp7-1t-adamw.sweep" <<EOF
# 1t DPO under AdamW at other beta and weight decay
root $out/exp7-1t-adamw
axis task 1t
axis beta,wd 0.03,0 0.1,0 0.3,0 0.1,1 0.1,10
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta {beta} -wd {wd} -steps $pref_steps ${common_pref[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF
sweep_run exp7-1t-adamw

# Tables: one row per configuration, mean ± sd over seeds.
echo "== gradstat tables" >&2
gradstat -q -table runs -by task -cols task,runs,$dyn,train_case1,train_case2,train_case3 -format md \
	"$out/exp1-overlap" >"$out/tables/exp1-overlap.md"
gradstat -q -table runs -by task -cols task,runs,$dyn -format md "$out/exp1-untied" >"$out/tables/exp1-untied.md"
gradstat -q -table runs -by task,optim,lr -cols task,optim,lr,runs,$dyn -format md \
	"$out/exp1-optimizer" >"$out/tables/exp1-optimizer.md"
gradstat -q -table runs -by task,loss -format md \
	-cols task,loss,runs,$dyn,train_loss_case1,train_loss_case2,train_loss_case3,train_loss_case4,probe_chosen_fell,probe_chosen_fell_pred,probe_fell_agree \
	"$out/exp3-losses" >"$out/tables/exp3-losses.md"
gradstat -q -table runs -by task,method -format md \
	-cols task,method,runs,$dyn,train_loss_case1,probe_loss_case1,probe_chosen_fell,fo_wrong_way \
	"$out/exp4-mitigations" >"$out/tables/exp4-mitigations.md"
gradstat -q -table runs -by optim,lr -format md \
	-cols optim,lr,runs,fo_n,fo_corr_w,fo_corr_l,fo_relerr_w_mean,fo_relerr_l_mean,probe_chosen_fell,probe_chosen_fell_pred,probe_fell_agree,fo_wrong_way \
	"$out/exp5-firstorder" >"$out/tables/exp5-firstorder.md"
gradstat -q -table runs -by optim,lr -format md \
	-cols optim,lr,runs,fo_n,fo_relerr_w_median,fo_relerr_w_p90,fo_relerr_l_median,fo_relerr_l_p90,fo_resid_w_median,fo_resid_l_median,fo_corr_w \
	"$out/exp5-stepsize" >"$out/tables/exp5-stepsize.md"
# the exponent k of |residual| ∝ lr^k (2 if the residual is second order)
gradstat -q -table runs -by optim -slope lr -format md \
	-cols optim,runs,x_n,fo_resid_w_median_slope,fo_resid_l_median_slope,fo_relerr_w_median_slope,fo_relerr_l_median_slope \
	"$out/exp5-stepsize" >"$out/tables/exp5-stepsize-slope.md"
gradstat -q -table runs -by task,beta,wd -cols task,beta,wd,runs,$dyn -format md \
	"$out/exp7-1t-adamw" >"$out/tables/exp7-1t-adamw.md"
# Token cosines of the heatmap run: per dump step and probe pair, the
# contrastive pair's cosine, the mean over aligned shared tokens and over
# all other token pairs (gradstat -table tokens, summary rows).
gradstat -q -table tokens -format tsv "$out/exp2-heatmap" | awk -F'\t' '
	NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i
		print "| step | pair | cos contrastive | mean cos aligned shared (n) | mean cos other (n) |\n|---|---|---|---|---|"; next }
	$c["contrastive_mean"] != "" { printf "| %s | %s | %.3f | %.3f (%s) | %.3f (%s) |\n", $c["step"], $c["pair"],
		$c["contrastive_mean"], $c["aligned_shared_mean"], $c["aligned_shared_n"], $c["other_mean"], $c["other_n"] }' \
	>"$out/tables/exp2-heatmap.md"

mass_table "$out/exp1-overlap/task=1t" >"$out/tables/exp1-mass-1t.md"
mass_table "$out/exp1-untied/task=1t" >"$out/tables/exp1-mass-1t-untied.md"
for o in adamw/lr=0.00001 sgd/lr=0.05 sgd/lr=0.5; do
	mass_table "$out/exp1-optimizer/task=1t/optim=$o" >"$out/tables/exp1-mass-1t-${o/\/lr=/-}.md"
done
mass_table "$out/exp4-mitigations/task=long-suffix/method=sparse-oracle" >"$out/tables/exp4-mass-sparse-oracle.md"
# Where the label position's mass goes (1t, test split, seed 1): train -mode
# dist scores every test pair under a model; per model, the means over pairs
# of p_w and p_l at the label position, of the largest probability of any
# third token, of how many third tokens hold more than 0.5 %, and the entropy
# of the whole next-token distribution (nats; train -mode dist's entropy).
dist_row() { # NAME CHECKPOINT
	train -mode dist -init "$2" -k "$vocab" "$out/data/task=1t/seed=1/data.arrow" | awk -F'\t' -v name="$1" '
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["side"] == "chosen" && $c["pos"] == 0 {
			n++; pw += $c["p"]; pl += exp($c["other_logp"]); best = 0; k = 0; h = $c["entropy"]
			for (i = 1; c["top" i "_p"]; i++) {
				q = $c["top" i "_p"]; t = $c["top" i "_token"]
				if (t == $c["token"] || t == $c["other_token"]) continue
				if (q > best) best = q
				if (q > 0.005) k++
			}
			mb += best; mk += k; mh += h }
		END { printf "| %s | %.4f | %.5f | %.5f | %.1f | %.3f |\n", name, pw / n, pl / n, mb / n, mk / n, mh / n }'
}
{
	echo "| model | p_w | p_l | largest third-token p | third tokens above 0.5 % | entropy (nats) |"
	echo "|---|---|---|---|---|---|"
	dist_row "SFT" "$out/sft/task=1t/seed=1/model.safetensors"
	dist_row "DPO, AdamW 1e-4" "$out/exp1-overlap/task=1t/seed=1/model.safetensors"
	dist_row "DPO, AdamW 1e-5" "$out/exp1-optimizer/task=1t/optim=adamw/lr=0.00001/seed=1/model.safetensors"
	dist_row "DPO, SGD 0.05" "$out/exp1-optimizer/task=1t/optim=sgd/lr=0.05/seed=1/model.safetensors"
	dist_row "DPO, SGD 0.5" "$out/exp1-optimizer/task=1t/optim=sgd/lr=0.5/seed=1/model.safetensors"
	dist_row "SFT, untied head" "$out/sft-untied/task=1t/seed=1/model.safetensors"
	dist_row "DPO, AdamW 1e-4, untied head" "$out/exp1-untied/task=1t/seed=1/model.safetensors"
} >"$out/tables/exp1-dist-1t.md"

# Attribution by label: a training pair whose chosen label is the probe's
# chosen label ("same") or the other one ("opposite"): mean contribution to
# the probe's chosen and rejected change (per unit step size with -attrib;
# in log-prob units of the applied update with -attrib-update), how often it
# is negative, and in how many probe pair-steps each group's sum pushes the
# probe's chosen down; with -attrib-update a third row, "history" (Adam's
# momentum carried over: one term per probe pair-step). Labels come from
# prefgen export (the first word of the chosen response).
attrib_by_label() { # RUNS (a directory holding seed=N run directories)
	echo "| training pairs | rows | mean contrib_w | contrib_w < 0 | mean contrib_l | probe pair-steps whose chosen this group pushes down |"
	echo "|---|---|---|---|---|---|"
	for seed in $seeds; do
		prefgen export "$out/data/task=long-suffix/seed=$seed/data.arrow" |
			sed -E 's/^\{"id":([0-9]+),.*"chosen":"([^ "]+).*/\1\t\2/'
		echo "--"
		gradstat -q -table attrib -format tsv "$1/seed=$seed"
		echo "=="
	done | awk -F'\t' '
		$0 == "--" { mode = 1; hdr = 1; next }
		$0 == "==" { mode = 0; delete lab; next }
		mode == 0 { lab[$1] = $2; next }
		hdr { for (i = 1; i <= NF; i++) c[$i] = i; hdr = 0; next }
		{ g = lab[$c["probe"]] == lab[$c["pair"]] ? "same label" : "opposite label"
		  n[g]++; w[g] += $c["contrib_w"]; l[g] += $c["contrib_l"]; if ($c["contrib_w"] < 0) neg[g]++
		  k = $c["run"] " " $c["step"] " " $c["probe"]; sum[k, g] += $c["contrib_w"]; keys[k] = 1
		  if ($c["hist_w"] != "" && !(k in hist)) { hist[k] = 1; g = "history"
			n[g]++; w[g] += $c["hist_w"]; l[g] += $c["hist_l"]; if ($c["hist_w"] < 0) neg[g]++; sum[k, g] = $c["hist_w"] } }
		END { for (k in keys) { m++; for (g in n) if (sum[k, g] < 0) down[g]++ }
			for (g in n) printf "| %s | %d | %.4g | %.0f %% | %.4g | %d of %d |\n", g, n[g], w[g] / n[g], 100 * neg[g] / n[g], l[g] / n[g], down[g], m }' | sort
}
attrib_by_label "$out/exp6-attribution/task=long-suffix" >"$out/tables/exp6-attribution.md"
attrib_by_label "$out/exp6-attribution-adamw/task=long-suffix" >"$out/tables/exp6-attribution-adamw.md"

for e in exp1-overlap exp1-optimizer exp1-untied exp3-losses exp4-mitigations exp5-firstorder exp5-stepsize exp7-1t-adamw; do
	gradstat -q -table runs "$out/$e" -o "$out/tables/$e-runs.arrow"
done
gradstat -q -table runs -by task,loss "$out/exp3-losses" -o "$out/tables/exp3-losses-by.arrow"

# Figures.
echo "== plot figures" >&2
f="$out/figures"
plot dynamics "$out/exp1-overlap" -o "$f/exp1-dynamics.png"
plot dynamics -relative "$out/exp1-overlap" -o "$f/exp1-dynamics-change.png"
plot entanglement "$out/exp1-overlap" -o "$f/exp1-entanglement.png"
plot cases "$out/exp1-overlap" -o "$f/exp1-cases.png"
plot dynamics "$out/exp1-optimizer/task=1t" -o "$f/exp1-optimizer-dynamics-1t.png"
plot entanglement "$out/exp1-optimizer/task=1t" -o "$f/exp1-optimizer-entanglement-1t.png"
plot dynamics "$out/exp1-optimizer/task=long-suffix" -o "$f/exp1-optimizer-dynamics-long-suffix.png"
heat="$out/exp2-heatmap/task=long-suffix/seed=1/grads.arrows"
plot heatmap "$heat" -o "$f/exp2-heatmap.png"
for s in $(awk -F'|' 'NR > 2 { print $2 + 0 }' "$out/tables/exp2-heatmap.md" | sort -nu); do
	plot heatmap -step "$s" "$heat" -o "$f/exp2-heatmap-step$s.png"
done
for t in disjoint long-suffix; do
	plot dynamics "$out/exp3-losses/task=$t" -o "$f/exp3-dynamics-$t.png"
	plot cases "$out/exp3-losses/task=$t" -o "$f/exp3-cases-$t.png"
	plot dynamics "$out/exp4-mitigations/task=$t" -o "$f/exp4-dynamics-$t.png"
	plot dynamics -relative "$out/exp4-mitigations/task=$t" -o "$f/exp4-dynamics-change-$t.png"
	plot entanglement "$out/exp4-mitigations/task=$t" -o "$f/exp4-entanglement-$t.png"
done
for o in sgd/lr=0.005 sgd/lr=0.05 adamw/lr=0.00001 adamw/lr=0.0001; do
	plot firstorder "$out/exp5-firstorder/task=long-suffix/optim=$o/seed=1" -o "$f/exp5-firstorder-${o/\/lr=/-}.png"
done

fi # size S

# Sizes M and L (see the usage above): their own SFT per task and seed, then
# the same commands as size S's experiments of the same name.
size_run() { # SIZE
	local sz=$1 o="$out/size=$1" tasks m sft pref steps
	case $sz in
	M)
		m=(-model S -width 128 -layers 4 -heads 4 -vocab-size 128 -context 48)
		((quick)) && m=(-model tiny -width 32 -layers 3 -vocab-size 64 -context 48)
		tasks="1t short-suffix long-suffix" sft=$sft_steps pref=$pref_steps ;;
	L)
		m=(-model S -width 768 -layers 12 -heads 12 -vocab-size 128 -context 48)
		((quick)) && m=(-model tiny -width 48 -layers 4 -heads 4 -vocab-size 64 -context 48)
		tasks="long-suffix" sft=20 pref=20
		((quick)) && sft=10 pref=6 ;;
	*) echo "reproduce.sh: unknown size $sz (want S, M or L)" >&2; exit 2 ;;
	esac
	local init="$o/sft/task={task}/seed={seed}/model.safetensors"
	mkdir -p "$o"
	cat >"$specs/size=$sz-sft.sweep" <<EOF2
# supervised fine-tuning at size $sz
root $o/sft
axis task $tasks
axis seed $seeds
cmd train -mode sft ${m[*]} -steps $sft -lr 1e-3 -eval-every 50 -seed {seed} -q -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF2
	sweep_run "size=$sz-sft"
	cat >"$specs/size=$sz-exp1-overlap.sweep" <<EOF2
# DPO (beta 0.1) on the sentiment presets at size $sz
root $o/exp1-overlap
axis task $tasks
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -steps $pref ${common_pref[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF2
	sweep_run "size=$sz-exp1-overlap"
	gradstat -q -table runs -by task -cols task,runs,$dyn,train_case1,train_case2,train_case3 -format md \
		"$o/exp1-overlap" >"$out/tables/size=$sz-exp1-overlap.md"
	[ "$sz" = M ] || return 0
	cat >"$specs/size=$sz-exp1-optimizer.sweep" <<EOF2
# DPO under plain SGD at size $sz
root $o/exp1-optimizer
axis task $tasks
axis optim,lr sgd,0.05
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim {optim} -lr {lr} -min-lr 0 -steps $pref \\
    ${pref_io[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF2
	sweep_run "size=$sz-exp1-optimizer"
	gradstat -q -table runs -by task,optim,lr -cols task,optim,lr,runs,$dyn -format md \
		"$o/exp1-optimizer" >"$out/tables/size=$sz-exp1-optimizer.md"
	mass_table "$o/exp1-overlap/task=1t" >"$out/tables/size=$sz-exp1-mass-1t.md"
	cat >"$specs/size=$sz-exp4-mitigations.sweep" <<EOF2
# pairwise-normalized updates and sparse log-probs against DPO at size $sz
root $o/exp4-mitigations
axis task long-suffix
axis method,normalize,sparse dpo,false,none normalized,true,none sparse-oracle,false,oracle sparse-learned,false,learned
axis seed $seeds
cmd train -mode pref -init $init -loss dpo -beta 0.1 -normalize={normalize} -sparse {sparse} -steps $pref \\
    ${common_pref[*]} -seed {seed} -force -out {dir} $data
resume checkpoint.safetensors train -resume {dir} -q $data
EOF2
	sweep_run "size=$sz-exp4-mitigations"
	gradstat -q -table runs -by task,method -format md \
		-cols task,method,runs,$dyn,train_loss_case1,probe_loss_case1,probe_chosen_fell,fo_wrong_way \
		"$o/exp4-mitigations" >"$out/tables/size=$sz-exp4-mitigations.md"
}
for sz in M L; do
	has $sz && size_run $sz
done

# Checks of what mathematics guarantees (not of the paper's claims).
echo "== checks" >&2
bash "$root/scripts/repro_check.sh" "$out"

echo "reproduce: $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s; tables in $out/tables, figures in $out/figures" >&2
echo "$out"
