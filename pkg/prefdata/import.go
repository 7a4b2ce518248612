package prefdata

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Truncation modes (TRL's truncation_mode): which end of a too-long prompt
// is kept.
const (
	KeepEnd   = "keep_end"
	KeepStart = "keep_start"
)

// ImportConfig configures the import of text pairs. The JSON of the
// resolved configuration is stored in the dataset's metadata ("config").
type ImportConfig struct {
	Tokenizer       string  `json:"tokenizer"`          // word, byte, or the model directory of a BPE tokenizer
	Vocab           int     `json:"vocab"`              // word: vocabulary size cap, specials included
	TestFrac        float64 `json:"test_frac"`          // fraction of pairs put in the test split
	Seed            uint64  `json:"seed"`               // seed of the split assignment
	BOS             bool    `json:"bos"`                // prepend the tokenizer's BOS token to the prompt
	EOS             bool    `json:"eos"`                // append the tokenizer's EOS token to both responses
	MaxLength       int     `json:"max_length"`         // longest prompt + response, in tokens (TRL's max_length)
	MaxPromptLength int     `json:"max_prompt_length"`  // prompt length a too-long pair's prompt is cut to
	TruncationMode  string  `json:"truncation_mode"`    // keep_end or keep_start: the end of a cut prompt that is kept
	MoveSharedPref  bool    `json:"move_shared_prefix"` // move the responses' shared prefix into the prompt
	RefuseIdentical bool    `json:"refuse_identical"`   // a pair whose responses have the same tokens is an error
	Format          string  `json:"format"`             // record format (ReadRecords)
	SkipInvalid     bool    `json:"skip_invalid"`       // skip records that cannot be used
	ChatTemplate    bool    `json:"chat_template"`      // message lists were rendered with the tokenizer's chat template
	Source          string  `json:"source"`             // input name, for the record and for messages

	// Text is the tokenizer of a model directory; nil selects the built-in
	// word or byte tokenizer named by Tokenizer. Identity describes Text.
	Text     TextTokenizer     `json:"-"`
	Identity TokenizerIdentity `json:"-"`
	// Chat, when set, renders message-list records (see Import).
	Chat ChatTemplate `json:"-"`
	// Progress, when set, is called as pairs are tokenized.
	Progress func(done, total int) `json:"-"`
}

// DefaultImportConfig returns the defaults of prefgen import: the word
// tokenizer, and TRL's DPO truncation defaults as the paper's authors used
// them (max_length 512, max_prompt_length 128, keep_end).
func DefaultImportConfig() ImportConfig {
	return ImportConfig{Tokenizer: TokenizerWord, Vocab: 256, TestFrac: 0.1, Seed: 1,
		MaxLength: 512, MaxPromptLength: 128, TruncationMode: KeepEnd, Format: FormatAuto}
}

// Validate checks the configuration; its messages name the flag at fault.
func (c *ImportConfig) Validate() error {
	if c.Text == nil {
		switch c.Tokenizer {
		case TokenizerWord:
			if c.Vocab < 3 {
				return fmt.Errorf("-vocab %d is too small for the word tokenizer (at least 3)", c.Vocab)
			}
		case TokenizerByte:
		default:
			return fmt.Errorf("unknown tokenizer %q (word, byte, or a model directory)", c.Tokenizer)
		}
	}
	if !(c.TestFrac >= 0 && c.TestFrac < 1) { // also refuses NaN
		return fmt.Errorf("-test-frac must be in [0, 1) (got %g)", c.TestFrac)
	}
	if c.MaxLength < 2 || c.MaxLength > MaxSeqLen {
		return fmt.Errorf("-max-length must be in [2, %d] (got %d)", MaxSeqLen, c.MaxLength)
	}
	if c.MaxPromptLength < 1 || c.MaxPromptLength >= c.MaxLength {
		return fmt.Errorf("-max-prompt-length must be in [1, -max-length) (got %d with -max-length %d)", c.MaxPromptLength, c.MaxLength)
	}
	if c.TruncationMode != KeepEnd && c.TruncationMode != KeepStart {
		return fmt.Errorf("-truncation-mode must be %s or %s (got %q)", KeepEnd, KeepStart, c.TruncationMode)
	}
	if c.Format != "" && !validFormat(c.Format) {
		return fmt.Errorf("unknown -format %q (%s)", c.Format, strings.Join(RecordFormats, ", "))
	}
	return nil
}

// ImportStats counts what Import changed or noticed; it is stored as JSON
// under the metadata key "import_stats".
type ImportStats struct {
	Input              ReadStats      `json:"input"`
	Pairs              int            `json:"pairs"`               // pairs imported
	Truncated          int            `json:"truncated"`           // pairs cut to fit MaxLength
	TruncatedPrompts   int            `json:"truncated_prompts"`   // of which the prompt was cut
	TruncatedResponses int            `json:"truncated_responses"` // of which the responses were cut
	SharedPrefixPairs  int            `json:"shared_prefix_pairs"` // pairs whose responses begin with the same words
	SharedPrefixes     []PrefixCount  `json:"shared_prefixes"`     // the most frequent shared prefixes
	SharedPrefixMoved  int            `json:"shared_prefix_moved"` // pairs whose shared prefix was moved into the prompt
	Identical          int            `json:"identical"`           // pairs whose responses have the same tokens
	IdenticalText      int            `json:"identical_text"`      // of which the texts are the same too
	ChatTemplate       int            `json:"chat_template"`       // pairs rendered with the chat template
	Lengths            map[string]int `json:"lengths"`             // longest prompt, response and pair, in tokens
}

// PrefixCount is a shared response prefix and the number of pairs with it.
type PrefixCount struct {
	Prefix string `json:"prefix"`
	Pairs  int    `json:"pairs"`
}

// Import tokenizes text pairs into a dataset, in the order of TRL's DPO
// data preparation:
//
//  1. Message lists are rendered with cfg.Chat when it is set: the prompt
//     with the generation prompt, each response as the text the template
//     adds after the prompt (TRL's apply_chat_template; the rendering of
//     prompt+response must begin with the prompt's). Without a template the
//     plain rendering of ReadRecords stays.
//  2. The responses' shared prefix (SharedPrefix) is counted and, with
//     MoveSharedPref, appended to the prompt.
//  3. Prompt and responses are tokenized separately (TRL's convention);
//     special tokens are recognised only in chat-template renderings (the
//     tokenizer's EncodeSpecial, when it has one): "<|endoftext|>" written
//     in a record's text stays text. BOS starts the prompt and EOS ends each
//     response when asked (not twice).
//  4. Pairs longer than MaxLength are truncated as TRL's DPOTrainer
//     (tokenize_row) does, with L = max(len(chosen), len(rejected)):
//     if len(prompt)+L > MaxLength, the prompt keeps its last (keep_end) or
//     first (keep_start) MaxPromptLength tokens; if it is still too long, both
//     responses keep their first MaxLength-MaxPromptLength tokens.
//  5. Pairs whose responses have the same tokens are counted (an error with
//     RefuseIdentical); their margin is zero.
//
// The word tokenizer's vocabulary is built from the rendered texts. Contrastive
// flags come from AlignFlags. Pair i goes to the test split when a hash of
// (seed, i) falls below TestFrac, and to the train split otherwise. Import
// checks ctx between pairs and returns its error when it is cancelled.
func Import(ctx context.Context, pairs []RawPair, cfg ImportConfig) (*Dataset, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st := &ImportStats{Pairs: len(pairs), Lengths: map[string]int{}}
	pos := func(p *RawPair, i int) string {
		if p.Pos != "" {
			return cfg.Source + ":" + p.Pos
		}
		return fmt.Sprintf("%s:record %d", cfg.Source, i+1)
	}
	// 1. Chat template.
	texts := make([]RawPair, len(pairs))
	chatted := make([]bool, len(pairs))
	for i := range pairs {
		p := pairs[i]
		if cfg.Chat != nil && p.PromptMsgs != nil {
			if err := renderChat(&p, cfg.Chat); err != nil {
				return nil, fmt.Errorf("%s: %v", pos(&p, i), err)
			}
			st.ChatTemplate++
			chatted[i] = true
		}
		texts[i] = p
	}
	// 2. Shared prefixes.
	prefixCounts := map[string]int{}
	for i := range texts {
		p := &texts[i]
		pre := SharedPrefix(p.Chosen, p.Rejected)
		if pre == "" {
			continue
		}
		st.SharedPrefixPairs++
		prefixCounts[pre]++
		if cfg.MoveSharedPref {
			c, r := p.Chosen[len(pre):], p.Rejected[len(pre):]
			if strings.TrimSpace(c) != "" && strings.TrimSpace(r) != "" {
				p.Prompt, p.Chosen, p.Rejected = p.Prompt+pre, c, r
				st.SharedPrefixMoved++
			}
		}
	}
	st.SharedPrefixes = topPrefixes(prefixCounts, 3)
	// 3. Tokenizer.
	tok, ident, err := cfg.tokenizer(texts)
	if err != nil {
		return nil, err
	}
	// A chat template writes special tokens as text; they are recognised in
	// its renderings only (EncodeSpecial, when the tokenizer has it).
	encChat := tok.Encode
	if s, ok := tok.(interface{ EncodeSpecial(string) []int32 }); ok {
		encChat = s.EncodeSpecial
	}
	bos, hasBOS := tok.BOS()
	eos, hasEOS := tok.EOS()
	if cfg.BOS && !hasBOS {
		return nil, fmt.Errorf("-bos: the %s tokenizer has no beginning-of-sequence token", ident.Name)
	}
	if cfg.EOS && !hasEOS {
		return nil, fmt.Errorf("-eos: the %s tokenizer has no end-of-sequence token", ident.Name)
	}
	vocab, err := NewVocab(slices.Clone(tok.Vocab()))
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %v", ident.Name, err)
	}
	for i, t := range vocab.Tokens {
		if !utf8.ValidString(t) {
			return nil, fmt.Errorf("tokenizer %s: token %d is not valid UTF-8 (byte-level tokens must be in byte-to-unicode form)", ident.Name, i)
		}
	}
	cfgJSON, _ := json.Marshal(cfg)
	kind := cfg.Tokenizer
	if cfg.Text != nil {
		kind = TokenizerBPE
	}
	identCopy := ident
	d := &Dataset{Vocab: vocab, Tokenizer: kind, Producer: "prefgen import", Config: string(cfgJSON),
		Identity: &identCopy, Stats: st}
	V := int32(vocab.Size())
	for i := range texts {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if cfg.Progress != nil {
				cfg.Progress(i, len(texts))
			}
		}
		p := &texts[i]
		enc := tok.Encode
		if chatted[i] {
			enc = encChat
		}
		e := Example{ID: int64(i), Split: SplitTrain, Prompt: enc(p.Prompt), Chosen: enc(p.Chosen), Rejected: enc(p.Rejected)}
		if cfg.BOS && (len(e.Prompt) == 0 || e.Prompt[0] != bos) {
			e.Prompt = append([]int32{bos}, e.Prompt...)
		}
		if cfg.EOS {
			for _, y := range []*[]int32{&e.Chosen, &e.Rejected} {
				if len(*y) == 0 || (*y)[len(*y)-1] != eos {
					*y = append(*y, eos)
				}
			}
		}
		if len(e.Prompt) == 0 || len(e.Chosen) == 0 || len(e.Rejected) == 0 {
			return nil, fmt.Errorf("%s: a field has no tokens after tokenization", pos(p, i))
		}
		for _, y := range [][]int32{e.Prompt, e.Chosen, e.Rejected} {
			for _, t := range y {
				if t < 0 || t >= V {
					return nil, fmt.Errorf("%s: the tokenizer gave id %d outside its vocabulary [0, %d)", pos(p, i), t, V)
				}
			}
		}
		// 4. Truncation.
		tp, tr := truncatePair(&e, cfg.MaxLength, cfg.MaxPromptLength, cfg.TruncationMode)
		if tp || tr {
			st.Truncated++
		}
		if tp {
			st.TruncatedPrompts++
		}
		if tr {
			st.TruncatedResponses++
		}
		// 5. Identical responses.
		if slices.Equal(e.Chosen, e.Rejected) {
			if cfg.RefuseIdentical {
				return nil, fmt.Errorf("%s: chosen and rejected have the same tokens (after truncation); their margin is always zero", pos(p, i))
			}
			st.Identical++
			if p.Chosen == p.Rejected {
				st.IdenticalText++
			}
		}
		if float64(hash64(cfg.Seed^uint64(i)*0x9e3779b97f4a7c15)>>11)/(1<<53) < cfg.TestFrac {
			e.Split = SplitTest
		}
		e.ChosenContrastive, e.RejectedContrastive = AlignFlags(e.Chosen, e.Rejected)
		e.ChosenReward, e.RejectedReward = math.NaN(), math.NaN()
		st.Lengths["prompt"] = max(st.Lengths["prompt"], len(e.Prompt))
		st.Lengths["response"] = max(st.Lengths["response"], len(e.Chosen), len(e.Rejected))
		st.Lengths["pair"] = max(st.Lengths["pair"], len(e.Prompt)+max(len(e.Chosen), len(e.Rejected)))
		d.Examples = append(d.Examples, e)
	}
	if cfg.Progress != nil {
		cfg.Progress(len(texts), len(texts))
	}
	return d, nil
}

