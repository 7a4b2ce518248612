package tokenizer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// File names in a model directory.
const (
	FileTokenizerJSON   = "tokenizer.json"
	FileVocabJSON       = "vocab.json"
	FileMerges          = "merges.txt"
	FileTokenizerConfig = "tokenizer_config.json"
	FileChatTemplate    = "chat_template.jinja"
	FileConfig          = "config.json"
)

// Split patterns of the pre-tokenizers this package implements, as
// tokenizer.json spells them.
const (
	PatternGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// PatternGPT2Tiktoken is tiktoken's spelling of PatternGPT2 (the same
	// language: the contractions are disjoint, so their order is immaterial).
	PatternGPT2Tiktoken = `'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	PatternLlama3       = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	PatternQwen2        = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// Load reads a tokenizer from a model directory: tokenizer.json if present,
// else vocab.json and merges.txt; tokenizer_config.json (if present) for the
// chat template, the bos and eos tokens and added tokens; chat_template.jinja
// when tokenizer_config.json has no template; config.json for model_type.
// Anything the files declare that this package does not implement exactly
// is an error naming the file and the component.
func Load(dir string) (*Tokenizer, error) {
	files := map[string]string{}
	read := func(name string) ([]byte, bool, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if name != FileConfig { // config.json is the model's, not the tokenizer's
			sum := sha256.Sum256(b)
			files[name] = hex.EncodeToString(sum[:])
		}
		return b, true, nil
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	var modelType string
	if data, ok, err := read(FileConfig); err != nil {
		return nil, err
	} else if ok {
		var c struct {
			ModelType string `json:"model_type"`
		}
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("%s: %v", path(FileConfig), err)
		}
		modelType = c.ModelType
	}

	var cfg *tokenizerConfig
	if b, ok, err := read(FileTokenizerConfig); err != nil {
		return nil, err
	} else if ok {
		cfg = new(tokenizerConfig)
		if err := json.Unmarshal(b, cfg); err != nil {
			return nil, fmt.Errorf("%s: %v", path(FileTokenizerConfig), err)
		}
	}

	var b builder
	if data, ok, err := read(FileTokenizerJSON); err != nil {
		return nil, err
	} else if ok {
		if err := b.tokenizerJSON(path(FileTokenizerJSON), data); err != nil {
			return nil, err
		}
	} else {
		vocab, ok1, err := read(FileVocabJSON)
		if err != nil {
			return nil, err
		}
		merges, ok2, err := read(FileMerges)
		if err != nil {
			return nil, err
		}
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: no %s, and no %s with %s", dir, FileTokenizerJSON, FileVocabJSON, FileMerges)
		}
		if err := b.vocabMerges(path(FileVocabJSON), vocab, path(FileMerges), merges); err != nil {
			return nil, err
		}
	}

	var template string
	if cfg != nil {
		t, err := cfg.template()
		if err != nil {
			return nil, fmt.Errorf("%s: chat_template: %v", path(FileTokenizerConfig), err)
		}
		template = t
		if err := b.configTokens(path(FileTokenizerConfig), cfg); err != nil {
			return nil, err
		}
	}
	b.classDefaults(cfg, modelType)
	if template == "" {
		if data, ok, err := read(FileChatTemplate); err != nil {
			return nil, err
		} else if ok {
			template = string(data)
		}
	}

	t, err := b.build()
	if err != nil {
		return nil, err
	}
	if b.bosName != "" {
		if t.bos, t.hasBOS = t.ids[b.bosName]; !t.hasBOS {
			return nil, fmt.Errorf("%s: bos_token %q is not a token", path(FileTokenizerConfig), b.bosName)
		}
	}
	if b.eosName != "" {
		if t.eos, t.hasEOS = t.ids[b.eosName]; !t.hasEOS {
			return nil, fmt.Errorf("%s: eos_token %q is not a token", path(FileTokenizerConfig), b.eosName)
		}
	}
	if b.padName != "" {
		if t.pad, t.hasPAD = t.ids[b.padName]; !t.hasPAD {
			return nil, fmt.Errorf("%s: pad_token %q is not a token", path(FileTokenizerConfig), b.padName)
		}
	}
	t.bosToken = b.bosName
	t.setTemplate(template)

	t.ident = Identity{
		Name:         filepath.Base(filepath.Clean(dir)),
		ModelType:    modelType,
		Kind:         Kind,
		Normalizer:   "none",
		VocabSize:    len(t.vocab),
		ChatTemplate: "none",
		Files:        files,
	}
	if t.nfc {
		t.ident.Normalizer = "nfc"
	}
	var names []string
	for _, s := range t.stages {
		names = append(names, s.name())
	}
	t.ident.Pretokenizer = strings.Join(names, "+")
	if len(names) == 0 {
		t.ident.Pretokenizer = "none"
	}
	switch {
	case t.template != nil:
		t.ident.ChatTemplate = t.template.family
	case template != "":
		t.ident.ChatTemplate = "unsupported"
	}
	return t, nil
}

// builder collects a tokenizer's parts before build checks and indexes them.
type builder struct {
	ids           map[string]int32 // model vocabulary
	merges        [][2]string
	mergePos      []string // where each merge is, for errors: "merges.txt:12" or "tokenizer.json: model.merges[10]"
	added         []addedToken
	nfc           bool
	stages        []stage
	ignoreMerges  bool
	fromVocabJSON bool
	src           string // the file(s) the vocabulary and merges came from, for errors
	bosName       string
	eosName       string
	padName       string
}

// vocabMerges reads GPT-2's vocab.json and merges.txt.
func (b *builder) vocabMerges(vocabPath string, vocab []byte, mergesPath string, merges []byte) error {
	b.fromVocabJSON = true
	b.src = vocabPath + " + " + filepath.Base(mergesPath)
	b.stages = []stage{{kind: stGPT2}}
	if err := json.Unmarshal(vocab, &b.ids); err != nil {
		return fmt.Errorf("%s: %v", vocabPath, err)
	}
	lines := strings.Split(string(merges), "\n")
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || (i == 0 && strings.HasPrefix(line, "#version")) {
			continue
		}
		a, c, ok := strings.Cut(line, " ")
		if !ok || a == "" || c == "" || strings.Contains(c, " ") {
			return fmt.Errorf("%s:%d: want two tokens separated by one space, got %q", mergesPath, i+1, line)
		}
		b.merges = append(b.merges, [2]string{a, c})
		b.mergePos = append(b.mergePos, fmt.Sprintf("%s:%d", mergesPath, i+1))
	}
	return nil
}

// tokenizerJSON reads a Hugging Face tokenizer.json.
func (b *builder) tokenizerJSON(path string, data []byte) error {
	b.src = path
	var f struct {
		AddedTokens []struct {
			ID         int32  `json:"id"`
			Content    string `json:"content"`
			SingleWord bool   `json:"single_word"`
			Lstrip     bool   `json:"lstrip"`
			Rstrip     bool   `json:"rstrip"`
			Normalized bool   `json:"normalized"`
			Special    bool   `json:"special"`
		} `json:"added_tokens"`
		Normalizer    json.RawMessage `json:"normalizer"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Decoder       json.RawMessage `json:"decoder"`
		Model         struct {
			Type                    string            `json:"type"`
			Dropout                 *float64          `json:"dropout"`
			ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
			EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
			ByteFallback            bool              `json:"byte_fallback"`
			IgnoreMerges            bool              `json:"ignore_merges"`
			Vocab                   map[string]int32  `json:"vocab"`
			Merges                  []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	m := &f.Model
	switch {
	case m.Type != "BPE" && !(m.Type == "" && m.Merges != nil):
		return fmt.Errorf("%s: model: type %q is not supported (only BPE)", path, m.Type)
	case m.Dropout != nil && *m.Dropout != 0:
		return fmt.Errorf("%s: model: dropout %v is not supported", path, *m.Dropout)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return fmt.Errorf("%s: model: continuing_subword_prefix %q is not supported", path, *m.ContinuingSubwordPrefix)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return fmt.Errorf("%s: model: end_of_word_suffix %q is not supported", path, *m.EndOfWordSuffix)
	case m.ByteFallback:
		return fmt.Errorf("%s: model: byte_fallback is not supported (not a byte-level BPE)", path)
	}
	b.ids = m.Vocab
	b.ignoreMerges = m.IgnoreMerges
	for i, raw := range m.Merges {
		var s string
		var pair [2]string
		if err := json.Unmarshal(raw, &s); err == nil {
			a, c, ok := strings.Cut(s, " ")
			if !ok || a == "" || c == "" || strings.Contains(c, " ") {
				return fmt.Errorf("%s: model.merges[%d]: want two tokens separated by one space, got %q", path, i, s)
			}
			pair = [2]string{a, c}
		} else if err := json.Unmarshal(raw, &pair); err != nil {
			return fmt.Errorf("%s: model.merges[%d]: want \"a b\" or [\"a\", \"b\"], got %s", path, i, raw)
		}
		b.merges = append(b.merges, pair)
		b.mergePos = append(b.mergePos, fmt.Sprintf("%s: model.merges[%d]", path, i))
	}
	for _, a := range f.AddedTokens {
		if a.SingleWord || a.Lstrip || a.Rstrip {
			return fmt.Errorf("%s: added_tokens: %q has single_word, lstrip or rstrip set, which is not supported", path, a.Content)
		}
		b.added = append(b.added, addedToken{content: a.Content, id: a.ID, special: a.Special, normalized: a.Normalized})
	}
	var err error
	if b.nfc, err = normalizer(f.Normalizer); err != nil {
		return fmt.Errorf("%s: normalizer: %v", path, err)
	}
	if b.stages, err = preTokenizer(f.PreTokenizer); err != nil {
		return fmt.Errorf("%s: pre_tokenizer: %v", path, err)
	}
	if err := decoder(f.Decoder); err != nil {
		return fmt.Errorf("%s: decoder: %v", path, err)
	}
	if err := postProcessor(f.PostProcessor); err != nil {
		return fmt.Errorf("%s: post_processor: %v", path, err)
	}
	return nil
}

// component is a tokenizer.json pipeline component.
type component map[string]json.RawMessage

func (c component) typ() string {
	var s string
	json.Unmarshal(c["type"], &s)
	return s
}

// boolField returns field k (def when absent or null).
func (c component) boolField(k string, def bool) (bool, error) {
	raw, ok := c[k]
	if !ok || string(raw) == "null" {
		return def, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, fmt.Errorf("%s: %s: %v", c.typ(), k, err)
	}
	return v, nil
}

func parseComponent(raw json.RawMessage) (component, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return c, nil
}

// normalizer accepts no normalizer, NFC, or a Sequence of them.
func normalizer(raw json.RawMessage) (nfc bool, err error) {
	c, err := parseComponent(raw)
	if c == nil || err != nil {
		return false, err
	}
	switch c.typ() {
	case "NFC":
		return true, nil
	case "Sequence":
		var seq []json.RawMessage
		if err := json.Unmarshal(c["normalizers"], &seq); err != nil {
			return false, fmt.Errorf("Sequence: %v", err)
		}
		for _, s := range seq {
			n, err := normalizer(s)
			if err != nil {
				return false, err
			}
			nfc = nfc || n
		}
		return nfc, nil
	}
	return false, fmt.Errorf("%s is not supported (supported: none, NFC)", c.typ())
}

// preTokenizer returns the stages of a byte-level pre-tokenizer: ByteLevel
// (with or without its GPT-2 split), Split with one of the known patterns
// and behavior Isolated, Digits, or a Sequence of these ending in ByteLevel.
func preTokenizer(raw json.RawMessage) ([]stage, error) {
	c, err := parseComponent(raw)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("none is not supported: a byte-level BPE needs a ByteLevel pre-tokenizer")
	}
	var steps []component
	if c.typ() == "Sequence" {
		var seq []json.RawMessage
		if err := json.Unmarshal(c["pretokenizers"], &seq); err != nil {
			return nil, fmt.Errorf("Sequence: %v", err)
		}
		for _, s := range seq {
			sc, err := parseComponent(s)
			if err != nil {
				return nil, err
			}
			if sc == nil {
				return nil, errors.New("Sequence: null step")
			}
			steps = append(steps, sc)
		}
	} else {
		steps = []component{c}
	}
	var stages []stage
	for i, s := range steps {
		switch s.typ() {
		case "ByteLevel":
			if i != len(steps)-1 {
				return nil, errors.New("ByteLevel before another pre-tokenizer is not supported")
			}
			prefix, err := s.boolField("add_prefix_space", true)
			if err != nil {
				return nil, err
			}
			if prefix {
				return nil, errors.New("ByteLevel with add_prefix_space=true is not supported")
			}
			useRegex, err := s.boolField("use_regex", true)
			if err != nil {
				return nil, err
			}
			if useRegex {
				stages = append(stages, stage{kind: stGPT2})
			}
		case "Split":
			var pat struct {
				Regex  *string `json:"Regex"`
				String *string `json:"String"`
			}
			if err := json.Unmarshal(s["pattern"], &pat); err != nil {
				return nil, fmt.Errorf("Split: pattern: %v", err)
			}
			var behavior string
			json.Unmarshal(s["behavior"], &behavior)
			invert, err := s.boolField("invert", false)
			if err != nil {
				return nil, err
			}
			if behavior != "Isolated" || invert {
				return nil, fmt.Errorf("Split with behavior %q, invert %v is not supported (only Isolated, not inverted)", behavior, invert)
			}
			if pat.Regex == nil {
				return nil, errors.New("Split with a String pattern is not supported")
			}
			switch *pat.Regex {
			case PatternGPT2, PatternGPT2Tiktoken:
				stages = append(stages, stage{kind: stGPT2})
			case PatternLlama3:
				stages = append(stages, stage{kind: stLlama3, arg: 3})
			case PatternQwen2:
				stages = append(stages, stage{kind: stLlama3, arg: 1})
			default:
				return nil, fmt.Errorf("Split with regex %q is not supported (supported: the GPT-2, Llama-3 and Qwen2 patterns)", *pat.Regex)
			}
		case "Digits":
			ind, err := s.boolField("individual_digits", false)
			if err != nil {
				return nil, err
			}
			st := stage{kind: stDigits}
			if ind {
				st.arg = 1
			}
			stages = append(stages, st)
		default:
			return nil, fmt.Errorf("%s is not supported (supported: ByteLevel, Split, Digits, Sequence)", s.typ())
		}
	}
	if len(steps) == 0 || steps[len(steps)-1].typ() != "ByteLevel" {
		return nil, errors.New("a byte-level BPE needs ByteLevel as the last pre-tokenizer")
	}
	return stages, nil
}

