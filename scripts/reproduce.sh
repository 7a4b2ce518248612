#!/usr/bin/env bash
# Usage: scripts/reproduce.sh [-quick] [-j N] [-sizes "S M L"] [OUTDIR]
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
#   exp5-firstorder   predicted vs observed probe log-prob changes, SGD and    (Eqs. 4-5)
#                     AdamW, each at two step sizes
#   exp5-stepsize     the same per-pair agreement under SGD at six step sizes
#                     (median and 90th-percentile relative error, residual)
#   exp6-attribution  which training pairs move each held-out pair (SGD, -attrib)
#   exp6-attribution-adamw  the same under AdamW, of the applied update
#                     (-attrib -attrib-update)
#   exp6-attribution-adamw-raw  the same AdamW runs, of the raw gradient
#                     (-attrib alone: what changes with the preconditioner)
#   exp6-attribution-1t[-adamw]  the attribution on 1t, SGD and AdamW's update
#   exp7-1t-adamw     1t DPO under AdamW at other β and weight decay
#   exp7-1t-adam      1t DPO under AdamW at other Adam β1, β2 and ε
#   exp8-matched      step-size grids for comparisons at matched margin gain:
#                     SGD vs AdamW on 1t, normalized vs DPO on long-suffix
#                     under SGD and under AdamW
# then OUTDIR/tables/*.md (gradstat -table runs|attriblabel|mass|tokensum
# -format md; one gradstat command per table) and OUTDIR/figures/*.png.
# -quick runs every experiment on tiny models with few steps (CI runs it;
# at size M one seed and only exp1, exp4, exp5-firstorder and exp6) and
# checks that every expected output exists and that the mathematical
# guarantees hold: first-order agreement on probes under SGD at the small
# step size, and the normalized update's own-pair first-order changes never
# of the wrong sign. Paper claims are reported (docs/RESULTS.md), never
# asserted.
#
# -j N: runs at once (default 2; each run of sizes S and M is pinned to
# GOMAXPROCS=1, so N should not exceed the cores; size L runs one run at a
# time with GOMAXPROCS=2).
#
# Sizes (-sizes, default "S M L"; the data are made whatever the sizes).
# Every size has its own SFT per task and seed (100 steps; L 20) and the same
# preference hyperparameters; only the model, the step counts and, for L, the
# seeds, batch and experiments differ:
#   S  C 64, L 2, H 4, T 48, V 128 (111 k parameters): every experiment above,
#      in OUTDIR/<name>/, seeds 1-3; preference runs 100 steps (probes every
#      10), first-order runs (exp5, exp5b, exp6) 40 steps
#   M  C 128, L 4, H 4 (twice as wide and deep, 815,872 parameters): every
#      experiment and grid point of S, seeds 1-3, with half the steps
#      (preference runs 50, probes every 5; first-order runs 20; heatmaps at
#      steps 1, 17, 33, 49) and fewer tasks: exp1-overlap and
#      exp1-optimizer (SGD 0.05 only) on the three sentiment presets, exp3
#      and exp4 on long-suffix only, in OUTDIR/size=M/<name>/
#   L  GPT-2 124M's body (C 768, L 12, H 12; 85 M parameters with V 128),
#      random init: exp1-overlap on long-suffix only, seed 1, SFT 20 steps of
#      8 sequences, DPO 8 steps of 8 pairs with 8 probes at every step, in
#      OUTDIR/size=L/<name>/
# Tables of every size: OUTDIR/tables/NAME.md for S, size=M-NAME.md,
# size=L-NAME.md. On a quiet 2-core machine at -j 2 the whole default
# reproduction takes about 17 minutes (docs/RESULTS.md, "Sizes M and L":
# measured end to end, and the CPU time per size).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

quick=0 jobs=2 out= sizes="S M L"
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
	GOMAXPROCS=${procs:-1} sweep run -j "${jobs_sz:-$jobs}" "$specs/$1.sweep"
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

