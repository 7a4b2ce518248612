package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"entangle/pkg/cli"
	"entangle/pkg/prefdata"
	"entangle/pkg/prefdata/pqrows"
)

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
	if err := cli.CheckOutput(env, *out, in); err != nil {
		return err
	}
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
	return write(ctx, env, d, "arrow", *out, in)
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