// tokenizer returns the configured tokenizer and its identity, building the
// word tokenizer's vocabulary from the texts.
func (c *ImportConfig) tokenizer(texts []RawPair) (TextTokenizer, TokenizerIdentity, error) {
	if c.Text != nil {
		return c.Text, c.Identity, nil
	}
	if c.Tokenizer == TokenizerByte {
		t := ByteTokenizer{WithEOS: c.EOS}
		return t, t.Identity(), nil
	}
	t, err := NewWordTokenizer(func(yield func(string) bool) {
		for _, p := range texts {
			if !yield(p.Prompt) || !yield(p.Chosen) || !yield(p.Rejected) {
				return
			}
		}
	}, c.Vocab)
	if err != nil {
		return nil, TokenizerIdentity{}, err
	}
	return t, t.Identity(), nil
}

// truncatePair cuts a pair to at most maxLen tokens of prompt + longer
// response, by TRL's rule (see Import), and reports what it cut.
func truncatePair(e *Example, maxLen, maxPrompt int, mode string) (prompt, responses bool) {
	longer := max(len(e.Chosen), len(e.Rejected))
	if len(e.Prompt)+longer > maxLen && len(e.Prompt) > maxPrompt {
		if mode == KeepStart {
			e.Prompt = e.Prompt[:maxPrompt]
		} else {
			e.Prompt = e.Prompt[len(e.Prompt)-maxPrompt:]
		}
		prompt = true
	}
	if len(e.Prompt)+longer > maxLen {
		n := maxLen - maxPrompt
		for _, y := range []*[]int32{&e.Chosen, &e.Rejected} {
			if len(*y) > n {
				*y = (*y)[:n]
				responses = true
			}
		}
	}
	return prompt, responses
}