data_all="$out/data/task={task}/seed={seed}/data.arrow"
dyn=probe_logp_w_first,probe_logp_w_delta,probe_logp_l_delta,probe_margin_delta,probe_cos_first,probe_cos_last,probe_cos_mean
# Where the probability mass of the one-token responses goes (1t, and the
# oracle-masked long-suffix, whose masked log-prob is the label token's):
# per probe step, the means over seeds and probe pairs of p_w = π(y_w|x),
# p_l and p_w + p_l (the mass left on the two label tokens), and cos(g_w, g_l)
# (gradstat -table mass).
mass_table() { gradstat -q -table mass -format md "$@"; }
# has SIZE: whether -sizes names SIZE.
has() { [[ " $sizes " == *" $1 "* ]]; }

# Every experiment is a function that writes its sweep spec, runs it and
# computes its tables, for the size set by use_size: the spec and its tables
# are named ${pfx}NAME (pfx "" for size S, "size=M-" for M, ...), its runs go
# to $o/NAME ($o = OUTDIR for S, OUTDIR/size=M for M), they start from the
# size's own SFT model $init, and a preference run takes $pref steps with the
# I/O flags pio (batch, probes, dumps) and cp (the same with lr 1e-4).
use_size() { # SIZE
	sz=$1 procs=1 jobs_sz=$jobs heat=$heat_every fo=$fo_steps
	case $sz in
	S)
		o=$out pfx= m=("${model[@]}") tasks_sz=$tasks seeds_sz=$seeds
		sft=$sft_steps pref=$pref_steps sftb=() pio=("${pref_io[@]}") ;;
	M)
		# Half of S's preference and first-order steps (the 30-minute budget):
		# 50 steps, probes every 5, first-order runs 20 steps.
		o=$out/size=M pfx=size=M- seeds_sz=$seeds
		m=(-model S -width 128 -layers 4 -heads 4 -vocab-size 128 -context 48)
		tasks_sz="1t short-suffix long-suffix" sft=$sft_steps pref=$((pref_steps / 2)) sftb=()
		pio=(-batch "$batch" -probe "$probe" -eval-every "$every" -dump-every $((every / 2)) -q)
		heat=$((heat_every / 2)) fo=$((fo_steps / 2))
		# -quick: one seed (CI time)
		if ((quick)); then
			m=(-model tiny -width 32 -layers 3 -vocab-size 64 -context 48) seeds_sz=1
			pref=$pref_steps pio=("${pref_io[@]}") heat=$heat_every fo=$fo_steps
		fi ;;
	L)
		# GPT-2 124M's body: one seed, long-suffix, 20 SFT steps of 8
		# sequences, then DPO for 8 steps of 8 pairs with 8 probes at every
		# step (first-order statistics included); the test split is
		# evaluated at the start and the end only. One run at a time with
		# both cores (GOMAXPROCS 2).
		o=$out/size=L pfx=size=L- seeds_sz=1 procs=2 jobs_sz=1
		m=(-model S -width 768 -layers 12 -heads 12 -vocab-size 128 -context 48)
		((quick)) && m=(-model tiny -width 48 -layers 4 -heads 4 -vocab-size 64 -context 48)
		tasks_sz=long-suffix sft=20 pref=8 sftb=(-batch 8)
		pio=(-batch 8 -probe 8 -eval-every 8 -dump-every 1 -q)
		if ((quick)); then
			sft=10 pref=4 sftb=(-batch 4)
			pio=(-batch 4 -probe 4 -eval-every 4 -dump-every 1 -q)
		fi ;;
	*) echo "reproduce.sh: unknown size $1 (want S, M or L)" >&2; exit 2 ;;
	esac
	data=$data_all
	if [ "$sz" = L ]; then
		# Size L's own data: the same generator, task and seed with only as
		# many training pairs as the DPO run uses (its reference log-probs are
		# computed for every training pair) and 16 test pairs, so the SFT
		# split is S's and M's, the training pairs are the first of theirs,
		# and the probes are other test pairs of the same distribution.
		data="$o/data/task={task}/seed={seed}/data.arrow"
		spec data <<EOF
