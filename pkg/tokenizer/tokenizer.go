package tokenizer

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"
)

// Kind is the only tokenizer kind this package reads.
const Kind = "byte-level-bpe"

// Gap is the prefix of the placeholder that Vocab gives an id no token has
// (Vocab()[id] == Gap + strconv.Itoa(id) + ">"); ID never returns such an id.
const Gap = "<gap:"

// Tokenizer is a byte-level BPE tokenizer read from a model's own files. It
// is safe for concurrent use.
type Tokenizer struct {
	// vocab[id] is the token's string: byte-level form for model tokens, the
	// content for added tokens, a Gap placeholder for unused ids.
	vocab []string
	ids   map[string]int32 // token string -> id (model tokens and added tokens)
	// The raw bytes of token id are raw[off[id]:off[id+1]].
	raw []byte
	off []int32

	byteID       [256]int32        // id of the one-byte token of each byte
	merges       map[uint64]uint64 // pairKey(a, b) -> mergeVal(rank, id of ab)
	rawVocab     map[string]int32  // raw bytes -> id of model tokens, when ignoreMerges
	ignoreMerges bool

	nfc    bool    // NFC normalizer
	stages []stage // pre-tokenizer: each stage splits the pieces of the previous

	special, ordinary      *matcher // added tokens recognised by EncodeSpecial and by Encode
	hasBOS, hasEOS, hasPAD bool
	bos, eos, pad          int32
	template               *chatTemplate
	templateErr            error  // why ApplyChatTemplate cannot render, when template is nil
	bosToken               string // bos_token of tokenizer_config.json, which the Llama-3 template prepends
	ident                  Identity

	mu    sync.Mutex
	cache map[string][]int32 // raw piece -> ids
	arena []int32
}

// Identity describes a tokenizer well enough to tell two apart. Its JSON is
// stable (fixed field order, sorted Files). Its fields are those of
// prefdata.TokenizerIdentity in the same order, so that one converts to the
// other (prefdata.TokenizerIdentity(t.Identity())).
type Identity struct {
	Name         string            `json:"name"`                 // model directory's base name
	Kind         string            `json:"kind"`                 // always Kind
	ModelType    string            `json:"model_type,omitempty"` // config.json's model_type, if present
	Normalizer   string            `json:"normalizer"`           // "none" or "nfc"
	Pretokenizer string            `json:"pretokenizer"`         // stage names joined by "+", see the package doc
	VocabSize    int               `json:"vocab_size"`           // len(Vocab())
	ChatTemplate string            `json:"chat_template"`        // "chatml", "llama3", "none" or "unsupported"
	Files        map[string]string `json:"files"`                // file name -> sha256 hex of every tokenizer file read (not config.json)
}

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// stage is one pre-tokenizer stage.
type stage struct {
	kind uint8
	arg  int // maxDigits for stLlama3; 1 for individual digits in stDigits
}

const (
	stGPT2   uint8 = iota // GPT-2's pattern (ByteLevel with use_regex)
	stLlama3              // Llama-3's pattern; arg is the digit group (3, or 1 for Qwen2)
	stDigits              // Digits; arg 1: each digit alone, 0: runs of digits
)

func (s stage) name() string {
	switch s.kind {
	case stGPT2:
		return "gpt2"
	case stLlama3:
		if s.arg == 1 {
			return "qwen2"
		}
		return "llama3"
	case stDigits:
		if s.arg == 1 {
			return "digits"
		}
		return "digit-runs"
	}
	panic("tokenizer: bad stage")
}

func (s stage) next(p string) int {
	switch s.kind {
	case stGPT2:
		return gpt2Next(p)
	case stLlama3:
		return llama3Next(p, s.arg)
	default:
		return digitsNext(p, s.arg == 1)
	}
}

// Encode returns the ids of ordinary text s. Special tokens are not
// recognised: "<|endoftext|>" in s is encoded as the text it is. Added
// tokens that are not special (a tokenizer.json's added_tokens with
// "special": false, which Hugging Face tokenizers always match in text) are
// recognised; the families of the package doc have none.
func (t *Tokenizer) Encode(s string) []int32 {
	return t.encode(make([]int32, 0, len(s)/3+1), s, t.ordinary)
}

// EncodeSpecial is Encode with every added token, special or not, recognised
// in s and encoded as its single id (leftmost, then longest match first).
func (t *Tokenizer) EncodeSpecial(s string) []int32 {
	return t.encode(make([]int32, 0, len(s)/3+1), s, t.special)
}

// AppendEncode appends the ids of s (as Encode) to dst and returns it.
func (t *Tokenizer) AppendEncode(dst []int32, s string) []int32 {
	return t.encode(dst, s, t.ordinary)
}

func (t *Tokenizer) encode(dst []int32, s string, m *matcher) []int32 {
	// Added tokens with normalized=false are found in the raw text, those
	// with normalized=true in the normalized text of what lies between.
	for len(s) > 0 {
		i, id, n := m.find(s, false)
		if i < 0 {
			return t.encodeNormal(dst, s, m)
		}
		dst = t.encodeNormal(dst, s[:i], m)
		dst = append(dst, id)
		s = s[i+n:]
	}
	return dst
}

