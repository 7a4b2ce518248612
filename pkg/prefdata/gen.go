package prefdata

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// MaxSeqLen is the longest prompt+response a dataset may hold: the largest
// model context the toolkit allows.
const MaxSeqLen = 1024

// GenConfig configures a synthetic task. Each field is one prefgen flag; the
// resolved config is stored in the output's metadata.
type GenConfig struct {
	Task      string `json:"task"`       // sentiment, edit or disjoint
	Preset    string `json:"preset"`     // 1t, short-suffix, long-suffix, or "" (sentiment only)
	Seed      uint64 `json:"seed"`       // seed of the examples
	LangSeed  uint64 `json:"lang_seed"`  // seed of the synthetic language (its bigram successors)
	Vocab     int    `json:"vocab"`      // vocabulary size
	NSFT      int    `json:"n_sft"`      // examples in the sft split
	NTrain    int    `json:"n_train"`    // pairs in the train split
	NTest     int    `json:"n_test"`     // pairs in the test split
	PromptLen int    `json:"prompt_len"` // words in the prompt body
	Prefix    int    `json:"prefix"`     // sentiment: identical tokens before the label
	Suffix    int    `json:"suffix"`     // sentiment: identical tokens after the label
	Shared    string `json:"shared"`     // sentiment: prefix/suffix "random" per example or "fixed" for all
	RespLen   int    `json:"resp_len"`   // edit, disjoint: response length
	Jitter    int    `json:"jitter"`     // disjoint: response lengths vary uniformly in RespLen±Jitter
	Edits     int    `json:"edits"`      // edit: substituted positions K
	EOS       bool   `json:"eos"`        // append <eos> to both responses (a shared token)
}

// DefaultGenConfig returns the defaults of prefgen.
func DefaultGenConfig() GenConfig {
	return GenConfig{
		Task: "sentiment", Seed: 1, LangSeed: 1, Vocab: 128,
		NSFT: 1024, NTrain: 1024, NTest: 128, PromptLen: 8,
		Shared: "random", RespLen: 12, Jitter: 0, Edits: 2,
	}
}

// Tasks lists the synthetic tasks.
var Tasks = []string{"sentiment", "edit", "disjoint"}

// Presets are named sentiment settings after the paper's three datasets
// (paper.md §5.2): the response is the label token alone ("1t"), or the label
// followed by a short or a long suffix shared by both responses.
var Presets = map[string]int{"1t": 0, "short-suffix": 3, "long-suffix": 24}

// ApplyPreset sets the task and suffix length of a named preset.
func (c *GenConfig) ApplyPreset(name string) error {
	n, ok := Presets[name]
	if !ok {
		return fmt.Errorf("unknown preset %q (presets: %s)", name, presetNames())
	}
	c.Task, c.Preset, c.Suffix = "sentiment", name, n
	return nil
}

