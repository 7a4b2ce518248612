// Prefgen makes preference data for the entangle pipeline: synthetic tasks
// whose chosen/rejected overlap is known exactly, or real preference records
// (HH-RLHF, UltraFeedback, TL;DR, TRL's formats; JSONL, gzip or parquet)
// imported with a word, byte or model tokenizer, written as a versioned Arrow
// dataset (docs/FORMATS.md).
//
// Usage:
//
//	prefgen [flags] [task|preset] > data.arrows
//	prefgen import [flags] [pairs.jsonl|pairs.jsonl.gz|pairs.parquet|-] > data.arrows
//	prefgen export [data.arrow|-] > pairs.jsonl
//
// Run "prefgen -h" for the flags and examples.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"entangle/pkg/cli"
	"entangle/pkg/prefdata"
)

func main() { os.Exit(cli.Main("prefgen", run)) }

var genHelp = cli.Help{
	Synopsis: "prefgen [flags] [task|preset] > data.arrows\n       prefgen import [flags] [pairs.jsonl|.jsonl.gz|.parquet|-] > data.arrows\n       prefgen export [data.arrow|-] > pairs.jsonl",
	Doc: `Prefgen writes preference pairs whose chosen/rejected overlap is controlled:
tasks sentiment (label token + shared prefix/suffix), edit (K substituted
tokens) and disjoint (independent continuations ranked by a reward), and the
presets 1t, short-suffix and long-suffix (sentiment with 0, 3 and 24 shared
suffix tokens). Every example records its token ids, which response tokens are
contrastive or shared, and overlap figures; the vocabulary and the resolved
config travel in the metadata. Output is an Arrow IPC stream on stdout, or an
Arrow IPC file with -o FILE; -format jsonl writes prompt/chosen/rejected JSONL.
"prefgen import" tokenizes real preference records (prefgen import -h);
"prefgen export" turns a dataset back into JSONL. Same flags and seed give identical bytes.`,
	Examples: `prefgen long-suffix -n 512 -seed 1 -o long.arrow
prefgen edit -edits 3 -resp-len 16 -vocab 64 | train -mode sft -model tiny -context 48 -steps 50 -out runs/sft-edit
prefgen import -tokenizer word -vocab 256 pairs.jsonl -o pairs.arrow
prefgen export pairs.arrow | head -2`,
}

func run(ctx context.Context, env *cli.Env) error {
	if len(env.Args) > 0 {
		switch env.Args[0] {
		case "import":
			return runImport(ctx, env, env.Args[1:])
		case "export":
			return runExport(ctx, env, env.Args[1:])
		}
	}
	cfg := prefdata.DefaultGenConfig()
	fs := cli.NewFlagSet("prefgen")
	fs.IntVar(&cfg.NTrain, "n", cfg.NTrain, "`pairs` in the train split")
	fs.IntVar(&cfg.NTest, "n-test", cfg.NTest, "`pairs` in the test split")
	fs.IntVar(&cfg.NSFT, "n-sft", cfg.NSFT, "`examples` in the sft split (prompt + chosen, for supervised fine-tuning)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "`seed` of the examples")
	fs.Uint64Var(&cfg.LangSeed, "lang-seed", cfg.LangSeed, "`seed` of the synthetic language (its bigram structure)")
	fs.IntVar(&cfg.Vocab, "vocab", cfg.Vocab, fmt.Sprintf("vocabulary `size` (%d to %d)", prefdata.MinSyntheticVocab, prefdata.MaxSyntheticVocab))
	fs.IntVar(&cfg.PromptLen, "prompt-len", cfg.PromptLen, "`words` in the prompt body")
	fs.IntVar(&cfg.Prefix, "prefix", cfg.Prefix, "sentiment: `N` identical tokens before the label")
	fs.IntVar(&cfg.Suffix, "suffix", cfg.Suffix, "sentiment: `N` identical tokens after the label (presets set it)")
	fs.StringVar(&cfg.Shared, "shared", cfg.Shared, "sentiment: prefix/suffix drawn per example (random) or one for all (fixed)")
	fs.IntVar(&cfg.RespLen, "resp-len", cfg.RespLen, "edit, disjoint: response `length`")
	fs.IntVar(&cfg.Jitter, "jitter", cfg.Jitter, "disjoint: response lengths vary uniformly in resp-len±`J`")
	fs.IntVar(&cfg.Edits, "edits", cfg.Edits, "edit: `K` substituted positions")
	fs.BoolVar(&cfg.EOS, "eos", cfg.EOS, "append <eos> to both responses (a shared token, as TRL does)")
	format := fs.String("format", "arrow", "output `format`: arrow or jsonl")
	out := fs.String("o", "-", "output `file` (Arrow IPC file; - is an Arrow stream on stdout)")
	if err := cli.Parse(env, fs, genHelp, env.Args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
	case 1:
		name := fs.Arg(0)
		if _, ok := prefdata.Presets[name]; ok {
			suffix, set := cfg.Suffix, false
			fs.Visit(func(f *flag.Flag) { set = set || f.Name == "suffix" })
			cfg.ApplyPreset(name)
			if set {
				cfg.Suffix = suffix
			}
		} else {
			cfg.Task = name
		}
	default:
		return cli.Usagef("at most one task or preset, got %q", fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	d, err := prefdata.GenerateContext(ctx, cfg)
	if err != nil {
		return interrupted(err)
	}
	return write(ctx, env, d, *format, *out)
}

// write writes d to path in the given format, atomically for files. An
// interrupted write leaves no file, and a stream without its end marker.
// inputs are the files d was read from: an output that is one of them is
// refused.
func write(ctx context.Context, env *cli.Env, d *prefdata.Dataset, format, path string, inputs ...string) error {
	if format != "arrow" && format != "jsonl" {
		return cli.Usagef("unknown -format %q (arrow or jsonl)", format)
	}
	o, err := cli.CreateOutput(env, path, format == "arrow", inputs...)
	if err != nil {
		return err
	}
	defer o.Abort()
	switch {
	case format == "jsonl":
		err = prefdata.WriteJSONL(o, d)
	case o.IsStdout():
		err = prefdata.WriteStreamContext(ctx, o, d)
	default:
		err = prefdata.WriteFileContext(ctx, o.File(), d)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return interrupted(err)
	}
	return o.Commit()
}

var exportHelp = cli.Help{
	Synopsis: "prefgen export [flags] [data.arrow|-] > pairs.jsonl",
	Doc: `Export reads a prefgen dataset (Arrow file or stream) and writes it as
prompt/chosen/rejected JSONL (with id and split), decoding tokens with the
dataset's vocabulary, or re-encodes it as Arrow with -format arrow.`,
	Examples: `prefgen export long.arrow | head -1
prefgen 1t | prefgen export -`,
}

func runExport(ctx context.Context, env *cli.Env, args []string) error {
	fs := cli.NewFlagSet("prefgen export")
	format := fs.String("format", "jsonl", "output `format`: jsonl or arrow")
	out := fs.String("o", "-", "output `file`")
	if err := cli.Parse(env, fs, exportHelp, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return cli.Usagef("export reads one input, got %d", fs.NArg())
	}
	in := cli.Inputs(fs)[0]
	if err := cli.CheckOutput(env, *out, in); err != nil {
		return err
	}
	r, err := cli.OpenInput(env, in)
	if err != nil {
		return err
	}
	defer r.Close()
	d, err := prefdata.Read(r, cli.InputName(in))
	if err != nil {
		return err
	}
	return write(ctx, env, d, *format, *out, in)
}