// renderChat renders a message-list pair with a chat template, as TRL's
// apply_chat_template does: the prompt with the generation prompt (its last
// message must be the user's), each response as what the rendering of
// prompt + response adds after the prompt's rendering.
func renderChat(p *RawPair, chat ChatTemplate) error {
	if last := p.PromptMsgs[len(p.PromptMsgs)-1].Role; last != "user" {
		return fmt.Errorf("chat template: the prompt's last message is the %s's, not the user's", last)
	}
	prompt, err := chat(p.PromptMsgs, true)
	if err != nil {
		return fmt.Errorf("chat template: %v", err)
	}
	resp := func(msgs []Message) (string, error) {
		full, err := chat(append(slices.Clone(p.PromptMsgs), msgs...), false)
		if err != nil {
			return "", fmt.Errorf("chat template: %v", err)
		}
		if !strings.HasPrefix(full, prompt) {
			return "", fmt.Errorf("chat template: the rendering of prompt + response does not begin with the rendering of the prompt")
		}
		return full[len(prompt):], nil
	}
	if p.Chosen, err = resp(p.ChosenMsgs); err != nil {
		return err
	}
	if p.Rejected, err = resp(p.RejectedMsgs); err != nil {
		return err
	}
	p.Prompt = prompt
	return nil
}

// SharedPrefix returns the words both responses begin with: their longest
// common prefix, cut back to end just after its last white space, or "" when
// that holds nothing but white space. "TL;DR: a b" and "TL;DR: a c" share
// "TL;DR: a ".
func SharedPrefix(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	p := a[:n]
	i := strings.LastIndexFunc(p, unicode.IsSpace)
	if i < 0 {
		return ""
	}
	_, size := utf8.DecodeRuneInString(p[i:])
	p = p[:i+size]
	if strings.TrimSpace(p) == "" {
		return ""
	}
	return p
}

// topPrefixes returns the k most frequent prefixes (ties in byte order).
func topPrefixes(counts map[string]int, k int) []PrefixCount {
	out := make([]PrefixCount, 0, len(counts))
	for p, n := range counts {
		out = append(out, PrefixCount{p, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pairs != out[j].Pairs {
			return out[i].Pairs > out[j].Pairs
		}
		return out[i].Prefix < out[j].Prefix
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}