func presetNames() string {
	var names []string
	for k := range Presets {
		names = append(names, k)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// Validate checks the configuration; its messages name the flag at fault.
func (c *GenConfig) Validate() error {
	switch c.Task {
	case "sentiment", "edit", "disjoint":
	default:
		return fmt.Errorf("unknown task %q (tasks: %v; presets: %s)", c.Task, Tasks, presetNames())
	}
	if c.Vocab < MinSyntheticVocab {
		return fmt.Errorf("-vocab %d is too small: the synthetic language needs at least %d tokens", c.Vocab, MinSyntheticVocab)
	}
	if c.Vocab > MaxSyntheticVocab {
		return fmt.Errorf("-vocab %d is too large: the synthetic language has %d distinct words", c.Vocab, MaxSyntheticVocab)
	}
	if c.NTrain < 1 || c.NTest < 0 || c.NSFT < 0 {
		return fmt.Errorf("-n must be at least 1 and -n-test, -n-sft at least 0 (got %d, %d, %d)", c.NTrain, c.NTest, c.NSFT)
	}
	if c.NTrain+c.NTest+c.NSFT > 1e7 {
		return fmt.Errorf("too many examples: %d (at most 10000000)", c.NTrain+c.NTest+c.NSFT)
	}
	if c.PromptLen < 1 {
		return fmt.Errorf("-prompt-len must be at least 1 (got %d)", c.PromptLen)
	}
	if c.Prefix < 0 || c.Suffix < 0 {
		return fmt.Errorf("-prefix and -suffix must not be negative (got %d, %d)", c.Prefix, c.Suffix)
	}
	if c.Shared != "random" && c.Shared != "fixed" {
		return fmt.Errorf("-shared must be random or fixed (got %q)", c.Shared)
	}
	if c.Task != "sentiment" {
		if c.RespLen < 1 {
			return fmt.Errorf("-resp-len must be at least 1 (got %d)", c.RespLen)
		}
		if c.Jitter < 0 || c.Jitter >= c.RespLen {
			return fmt.Errorf("-jitter must be in [0, -resp-len) (got %d with -resp-len %d)", c.Jitter, c.RespLen)
		}
	}
	if c.Task == "edit" && (c.Edits < 1 || c.Edits > c.RespLen) {
		return fmt.Errorf("-edits must be in [1, -resp-len] (got %d with -resp-len %d)", c.Edits, c.RespLen)
	}
	if n := c.maxLen(); n > MaxSeqLen {
		return fmt.Errorf("sequences of up to %d tokens exceed the longest context allowed (%d)", n, MaxSeqLen)
	}
	return nil
}

// maxLen is the longest prompt+response the configuration can produce.
func (c *GenConfig) maxLen() int {
	eos := 0
	if c.EOS {
		eos = 1
	}
	prompt := c.PromptLen + 2 // cue words around the body
	if c.Task == "sentiment" {
		return prompt + c.Prefix + 1 + c.Suffix + eos
	}
	return prompt + c.RespLen + c.Jitter + eos
}

// Generate makes the dataset of a synthetic task. The same configuration gives
// the same examples, on every platform.
func Generate(c GenConfig) (*Dataset, error) { return GenerateContext(context.Background(), c) }

// GenerateContext is Generate that checks ctx as it goes and returns its
// error, and no dataset, when it is cancelled.
func GenerateContext(ctx context.Context, c GenConfig) (*Dataset, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	lang, err := newSynthLang(c.Vocab, c.LangSeed)
	if err != nil {
		return nil, err
	}
	cfgJSON, _ := json.Marshal(c)
	d := &Dataset{Vocab: lang.vocab, Tokenizer: "synthetic", Producer: "prefgen", Config: string(cfgJSON)}
	// The fixed prefix and suffix (Shared == "fixed") come from their own stream.
	fixed := newRNG(c.Seed, 1)
	fixedPrefix := lang.words(fixed, lang.cue["sentiment"], c.Prefix, lang.neutral)
	fixedSuffix := lang.words(fixed, lang.labelPos, c.Suffix, lang.neutral)
	r := newRNG(c.Seed, 2)
	splits := []struct {
		name string
		n    int
	}{{SplitSFT, c.NSFT}, {SplitTrain, c.NTrain}, {SplitTest, c.NTest}}
	id := int64(0)
	for _, s := range splits {
		for i := 0; i < s.n; i++ {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			var e Example
			switch c.Task {
			case "sentiment":
				e = genSentiment(r, lang, &c, fixedPrefix, fixedSuffix)
			case "edit":
				e, err = genEdit(r, lang, &c)
			case "disjoint":
				e, err = genDisjoint(r, lang, &c)
			}
			if err != nil {
				return nil, err
			}
			e.ID, e.Split = id, s.name
			id++
			d.Examples = append(d.Examples, e)
		}
	}
	return d, nil
}

// genSentiment: a review whose sentiment words carry one polarity, then the cue
// "sentiment"; chosen = prefix + correct label + suffix, rejected = prefix +
// opposite label + the same suffix. The label is the only contrastive token.
func genSentiment(r *rng, l *synthLang, c *GenConfig, fixedPrefix, fixedSuffix []int32) Example {
	pos := r.IntN(2) == 0
	senti, label, other := l.negative, l.labelNeg, l.labelPos
	if pos {
		senti, label, other = l.positive, l.labelPos, l.labelNeg
	}
	prompt := []int32{l.cue["review"]}
	prev := prompt[0]
	nSenti := 0
	for i := 0; i < c.PromptLen; i++ {
		var w int32
		// Each word is a sentiment word with probability 0.3; the last word is
		// one if none came before, so every review carries its polarity.
		if r.Float64() < 0.3 || (i == c.PromptLen-1 && nSenti == 0) {
			w = senti[r.IntN(len(senti))]
			nSenti++
		} else {
			w = l.next(r, prev, l.neutral)
		}
		prompt = append(prompt, w)
		prev = w
	}
	prompt = append(prompt, l.cue["sentiment"])
	prefix, suffix := fixedPrefix, fixedSuffix
	if c.Shared == "random" {
		prefix = l.words(r, l.cue["sentiment"], c.Prefix, l.neutral)
		suffix = l.words(r, label, c.Suffix, l.neutral)
	}
	build := func(lab int32) []int32 {
		y := append(append([]int32{}, prefix...), lab)
		y = append(y, suffix...)
		if c.EOS {
			y = append(y, TokEOS)
		}
		return y
	}
	e := Example{Prompt: prompt, Chosen: build(label), Rejected: build(other)}
	e.ChosenContrastive, e.RejectedContrastive = PositionalFlags(e.Chosen, e.Rejected)
	e.ChosenReward, e.RejectedReward = math.NaN(), math.NaN()
	return e
}

// taskPrompt draws "text w1 ... wn reply".
func taskPrompt(r *rng, l *synthLang, c *GenConfig) []int32 {
	p := []int32{l.cue["text"]}
	p = append(p, l.words(r, p[0], c.PromptLen, l.content)...)
	return append(p, l.cue["reply"])
}

// genEdit: chosen is a continuation of the prompt; rejected is chosen with
// exactly K tokens substituted at distinct random positions, each by a
// different word.
func genEdit(r *rng, l *synthLang, c *GenConfig) (Example, error) {
	prompt := taskPrompt(r, l, c)
	chosen := l.words(r, prompt[len(prompt)-1], c.RespLen, l.content)
	rejected := append([]int32{}, chosen...)
	// Partial Fisher-Yates: the first K entries of perm are distinct positions.
	perm := make([]int, c.RespLen)
	for i := range perm {
		perm[i] = i
	}
	for i := 0; i < c.Edits; i++ {
		j := i + r.IntN(c.RespLen-i)
		perm[i], perm[j] = perm[j], perm[i]
		p := perm[i]
		// Uniform over the content words other than the original one.
		k := r.IntN(len(l.content) - 1)
		if k >= indexOf(l.content, chosen[p]) {
			k++
		}
		rejected[p] = l.content[k]
	}
	if c.EOS {
		chosen = append(chosen, TokEOS)
		rejected = append(rejected, TokEOS)
	}
	e := Example{Prompt: prompt, Chosen: chosen, Rejected: rejected}
	e.ChosenContrastive, e.RejectedContrastive = PositionalFlags(chosen, rejected)
	e.ChosenReward, e.RejectedReward = math.NaN(), math.NaN()
	return e, nil
}

func indexOf(s []int32, v int32) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// genDisjoint: two independent continuations of the prompt; the one with the
// higher reward (positive words minus negative words, see synthLang.reward)
// is chosen. Pairs with equal rewards are drawn again.
func genDisjoint(r *rng, l *synthLang, c *GenConfig) (Example, error) {
	prompt := taskPrompt(r, l, c)
	for try := 0; try < 1000; try++ {
		n1 := c.RespLen - c.Jitter + r.IntN(2*c.Jitter+1)
		n2 := c.RespLen - c.Jitter + r.IntN(2*c.Jitter+1)
		a := l.words(r, prompt[len(prompt)-1], n1, l.content)
		b := l.words(r, prompt[len(prompt)-1], n2, l.content)
		ra, rb := l.reward(a), l.reward(b)
		if ra == rb {
			continue
		}
		if rb > ra {
			a, b, ra, rb = b, a, rb, ra
		}
		if c.EOS {
			a = append(a, TokEOS)
			b = append(b, TokEOS)
		}
		e := Example{Prompt: prompt, Chosen: a, Rejected: b, ChosenReward: ra, RejectedReward: rb}
		e.ChosenContrastive, e.RejectedContrastive = AlignFlags(a, b)
		return e, nil
	}
	return Example{}, fmt.Errorf("disjoint: could not draw two responses with different rewards in 1000 tries")
}