func (t *Tokenizer) encodeNormal(dst []int32, s string, m *matcher) []int32 {
	if len(s) == 0 {
		return dst
	}
	if t.nfc {
		s = norm.NFC.String(s)
	}
	if m.hasNormalized {
		for len(s) > 0 {
			i, id, n := m.find(s, true)
			if i < 0 {
				break
			}
			dst = t.split(dst, s[:i], 0)
			dst = append(dst, id)
			s = s[i+n:]
		}
	}
	return t.split(dst, s, 0)
}

// split runs pre-tokenizer stage k on s and passes each piece to the next
// stage, and the pieces of the last stage to BPE.
func (t *Tokenizer) split(dst []int32, s string, k int) []int32 {
	if k == len(t.stages) {
		if len(s) == 0 {
			return dst
		}
		return t.piece(dst, s)
	}
	st := t.stages[k]
	for len(s) > 0 {
		n := st.next(s)
		dst = t.split(dst, s[:n], k+1)
		s = s[n:]
	}
	return dst
}

// Decode returns the text of ids: the bytes of each token concatenated
// (added tokens give their content). It is the exact inverse of Encode and
// EncodeSpecial when the tokenizer has no normalizer; bytes that are not
// valid UTF-8 (a token sequence cut inside a character) are kept as they
// are. Decode panics on an id outside [0, len(Vocab())).
func (t *Tokenizer) Decode(ids []int32) string {
	n := 0
	for _, id := range ids {
		n += int(t.off[id+1] - t.off[id])
	}
	b := make([]byte, 0, n)
	for _, id := range ids {
		b = append(b, t.raw[t.off[id]:t.off[id+1]]...)
	}
	return string(b)
}

// Vocab returns the token string of every id (a copy): model tokens in
// their byte-level form (valid UTF-8, as in vocab.json), added tokens as
// their content, and Gap + id + ">" for ids no token has.
func (t *Tokenizer) Vocab() []string { return append([]string(nil), t.vocab...) }

// TokenText returns the text of one token: its bytes as UTF-8, with bytes
// that are not valid UTF-8 written \xNN.
func (t *Tokenizer) TokenText(id int32) string {
	return readable(t.raw[t.off[id]:t.off[id+1]])
}

// ID returns the id of a token string as Vocab spells it.
func (t *Tokenizer) ID(tok string) (int32, bool) {
	id, ok := t.ids[tok]
	return id, ok
}

// EOS returns the end-of-sequence token: tokenizer_config.json's eos_token,
// else the default of its tokenizer class ("<|endoftext|>" for GPT-2,
// GPT-NeoX and Qwen2, and for a vocab.json folder without a config).
func (t *Tokenizer) EOS() (int32, bool) { return t.eos, t.hasEOS }

// BOS returns the beginning-of-sequence token: tokenizer_config.json's
// bos_token, else the default of its tokenizer class ("<|endoftext|>" for
// GPT-2 and GPT-NeoX). Encode never adds it.
func (t *Tokenizer) BOS() (int32, bool) { return t.bos, t.hasBOS }

// PAD returns the padding token: tokenizer_config.json's pad_token, else
// the default of its tokenizer class ("<|endoftext|>" for Qwen2).
func (t *Tokenizer) PAD() (int32, bool) { return t.pad, t.hasPAD }

// Identity returns the tokenizer's identity.
func (t *Tokenizer) Identity() Identity {
	id := t.ident
	id.Files = make(map[string]string, len(t.ident.Files))
	for k, v := range t.ident.Files {
		id.Files[k] = v
	}
	return id
}

// matcher finds added tokens in text.
type matcher struct {
	toks          []addedToken
	first         [256][]int32 // indices into toks by first byte, longest first
	hasRaw        bool         // some token has normalized=false (or there is no normalizer)
	hasNormalized bool         // some token has normalized=true and there is a normalizer
}

type addedToken struct {
	content    string
	id         int32
	special    bool
	normalized bool // matched in normalized text (only meaningful with a normalizer)
}

func newMatcher(toks []addedToken) *matcher {
	m := &matcher{toks: toks}
	for i, a := range toks {
		if a.content == "" {
			continue
		}
		if a.normalized {
			m.hasNormalized = true
		} else {
			m.hasRaw = true
		}
		l := &m.first[a.content[0]]
		*l = append(*l, int32(i))
	}
	for b := range m.first {
		l := m.first[b]
		// Longest first; equal lengths keep the file's order.
		for i := 1; i < len(l); i++ {
			for j := i; j > 0 && len(toks[l[j]].content) > len(toks[l[j-1]].content); j-- {
				l[j], l[j-1] = l[j-1], l[j]
			}
		}
	}
	return m
}

// find returns the leftmost, then longest, added token (of the given
// normalized kind) in s: its offset, id and length; offset -1 if none.
func (m *matcher) find(s string, normalized bool) (int, int32, int) {
	if (normalized && !m.hasNormalized) || (!normalized && !m.hasRaw) {
		return -1, 0, 0
	}
	for i := 0; i < len(s); i++ {
		for _, k := range m.first[s[i]] {
			a := &m.toks[k]
			if a.normalized == normalized && strings.HasPrefix(s[i:], a.content) {
				return i, a.id, len(a.content)
			}
		}
	}
	return -1, 0, 0
}

func gapToken(id int) string { return Gap + strconv.Itoa(id) + ">" }