// decoder accepts ByteLevel (its flags only concern offsets).
func decoder(raw json.RawMessage) error {
	c, err := parseComponent(raw)
	if err != nil {
		return err
	}
	if c == nil {
		return errors.New("none is not supported: a byte-level BPE needs the ByteLevel decoder")
	}
	if c.typ() != "ByteLevel" {
		return fmt.Errorf("%s is not supported (only ByteLevel)", c.typ())
	}
	return nil
}

// postProcessor accepts the post-processors that only add special tokens
// around a sequence or fix offsets: Encode never applies them (it is
// add_special_tokens=False).
func postProcessor(raw json.RawMessage) error {
	c, err := parseComponent(raw)
	if c == nil || err != nil {
		return err
	}
	switch c.typ() {
	case "ByteLevel", "TemplateProcessing", "BertProcessing", "RobertaProcessing":
		return nil
	case "Sequence":
		var seq []json.RawMessage
		if err := json.Unmarshal(c["processors"], &seq); err != nil {
			return fmt.Errorf("Sequence: %v", err)
		}
		for _, s := range seq {
			if err := postProcessor(s); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s is not supported", c.typ())
}

// tokenizerConfig is what this package reads of tokenizer_config.json.
type tokenizerConfig struct {
	BOS                json.RawMessage `json:"bos_token"`
	EOS                json.RawMessage `json:"eos_token"`
	PAD                json.RawMessage `json:"pad_token"`
	UNK                json.RawMessage `json:"unk_token"`
	ChatTemplate       json.RawMessage `json:"chat_template"`
	TokenizerClass     string          `json:"tokenizer_class"`
	AddedTokensDecoder map[string]struct {
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		Lstrip     bool   `json:"lstrip"`
		Rstrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	} `json:"added_tokens_decoder"`
}

// tokenName reads a special token given as a string or as {"content": …}.
func tokenName(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("want a string or {\"content\": …}, got %s", raw)
	}
	return obj.Content, nil
}

// template returns the default chat template ("" if none).
func (c *tokenizerConfig) template() (string, error) {
	raw := c.ChatTemplate
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("want a string or a list of {name, template}, got %.40s", raw)
	}
	for _, t := range list {
		if t.Name == "default" {
			return t.Template, nil
		}
	}
	return "", errors.New("a list of templates without one named \"default\"")
}

