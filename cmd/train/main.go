// Train trains the entangle GPT on a prefgen dataset: supervised fine-tuning
// (-mode sft) or margin-based preference optimization (-mode pref), writing a
// run directory with metrics, checkpoints and the final weights
// (docs/FORMATS.md).
//
// Usage:
//
//	train [flags] -out DIR [data.arrow|-]
//	train -resume DIR [data.arrow|-]
//
// Run "train -h" for the flags and examples.
package main

import (
	"context"
	"flag"
	"os"

	"entangle/pkg/cli"
	"entangle/pkg/model"
	"entangle/pkg/optim"
	"entangle/pkg/prefdata"
	"entangle/pkg/train"
)

func main() { os.Exit(cli.Main("train", run)) }

var help = cli.Help{
	Synopsis: "train [flags] -out DIR [data.arrow|-]\n       train -resume DIR [-q] [data.arrow|-]\n       train -merge RUN ANALYSIS_DIR...",
	Doc: `Train reads a prefgen dataset (file or stdin) and trains the GPT of pkg/model.
-mode sft fine-tunes on prompt + chosen (split "sft", else "train") with the
cross-entropy of the response tokens, and evaluates the "test" split every
-eval-every steps (loss, token accuracy, and the fraction of pairs whose chosen
response is more likely than the rejected one). The model is a -model preset
with optional overrides (-arch picks the block family: gpt2, neox or llama,
with that family's settings), or the weights of -init. DIR receives config.json,
steps.arrows (one row per step, Arrow IPC stream), checkpoint.safetensors
(every -ckpt-every steps, at the end and on SIGINT/SIGTERM), model.safetensors
(final weights) and DONE. -resume DIR continues an interrupted run on the same
data; its final weights are bit-identical to an uninterrupted run's. Same flags
and seed give identical checkpoints for any GOMAXPROCS. -mode pref trains with a
margin-based loss from -init (see the pref flags). -mode dist trains nothing: it
prints, as TSV on stdout, the next-token distribution of the -init model at every
response position of a split's pairs: the response token's log-prob, the other
response's token and log-prob in the same context, and the -k most probable
tokens (where the probability mass went), the entropy, and the largest probability
and the count above 0.5 % of third tokens (neither response's); -summary LABEL
prints instead one markdown row of their means at the chosen response's first
position. -mode analyze trains nothing either:
it evaluates the -init checkpoint (a run's checkpoint-N, trained anywhere) on a
split's pairs with the pref loss flags and writes a run directory whose
pairs.arrows holds every pair's log-probs, d_w, d_l, ⟨g_w,g_l⟩ and norms as
probe rows at the checkpoint's step (-step, else from the checkpoint-N name,
trainer_state.json or the checkpoint); -shard i/n takes every n-th pair, and
-merge RUN PART... joins the analyses of a series of checkpoints (and shards)
into one run for gradstat and plot. -init (and -ref) also take a Hugging
Face model directory (config.json, model.safetensors) of model_type gpt2,
gpt_neox, llama, mistral or qwen2; -export-hf DIR writes the -init weights as
one of their family, loadable by transformers, and exits.`,
	Examples: `prefgen 1t -vocab 64 -o 1t.arrow && train -model tiny -steps 300 -out runs/sft-1t 1t.arrow
prefgen long-suffix -n 64 | train -model S -epochs 1 -lr 3e-4 -out runs/sft-S
train -model tiny -arch llama -heads 4 -kv-heads 2 -mlp-width 48 -steps 100 -out runs/sft-llama 1t.arrow
train -model tiny -arch neox -rotary-dims 4 -untied -steps 100 -out runs/sft-neox 1t.arrow
train -resume runs/sft-long long.arrow
train -mode dist -init runs/dpo/model.safetensors -k 5 -pairs 8 long.arrow | column -t
train -export-hf runs/dpo/hf -init runs/dpo/model.safetensors
train -mode pref -init runs/sft/model.safetensors -steps 10 -save-every 5 -q -out runs/kept long.arrow
for s in 5 10; do train -mode analyze -init runs/kept/checkpoint-$s/model.safetensors -ref runs/sft/model.safetensors -pairs 16 -grads countsketch:256 -q -out an/$s long.arrow; done
train -merge runs/series an/5 an/10 && gradstat -summary runs/series`,
}