# size L's datasets: the training pairs its DPO run uses
root $o/data
axis task $tasks_sz
axis seed $seeds_sz
done data.arrow
cmd prefgen {task} -n $((pref * ${pio[1]})) -n-sft $nsft -n-test 16 -vocab $vocab -seed {seed} -o {dir}/data.arrow
EOF
	fi
	resume_line="resume checkpoint.safetensors train -resume {dir} -q $data"
	cp=(-lr 1e-4 "${pio[@]}")
	fo_flags="-min-lr 0 -warmup 0 -decay constant -clip 0 -steps $fo -batch $batch -probe $probe -eval-every $every -dump-every 1"
	init="$o/sft/task={task}/seed={seed}/model.safetensors"
	mkdir -p "$o"
}
# spec NAME: writes $specs/${pfx}NAME.sweep from stdin, then runs it.
spec() {
	cat >"$specs/$pfx$1.sweep"
	sweep_run "$pfx$1"
}
# table NAME ARGS...: gradstat ARGS -format md > OUTDIR/tables/${pfx}NAME.md
table() {
	local name=$1
	shift
	gradstat -q "$@" -format md >"$out/tables/$pfx$name.md"
}

# SFT on prompt + chosen, per task and seed.
run_sft() {
	local comment="supervised fine-tuning, the start (and reference) of every preference run"
	[ "$sz" = S ] || comment="supervised fine-tuning at size $sz"
	spec sft <<EOF
# $comment
root $o/sft
axis task $tasks_sz
axis seed $seeds_sz
cmd train -mode sft ${m[*]} -steps $sft ${sftb[*]} -lr 1e-3 -eval-every 50 -seed {seed} -q -force -out {dir} $data
$resume_line
EOF
}

# Experiment 1: overlap drives entanglement; on 1t, where the probability
# mass of the one-token responses goes (mass_table).
exp1_overlap() { # TASKS
	spec exp1-overlap <<EOF
# DPO (beta 0.1, as the authors ran) on the sentiment presets
root $o/exp1-overlap
axis task $1
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -steps $pref ${cp[*]} -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp1-overlap -table runs -by task -cols task,runs,$dyn,train_case1,train_case2,train_case3 "$o/exp1-overlap"
	if [[ " $1 " == *" 1t "* ]]; then
		mass_table "$o/exp1-overlap/task=1t" >"$out/tables/${pfx}exp1-mass-1t.md"
	fi
}

# Experiment 1b: the same under other optimizers and step sizes (the 1t
# result depends on them; docs/RESULTS.md).
exp1_optimizer() { # TASKS OPTIM,LR...
	spec exp1-optimizer <<EOF
# DPO under AdamW at a ten times smaller step and under plain SGD
root $o/exp1-optimizer
axis task $1
axis optim,lr $2
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim {optim} -lr {lr} -min-lr 0 -steps $pref \\
    ${pio[*]} -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp1-optimizer -table runs -by task,optim,lr -cols task,optim,lr,runs,$dyn "$o/exp1-optimizer"
}

# Experiment 1c: 1t with an untied LM head (its own SFT), to see whether the
# tied embeddings cause the 1t result.
exp1_untied() {
	spec sft-untied <<EOF
# supervised fine-tuning of the untied model on 1t
root $o/sft-untied
axis task 1t
axis seed $seeds_sz
cmd train -mode sft ${m[*]} -untied -steps $sft -lr 1e-3 -eval-every 50 -seed {seed} -q -force -out {dir} $data
$resume_line
EOF
	spec exp1-untied <<EOF
# DPO on 1t from the untied SFT model
root $o/exp1-untied
axis task 1t
axis seed $seeds_sz
cmd train -mode pref -init $o/sft-untied/task={task}/seed={seed}/model.safetensors -loss dpo -beta 0.1 \\
    -steps $pref ${cp[*]} -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp1-untied -table runs -by task -cols task,runs,$dyn "$o/exp1-untied"
	mass_table "$o/exp1-untied/task=1t" >"$out/tables/${pfx}exp1-mass-1t-untied.md"
}