// configTokens takes the special tokens and added tokens of tokenizer_config.json.
func (b *builder) configTokens(path string, c *tokenizerConfig) error {
	var err error
	if b.bosName, err = tokenName(c.BOS); err != nil {
		return fmt.Errorf("%s: bos_token: %v", path, err)
	}
	if b.eosName, err = tokenName(c.EOS); err != nil {
		return fmt.Errorf("%s: eos_token: %v", path, err)
	}
	if b.padName, err = tokenName(c.PAD); err != nil {
		return fmt.Errorf("%s: pad_token: %v", path, err)
	}
	keys := make([]string, 0, len(c.AddedTokensDecoder))
	for k := range c.AddedTokensDecoder {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := c.AddedTokensDecoder[k]
		id, err := strconv.ParseInt(k, 10, 32)
		if err != nil || id < 0 {
			return fmt.Errorf("%s: added_tokens_decoder: bad id %q", path, k)
		}
		if a.SingleWord || a.Lstrip || a.Rstrip {
			return fmt.Errorf("%s: added_tokens_decoder: %q has single_word, lstrip or rstrip set, which is not supported", path, a.Content)
		}
		if err := b.addToken(addedToken{content: a.Content, id: int32(id), special: a.Special, normalized: a.Normalized}); err != nil {
			return fmt.Errorf("%s: added_tokens_decoder: %v", path, err)
		}
	}
	// The slow tokenizers treat bos, eos, unk and pad as special wherever
	// they are named.
	for _, raw := range []json.RawMessage{c.BOS, c.EOS, c.UNK, c.PAD} {
		name, err := tokenName(raw)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if name != "" {
			b.addSpecialName(name)
		}
	}
	return nil
}

