package prefdata

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Vocab maps token ids to strings and back. Id i is Tokens[i].
type Vocab struct {
	Tokens []string
	index  map[string]int32
}

// NewVocab returns a vocabulary of the given token strings, which must be
// distinct.
func NewVocab(tokens []string) (*Vocab, error) {
	v := &Vocab{Tokens: tokens, index: make(map[string]int32, len(tokens))}
	for i, t := range tokens {
		if _, dup := v.index[t]; dup {
			return nil, fmt.Errorf("vocabulary: token %q appears twice", t)
		}
		v.index[t] = int32(i)
	}
	return v, nil
}

// Size is the number of tokens.
func (v *Vocab) Size() int { return len(v.Tokens) }

// ID returns the id of token s and whether it exists.
func (v *Vocab) ID(s string) (int32, bool) {
	id, ok := v.index[s]
	return id, ok
}

// String returns the string of token id, or "<id N>" when out of range.
func (v *Vocab) String(id int32) string {
	if id < 0 || int(id) >= len(v.Tokens) {
		return fmt.Sprintf("<id %d>", id)
	}
	return v.Tokens[id]
}

// MarshalJSON encodes the vocabulary as a JSON array of strings.
func (v *Vocab) MarshalJSON() ([]byte, error) { return json.Marshal(v.Tokens) }

// The synthetic language. Its words are readable so that dumps, tables and
// heatmaps are legible. Ids are fixed by this order: specials, cues, labels,
// positive words, negative words, neutral words, then generated pseudo-words
// (consonant-vowel syllables) up to the requested vocabulary size.
var (
	specialWords  = []string{"<unk>", "<eos>"}
	cueWords      = []string{"review", "sentiment", "text", "reply"}
	labelWords    = []string{"positive", "negative"}
	positiveWords = []string{"good", "great", "lovely", "superb", "charming", "delightful",
		"brilliant", "wonderful", "pleasant", "tasty", "friendly", "happy"}
	negativeWords = []string{"bad", "awful", "dull", "terrible", "bland", "rude",
		"stale", "poor", "boring", "gloomy", "noisy", "broken"}
	neutralWords = []string{"the", "a", "movie", "food", "service", "place", "staff", "music",
		"room", "plot", "price", "meal", "book", "story", "city", "was", "and", "with", "very", "quite"}
)

// Token ids of the synthetic vocabulary's fixed words.
const (
	TokUnk = 0
	TokEOS = 1
)

// MinSyntheticVocab is the smallest vocabulary the synthetic tasks accept: the
// fixed words, before any generated pseudo-word.
var MinSyntheticVocab = len(specialWords) + len(cueWords) + len(labelWords) +
	len(positiveWords) + len(negativeWords) + len(neutralWords)

// MaxSyntheticVocab is the largest vocabulary the synthetic tasks accept: the
// fixed words and every distinct generated pseudo-word (pseudoWords of two
// and three syllables, less those that spell a fixed word).
var MaxSyntheticVocab = func() int {
	n := MinSyntheticVocab + numPseudoWords
	for _, ws := range [][]string{specialWords, cueWords, labelWords, positiveWords, negativeWords, neutralWords} {
		for _, w := range ws {
			if isPseudoWord(w) {
				n--
			}
		}
	}
	return n
}()

// Pseudo-words are made of syllables: a consonant of pseudoCons, then a vowel
// of pseudoVows.
const (
	pseudoCons     = "bdfgklmnprstvz"
	pseudoVows     = "aeiou"
	numSyllables   = len(pseudoCons) * len(pseudoVows)                                  // 70
	numPseudoWords = numSyllables*numSyllables + numSyllables*numSyllables*numSyllables // 4,900 + 343,000
)

// isPseudoWord reports whether w is two or three syllables, so spelled by
// pseudoWord.
func isPseudoWord(w string) bool {
	if len(w) != 4 && len(w) != 6 {
		return false
	}
	for i := 0; i < len(w); i += 2 {
		if !strings.ContainsRune(pseudoCons, rune(w[i])) || !strings.ContainsRune(pseudoVows, rune(w[i+1])) {
			return false
		}
	}
	return true
}