# Experiment 2: token heatmaps, long-suffix, exact per-token gradients of two
# probe pairs at the start, a third, two thirds and the end of DPO. Table:
# per dump step and probe pair, the contrastive pair's cosine, the mean over
# aligned shared tokens and over all other token pairs (gradstat -table
# tokensum: the tokens table's summary rows).
exp2_heatmap() {
	spec exp2-heatmap <<EOF
# per-token gradient cosines of long-suffix DPO
root $o/exp2-heatmap
axis task long-suffix
axis seed 1
cmd train -mode pref -init $init -loss dpo -beta 0.1 -steps $pref -lr 1e-4 -batch $batch -probe $probe \\
    -eval-every $every -dump-every $heat -grads full -token-grads 2 -q -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp2-heatmap -table tokensum "$o/exp2-heatmap"
}

# Experiment 3: the losses, each with its documented default hyperparameters
# (pkg/loss: TRL's defaults, the authors' repository where TRL lacks the loss).
exp3_losses() { # TASKS
	spec exp3-losses <<EOF
# ten margin-based losses on a low-overlap and a high-overlap task
root $o/exp3-losses
axis task $1
axis loss $losses
axis seed $seeds_sz
cmd train -mode pref -init $init -loss {loss} -steps $pref ${cp[*]} -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp3-losses -table runs -by task,loss \
		-cols task,loss,runs,$dyn,train_loss_case1,train_loss_case2,train_loss_case3,train_loss_case4,probe_chosen_fell,probe_chosen_fell_pred,probe_fell_agree \
		"$o/exp3-losses"
}

# Experiment 4: the mitigations against DPO.
exp4_mitigations() { # TASKS
	spec exp4-mitigations <<EOF
# pairwise-normalized updates and sparse (masked) log-probs against plain DPO
root $o/exp4-mitigations
axis task $1
axis method,normalize,sparse dpo,false,none normalized,true,none sparse-oracle,false,oracle sparse-learned,false,learned
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -normalize={normalize} -sparse {sparse} -steps $pref \\
    ${cp[*]} -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp4-mitigations -table runs -by task,method \
		-cols task,method,runs,$dyn,train_loss_case1,probe_loss_case1,probe_chosen_fell,fo_wrong_way \
		"$o/exp4-mitigations"
}

# Experiment 5: the first-order theory, probes at every step, SGD and AdamW,
# each at a small and a ten times larger step size (the error is second order).
exp5_firstorder() {
	spec exp5-firstorder <<EOF
# predicted <g, dtheta> vs observed change of the probe log-probs
root $o/exp5-firstorder
axis task long-suffix
axis optim,lr sgd,0.005 sgd,0.05 adamw,0.00001 adamw,0.0001
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim {optim} -lr {lr} $fo_flags -q -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp5-firstorder -table runs -by optim,lr \
		-cols optim,lr,runs,fo_n,fo_corr_w,fo_corr_l,fo_relerr_w_mean,fo_relerr_l_mean,probe_chosen_fell,probe_chosen_fell_pred,probe_fell_agree,fo_wrong_way \
		"$o/exp5-firstorder"
}

# Experiment 5b: how small the step must be for the first-order prediction
# to hold per pair, and how the residual scales with it: SGD at six step
# sizes (otherwise as exp5); the second table is the exponent k of
# |residual| ∝ lr^k (2 if the residual is second order).
exp5_stepsize() {
	spec exp5-stepsize <<EOF
# first-order residual of the probes' log-prob changes against the SGD step size
root $o/exp5-stepsize
axis task long-suffix
axis optim,lr sgd,0.0005 sgd,0.001 sgd,0.002 sgd,0.005 sgd,0.01 sgd,0.02
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim {optim} -lr {lr} $fo_flags -q -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp5-stepsize -table runs -by optim,lr \
		-cols optim,lr,runs,fo_n,fo_relerr_w_median,fo_relerr_w_p90,fo_relerr_l_median,fo_relerr_l_p90,fo_resid_w_median,fo_resid_l_median,fo_corr_w \
		"$o/exp5-stepsize"
	table exp5-stepsize-slope -table runs -by optim -slope lr \
		-cols optim,runs,x_n,fo_resid_w_median_slope,fo_resid_l_median_slope,fo_relerr_w_median_slope,fo_relerr_l_median_slope \
		"$o/exp5-stepsize"
}

