package prefdata

// Split names a row's role: the supervised stage, preference training, or
// held-out evaluation.
const (
	SplitSFT   = "sft"   // prompt + chosen response, for supervised fine-tuning
	SplitTrain = "train" // preference pairs for training
	SplitTest  = "test"  // held-out preference pairs (evaluation and probes)
)

// Example is one preference pair: a prompt and two responses, as token ids
// of the dataset's vocabulary.
type Example struct {
	ID       int64
	Split    string
	Prompt   []int32
	Chosen   []int32 // y_w, the preferred response
	Rejected []int32 // y_l, the dispreferred response

	// ChosenContrastive[i] is true when Chosen[i] is contrastive (it differs
	// from the rejected response) and false when it is shared; likewise
	// RejectedContrastive. See Flags for how they are computed.
	ChosenContrastive   []bool
	RejectedContrastive []bool

	// Rewards, when the task defines them (disjoint); NaN otherwise.
	ChosenReward, RejectedReward float64
}

// SharedTokens is the number of chosen-response tokens flagged shared.
func (e *Example) SharedTokens() int {
	n := 0
	for _, c := range e.ChosenContrastive {
		if !c {
			n++
		}
	}
	return n
}

// Dataset is a set of examples with the vocabulary and the description of how
// they were made.
type Dataset struct {
	Vocab     *Vocab
	Tokenizer string // "synthetic", "word", "byte" or "bpe"
	Producer  string // the command that made it, e.g. "prefgen"
	Config    string // the resolved configuration, as JSON
	Examples  []Example

	// Identity is the tokenizer imported data was made with (nil for
	// synthetic data); Stats what the import counted (nil for synthetic
	// data). Metadata keys "tokenizer_identity" and "import_stats".
	Identity *TokenizerIdentity
	Stats    *ImportStats
}

// MaxLen returns the longest prompt+response length over the examples.
func (d *Dataset) MaxLen() int {
	m := 0
	for i := range d.Examples {
		e := &d.Examples[i]
		n := len(e.Prompt) + max(len(e.Chosen), len(e.Rejected))
		m = max(m, n)
	}
	return m
}

// Select returns the examples of the given split, in order.
func (d *Dataset) Select(split string) []Example {
	var out []Example
	for _, e := range d.Examples {
		if e.Split == split {
			out = append(out, e)
		}
	}
	return out
}
