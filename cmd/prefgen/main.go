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
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/prefdata"
	"entangle/pkg/prefdata/pqrows"
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
prefgen edit -edits 3 -resp-len 16 | train -mode sft -o sft.safetensors
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
func write(ctx context.Context, env *cli.Env, d *prefdata.Dataset, format, path string) error {
	if format != "arrow" && format != "jsonl" {
		return cli.Usagef("unknown -format %q (arrow or jsonl)", format)
	}
	o, err := cli.CreateOutput(env, path, format == "arrow")
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

var importHelp = cli.Help{
	Synopsis: "prefgen import [flags] [pairs.jsonl|pairs.jsonl.gz|pairs.parquet|-] > data.arrows",
	Doc: `Import reads real preference records, tokenizes them and writes the dataset.
Input is JSON lines, gzip-compressed JSON lines or parquet, recognised by its
first bytes. -format names the record shape; auto decides per record from its
fields: "info" and "summaries" make an openai/summarize_from_feedback
comparison (prompt "SUBREDDIT: r/…\nTITLE: …\nPOST: …\nTL;DR:", chosen =
summaries[choice]); a string "prompt" with message-list chosen/rejected is
UltraFeedback (TRL drops that prompt and takes the user turn the responses
repeat); any other "prompt" is TRL's explicit form (TL;DR, strings or message
lists); without "prompt", transcripts with "\n\nHuman:" and "\n\nAssistant:"
are HH-RLHF (the prompt ends with chosen's last "\n\nAssistant:", which
rejected must share), and other pairs use TRL's implicit prompt (their common
beginning, less a trailing space). One input holds one shape.
-tokenizer is word (vocabulary built from the data), byte, or a model
directory (tokenizer.json or vocab.json + merges.txt, and its
tokenizer_config.json chat template, used for message lists). Prompt and
responses are tokenized separately; pairs longer than -max-length are cut as
TRL's DPO trainer does (the prompt to -max-prompt-length tokens, its end with
keep_end; then the responses). Truncated pairs, responses beginning with the
same words (such as "TL;DR: "), and pairs with identical responses are counted
on stderr and in the metadata. Contrastive tokens come from aligning the two
responses (longest common subsequence). "prefgen export" turns the dataset
back into JSONL.`,
	Examples: `prefgen import -tokenizer gpt2/ -eos hh-rlhf/helpful-base/train.jsonl.gz -o hh.arrow
prefgen import -tokenizer gpt2/ ultrafeedback_binarized/train_prefs.parquet -o uf.arrow
prefgen import -tokenizer gpt2/ -move-prefix -max-length 256 tldr.jsonl -o tldr.arrow
prefgen import -tokenizer byte summarize_from_feedback/comparisons/batch3.json | prefgen export | head -1`,
}

func runImport(ctx context.Context, env *cli.Env, args []string) error {
	cfg := prefdata.DefaultImportConfig()
	fs := cli.NewFlagSet("prefgen import")
	fs.StringVar(&cfg.Tokenizer, "tokenizer", cfg.Tokenizer, "`name`: word, byte, or a model directory (byte-level BPE)")
	fs.IntVar(&cfg.Vocab, "vocab", cfg.Vocab, "word tokenizer: vocabulary `size`, specials included")
	fs.StringVar(&cfg.Format, "format", cfg.Format, "record `shape`: "+strings.Join(prefdata.RecordFormats, ", "))
	fs.Float64Var(&cfg.TestFrac, "test-frac", cfg.TestFrac, "`fraction` of pairs in the test split")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "`seed` of the split assignment")
	fs.BoolVar(&cfg.BOS, "bos", cfg.BOS, "prepend the tokenizer's beginning-of-sequence token to the prompt (TRL's DPO trainer does when the tokenizer has one)")
	fs.BoolVar(&cfg.EOS, "eos", cfg.EOS, "append the tokenizer's end-of-sequence token to both responses (TRL's DPO trainer does)")
	fs.IntVar(&cfg.MaxLength, "max-length", cfg.MaxLength, "longest prompt + response in `tokens` (TRL's max_length)")
	fs.IntVar(&cfg.MaxPromptLength, "max-prompt-length", cfg.MaxPromptLength, "`tokens` a too-long pair's prompt is cut to (TRL's max_prompt_length)")
	fs.StringVar(&cfg.TruncationMode, "truncation-mode", cfg.TruncationMode, "`mode`: keep_end or keep_start, the end of a cut prompt that is kept")
	fs.BoolVar(&cfg.MoveSharedPref, "move-prefix", cfg.MoveSharedPref, "move the words both responses begin with (such as \"TL;DR: \") into the prompt")
	fs.BoolVar(&cfg.RefuseIdentical, "refuse-identical", cfg.RefuseIdentical, "a pair whose responses have the same tokens is an error (default: counted)")
	fs.BoolVar(&cfg.SkipInvalid, "skip-invalid", cfg.SkipInvalid, "skip and count records that cannot be used (default: the first is an error)")
	quiet := fs.Bool("q", false, "no progress on stderr (warnings still)")
	out := fs.String("o", "-", "output `file` (Arrow IPC file; - is an Arrow stream on stdout)")
	if err := cli.Parse(env, fs, importHelp, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return cli.Usagef("import reads one input, got %d", fs.NArg())
	}
	// Check every flag before reading anything.
	modelDir := cfg.Tokenizer != prefdata.TokenizerWord && cfg.Tokenizer != prefdata.TokenizerByte
	if modelDir {
		if st, err := os.Stat(cfg.Tokenizer); err != nil || !st.IsDir() {
			return cli.Usagef("-tokenizer %q is not word, byte or a model directory", cfg.Tokenizer)
		}
		cfg.Text = prefdata.ByteTokenizer{} // stands in for the model's tokenizer in Validate
	}
	if err := cfg.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	if modelDir {
		tok, err := loadModelTokenizer(cfg.Tokenizer)
		if err != nil {
			return err
		}
		cfg.Text, cfg.Identity, cfg.Chat = tok.text, tok.identity, tok.chat
		cfg.ChatTemplate = tok.chat != nil
	}
	in := cli.Inputs(fs)[0]
	cfg.Source = cli.InputName(in)
	r, err := cli.OpenInput(env, in)
	if err != nil {
		return err
	}
	defer r.Close()
	pairs, rs, err := prefdata.ReadRecords(ctx, r, cfg.Source, prefdata.ReadOptions{Format: cfg.Format, SkipInvalid: cfg.SkipInvalid, Parquet: pqrows.Rows})
	if re := (*prefdata.RecordError)(nil); errors.As(err, &re) {
		return fmt.Errorf("%v (-skip-invalid skips and counts such records)", err)
	}
	if err != nil {
		return interrupted(err)
	}
	prog := cli.NewProgress(env.Stderr, len(pairs), *quiet, 0)
	cfg.Progress = func(done, total int) { prog.Update(done, "pairs tokenized") }
	d, err := prefdata.Import(ctx, pairs, cfg)
	if err != nil {
		return interrupted(err)
	}
	d.Stats.Input = rs
	warnImport(env, d.Stats, &cfg)
	return write(ctx, env, d, "arrow", *out)
}