# Experiment 6: which training pairs move a held-out pair (SGD, small step,
# -attrib: the probe's first-order change split over the batch's pairs), and
# the same under AdamW (lr 1e-4, constant, no clipping, as exp5's AdamW runs)
# of the update the optimizer applied (-attrib-update: the dots with Adam's
# preconditioned probe gradients, and the momentum carried over from earlier
# steps as its own history term). Tables: a training pair whose chosen label
# is the probe's ("same label") or the other one ("opposite label"), and
# under -attrib-update the "history" term (one row per probe pair-step): mean
# contribution to the probe's chosen and rejected change, how often it is
# negative, and in how many probe pair-steps each group pushes the probe's
# chosen down (gradstat -table attriblabel; an example's label is the first
# token of its chosen response in the run's dataset).
exp6_attribution() {
	spec exp6-attribution <<EOF
# per-training-pair attribution of the probes' log-prob changes
root $o/exp6-attribution
axis task long-suffix
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim sgd -lr 0.005 $fo_flags -attrib -q -seed {seed} -force -out {dir} $data
$resume_line
EOF
	spec exp6-attribution-adamw <<EOF
# per-training-pair attribution of the probes' log-prob changes under AdamW's applied update
root $o/exp6-attribution-adamw
axis task long-suffix
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim adamw -lr 0.0001 $fo_flags -attrib -attrib-update -q -seed {seed} -force -out {dir} $data
$resume_line
EOF
	# The same AdamW runs attributing the raw gradient (-attrib alone): the
	# trajectory is the one above, so the two tables differ only in what is
	# split (the gradient, or the update Adam applied).
	spec exp6-attribution-adamw-raw <<EOF
# per-training-pair attribution of the probes' log-prob changes under AdamW, of the raw gradient
root $o/exp6-attribution-adamw-raw
axis task long-suffix
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim adamw -lr 0.0001 $fo_flags -attrib -q -seed {seed} -force -out {dir} $data
$resume_line
EOF
	local e
	for e in exp6-attribution exp6-attribution-adamw exp6-attribution-adamw-raw; do
		table $e -table attriblabel -data "$out/data/task={task}/seed={seed}/data.arrow" "$o/$e"
	done
}

# Experiment 6 on 1t: what moves a held-out chosen label token, where AdamW's
# DPO lowers it (at M while the pairs' own cosine is still negative): the
# same attribution under SGD (η 0.05, exp1-optimizer's) and of AdamW's
# applied update (η 1e-4, exp1-overlap's), first-order runs as above.
exp6_attribution_1t() {
	spec exp6-attribution-1t <<EOF
# per-training-pair attribution of the probes' log-prob changes on 1t, SGD
root $o/exp6-attribution-1t
axis task 1t
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim sgd -lr 0.05 $fo_flags -attrib -q -seed {seed} -force -out {dir} $data
$resume_line
EOF
	spec exp6-attribution-1t-adamw <<EOF
# per-training-pair attribution of the probes' log-prob changes on 1t under AdamW's applied update
root $o/exp6-attribution-1t-adamw
axis task 1t
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta 0.1 -optim adamw -lr 0.0001 $fo_flags -attrib -attrib-update -q -seed {seed} -force -out {dir} $data
$resume_line
EOF
	local e
	for e in exp6-attribution-1t exp6-attribution-1t-adamw; do
		table $e -table attriblabel -data "$out/data/task={task}/seed={seed}/data.arrow" "$o/$e"
	done
}