// synthLang is the synthetic vocabulary plus the id ranges of its word classes.
type synthLang struct {
	vocab    *Vocab
	cue      map[string]int32
	positive []int32 // sentiment words, and the "positive" label below
	negative []int32
	labelPos int32
	labelNeg int32
	neutral  []int32 // neutral and pseudo-words: filler, suffixes, continuations
	content  []int32 // all non-special, non-cue, non-label words
	seed     uint64  // language seed: fixes the bigram successors
}

// pseudoWord returns the i-th generated pseudo-word: consonant-vowel
// syllables, two or three of them, in a fixed order.
// It is defined for i in [0, numPseudoWords), and distinct there.
func pseudoWord(i int) string {
	cons, vows := pseudoCons, pseudoVows
	syl := func(k int) string { return string(cons[k%len(cons)]) + string(vows[(k/len(cons))%len(vows)]) }
	ns := numSyllables
	if i < ns*ns {
		return syl(i/ns) + syl(i%ns)
	}
	i -= ns * ns
	return syl(i/(ns*ns)%ns) + syl(i/ns%ns) + syl(i%ns)
}

func newSynthLang(size int, seed uint64) (*synthLang, error) {
	if size < MinSyntheticVocab {
		return nil, fmt.Errorf("vocabulary size %d is too small: the synthetic language needs at least %d tokens", size, MinSyntheticVocab)
	}
	var toks []string
	toks = append(toks, specialWords...)
	toks = append(toks, cueWords...)
	toks = append(toks, labelWords...)
	toks = append(toks, positiveWords...)
	toks = append(toks, negativeWords...)
	toks = append(toks, neutralWords...)
	seen := make(map[string]bool, size)
	for _, t := range toks {
		seen[t] = true
	}
	if size > MaxSyntheticVocab {
		return nil, fmt.Errorf("vocabulary size %d is too large: the synthetic language has %d distinct words", size, MaxSyntheticVocab)
	}
	for i := 0; len(toks) < size; i++ {
		w := pseudoWord(i)
		if !seen[w] {
			seen[w] = true
			toks = append(toks, w)
		}
	}
	v, err := NewVocab(toks)
	if err != nil {
		return nil, err
	}
	l := &synthLang{vocab: v, cue: map[string]int32{}, seed: seed}
	for _, c := range cueWords {
		l.cue[c], _ = v.ID(c)
	}
	l.labelPos, _ = v.ID("positive")
	l.labelNeg, _ = v.ID("negative")
	for _, w := range positiveWords {
		id, _ := v.ID(w)
		l.positive = append(l.positive, id)
	}
	for _, w := range negativeWords {
		id, _ := v.ID(w)
		l.negative = append(l.negative, id)
	}
	firstNeutral := int32(len(specialWords) + len(cueWords) + len(labelWords) + len(positiveWords) + len(negativeWords))
	for id := firstNeutral; int(id) < size; id++ {
		l.neutral = append(l.neutral, id)
	}
	l.content = append(append(append(l.content, l.positive...), l.negative...), l.neutral...)
	return l, nil
}

// next draws the word that follows prev from pool in the synthetic language: a
// bigram chain in which every word has four preferred successors in the pool
// (fixed by the language seed), taken with probability 0.8, and any word of
// the pool otherwise. The structure gives a language model something to learn.
func (l *synthLang) next(r *rng, prev int32, pool []int32) int32 {
	if r.Float64() < 0.8 {
		k := r.IntN(4)
		h := hash64(l.seed ^ uint64(prev)<<8 ^ uint64(k)<<40 ^ uint64(len(pool))<<48)
		return pool[h%uint64(len(pool))]
	}
	return pool[r.IntN(len(pool))]
}

// words draws n words from pool continuing after prev.
func (l *synthLang) words(r *rng, prev int32, n int, pool []int32) []int32 {
	out := make([]int32, n)
	for i := range out {
		prev = l.next(r, prev, pool)
		out[i] = prev
	}
	return out
}

// reward is the disjoint task's reward of a response: the number of positive
// words minus the number of negative words.
func (l *synthLang) reward(y []int32) float64 {
	s := 0.0
	for _, t := range y {
		if t >= l.positive[0] && t <= l.positive[len(l.positive)-1] {
			s++
		} else if t >= l.negative[0] && t <= l.negative[len(l.negative)-1] {
			s--
		}
	}
	return s
}