// warnImport reports on stderr what the import changed or noticed.
func warnImport(env *cli.Env, st *prefdata.ImportStats, cfg *prefdata.ImportConfig) {
	n := st.Pairs
	if s := st.Input; s.Skipped > 0 {
		cli.Warnf(env.Stderr, env.Name, "skipped %d of %d records that cannot be used (first: %s)", s.Skipped, s.Skipped+s.Records, s.SkipLog[0])
	}
	if st.Truncated > 0 {
		cli.Warnf(env.Stderr, env.Name, "%d of %d pairs were longer than -max-length %d and were truncated (%d prompts to %d tokens, %s; %d pairs' responses to %d tokens)",
			st.Truncated, n, cfg.MaxLength, st.TruncatedPrompts, cfg.MaxPromptLength, cfg.TruncationMode, st.TruncatedResponses, cfg.MaxLength-cfg.MaxPromptLength)
	}
	if st.SharedPrefixPairs > 0 {
		top := st.SharedPrefixes[0]
		what := "-move-prefix moves it into the prompt"
		if cfg.MoveSharedPref {
			what = fmt.Sprintf("moved into the prompt in %d pairs", st.SharedPrefixMoved)
		}
		cli.Warnf(env.Stderr, env.Name, "in %d of %d pairs both responses begin with the same words (most often %q, %d times); %s",
			st.SharedPrefixPairs, n, top.Prefix, top.Pairs, what)
	}
	if st.Identical > 0 {
		cli.Warnf(env.Stderr, env.Name, "%d of %d pairs have chosen and rejected with the same tokens (%d the same text): their margin is always zero (-refuse-identical makes this an error)",
			st.Identical, n, st.IdenticalText)
	}
}

// interrupted turns a cancelled context's error into the message of an
// interrupted run; other errors pass unchanged.
func interrupted(err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted; nothing written")
	}
	return err
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
	r, err := cli.OpenInput(env, in)
	if err != nil {
		return err
	}
	defer r.Close()
	d, err := prefdata.Read(r, cli.InputName(in))
	if err != nil {
		return err
	}
	return write(ctx, env, d, *format, *out)
}
