package tokenizer

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The tiny fixtures (testdata/tiny*) hold the 256 byte tokens (id = byte
// value) and these merges, in rank order, whose results take ids 256…269:
//
//	256 Ġt  257 he  258 Ġthe  259 Ġa  260 in  261 ĠĠ  262 ĊĊ  263 og
//	264 dog  265 Ġdog  266 The  267 's  268 12  269 123
//
// plus added tokens 270 <|endoftext|>, 271 <|im_start|>, 274 <|im_end|>
// (tiny-llama3: 270…274 are Llama-3's header tokens); 272 and 273 are gaps.
const (
	idGt, idHe, idGthe, idGa, idIn, idGG, idNLNL, idOg, idDog, idGdog, idThe, idApS, id12, id123 = 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269
	idEOT, idImStart, idImEnd                                                                    = 270, 271, 274
)

func load(t testing.TB, dir string) *Tokenizer {
	t.Helper()
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// byteIDs returns the ids of the bytes of s in the tiny vocabulary.
func byteIDs(s string) []int32 {
	out := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int32(s[i])
	}
	return out
}

func cat(parts ...[]int32) []int32 {
	var out []int32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestTinyEncode(t *testing.T) {
	// Expected ids worked by hand from the merges above: "The" is T,h,e →
	// T,he (rank 1) → The (rank 10); " dog" is Ġ,d,o,g → Ġ,d,og → Ġ,dog → Ġdog.
	cases := []struct {
		in   string
		want []int32
	}{
		{"", nil},
		{"The dog", []int32{idThe, idGdog}},
		{"the dog's", cat(byteIDs("t"), []int32{idHe, idGdog, idApS})},
		{" the", []int32{idGthe}},
		{"\n\n", []int32{idNLNL}},                                        // a run at the end is one piece
		{"\n\nThe", cat(byteIDs("\n\n"), []int32{idThe})},                // \s+(?!\S) leaves the last \n alone
		{"a  dog", cat(byteIDs("a "), []int32{idGdog})},                  // "a", " ", " dog"
		{"a   ", cat(byteIDs("a"), []int32{idGG}, byteIDs(" "))},         // "a", "   " → ĠĠ, Ġ
		{"1234123", []int32{id123, '4', id123}},                          // one \p{N}+ piece; leftmost 1 2 first
		{"'s 's", cat([]int32{idApS}, byteIDs(" 's"))},                   // " '" is a piece (" ?[^\s\p{L}\p{N}]+"), then "s"
		{"x\u0085y", cat(byteIDs("x"), byteIDs("\u0085"), byteIDs("y"))}, // U+0085 is white space
		{"<|endoftext|>", byteIDs("<|endoftext|>")},                      // special text is text for Encode
		{"\xff\xfe a", cat(byteIDs("\xff\xfe"), []int32{idGa})},          // invalid UTF-8: bytes as they are
	}
	for _, dir := range []string{"testdata/tiny", "testdata/tiny-json"} {
		tk := load(t, dir)
		for _, c := range cases {
			if got := tk.Encode(c.in); !slices.Equal(got, c.want) {
				t.Errorf("%s: Encode(%+q) = %v, want %v", dir, c.in, got, c.want)
			}
			if got := tk.Decode(tk.Encode(c.in)); got != c.in {
				t.Errorf("%s: Decode(Encode(%+q)) = %+q", dir, c.in, got)
			}
		}
	}
}

func TestTinyEncodeSpecial(t *testing.T) {
	tk := load(t, "testdata/tiny")
	for _, c := range []struct {
		in   string
		want []int32
	}{
		{"a<|endoftext|>b", cat(byteIDs("a"), []int32{idEOT}, byteIDs("b"))},
		{"<|im_start|>user\nhi<|im_end|>\n", cat([]int32{idImStart}, byteIDs("user\nhi"), []int32{idImEnd}, byteIDs("\n"))},
		{"<|endoftext|><|endoftext|>", []int32{idEOT, idEOT}},
		{"<|endoftext", byteIDs("<|endoftext")},
		{" The<|im_end|>", []int32{' ', idThe, idImEnd}}, // Ġ,T,h,e → Ġ,T,he → Ġ,The: no merge joins Ġ and The
	} {
		if got := tk.EncodeSpecial(c.in); !slices.Equal(got, c.want) {
			t.Errorf("EncodeSpecial(%+q) = %v, want %v", c.in, got, c.want)
		}
		if got := tk.Decode(tk.EncodeSpecial(c.in)); got != c.in {
			t.Errorf("Decode(EncodeSpecial(%+q)) = %+q", c.in, got)
		}
	}
}

// TestTinyFormsAgree: vocab.json + merges.txt and tokenizer.json are the
// same tokenizer, on every corpus string.
func TestTinyFormsAgree(t *testing.T) {
	a, b := load(t, "testdata/tiny"), load(t, "testdata/tiny-json")
	corpus := readCorpus(t)
	for i, s := range corpus {
		if x, y := a.Encode(s), b.Encode(s); !slices.Equal(x, y) {
			t.Fatalf("corpus line %d: Encode: vocab.json %v, tokenizer.json %v", i+1, x, y)
		}
		if x, y := a.EncodeSpecial(s), b.EncodeSpecial(s); !slices.Equal(x, y) {
			t.Fatalf("corpus line %d: EncodeSpecial: vocab.json %v, tokenizer.json %v", i+1, x, y)
		}
		if got := a.Decode(a.Encode(s)); got != s {
			t.Fatalf("corpus line %d: round trip gives %+q", i+1, clip(got))
		}
	}
	if !slices.Equal(a.Vocab(), b.Vocab()) {
		t.Error("Vocab differs between the two forms")
	}
}

func TestTinyLlama3(t *testing.T) {
	tk := load(t, "testdata/tiny-llama3")
	for _, c := range []struct {
		in   string
		want []int32
	}{
		{"1234123", []int32{id123, '4', id12, '3'}}, // \p{N}{1,3}: 123 | 412 | 3
		{"The dog", []int32{idThe, idGdog}},         // ignore_merges: whole pieces in the vocabulary
		{"\n\nThe", []int32{idNLNL, idThe}},         // \s*[\r\n]+ takes both newlines, which merge to ĊĊ
		{"it'S", cat(byteIDs("it"), byteIDs("'S"))}, // (?i:'s): "'S" is a contraction piece
		{"x\ty", cat(byteIDs("x"), byteIDs("\ty"))}, // [^\r\n\p{L}\p{N}]?\p{L}+
		{"<|eot_id|>", byteIDs("<|eot_id|>")},       // Encode: text
	} {
		if got := tk.Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%+q) = %v, want %v", c.in, got, c.want)
		}
	}
	if got, want := tk.EncodeSpecial("<|begin_of_text|>The"), []int32{270, idThe}; !slices.Equal(got, want) {
		t.Errorf("EncodeSpecial = %v, want %v", got, want)
	}
	if id := tk.Identity(); id.Pretokenizer != "llama3" || id.ChatTemplate != "llama3" {
		t.Errorf("Identity = %+v", id)
	}
}