func run(ctx context.Context, env *cli.Env) (err error) {
	cfg := train.DefaultConfig()
	fs := cli.NewFlagSet("train")
	fs.StringVar(&cfg.Mode, "mode", cfg.Mode, "`mode`: sft, pref, dist (no training: next-token distributions of -init) or analyze (no training: per-pair statistics of the -init checkpoint)")
	preset := fs.String("model", cfg.Preset, "model `preset`: tiny, S, M (shapes; the family is -arch's), pythia-160m or smollm2-135m (real shapes, random weights)")
	var over model.Config
	fs.IntVar(&over.V, "vocab-size", 0, "override the preset's vocabulary `size` V")
	fs.IntVar(&over.T, "context", 0, "override the preset's context `length` T")
	fs.IntVar(&over.C, "width", 0, "override the preset's `channels` C")
	fs.IntVar(&over.L, "layers", 0, "override the preset's number of `blocks` L")
	fs.IntVar(&over.H, "heads", 0, "override the preset's attention `heads` H")
	untied := fs.Bool("untied", false, "give the model its own LM head (not tied to wte)")
	arf := addArchFlags(fs)
	fs.StringVar(&cfg.Init, "init", "", "initial weights from a `checkpoint` (model.safetensors or checkpoint.safetensors) or a Hugging Face model directory (gpt2, gpt_neox, llama, mistral, qwen2); the model config is theirs")
	out := fs.String("out", "", "run `directory` (created; must be empty unless -force)")
	resume := fs.String("resume", "", "continue the interrupted run in `DIR`")
	force := fs.Bool("force", false, "replace the run in a non-empty -out directory")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "`seed` of the model init and the data order")
	fs.StringVar(&cfg.Optim, "optim", cfg.Optim, "`optimizer`: adamw or sgd")
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning `rate`")
	fs.Float64Var(&cfg.WeightDecay, "wd", cfg.WeightDecay, "weight `decay` (decoupled for adamw, L2 for sgd)")
	fs.Float64Var(&cfg.Momentum, "momentum", cfg.Momentum, "sgd `momentum`")
	adam := optim.DefaultAdam()
	fs.Float64Var(&adam.Beta1, "adam-beta1", adam.Beta1, "adamw's `β1` (first-moment decay)")
	fs.Float64Var(&adam.Beta2, "adam-beta2", adam.Beta2, "adamw's `β2` (second-moment decay)")
	fs.Float64Var(&adam.Eps, "adam-eps", adam.Eps, "adamw's `ε` (added to the root of the second moment)")
	fs.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "linear warmup `steps`")
	fs.StringVar(&cfg.Decay, "decay", cfg.Decay, "learning-rate `decay` after warmup: cosine, linear or constant")
	fs.Float64Var(&cfg.MinLR, "min-lr", cfg.MinLR, "learning `rate` at the end of the decay")
	fs.Float64Var(&cfg.Clip, "clip", cfg.Clip, "clip the gradient's global L2 norm at `max` (0 = off)")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "`examples` per step")
	fs.IntVar(&cfg.Steps, "steps", 0, "optimizer `steps` (0: -epochs passes over the data)")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "`passes` over the training split when -steps is 0")
	fs.IntVar(&cfg.EvalEvery, "eval-every", cfg.EvalEvery, "evaluate the test split every `K` steps (and at 0 and the end)")
	fs.IntVar(&cfg.CkptEvery, "ckpt-every", 0, "write the checkpoint every `K` steps (0: at the end and on interrupt only)")
	fs.IntVar(&cfg.SaveEvery, "save-every", 0, "keep the weights every `K` steps as DIR/checkpoint-N/model.safetensors (a series for -mode analyze)")
	quiet := fs.Bool("q", false, "no progress on stderr")
	pf := addPrefFlags(fs)
	df := addDistFlags(fs)
	ef := addExportFlags(fs)
	af := addAnalyzeFlags(fs)
	lf := addLoRAFlags(fs)
	if err := cli.Parse(env, fs, help, env.Args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 1 && !set["merge"] {
		return cli.Usagef("train reads one dataset, got %d", fs.NArg())
	}
	if set["export-hf"] {
		if fs.NArg() > 0 {
			return cli.Usagef("-export-hf reads no dataset, got %q", fs.Arg(0))
		}
		return runExport(env, set, cfg.Init, ef, *force, *quiet)
	}
	if set["export-dtype"] {
		return cli.Usagef("-export-dtype applies to -export-hf only")
	}
	if set["merge"] {
		return runMerge(env, fs, set, af)
	}
	if cfg.Mode == train.ModeAnalyze {
		return runAnalyze(ctx, env, fs, set, cfg.Init, *out, *force, *quiet, pf, df, af)
	}
	for _, name := range []string{"step", "shard"} {
		if set[name] {
			return cli.Usagef("-%s applies to -mode analyze only", name)
		}
	}
	if cfg.Mode == train.ModeDist {
		return runDist(env, fs, set, cfg.Init, df)
	}
	for _, name := range distOnly() {
		if set[name] {
			return cli.Usagef("-%s applies to -mode dist only", name)
		}
	}
	opt := train.Options{Stderr: env.Stderr, Quiet: *quiet,
		Warn: func(format string, args ...any) { cli.Warnf(env.Stderr, env.Name, format, args...) },
		Progress: func(total int) train.Progress {
			if *quiet {
				return nil
			}
			return cli.NewProgress(env.Stderr, total, false, 0)
		}}

	if *resume != "" {
		for name := range set {
			if name != "resume" && name != "q" {
				return cli.Usagef("-resume takes the configuration from %s; -%s is not allowed with it", *resume, name)
			}
		}
		opt.Dir = *resume
		d, err := readData(env, fs)
		if err != nil {
			return err
		}
		return train.Resume(ctx, d, opt)
	}

	if *out == "" {
		return cli.Usagef("-out DIR is required (the run directory)")
	}
	if cfg.Mode == train.ModePref {
		if cfg.Init == "" {
			return cli.Usagef("-mode pref needs -init CHECKPOINT (the SFT model, also the default reference)")
		}
		pc, perr := pf.resolve(env) // not err: the deferred Finish below must see run's result
		if perr != nil {
			return perr
		}
		cfg.Pref = pc
		if *pf.out != "" {
			// The dataset and the model sources are inputs: -o may be none of
			// them. The pairs reach the output's name only if the run succeeds
			// (Finish sees run's own err, the named result).
			inputs := []string{cli.Inputs(fs)[0], cfg.Init}
			if pc.Ref != "" {
				inputs = append(inputs, pc.Ref)
			}
			o, cerr := cli.CreateOutput(env, *pf.out, true, inputs...)
			if cerr != nil {
				return cerr
			}
			opt.PairsOut = o
			defer func() { err = o.Finish(err) }()
		}
	} else {
		for _, name := range prefOnly() {
			if set[name] {
				return cli.Usagef("-%s applies to -mode pref only", name)
			}
		}
	}
	if cfg.Init != "" {
		for _, name := range append([]string{"model", "vocab-size", "context", "width", "layers", "heads", "untied"}, archFlagNames()...) {
			if set[name] {
				return cli.Usagef("-%s conflicts with -init (the model config is the checkpoint's)", name)
			}
		}
		cfg.Preset = ""
	} else {
		m, err := model.Preset(*preset)
		if err != nil {
			return cli.Usagef("-model: %v", err)
		}
		for _, o := range []struct {
			dst *int
			v   int
			f   string
		}{{&m.V, over.V, "vocab-size"}, {&m.T, over.T, "context"}, {&m.C, over.C, "width"}, {&m.L, over.L, "layers"}, {&m.H, over.H, "heads"}} {
			if set[o.f] {
				if o.v < 1 {
					return cli.Usagef("-%s must be at least 1, got %d", o.f, o.v)
				}
				*o.dst = o.v
			}
		}
		if m.T > prefdata.MaxSeqLen {
			return cli.Usagef("-context must be at most %d, got %d", prefdata.MaxSeqLen, m.T)
		}
		if set["untied"] {
			m.Tied = !*untied
		}
		if err := arf.apply(&m, set); err != nil {
			return err
		}
		cfg.Model, cfg.Preset = m, *preset
	}
	if cfg.LoRA, err = lf.resolve(set); err != nil {
		return err
	}
	if set["steps"] && !set["epochs"] {
		cfg.Epochs = 0
	}
	for _, name := range []string{"adam-beta1", "adam-beta2", "adam-eps"} {
		if set[name] && cfg.Optim != train.OptimAdamW {
			return cli.Usagef("-%s applies to -optim adamw only", name)
		}
	}
	cfg.SetAdam(adam)
	if err := cfg.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	if err := train.CheckDir(*out, *force); err != nil {
		return cli.Usagef("%v", err)
	}
	d, err := readData(env, fs)
	if err != nil {
		return err
	}
	if cfg.Init == "" { // the -model preset and overrides: refuse what cannot fit as a usage error
		if err := train.CheckMemory(&cfg, d.MaxLen()); err != nil {
			return cli.Usagef("%v", err)
		}
	}
	if err := train.Prepare(&cfg, d); err != nil {
		return err
	}
	opt.Dir = *out
	return train.Run(ctx, cfg, d, opt)
}

// readData reads the dataset named by the positional argument (none or "-" is stdin).
func readData(env *cli.Env, fs *flag.FlagSet) (*prefdata.Dataset, error) {
	in := cli.Inputs(fs)[0]
	r, err := cli.OpenInput(env, in)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return prefdata.Read(r, cli.InputName(in))
}
