package prefdata

import (
	"fmt"
	"iter"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TextTokenizer is what Import needs of a tokenizer: text to ids and back,
// the vocabulary, and the end- and beginning-of-sequence tokens. The
// built-in WordTokenizer and ByteTokenizer satisfy it, and so does the
// byte-level BPE loaded from a model directory (pkg/tokenizer).
//
// Vocab returns the token strings by id; they must be distinct and valid
// UTF-8 (byte-level BPE tokens in GPT-2's byte-to-unicode form), because the
// vocabulary travels in the dataset's metadata.
type TextTokenizer interface {
	Encode(s string) []int32
	Decode(ids []int32) string
	Vocab() []string
	EOS() (int32, bool)
	BOS() (int32, bool)
}

// ChatTemplate renders a conversation with a model's chat template, with the
// generation prompt appended when addGenerationPrompt is true. Import uses it
// for records whose fields are message lists.
type ChatTemplate func(msgs []Message, addGenerationPrompt bool) (string, error)

// Tokenizer kinds, the value of the dataset's "tokenizer" metadata key.
const (
	TokenizerSynthetic = "synthetic"      // prefgen's synthetic language
	TokenizerWord      = "word"           // words and punctuation; vocabulary built from the data
	TokenizerByte      = "byte"           // one token per byte; fixed vocabulary of 256 (+ <eos>)
	TokenizerBPE       = "byte-level-bpe" // a model directory's byte-level BPE; vocabulary in byte-to-unicode form
)

// TokenizerIdentity names the tokenizer a dataset was made with, so that a
// model whose tokenizer differs can be refused (CheckTokenizer). It is stored
// as JSON under the metadata key "tokenizer_identity".
type TokenizerIdentity struct {
	Name         string            `json:"name"`                    // e.g. the model directory's base name, "word", "byte"
	Kind         string            `json:"kind"`                    // "byte-level-bpe", "word" or "byte"
	ModelType    string            `json:"model_type,omitempty"`    // the model directory's config.json model_type
	Normalizer   string            `json:"normalizer,omitempty"`    // the text normalization, when there is one
	Pretokenizer string            `json:"pretokenizer,omitempty"`  // the pre-tokenization scheme, when there is one
	VocabSize    int               `json:"vocab_size"`              // tokens, added tokens included
	ChatTemplate string            `json:"chat_template,omitempty"` // the chat template's family, or "none"
	Files        map[string]string `json:"files,omitempty"`         // file name -> sha256 (hex) of the files it was loaded from
}

// WordTokenizer splits text with SplitWords and maps words to ids of a
// vocabulary built from the data: <unk>, <eos>, then words by decreasing
// frequency (ties in byte order). Unknown words become <unk>. Decoding joins
// words with single spaces: the original spacing is not kept.
type WordTokenizer struct{ v *Vocab }

// NewWordTokenizer builds the vocabulary of at most size tokens (specials
// included, size >= 3) from texts.
func NewWordTokenizer(texts iter.Seq[string], size int) (*WordTokenizer, error) {
	if size < 3 {
		return nil, fmt.Errorf("-vocab %d is too small for the word tokenizer (at least 3)", size)
	}
	counts := map[string]int{}
	for s := range texts {
		for _, w := range SplitWords(s) {
			counts[w]++
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
	if len(words) > size-2 {
		words = words[:size-2]
	}
	v, err := NewVocab(append([]string{"<unk>", "<eos>"}, words...))
	if err != nil {
		return nil, err
	}
	return &WordTokenizer{v}, nil
}

// Encode returns the ids of the words of s.
func (t *WordTokenizer) Encode(s string) []int32 {
	ws := SplitWords(s)
	out := make([]int32, len(ws))
	for i, w := range ws {
		id, ok := t.v.ID(w)
		if !ok {
			id = TokUnk
		}
		out[i] = id
	}
	return out
}

// Decode joins the words of ids with single spaces.
func (t *WordTokenizer) Decode(ids []int32) string { return decodeWords(t.v, ids) }

// Vocab returns the token strings by id.
func (t *WordTokenizer) Vocab() []string { return t.v.Tokens }

// EOS returns the id of <eos>.
func (t *WordTokenizer) EOS() (int32, bool) { return TokEOS, true }

// BOS reports that the word tokenizer has no beginning-of-sequence token.
func (t *WordTokenizer) BOS() (int32, bool) { return 0, false }

// Identity describes the tokenizer.
func (t *WordTokenizer) Identity() TokenizerIdentity {
	return TokenizerIdentity{Name: TokenizerWord, Kind: TokenizerWord, VocabSize: t.v.Size()}
}

func decodeWords(v *Vocab, ids []int32) string {
	ws := make([]string, len(ids))
	for i, id := range ids {
		ws[i] = v.String(id)
	}
	return strings.Join(ws, " ")
}

// ByteTokenizer has one token per byte of the UTF-8 text (ids 0-255) and,
// when WithEOS is set, <eos> as id 256. It is lossless: Decode(Encode(s)) == s.
type ByteTokenizer struct{ WithEOS bool }

// Encode returns the bytes of s as ids.
func (t ByteTokenizer) Encode(s string) []int32 {
	out := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int32(s[i])
	}
	return out
}

// Decode returns the bytes of ids as text (ids outside 0-255 are dropped;
// invalid UTF-8 is replaced by U+FFFD).
func (t ByteTokenizer) Decode(ids []int32) string { return decodeBytes(ids) }

// Vocab returns the byte tokens: printable ASCII bytes stand for themselves,
// every other byte is written <0xNN>; then <eos> if WithEOS.
func (t ByteTokenizer) Vocab() []string { return byteVocab(t.WithEOS) }

// EOS returns the id of <eos> when WithEOS is set.
func (t ByteTokenizer) EOS() (int32, bool) { return 256, t.WithEOS }

// BOS reports that the byte tokenizer has no beginning-of-sequence token.
func (t ByteTokenizer) BOS() (int32, bool) { return 0, false }

// Identity describes the tokenizer.
func (t ByteTokenizer) Identity() TokenizerIdentity {
	return TokenizerIdentity{Name: TokenizerByte, Kind: TokenizerByte, VocabSize: len(byteVocab(t.WithEOS))}
}

func decodeBytes(ids []int32) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= 0 && id < 256 {
			b = append(b, byte(id))
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// byteVocab is the byte tokenizer's vocabulary.
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

// unicodeToByte inverts GPT-2's byte-to-unicode map, in which byte-level BPE
// vocabularies are written: the printable bytes '!'-'~', '¡'-'¬' and '®'-'ÿ'
// stand for themselves, and the other 68 bytes, in increasing order, for
// U+0100, U+0101, ….
var unicodeToByte = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[rune(b)] = byte(b)
		} else {
			m[rune(256+n)] = byte(b)
			n++
		}
	}
	return m
}()

