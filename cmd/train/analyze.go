package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/train"
)

// analyzeFlags holds the flags of -mode analyze and -merge.
type analyzeFlags struct {
	step  *int64
	shard *string
	merge *string
}

func addAnalyzeFlags(fs *flag.FlagSet) *analyzeFlags {
	return &analyzeFlags{
		step:  fs.Int64("step", -1, "analyze: the checkpoint's training `step` (default: from a checkpoint-N folder name, trainer_state.json's global_step, or the checkpoint's own)"),
		shard: fs.String("shard", "0/1", "analyze: analyse share `i/n` of the pairs (those at positions ≡ i mod n)"),
		merge: fs.String("merge", "", "join the analysis directories given as arguments into the run `directory` (one run for gradstat and plot) and exit"),
	}
}

// analyzeAllowed are the flags -mode analyze takes.
func analyzeAllowed() map[string]bool {
	ok := map[string]bool{"mode": true, "init": true, "out": true, "force": true, "q": true, "step": true, "shard": true,
		"split": true, "pairs": true, "ref": true, "loss": true, "nll": true, "normalize": true, "sparse": true,
		"grads": true, "sketch-seed": true, "token-grads": true}
	for _, f := range lossFlags {
		ok[f.flag] = true
	}
	return ok
}

// runMerge is train -merge RUN PART...
func runMerge(env *cli.Env, fs *flag.FlagSet, set map[string]bool, af *analyzeFlags) error {
	for name := range set {
		if name != "merge" && name != "q" {
			return cli.Usagef("-merge takes analysis directories only; -%s is not allowed with it", name)
		}
	}
	if fs.NArg() == 0 {
		return cli.Usagef("-merge %s needs the analysis directories to join as arguments", *af.merge)
	}
	if err := train.CheckDir(*af.merge, false); err != nil {
		return cli.Usagef("%v", err)
	}
	return train.MergeAnalyses(*af.merge, fs.Args())
}

// runAnalyze is -mode analyze: one checkpoint, one shard of a split's pairs.
func runAnalyze(ctx context.Context, env *cli.Env, fs *flag.FlagSet, set map[string]bool, init, out string, force, quiet bool,
	pf *prefFlags, df *distFlags, af *analyzeFlags) error {
	allowed := analyzeAllowed()
	for name := range set {
		if !allowed[name] {
			return cli.Usagef("-%s does not apply to -mode analyze", name)
		}
	}
	if init == "" {
		return cli.Usagef("-mode analyze needs -init CHECKPOINT (the checkpoint to analyse)")
	}
	if out == "" {
		return cli.Usagef("-out DIR is required (the analysis directory)")
	}
	if fs.NArg() > 1 {
		return cli.Usagef("train reads one dataset, got %d", fs.NArg())
	}
	var shard, shards int
	if a, b, ok := strings.Cut(*af.shard, "/"); ok {
		shard, _ = strconv.Atoi(a)
		shards, _ = strconv.Atoi(b)
	}
	if shards < 1 || shard < 0 || shard >= shards || *af.shard != fmt.Sprintf("%d/%d", shard, shards) {
		return cli.Usagef("-shard must be i/n with 0 ≤ i < n, got %q", *af.shard)
	}
	if err := df.checkPairs(); err != nil {
		return err
	}
	// The pref flags' checks, without the dump schedule of a training run.
	if pf.cfg.Sparse == "learned" {
		return cli.Usagef("-sparse learned has no gate to analyse (use none or oracle)")
	}
	tg := pf.cfg.TokenGrads
	pf.cfg.DumpEvery, pf.cfg.Probe = 1, tg
	pc, err := pf.resolve(env)
	if err != nil {
		return err
	}
	pc.DumpEvery, pc.Probe = 0, 0
	if tg > 0 && pc.Grads == "" {
		return cli.Usagef("-token-grads needs -grads")
	}
	if err := train.CheckDir(out, force); err != nil {
		return cli.Usagef("%v", err)
	}
	if _, err := train.ReadCheckpointConfig(init); err != nil {
		return err
	}
	step := *af.step
	if !set["step"] {
		s, ok, err := train.CheckpointStep(init)
		if err != nil {
			return err
		}
		if !ok {
			return cli.Usagef("%s: no step in its name (checkpoint-N), trainer_state.json or metadata: give -step N", init)
		}
		step = s
	} else if step < 0 {
		return cli.Usagef("-step must be ≥ 0, got %d", step)
	}
	d, err := readData(env, fs)
	if err != nil {
		return err
	}
	cfg := train.AnalyzeConfig{Mode: train.ModeAnalyze, Init: init, Step: step, Pref: *pc, Split: *df.split,
		Pairs: *df.pairs, Shard: shard, Shards: shards, Data: train.Fingerprint(d)}
	if err := train.PrepareAnalyze(&cfg, d); err != nil {
		return err
	}
	opt := train.Options{Dir: out, Stderr: env.Stderr, Quiet: quiet, Progress: func(total int) train.Progress {
		if quiet {
			return nil
		}
		return cli.NewProgress(env.Stderr, total, false, 0)
	}}
	return train.Analyze(ctx, cfg, d, opt)
}