// classDefaults fills in the special tokens that tokenizer_config.json
// leaves unnamed with the defaults of the transformers tokenizer class that
// would read the folder (tokenizer_class, else config.json's model_type, else
// GPT2Tokenizer for a vocab.json): GPT2Tokenizer and GPTNeoXTokenizer take
// "<|endoftext|>" as bos, eos and unk; Qwen2Tokenizer as eos, unk and pad.
// A token absent from tokenizer_config.json takes the default; one set to
// null has none.
func (b *builder) classDefaults(cfg *tokenizerConfig, modelType string) {
	class := ""
	if cfg != nil {
		class = strings.TrimSuffix(cfg.TokenizerClass, "Fast")
	}
	if class == "" {
		class = map[string]string{"gpt2": "GPT2Tokenizer", "gpt_neox": "GPTNeoXTokenizer", "qwen2": "Qwen2Tokenizer"}[modelType]
	}
	if class == "" && b.fromVocabJSON {
		class = "GPT2Tokenizer"
	}
	const eot = "<|endoftext|>"
	if _, ok := b.ids[eot]; !ok {
		found := false
		for _, a := range b.added {
			found = found || a.content == eot
		}
		if !found {
			return
		}
	}
	// A token the config sets to null stays unset.
	set := func(name *string, raw func(*tokenizerConfig) json.RawMessage) {
		if cfg == nil || len(raw(cfg)) == 0 {
			*name = eot
		}
	}
	bos := func(c *tokenizerConfig) json.RawMessage { return c.BOS }
	eos := func(c *tokenizerConfig) json.RawMessage { return c.EOS }
	pad := func(c *tokenizerConfig) json.RawMessage { return c.PAD }
	switch class {
	case "GPT2Tokenizer", "GPTNeoXTokenizer":
		set(&b.bosName, bos)
		set(&b.eosName, eos)
	case "Qwen2Tokenizer":
		set(&b.eosName, eos)
		set(&b.padName, pad)
	default:
		return
	}
	b.addSpecialName(eot)
}