# Experiment 7: what in AdamW's DPO makes 1t's chosen fall: the DPO β and
# AdamW's decoupled weight decay, around exp1-overlap's setting (β 0.1, no
# decay); and (exp7-1t-adam) Adam's own β1 (0: no momentum), β2 and ε (train
# -adam-beta1, -adam-beta2, -adam-eps; the first row is exp1-overlap's
# setting again).
exp7_1t_adamw() {
	spec exp7-1t-adamw <<EOF
# 1t DPO under AdamW at other beta and weight decay
root $o/exp7-1t-adamw
axis task 1t
axis beta,wd 0.03,0 0.1,0 0.3,0 0.1,1 0.1,10
axis seed $seeds_sz
cmd train -mode pref -init $init -loss dpo -beta {beta} -wd {wd} -steps $pref ${cp[*]} -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp7-1t-adamw -table runs -by task,beta,wd -cols task,beta,wd,runs,$dyn "$o/exp7-1t-adamw"
}
exp7_1t_adam() {
	local sd=$seeds_sz
	((quick)) && sd=1 # CI time
	spec exp7-1t-adam <<EOF
# 1t DPO under AdamW at other Adam beta1, beta2 and eps
root $o/exp7-1t-adam
axis task 1t
axis beta1,beta2,eps 0.9,0.999,1e-8 0,0.999,1e-8 0.9,0.99,1e-8 0.9,0.9,1e-8 0.9,0.999,1e-6 0.9,0.999,1e-4 0.9,0.999,1e-3
axis seed $sd
cmd train -mode pref -init $init -loss dpo -beta 0.1 -adam-beta1 {beta1} -adam-beta2 {beta2} -adam-eps {eps} -steps $pref \\
    ${cp[*]} -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp7-1t-adam -table runs -by task,beta1,beta2,eps -cols task,beta1,beta2,eps,runs,$dyn "$o/exp7-1t-adam"
}

# Experiment 8: comparisons at matched margin gain. Another optimizer or
# update moves a run farther or less far, so "the chosen falls less" means
# something only between runs whose margins rose by about as much. Step-size
# grids (warmup 10, cosine decay to 0, as exp1-optimizer): on 1t, SGD around
# AdamW 1e-4's margin gain; on long-suffix, DPO and the pairwise-normalized
# update, each under AdamW and SGD. Seeds are the slowest axis, so an
# interrupted grid has whole seeds. docs/RESULTS.md names the matched pairs.
exp8_matched() {
	local sd=$seeds_sz
	((quick)) && sd=1 # CI time
	spec exp8-matched <<EOF
# 1t and long-suffix at several step sizes, for comparisons at matched margin gain
root $o/exp8-matched
axis seed $sd
axis task,method,normalize,optim,lr 1t,dpo,false,adamw,0.0001 1t,dpo,false,sgd,0.005 1t,dpo,false,sgd,0.01 1t,dpo,false,sgd,0.02 long-suffix,dpo,false,adamw,0.00003 long-suffix,dpo,false,adamw,0.0001 long-suffix,normalized,true,adamw,0.0001 long-suffix,normalized,true,adamw,0.0003 long-suffix,dpo,false,sgd,0.01 long-suffix,dpo,false,sgd,0.05 long-suffix,normalized,true,sgd,2 long-suffix,normalized,true,sgd,8 long-suffix,normalized,true,sgd,32
cmd train -mode pref -init $init -loss dpo -beta 0.1 -normalize={normalize} -optim {optim} -lr {lr} -min-lr 0 -steps $pref \\
    ${pio[*]} -seed {seed} -force -out {dir} $data
$resume_line
EOF
	table exp8-matched -table runs -by task,method,optim,lr -cols task,method,optim,lr,runs,$dyn,probe_chosen_fell "$o/exp8-matched"
}

for sz in S M L; do
	has $sz || continue
	use_size $sz
	echo "== size $sz" >&2
	run_sft
	case $sz in
	S)
		exp1_overlap "1t short-suffix long-suffix"
		exp1_optimizer "1t long-suffix" "adamw,0.00001 sgd,0.05 sgd,0.5"
		exp1_untied
		exp2_heatmap
		exp3_losses "disjoint long-suffix"
		exp4_mitigations "disjoint long-suffix"
		exp5_firstorder
		exp5_stepsize
		exp6_attribution
		exp6_attribution_1t
		exp7_1t_adamw
		exp7_1t_adam
		exp8_matched
		;;
	M)
		exp1_overlap "$tasks_sz"
		exp1_optimizer "$tasks_sz" "sgd,0.05"
		exp4_mitigations long-suffix
		exp6_attribution
		exp5_firstorder
		# -quick: these run at size S (the same functions); CI time
		((quick)) && continue
		exp8_matched
		exp7_1t_adam
		exp7_1t_adamw
		exp1_untied
		exp2_heatmap
		exp3_losses long-suffix
		exp5_stepsize
		exp6_attribution_1t
		;;
	L)
		exp1_overlap long-suffix
		# Probes at every step: the first-order agreement and the cases.
		table exp1-firstorder -table runs -by task \
			-cols task,runs,probe_steps,fo_n,fo_corr_w,fo_corr_l,fo_relerr_w_median,fo_relerr_l_median,train_loss_case4,probe_loss_case4,train_norm_l_larger,probe_chosen_fell,probe_chosen_fell_pred,probe_fell_agree \
			"$o/exp1-overlap"
		;;
	esac