// modified writes testdata/tiny-json/tokenizer.json, changed by edit, into
// a new directory.
func modified(t *testing.T, edit func(doc map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile("testdata/tiny-json/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileTokenizerJSON), out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func model(doc map[string]any) map[string]any { return doc["model"].(map[string]any) }

func TestPretokenizerVariants(t *testing.T) {
	seq := func(steps ...any) map[string]any {
		return map[string]any{"type": "Sequence", "pretokenizers": steps}
	}
	bl := func(useRegex bool) map[string]any {
		return map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": useRegex}
	}
	split := func(p string) map[string]any {
		return map[string]any{"type": "Split", "pattern": map[string]any{"Regex": p}, "behavior": "Isolated", "invert": false}
	}
	cases := []struct {
		pre  any
		name string
		in   string
		want []int32
	}{
		// SmolLM2: every digit alone, then GPT-2's pattern between them.
		{seq(map[string]any{"type": "Digits", "individual_digits": true}, bl(true)), "digits+gpt2", "a 1234123",
			cat(byteIDs("a"), byteIDs(" "), byteIDs("1234123"))},
		{seq(map[string]any{"type": "Digits", "individual_digits": false}, bl(true)), "digit-runs+gpt2", "x1234123", cat(byteIDs("x"), []int32{id123, '4', id123})},
		{seq(split(PatternQwen2), bl(false)), "qwen2", "1234123", byteIDs("1234123")},
		{seq(split(PatternGPT2), bl(false)), "gpt2", " the dog", []int32{idGthe, idGdog}},
		{seq(split(PatternGPT2Tiktoken), bl(false)), "gpt2", "the dog's", cat(byteIDs("t"), []int32{idHe, idGdog, idApS})},
		{bl(false), "none", "the dog", cat(byteIDs("t"), []int32{idHe, idGdog})}, // one piece: t h e Ġ d o g
	}
	for _, c := range cases {
		tk := load(t, modified(t, func(doc map[string]any) { doc["pre_tokenizer"] = c.pre }))
		if got := tk.Identity().Pretokenizer; got != c.name {
			t.Errorf("%s: Pretokenizer = %q", c.name, got)
		}
		if got := tk.Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", c.name, c.in, got, c.want)
		}
	}
}

func TestNFC(t *testing.T) {
	tk := load(t, modified(t, func(doc map[string]any) { doc["normalizer"] = map[string]any{"type": "NFC"} }))
	if got, want := tk.Encode("cafe\u0301"), byteIDs("café"); !slices.Equal(got, want) {
		t.Errorf("Encode(decomposed café) = %v, want %v (NFC)", got, want)
	}
	if tk.Identity().Normalizer != "nfc" {
		t.Errorf("Normalizer = %q", tk.Identity().Normalizer)
	}
}

// TestNonSpecialAddedToken: an added token with special=false is matched by
// Encode too, as Hugging Face tokenizers match it in any text.
func TestNonSpecialAddedToken(t *testing.T) {
	tk := load(t, modified(t, func(doc map[string]any) {
		doc["added_tokens"] = append(doc["added_tokens"].([]any), map[string]any{"id": 272, "content": "   ",
			"single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false})
	}))
	want := cat(byteIDs("a"), []int32{272}, byteIDs("b"))
	if got := tk.Encode("a   b"); !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	// An added token may spell a vocabulary token's bytes in plain text
	// (as GPT-NeoX's runs of spaces do): one token, two spellings.
	tk = load(t, modified(t, func(doc map[string]any) {
		doc["added_tokens"] = append(doc["added_tokens"].([]any), map[string]any{"id": idGG, "content": "  ",
			"single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false})
	}))
	if got, want := tk.Encode("a  b"), cat(byteIDs("a"), []int32{idGG}, byteIDs("b")); !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if id, ok := tk.ID("  "); !ok || id != idGG || tk.Vocab()[idGG] != "ĠĠ" || tk.Decode([]int32{idGG}) != "  " {
		t.Errorf("two spellings of one token: ID = %d %v, Vocab %q", id, ok, tk.Vocab()[idGG])
	}
	if _, err := Load(modified(t, func(doc map[string]any) {
		doc["added_tokens"] = append(doc["added_tokens"].([]any), map[string]any{"id": idGG, "content": "xx",
			"single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false})
	})); err == nil || !strings.Contains(err.Error(), `added token "xx" has id 261 of vocabulary token "ĠĠ"`) {
		t.Errorf("conflicting added token: err = %v", err)
	}
	if got := tk.Encode("<|endoftext|>"); !slices.Equal(got, byteIDs("<|endoftext|>")) {
		t.Errorf("Encode matched a special token: %v", got)
	}
}

func TestLoadRefuses(t *testing.T) {
	cases := []struct {
		edit func(doc map[string]any)
		want string
	}{
		{func(d map[string]any) { d["normalizer"] = map[string]any{"type": "NFKC"} }, "normalizer: NFKC is not supported"},
		{func(d map[string]any) { d["normalizer"] = map[string]any{"type": "Lowercase"} }, "normalizer: Lowercase is not supported"},
		{func(d map[string]any) {
			d["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "▁"}
		}, "pre_tokenizer: Metaspace is not supported"},
		{func(d map[string]any) { d["pre_tokenizer"] = nil }, "pre_tokenizer: none is not supported"},
		{func(d map[string]any) {
			d["pre_tokenizer"] = map[string]any{"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}
		}, "pre_tokenizer: ByteLevel with add_prefix_space=true is not supported"},
		{func(d map[string]any) {
			d["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\w+|\s+`}, "behavior": "Isolated", "invert": false},
				map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}}}
		}, `pre_tokenizer: Split with regex "\\w+|\\s+" is not supported`},
		{func(d map[string]any) {
			d["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": PatternLlama3}, "behavior": "Removed", "invert": false},
				map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}}}
		}, `pre_tokenizer: Split with behavior "Removed"`},
		{func(d map[string]any) {
			d["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
				map[string]any{"type": "Digits", "individual_digits": true}}}
		}, "pre_tokenizer: ByteLevel before another pre-tokenizer"},
		{func(d map[string]any) { d["decoder"] = nil }, "decoder: none is not supported"},
		{func(d map[string]any) { d["decoder"] = map[string]any{"type": "WordPiece"} }, "decoder: WordPiece is not supported"},
		{func(d map[string]any) { model(d)["type"] = "WordPiece" }, `model: type "WordPiece" is not supported`},
		{func(d map[string]any) { model(d)["byte_fallback"] = true }, "model: byte_fallback"},
		{func(d map[string]any) { model(d)["dropout"] = 0.1 }, "model: dropout 0.1"},
		{func(d map[string]any) { model(d)["continuing_subword_prefix"] = "##" }, "model: continuing_subword_prefix"},
		{func(d map[string]any) { delete(model(d)["vocab"].(map[string]any), "Ā") }, "no token for byte 0x00"},
		{func(d map[string]any) { model(d)["merges"] = []any{"x yz"} }, `model.merges[0]: merge "x" "yz": a token is not in the vocabulary`},
		{func(d map[string]any) { model(d)["merges"] = []any{"abc"} }, "model.merges[0]"},
		{func(d map[string]any) {
			d["added_tokens"].([]any)[0].(map[string]any)["lstrip"] = true
		}, "added_tokens: \"<|endoftext|>\" has single_word, lstrip or rstrip set"},
		{func(d map[string]any) { d["post_processor"] = map[string]any{"type": "Mystery"} }, "post_processor: Mystery is not supported"},
	}
	for _, c := range cases {
		dir := modified(t, c.edit)
		_, err := Load(dir)
		if err == nil {
			t.Errorf("Load accepted a tokenizer.json that should fail with %q", c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Join(dir, FileTokenizerJSON)+": ") {
			t.Errorf("Load error = %q, want one naming the file and %q", err, c.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Load error is not one line: %q", err)
		}
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no tokenizer.json") {
		t.Errorf("Load(empty dir) = %v", err)
	}
}

func TestVocabAndIDs(t *testing.T) {
	tk := load(t, "testdata/tiny")
	v := tk.Vocab()
	if len(v) != 275 {
		t.Fatalf("len(Vocab()) = %d, want 275", len(v))
	}
	for id, want := range map[int]string{32: "Ġ", 10: "Ċ", 'a': "a", idGdog: "Ġdog", idEOT: "<|endoftext|>", 272: "<gap:272>", idImEnd: "<|im_end|>"} {
		if v[id] != want {
			t.Errorf("Vocab()[%d] = %q, want %q", id, v[id], want)
		}
	}
	if id, ok := tk.ID("Ġdog"); !ok || id != idGdog {
		t.Errorf("ID(Ġdog) = %d, %v", id, ok)
	}
	if _, ok := tk.ID("<gap:272>"); ok {
		t.Error("ID found a gap placeholder")
	}
	if got := tk.TokenText(idGdog); got != " dog" {
		t.Errorf("TokenText(Ġdog) = %q", got)
	}
	if got := tk.TokenText(0xff); got != `\xff` {
		t.Errorf("TokenText(0xff) = %q", got)
	}
	if got := tk.TokenText(0xc3); got != `\xc3` {
		t.Errorf("TokenText(0xc3) = %q", got)
	}
	if eos, ok := tk.EOS(); !ok || eos != idImEnd {
		t.Errorf("EOS = %d, %v", eos, ok)
	}
	if bos, ok := tk.BOS(); !ok || bos != idEOT {
		t.Errorf("BOS = %d, %v", bos, ok)
	}
	if _, ok := tk.PAD(); ok {
		t.Error("PAD found, but tokenizer_config.json names none")
	}
	// Bytes of one character split over two tokens decode back together.
	if got := tk.Decode([]int32{0xc3, 0xa9}); got != "é" {
		t.Errorf("Decode(c3 a9) = %q", got)
	}
	if got := tk.Decode([]int32{0xc3}); got != "\xc3" {
		t.Errorf("Decode(c3) = %q", got)
	}
}

func TestIdentity(t *testing.T) {
	tk := load(t, "testdata/tiny")
	id := tk.Identity()
	if id.Name != "tiny" || id.Kind != Kind || id.Pretokenizer != "gpt2" || id.VocabSize != 275 || id.Normalizer != "none" || id.ChatTemplate != "chatml" {
		t.Errorf("Identity = %+v", id)
	}
	var names []string
	for k, v := range id.Files {
		if len(v) != 64 {
			t.Errorf("Files[%s] = %q, want a sha256 hex", k, v)
		}
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{FileMerges, FileTokenizerConfig, FileVocabJSON}; !slices.Equal(names, want) {
		t.Errorf("Files = %v, want %v", names, want)
	}
	a, _ := json.Marshal(id)
	b, _ := json.Marshal(tk.Identity())
	if string(a) != string(b) || !strings.HasPrefix(string(a), `{"name":"tiny","kind":"byte-level-bpe","normalizer":"none","pretokenizer":"gpt2","vocab_size":275,"chat_template":"chatml","files":{"merges.txt":`) {
		t.Errorf("Identity JSON = %s", a)
	}
	id.Files["x"] = "y"
	if _, ok := tk.Identity().Files["x"]; ok {
		t.Error("Identity shares its Files map")
	}

	// config.json gives model_type and is not part of the tokenizer's files.
	dir := modified(t, func(map[string]any) {})
	if err := os.WriteFile(filepath.Join(dir, FileConfig), []byte(`{"model_type": "gpt2", "n_layer": 12}`), 0o644); err != nil {
		t.Fatal(err)
	}
	id = load(t, dir).Identity()
	if _, ok := id.Files[FileConfig]; ok || id.ModelType != "gpt2" || id.Name != filepath.Base(dir) {
		t.Errorf("with config.json: Identity = %+v", id)
	}
}

// TestMergeLongEqualsShort: the heap merge (long pieces) gives what the
// quadratic scan gives, on random pieces over an alphabet the tiny merges
// act on.
func TestMergeLongEqualsShort(t *testing.T) {
	tk := load(t, "testdata/tiny")
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"T", "h", "e", " ", "t", "d", "o", "g", "1", "2", "3", "'", "s", "\n", "i", "n", "a"}
	for n := 0; n < 2000; n++ {
		var b strings.Builder
		for k := 2 + r.IntN(shortWord-2); k > 0; k-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		p := b.String()
		if len(p) > shortWord {
			p = p[:shortWord]
		}
		short := tk.mergeShort(byteIDs(p))
		long := tk.mergeLong(byteIDs(p))
		if !slices.Equal(short, long) {
			t.Fatalf("piece %q: mergeShort %v, mergeLong %v", p, short, long)
		}
	}
}

func TestChatTemplates(t *testing.T) {
	conv := []Message{{"system", "Be brief."}, {"user", "Hi there"}, {"assistant", "Hello!"}}
	cases := []struct {
		dir  string
		msgs []Message
		gen  bool
		want string
	}{
		{"testdata/tiny", conv, false,
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"},
		{"testdata/tiny", conv[1:2], true, // the template's default system message comes first
			"<|im_start|>system\nYou are a tiny model.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"},
		{"testdata/tiny", nil, true, "<|im_start|>assistant\n"},
		{"testdata/tiny-llama3", conv, false,
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"},
		{"testdata/tiny-llama3", []Message{{"user", "  Hi\n\u3000"}}, true, // | trim strips white space
			"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
	}
	for _, c := range cases {
		got, err := load(t, c.dir).ApplyChatTemplate(c.msgs, c.gen)
		if err != nil {
			t.Errorf("%s: %v", c.dir, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: ApplyChatTemplate(%v, %v) =\n%q\nwant\n%q", c.dir, c.msgs, c.gen, got, c.want)
		}
	}
	// The rendered special tokens are single ids for EncodeSpecial.
	tk := load(t, "testdata/tiny")
	s, _ := tk.ApplyChatTemplate(conv[1:2], true)
	if ids := tk.EncodeSpecial(s); ids[0] != idImStart || tk.Decode(ids) != s {
		t.Errorf("EncodeSpecial(chat) = %v", ids)
	}

	if _, err := load(t, "testdata/tiny-json").ApplyChatTemplate(conv, true); err == nil || !strings.Contains(err.Error(), "no chat template") {
		t.Errorf("no template: err = %v", err)
	}
	tk = load(t, "testdata/tiny-unsupported")
	if _, err := tk.ApplyChatTemplate(conv, true); err == nil || !strings.Contains(err.Error(), "not a supported template") {
		t.Errorf("unsupported template: err = %v", err)
	}
	if got := tk.Identity().ChatTemplate; got != "unsupported" {
		t.Errorf("unsupported template: Identity().ChatTemplate = %q", got)
	}
}

// TestTemplateRecognition: spellings of the same template (spacing,
// quotes, attribute or subscript, escaped or literal newlines, comments,
// lines and indentation that transformers' trim_blocks and lstrip_blocks
// remove) are recognised; a changed one is not.
func TestTemplateRecognition(t *testing.T) {
	qwen2 := "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
	respelled := "{% for message in messages %}{% if loop.first and messages[0].role != \"system\" %}{{ \"<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n\" }}{% endif %}{# a comment #}{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
	multiline := "{% for message in messages %}\n    {% if loop.first and messages[0]['role'] != 'system' %}\n        {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' -}}\n    {% endif %}\n    {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' -}}\n{% endfor %}\n{% if add_generation_prompt %}\n    {{- '<|im_start|>assistant\n' -}}\n{% endif %}\n"
	plain := "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
	for _, c := range []struct {
		src, family, system string
	}{
		{qwen2, "chatml", "You are a helpful assistant."},
		{respelled, "chatml", "You are a helpful assistant."},
		{multiline, "chatml", "You are a helpful assistant."},
		{qwen2 + "\n", "chatml", "You are a helpful assistant."}, // trim_blocks drops the newline after {% endif %}
		{plain, "chatml", ""},
		{strings.Replace(qwen2, "'<|im_end|>' + '\n'", "'<|im_end|>'", 1), "", ""},
		{qwen2 + "\n\n", "chatml", "You are a helpful assistant."}, // and the last newline of a template
		{qwen2 + "\n\n\n", "", ""},
		{qwen2 + "x", "", ""},
		{strings.Replace(multiline, "{{- '<|im_start|>assistant", "{{ '<|im_start|>assistant", 1), "", ""}, // keeps "    " before the prompt
		{strings.Replace(multiline, "' -}}\n    {% endif %}", "' }}\n    {% endif %}", 1), "", ""},         // keeps a newline after the system turn
	} {
		tk := &Tokenizer{}
		tk.setTemplate(c.src)
		switch {
		case c.family == "" && tk.template != nil:
			t.Errorf("recognised a changed template as %s: %q", tk.template.family, c.src)
		case c.family != "" && tk.template == nil:
			t.Errorf("did not recognise %q: %v", c.src, tk.templateErr)
		case c.family != "" && (tk.template.family != c.family || tk.template.system != c.system):
			t.Errorf("recognised %+v", tk.template)
		}
	}
}

// TestConcurrentEncode: goroutines sharing one tokenizer (and its cache)
// give the ids of a serial run.
func TestConcurrentEncode(t *testing.T) {
	corpus := readCorpus(t)[:600]
	want := make([][]int32, len(corpus))
	for i, s := range corpus {
		want[i] = load(t, "testdata/tiny").Encode(s)
	}
	tk := load(t, "testdata/tiny")
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := range corpus {
				k := (i*7 + g*131) % len(corpus)
				if got := tk.Encode(corpus[k]); !slices.Equal(got, want[k]) {
					errs <- fmt.Sprintf("goroutine %d, corpus line %d: %v, want %v", g, k+1, got, want[k])
					return
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// FuzzEncode: any bytes (invalid UTF-8 too) encode without panicking and
// decode back exactly, and the pre-tokenizers cut them into pieces that
// cover the text.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "The dog's 12345\n\n", "\xff\xfe\x00 a", "a\u0085\ufeff b", "<|im_start|>x<|im_end|>", "'ſ'S 'LL"} {
		f.Add(s)
	}
	toks := []*Tokenizer{load(f, "testdata/tiny"), load(f, "testdata/tiny-llama3")}
	stages := []stage{{kind: stGPT2}, {kind: stLlama3, arg: 3}, {kind: stLlama3, arg: 1}, {kind: stDigits, arg: 1}, {kind: stDigits}}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			t.Skip()
		}
		for _, tk := range toks {
			if got := tk.Decode(tk.Encode(s)); got != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, got)
			}
			if got := tk.Decode(tk.EncodeSpecial(s)); got != s {
				t.Fatalf("Decode(EncodeSpecial(%q)) = %q", s, got)
			}
		}
		for _, st := range stages {
			rest := s
			for len(rest) > 0 {
				n := st.next(rest)
				if n <= 0 || n > len(rest) {
					t.Fatalf("%s: piece of %d bytes at %q", st.name(), n, rest)
				}
				rest = rest[n:]
			}
		}
	})
}