// addToken adds an added token, or checks it against the one already known.
func (b *builder) addToken(a addedToken) error {
	for i, o := range b.added {
		if o.id == a.id || o.content == a.content {
			if o.id != a.id || o.content != a.content {
				return fmt.Errorf("token %q id %d conflicts with %q id %d", a.content, a.id, o.content, o.id)
			}
			b.added[i].special = o.special || a.special
			return nil
		}
	}
	b.added = append(b.added, a)
	return nil
}

// addSpecialName marks a named token special (adding it when it is a vocab
// token not yet among the added tokens).
func (b *builder) addSpecialName(name string) {
	for i := range b.added {
		if b.added[i].content == name {
			b.added[i].special = true
			return
		}
	}
	if id, ok := b.ids[name]; ok {
		b.added = append(b.added, addedToken{content: name, id: id, special: true})
	}
}

// build checks and indexes the parts.
func (b *builder) build() (*Tokenizer, error) {
	t := &Tokenizer{
		ids:          make(map[string]int32, len(b.ids)+len(b.added)),
		merges:       make(map[uint64]uint64, len(b.merges)),
		ignoreMerges: b.ignoreMerges,
		nfc:          b.nfc,
		stages:       b.stages,
	}
	size := 0
	for tok, id := range b.ids {
		if id < 0 {
			return nil, fmt.Errorf("%s: token %q has negative id %d", b.src, tok, id)
		}
		size = max(size, int(id)+1)
	}
	for _, a := range b.added {
		if a.id < 0 {
			return nil, fmt.Errorf("%s: added token %q has negative id %d", b.src, a.content, a.id)
		}
		size = max(size, int(a.id)+1)
	}
	t.vocab = make([]string, size)
	have := make([]bool, size)
	raws := make([][]byte, size)
	for tok, id := range b.ids {
		if have[id] {
			return nil, fmt.Errorf("%s: id %d is both %q and %q", b.src, id, t.vocab[id], tok)
		}
		have[id] = true
		t.vocab[id] = tok
		t.ids[tok] = id
		r, ok := rawBytes(tok)
		if !ok {
			r = []byte(tok) // as the ByteLevel decoder does
		}
		raws[id] = r
	}
	if b.ignoreMerges {
		t.rawVocab = make(map[string]int32, len(b.ids))
		for tok, id := range b.ids {
			if r, ok := rawBytes(tok); ok {
				t.rawVocab[string(r)] = id
			}
		}
	}
	for _, a := range b.added {
		if have[a.id] && t.vocab[a.id] != a.content {
			// The same token spelled twice (an added "   " over the vocabulary's
			// "ĠĠĠ") is one token; Vocab keeps the byte-level spelling.
			if string(raws[a.id]) != a.content {
				return nil, fmt.Errorf("%s: added token %q has id %d of vocabulary token %q", b.src, a.content, a.id, t.vocab[a.id])
			}
			t.ids[a.content] = a.id
			continue
		}
		have[a.id] = true
		t.vocab[a.id] = a.content
		t.ids[a.content] = a.id
		raws[a.id] = []byte(a.content)
	}
	t.off = make([]int32, size+1)
	for id := range t.vocab {
		if !have[id] {
			t.vocab[id] = gapToken(id)
		}
		t.raw = append(t.raw, raws[id]...)
		t.off[id+1] = int32(len(t.raw))
	}
	for c := 0; c < 256; c++ {
		id, ok := b.ids[string(byteRune[c])]
		if !ok {
			return nil, fmt.Errorf("%s: the vocabulary has no token for byte 0x%02x (%q)", b.src, c, string(byteRune[c]))
		}
		t.byteID[c] = id
	}
	for rank, m := range b.merges {
		a, ok1 := b.ids[m[0]]
		c, ok2 := b.ids[m[1]]
		ab, ok3 := b.ids[m[0]+m[1]]
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("%s: merge %q %q: a token is not in the vocabulary", b.mergePos[rank], m[0], m[1])
		}
		// A pair listed twice keeps its last rank, as Hugging Face's BPE does.
		t.merges[pairKey(a, c)] = mergeVal(int32(rank), ab)
	}
	var special, ordinary []addedToken
	for _, a := range b.added {
		a.normalized = a.normalized && b.nfc
		special = append(special, a)
		if !a.special {
			ordinary = append(ordinary, a)
		}
	}
	t.special, t.ordinary = newMatcher(special), newMatcher(ordinary)
	return t, nil
}