done

# Where the label position's mass goes (1t, test split, seed 1): train -mode
# dist scores every test pair under a model; per model, the means over pairs
# of p_w and p_l at the label position, of the largest probability of any
# third token, of how many third tokens hold more than 0.5 %, and the entropy
# of the whole next-token distribution (nats): train -mode dist -summary.
dist_rows() { # NAME CHECKPOINT ...: the table, one row per model
	local skip=1
	while (($#)); do
		train -mode dist -init "$2" -summary "$1" "$out/data/task=1t/seed=1/data.arrow" | tail -n +$skip
		skip=3
		shift 2
	done
}

if has S; then
# Size S's further tables: where the mass of the one-token responses goes,
# and the runs tables as Arrow.
for o in adamw/lr=0.00001 sgd/lr=0.05 sgd/lr=0.5; do
	mass_table "$out/exp1-optimizer/task=1t/optim=$o" >"$out/tables/exp1-mass-1t-${o/\/lr=/-}.md"
done
mass_table "$out/exp4-mitigations/task=long-suffix/method=sparse-oracle" >"$out/tables/exp4-mass-sparse-oracle.md"
dist_rows "SFT" "$out/sft/task=1t/seed=1/model.safetensors" \
	"DPO, AdamW 1e-4" "$out/exp1-overlap/task=1t/seed=1/model.safetensors" \
	"DPO, AdamW 1e-5" "$out/exp1-optimizer/task=1t/optim=adamw/lr=0.00001/seed=1/model.safetensors" \
	"DPO, SGD 0.05" "$out/exp1-optimizer/task=1t/optim=sgd/lr=0.05/seed=1/model.safetensors" \
	"DPO, SGD 0.5" "$out/exp1-optimizer/task=1t/optim=sgd/lr=0.5/seed=1/model.safetensors" \
	"SFT, untied head" "$out/sft-untied/task=1t/seed=1/model.safetensors" \
	"DPO, AdamW 1e-4, untied head" "$out/exp1-untied/task=1t/seed=1/model.safetensors" >"$out/tables/exp1-dist-1t.md"

for e in exp1-overlap exp1-optimizer exp1-untied exp3-losses exp4-mitigations exp5-firstorder exp5-stepsize exp7-1t-adamw exp7-1t-adam exp8-matched; do
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

# Size M's label-position table (the models M has: exp1-optimizer runs SGD
# 0.05 only there).
if has M && ((!quick)); then
	m="$out/size=M"
	dist_rows "SFT" "$m/sft/task=1t/seed=1/model.safetensors" \
		"DPO, AdamW 1e-4" "$m/exp1-overlap/task=1t/seed=1/model.safetensors" \
		"DPO, SGD 0.05" "$m/exp1-optimizer/task=1t/optim=sgd/lr=0.05/seed=1/model.safetensors" \
		"SFT, untied head" "$m/sft-untied/task=1t/seed=1/model.safetensors" \
		"DPO, AdamW 1e-4, untied head" "$m/exp1-untied/task=1t/seed=1/model.safetensors" >"$out/tables/size=M-exp1-dist-1t.md"
fi

# Checks of what mathematics guarantees (not of the paper's claims).
echo "== checks" >&2
bash "$root/scripts/repro_check.sh" "$out"

echo "reproduce: $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s; tables in $out/tables, figures in $out/figures" >&2
echo "$out"
