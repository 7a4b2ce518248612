package prefdata

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenizers of imported data.
const (
	TokenizerWord = "word" // words and punctuation; vocabulary built from the data
	TokenizerByte = "byte" // one token per byte; fixed vocabulary of 256
)

// SplitWords splits text into word tokens: maximal runs of letters, digits
// and apostrophes, and every other non-space rune as a token of its own.
// White space separates tokens and is not kept.
func SplitWords(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		wordRune := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '_'
		if wordRune {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, s[start:i])
			start = -1
		}
		if !unicode.IsSpace(r) {
			out = append(out, string(r))
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// byteVocab is the byte tokenizer's vocabulary: printable ASCII bytes stand
// for themselves, every other byte is written <0xNN>.
func byteVocab(eos bool) []string {
	toks := make([]string, 256, 257)
	for b := 0; b < 256; b++ {
		if b > 0x20 && b < 0x7f {
			toks[b] = string(rune(b))
		} else {
			toks[b] = fmt.Sprintf("<0x%02x>", b)
		}
	}
	if eos {
		toks = append(toks, "<eos>")
	}
	return toks
}

// ImportConfig configures the import of text pairs.
type ImportConfig struct {
	Tokenizer string  `json:"tokenizer"` // word or byte
	Vocab     int     `json:"vocab"`     // word: vocabulary size cap, specials included
	TestFrac  float64 `json:"test_frac"` // fraction of pairs put in the test split
	Seed      uint64  `json:"seed"`      // seed of the split assignment
	EOS       bool    `json:"eos"`       // append <eos> to both responses
	Source    string  `json:"source"`    // input name, for the record
}

// Import tokenizes text pairs into a dataset. The word tokenizer's vocabulary
// is <unk>, <eos>, then the words of the data by decreasing frequency (ties in
// byte order), cut at cfg.Vocab; rarer words become <unk>. Contrastive flags
// come from AlignFlags. Pair i goes to the test split when a hash of (seed, i)
// falls below TestFrac, and to the train split otherwise.
func Import(pairs []RawPair, cfg ImportConfig) (*Dataset, error) {
	if cfg.TestFrac < 0 || cfg.TestFrac >= 1 {
		return nil, fmt.Errorf("-test-frac must be in [0, 1) (got %g)", cfg.TestFrac)
	}
	var vocab *Vocab
	var enc func(string) []int32
	switch cfg.Tokenizer {
	case TokenizerByte:
		vocab, _ = NewVocab(byteVocab(cfg.EOS))
		enc = func(s string) []int32 {
			out := make([]int32, len(s))
			for i := 0; i < len(s); i++ {
				out[i] = int32(s[i])
			}
			return out
		}
	case TokenizerWord:
		if cfg.Vocab < 3 {
			return nil, fmt.Errorf("-vocab %d is too small for the word tokenizer (at least 3)", cfg.Vocab)
		}
		counts := map[string]int{}
		for _, p := range pairs {
			for _, s := range []string{p.Prompt, p.Chosen, p.Rejected} {
				for _, w := range SplitWords(s) {
					counts[w]++
				}
			}
		}
		words := make([]string, 0, len(counts))
		for w := range counts {
			if w != "<unk>" && w != "<eos>" {
				words = append(words, w)
			}
		}
		sort.Slice(words, func(i, j int) bool {
			if counts[words[i]] != counts[words[j]] {
				return counts[words[i]] > counts[words[j]]
			}
			return words[i] < words[j]
		})
		if len(words) > cfg.Vocab-2 {
			words = words[:cfg.Vocab-2]
		}
		vocab, _ = NewVocab(append([]string{"<unk>", "<eos>"}, words...))
		enc = func(s string) []int32 {
			ws := SplitWords(s)
			out := make([]int32, len(ws))
			for i, w := range ws {
				id, ok := vocab.ID(w)
				if !ok {
					id = TokUnk
				}
				out[i] = id
			}
			return out
		}
	default:
		return nil, fmt.Errorf("unknown tokenizer %q (word or byte)", cfg.Tokenizer)
	}
	eosID, _ := vocab.ID("<eos>")
	cfgJSON, _ := json.Marshal(cfg)
	d := &Dataset{Vocab: vocab, Tokenizer: cfg.Tokenizer, Producer: "prefgen import", Config: string(cfgJSON)}
	for i, p := range pairs {
		e := Example{ID: int64(i), Split: SplitTrain, Prompt: enc(p.Prompt), Chosen: enc(p.Chosen), Rejected: enc(p.Rejected)}
		if cfg.EOS {
			e.Chosen = append(e.Chosen, eosID)
			e.Rejected = append(e.Rejected, eosID)
		}
		if len(e.Prompt) == 0 || len(e.Chosen) == 0 || len(e.Rejected) == 0 {
			return nil, fmt.Errorf("%s:%d: a field has no tokens after tokenization", cfg.Source, i+1)
		}
		if n := len(e.Prompt) + max(len(e.Chosen), len(e.Rejected)); n > MaxSeqLen {
			return nil, fmt.Errorf("%s:%d: %d tokens exceed the longest context allowed (%d)", cfg.Source, i+1, n, MaxSeqLen)
		}
		if float64(hash64(cfg.Seed^uint64(i)*0x9e3779b97f4a7c15)>>11)/(1<<53) < cfg.TestFrac {
			e.Split = SplitTest
		}
		e.ChosenContrastive, e.RejectedContrastive = AlignFlags(e.Chosen, e.Rejected)
		e.ChosenReward, e.RejectedReward = math.NaN(), math.NaN()
		d.Examples = append(d.Examples, e)
	}
	return d, nil
}

// Decode renders token ids as text with the dataset's tokenizer: bytes for the
// byte tokenizer (invalid UTF-8 is replaced), words joined by single spaces
// otherwise (the word tokenizer does not keep the original spacing).
func Decode(d *Dataset, ids []int32) string {
	if d.Tokenizer == TokenizerByte {
		b := make([]byte, 0, len(ids))
		for _, id := range ids {
			if id >= 0 && id < 256 {
				b = append(b, byte(id))
			}
		}
		if !utf8.Valid(b) {
			return strings.ToValidUTF8(string(b), "\uFFFD")
		}
		return string(b)
	}
	ws := make([]string, len(ids))
	for i, id := range ids {
		ws[i] = d.Vocab.String(id)
	}
	return strings.Join(ws, " ")
}