// decodeByteLevel turns byte-level BPE tokens back into text: each rune of a
// token in the byte-to-unicode image stands for its byte; any other rune (in
// added tokens) is kept as UTF-8. Invalid UTF-8 in the result (a response
// cut inside a character) is replaced by U+FFFD.
func decodeByteLevel(v *Vocab, ids []int32) string {
	var b []byte
	for _, id := range ids {
		for _, r := range v.String(id) {
			if c, ok := unicodeToByte[r]; ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// Decode renders token ids as text with the dataset's tokenizer: bytes for the
// byte tokenizer, the bytes of byte-level BPE tokens (through the stored
// vocabulary) for bpe, and words joined by single spaces otherwise (the word
// tokenizer does not keep the original spacing).
func Decode(d *Dataset, ids []int32) string {
	switch d.Tokenizer {
	case TokenizerByte:
		return decodeBytes(ids)
	case TokenizerBPE:
		return decodeByteLevel(d.Vocab, ids)
	}
	return decodeWords(d.Vocab, ids)
}

// CheckTokenizer returns an error when the dataset's tokens do not mean the
// same text to a model whose tokenizer has identity id and vocabulary vocab
// (token strings by id): the dataset was made with another kind of tokenizer,
// the vocabularies differ in size or in any token, or a tokenizer file both
// identities name has another hash. A model-loading caller checks a dataset
// before training on it.
func CheckTokenizer(d *Dataset, id TokenizerIdentity, vocab []string) error {
	kind := d.Tokenizer
	if d.Identity != nil {
		kind = d.Identity.Kind
	}
	if kind != id.Kind {
		return fmt.Errorf("the dataset was tokenized with the %s tokenizer, the model uses %s (%s): re-import the data with prefgen import -tokenizer MODEL_DIR", kind, id.Name, id.Kind)
	}
	if d.Vocab.Size() != len(vocab) {
		return fmt.Errorf("the dataset's vocabulary has %d tokens, the model's tokenizer (%s) %d", d.Vocab.Size(), id.Name, len(vocab))
	}
	for i, t := range vocab {
		if d.Vocab.Tokens[i] != t {
			return fmt.Errorf("token %d is %q in the dataset's vocabulary but %q in the model's tokenizer (%s)", i, d.Vocab.Tokens[i], t, id.Name)
		}
	}
	if d.Identity != nil {
		names := make([]string, 0, len(id.Files))
		for f := range id.Files {
			names = append(names, f)
		}
		sort.Strings(names)
		for _, f := range names {
			if h, ok := d.Identity.Files[f]; ok && h != id.Files[f] {
				return fmt.Errorf("tokenizer file %s differs: sha256 %.12s… in the dataset, %.12s… in the model's directory", f, h, id.Files[f])
			}
		}
	}
	return nil
}

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
